/* board_init on a minimal VM without an engine (the emu case: the board's
 * PIC and IOAPIC become the irqchip): every device answers at its address,
 * IRQs route to both interrupt controllers, the ACPI tables are in place,
 * and board_destroy releases everything. */
#include "hwtest.h"

#include "hw/board.h"
#include "hw/ioapic.h"
#include "hw/pic.h"

static int msis;
static uint32_t last_data;
static void on_msi(void *ctx, uint64_t addr, uint32_t data)
{
	(void)ctx;
	(void)addr;
	msis++;
	last_data = data;
}

static void test_board_up_and_down(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(64);
	char err[160] = "";
	t->vm->cfg.serial = "null";
	t->vm->ncpus = 2;
	struct board *b = board_init(t->vm, true, err, sizeof(err));
	assert_non_null(b);
	assert_non_null(b->pic);
	assert_non_null(b->ioapic);
	assert_ptr_not_equal(t->vm->irqchip, &fake_chip_ops); /* the board's own */
	assert_int_equal(b->acpi_rsdp, BOARD_ACPI_BASE);
	assert_memory_equal(gpa_to_host(&t->vm->mem, b->acpi_rsdp, 8), "RSD PTR ", 8);

	/* Each device answers at its ports. */
	assert_int_equal(inb(t, BOARD_COM1_PORT + 5), 0x60); /* UART LSR */
	outb(t, 0x64, 0xaa);
	assert_int_equal(inb(t, 0x60), 0x55); /* i8042 */
	pout(t, 0xcf8, 0x80000000, 4);
	assert_int_equal(pin(t, 0xcfc, 4), 0x12378086); /* PCI host */
	outb(t, 0x70, 0x0d);
	assert_int_equal(inb(t, 0x71), 0x80); /* RTC */
	outb(t, 0x43, 0x00);
	(void)inb(t, 0x40);                                   /* PIT latch */
	assert_true(io_bus_find(&t->vm->pio, 0x608) != NULL); /* PM timer */
	assert_true(io_bus_find(&t->vm->pio, BOARD_DEBUG_EXIT_PORT) != NULL);
	assert_true(io_bus_find(&t->vm->mmio, BOARD_IOAPIC_BASE) != NULL);

	/* ISA IRQ 4 (COM1) reaches the PIC... */
	outb(t, 0x20, 0x11);
	outb(t, 0x21, 0x20);
	outb(t, 0x21, 0x04);
	outb(t, 0x21, 0x01);
	outb(t, 0x21, 0x00);
	outb(t, BOARD_COM1_PORT + 4, 0x08); /* OUT2 */
	outb(t, BOARD_COM1_PORT + 1, 0x02); /* THRI */
	assert_true(pic_has_intr(b->pic));
	assert_int_equal(vm_irqchip_ack(t->vm), 0x24); /* INTA through the seam */
	/* ...and IOAPIC pin 4 as an MSI-encoded message. */
	ioapic_set_output(b->ioapic, on_msi, NULL);
	io_bus_write(&t->vm->mmio, BOARD_IOAPIC_BASE, 0x10 + 2 * 4, 4);
	io_bus_write(&t->vm->mmio, BOARD_IOAPIC_BASE + 0x10, 0x8000 | 0x34, 4); /* level, vector 0x34 */
	assert_int_equal(msis, 1); /* the line is high: delivered on unmask */
	assert_int_equal(last_data & 0xff, 0x34);
	/* PCI MSIs of the emu engine go out the same way. */
	vm_signal_msi(t->vm, 0xfee00000, 0x4041);
	assert_int_equal(msis, 2);
	assert_int_equal(last_data, 0x4041);

	board_destroy(b);
	assert_null(t->vm->irqchip);
	assert_int_equal(t->vm->pio.n, 0);
	assert_int_equal(t->vm->mmio.n, 0);
	assert_null(t->vm->timers.head);
	tvm_free(t);
}

static void test_bad_serial_spec(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(64);
	char err[160] = "";
	t->vm->cfg.serial = "bogus";
	assert_null(board_init(t->vm, true, err, sizeof(err)));
	assert_non_null(strstr(err, "bogus"));
	assert_int_equal(t->vm->pio.n, 0);
	assert_int_equal(t->vm->mmio.n, 0);
	tvm_free(t);
}

static void test_port_conflict_reported(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(64);
	static const struct io_ops none = { NULL, NULL };
	char err[160] = "";
	t->vm->cfg.serial = "null";
	io_bus_register(&t->vm->pio, 0x70, 1, &none, NULL); /* squatter on the RTC */
	assert_null(board_init(t->vm, true, err, sizeof(err)));
	assert_non_null(strstr(err, "RTC"));
	io_bus_unregister(&t->vm->pio, 0x70);
	assert_int_equal(t->vm->pio.n, 0);
	tvm_free(t);
}

/* Whatever the guest writes, in any order and width, the devices keep
 * their invariants (run under `make asan` this checks memory safety): a
 * fixed-seed storm of port and MMIO accesses over the board's ranges. */
static void test_random_access_storm(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(64);
	char err[160] = "";
	t->vm->cfg.serial = "null";
	t->vm->ncpus = 1;
	struct board *b = board_init(t->vm, true, err, sizeof(err));
	assert_non_null(b);
	static const uint16_t ports[] = { 0x20,  0x21,  0xa0,  0xa1,  0x4d0, 0x4d1, 0x40,  0x41,   0x42,
		                          0x43,  0x61,  0x60,  0x64,  0x92,  0x70,  0x71,  0x3f8,  0x3f9,
		                          0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0xcf8, 0xcf9,  0xcfc,
		                          0xcfd, 0xcfe, 0xcff, 0x600, 0x602, 0x604, 0x608, 0xc000, 0xc010 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 300000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned size = 1u << (x >> 60 & 3);
		uint64_t v = x * 0x2545f4914f6cdd1dULL, dummy;
		if (size == 8)
			size = 4;
		if ((x >> 8 & 7) == 0) {
			uint64_t a = (x >> 16 & 1) ? BOARD_IOAPIC_BASE + (x >> 20 & 0x7f)
			                           : BOARD_PCI_MMIO_BASE + (x >> 20 & 0xffff);
			if (x >> 40 & 1)
				io_bus_write(&t->vm->mmio, a, v, size);
			else
				io_bus_read(&t->vm->mmio, a, size, &dummy);
			continue;
		}
		uint16_t port = ports[(x >> 24) % (sizeof(ports) / sizeof(ports[0]))];
		if (port == 0xcf8 && (x >> 33 & 1))
			v = 0x80000000u | (v & 0xfffc); /* mostly aim at bus 0 */
		if (port == 0xcf9 || port == 0x92 || port == 0x64 || port == 0x604)
			v &= ~0x0fULL; /* a few resets are fine, but keep going */
		if (x >> 41 & 1)
			pout(t, port, v, size);
		else
			pin(t, port, size);
		if ((i & 1023) == 0)
			timers_run(&t->vm->timers, vm_now(t->vm) + (x >> 44));
	}
	board_destroy(b);
	assert_int_equal(t->vm->pio.n, 0);
	assert_int_equal(t->vm->mmio.n, 0);
	assert_null(t->vm->timers.head);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_board_up_and_down),
		cmocka_unit_test(test_bad_serial_spec),
		cmocka_unit_test(test_port_conflict_reported),
		cmocka_unit_test(test_random_access_storm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
