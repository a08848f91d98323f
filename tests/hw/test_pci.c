/* PCI: configuration mechanism #1, the host bridge, a device with I/O,
 * 32- and 64-bit memory BARs (placement, sizing, moving, decode enables),
 * the capability list, INTx routing and MSI-X delivery/masking. */
#include "hwtest.h"

#include "hw/board.h"
#include "hw/pci.h"

struct bar_dev {
	uint64_t last_off, last_val;
	int reads, writes;
};

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct bar_dev *b = opaque;
	(void)size;
	b->reads++;
	return 0x1000 + off;
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct bar_dev *b = opaque;
	(void)size;
	b->writes++;
	b->last_off = off;
	b->last_val = val;
}

static const struct io_ops bar_ops = { bar_read, bar_write };

struct ctx {
	struct test_vm *t;
	struct pci_host *h;
	struct pci_device d;
	struct bar_dev b0, b1, b4;
	int vcap;
};

static uint32_t cfg_rd(struct ctx *c, int slot, unsigned reg, unsigned size)
{
	pout(c->t, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	return pin(c->t, 0xcfc + (reg & 3), size);
}

static void cfg_wr(struct ctx *c, int slot, unsigned reg, uint32_t v, unsigned size)
{
	pout(c->t, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	pout(c->t, 0xcfc + (reg & 3), v, size);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[128];
	c->t = tvm_new(0);
	c->h = pci_host_create(c->t->vm);
	assert_non_null(c->h);
	pci_device_init(&c->d, c->t->vm, 0x1af4, 0x1041, 0x020000, 0x1af4, 0x0001);
	assert_int_equal(pci_bar_init(&c->d, 0, PCI_BAR_MEM32, 0x1000, &bar_ops, &c->b0), 0);
	assert_int_equal(pci_bar_init(&c->d, 1, PCI_BAR_IO, 0x20, &bar_ops, &c->b1), 0);
	assert_int_equal(pci_msix_init(&c->d, 4, 2), 0);
	assert_int_equal(pci_bar_init(&c->d, 4, PCI_BAR_MEM64, 0x4000, &bar_ops, &c->b4), 0);
	c->vcap = pci_add_capability(&c->d, PCI_CAP_ID_VNDR, 16);
	assert_true(c->vcap >= 0x40);
	assert_int_equal(pci_register(c->h, &c->d, err, sizeof(err)), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	pci_unregister(&c->d);
	pci_msix_free(&c->d);
	pci_host_destroy(c->h);
	assert_int_equal(c->t->vm->pio.n, 0);
	assert_int_equal(c->t->vm->mmio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static void test_host_bridge(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(cfg_rd(c, 0, 0x00, 4), 0x12378086);
	assert_int_equal(cfg_rd(c, 0, 0x08, 4) >> 8, 0x060000); /* host bridge class */
	assert_int_equal(cfg_rd(c, 0, 0x02, 2), 0x1237);
	assert_int_equal(cfg_rd(c, 0, 0x03, 1), 0x12);
	assert_int_equal(cfg_rd(c, 0, 0x0e, 1), 0x00); /* header type 0 */
	/* The address register reads back; empty slots read all ones. */
	pout(c->t, 0xcf8, 0x80001810, 4);
	assert_int_equal(pin(c->t, 0xcf8, 4), 0x80001810);
	assert_int_equal(cfg_rd(c, 7, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_rd(c, 7, 0x00, 2), 0xffff);
	/* Other buses and functions are empty; so is a disabled address. */
	pout(c->t, 0xcf8, 0x80010000, 4);
	assert_int_equal(pin(c->t, 0xcfc, 4), 0xffffffff);
	pout(c->t, 0xcf8, 0x80000100, 4);
	assert_int_equal(pin(c->t, 0xcfc, 4), 0xffffffff);
	pout(c->t, 0xcf8, 0x00000000, 4);
	assert_int_equal(pin(c->t, 0xcfc, 4), 0xffffffff);
	/* Read-only registers stay put. */
	cfg_wr(c, 0, 0x00, 0, 4);
	assert_int_equal(cfg_rd(c, 0, 0x00, 4), 0x12378086);
}

static void test_device_header(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(c->d.slot, 1);
	assert_ptr_equal(pci_host_device(c->h, 1), &c->d);
	assert_int_equal(cfg_rd(c, 1, 0x00, 4), 0x10411af4);
	assert_int_equal(cfg_rd(c, 1, 0x2c, 4), 0x00011af4);
	assert_int_equal(cfg_rd(c, 1, 0x0b, 1), 0x02); /* network */
	assert_int_equal(cfg_rd(c, 1, 0x3d, 1), 1);    /* INTA# */
	assert_int_equal(cfg_rd(c, 1, 0x3c, 1), pci_slot_gsi(1, 1));
	assert_int_equal(cfg_rd(c, 1, 0x04, 2) & 0x3, 0x3); /* I/O and memory decode on */
}

static void test_bar_placement_and_access(void **state)
{
	struct ctx *c = *state;
	uint32_t b0 = cfg_rd(c, 1, 0x10, 4), b1 = cfg_rd(c, 1, 0x14, 4);
	uint32_t b4lo = cfg_rd(c, 1, 0x20, 4), b4hi = cfg_rd(c, 1, 0x24, 4);
	assert_int_equal(b0, BOARD_PCI_MMIO_BASE);
	assert_int_equal(b1 & 3, 1);
	assert_true((b1 & ~3u) >= PCI_IO_BASE);
	assert_int_equal(b4lo & 0xf, 0x4); /* 64-bit memory */
	assert_int_equal((b4lo & ~0xfu) % 0x4000, 0);
	assert_int_equal(b4hi, 0);
	assert_int_equal(pci_bar_addr(&c->d, 0), BOARD_PCI_MMIO_BASE);
	assert_int_equal(mmio_rd(c->t, BOARD_PCI_MMIO_BASE + 0x10, 4), 0x1010);
	mmio_wr(c->t, BOARD_PCI_MMIO_BASE + 0x24, 0xabcd, 4);
	assert_int_equal(c->b0.last_off, 0x24);
	assert_int_equal(c->b0.last_val, 0xabcd);
	assert_int_equal(pin(c->t, (b1 & ~3u) + 4, 1) & 0xff, 0x04);
	assert_int_equal(mmio_rd(c->t, b4lo & ~0xfu, 4), 0x1000);
}

static void test_bar_sizing(void **state)
{
	struct ctx *c = *state;
	uint32_t old = cfg_rd(c, 1, 0x10, 4);
	cfg_wr(c, 1, 0x04, 0, 2); /* Linux turns decoding off while sizing */
	cfg_wr(c, 1, 0x10, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, 0x10, 4), 0xfffff000);
	cfg_wr(c, 1, 0x10, old, 4);
	cfg_wr(c, 1, 0x14, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, 0x14, 4), 0xffffffe1); /* 32 bytes of I/O */
	cfg_wr(c, 1, 0x20, 0xffffffff, 4);
	cfg_wr(c, 1, 0x24, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, 0x20, 4), 0xffffc004);
	assert_int_equal(cfg_rd(c, 1, 0x24, 4), 0xffffffff);
	/* Unused BARs and the ROM BAR size to zero. */
	cfg_wr(c, 1, 0x1c, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, 0x1c, 4), 0);
	cfg_wr(c, 1, 0x30, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, 0x30, 4), 0);
	/* Nothing was decoded at the all-ones pattern. */
	assert_int_equal(pci_bar_addr(&c->d, 0), 0);
}

static void test_bar_move_and_decode_enable(void **state)
{
	struct ctx *c = *state;
	uint64_t old = BOARD_PCI_MMIO_BASE, new = BOARD_PCI_MMIO_BASE + 0x100000;
	cfg_wr(c, 1, 0x04, 0x0001, 2); /* memory decode off */
	assert_int_equal(pci_bar_addr(&c->d, 0), 0);
	assert_int_equal(mmio_rd(c->t, old, 4), 0xffffffff);
	cfg_wr(c, 1, 0x10, new, 4);
	assert_int_equal(mmio_rd(c->t, new, 4), 0xffffffff); /* still off */
	cfg_wr(c, 1, 0x04, 0x0003, 2);
	assert_int_equal(pci_bar_addr(&c->d, 0), new);
	assert_int_equal(mmio_rd(c->t, new + 8, 4), 0x1008);
	assert_int_equal(mmio_rd(c->t, old, 4), 0xffffffff);
	/* Moving while enabled remaps at once. */
	cfg_wr(c, 1, 0x10, old, 4);
	assert_int_equal(mmio_rd(c->t, old + 4, 4), 0x1004);
	assert_int_equal(mmio_rd(c->t, new, 4), 0xffffffff);
	/* I/O decode off unmaps the I/O BAR only. */
	uint32_t io = cfg_rd(c, 1, 0x14, 4) & ~3u;
	cfg_wr(c, 1, 0x04, 0x0002, 2);
	assert_int_equal(pin(c->t, io, 1), 0xff);
	assert_int_equal(mmio_rd(c->t, old, 4), 0x1000);
}

static void test_capability_walk(void **state)
{
	struct ctx *c = *state;
	assert_true(cfg_rd(c, 1, 0x06, 2) & PCI_STATUS_CAP_LIST);
	int ids[8], n = 0;
	unsigned p = cfg_rd(c, 1, 0x34, 1);
	while (p && n < 8) {
		assert_true(p >= 0x40);
		assert_int_equal(p & 3, 0);
		ids[n++] = cfg_rd(c, 1, p, 1);
		p = cfg_rd(c, 1, p + 1, 1);
	}
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], PCI_CAP_ID_MSIX);
	assert_int_equal(ids[1], PCI_CAP_ID_VNDR);
	/* MSI-X: 4 vectors, table and PBA in BAR 2. */
	unsigned m = cfg_rd(c, 1, 0x34, 1);
	assert_int_equal(cfg_rd(c, 1, m + 2, 2) & 0x7ff, 3);
	assert_int_equal(cfg_rd(c, 1, m + 4, 4), 0x000 | 2);
	assert_int_equal(cfg_rd(c, 1, m + 8, 4), 0x800 | 2);
	/* The vendor capability's body is the device's: read-only unless it
	 * marks bytes writable. */
	cfg_wr(c, 1, c->vcap + 4, 0x12345678, 4);
	assert_int_equal(cfg_rd(c, 1, c->vcap + 4, 4), 0);
	c->d.wmask[c->vcap + 4] = 0xff;
	cfg_wr(c, 1, c->vcap + 4, 0x12345678, 4);
	assert_int_equal(cfg_rd(c, 1, c->vcap + 4, 4), 0x78);
}

static unsigned hook_writes;
static uint32_t hook_read(struct pci_device *d, unsigned off, unsigned size, uint32_t val)
{
	(void)d;
	(void)size;
	return off == 0x44 ? 0xfeedbeef : val;
}

static void hook_write(struct pci_device *d, unsigned off, unsigned size, uint32_t val)
{
	(void)d;
	(void)size;
	if (off == 0x60)
		hook_writes = val;
}

static void test_cfg_hooks(void **state)
{
	struct ctx *c = *state;
	c->d.cfg_read = hook_read;
	c->d.cfg_write = hook_write;
	assert_int_equal(cfg_rd(c, 1, 0x44, 4), 0xfeedbeef);
	cfg_wr(c, 1, 0x60, 0x99, 4);
	assert_int_equal(hook_writes, 0x99);
}

static void test_intx(void **state)
{
	struct ctx *c = *state;
	unsigned gsi = pci_slot_gsi(1, 1);
	assert_true(gsi >= 16 && gsi <= 19);
	pci_set_irq(&c->d, 1);
	assert_int_equal(c->t->chip.level[gsi], 1);
	assert_true(cfg_rd(c, 1, 0x06, 2) & PCI_STATUS_INTERRUPT);
	cfg_wr(c, 1, 0x04, 0x0403, 2); /* INTx disable */
	assert_int_equal(c->t->chip.level[gsi], 0);
	cfg_wr(c, 1, 0x04, 0x0003, 2);
	assert_int_equal(c->t->chip.level[gsi], 1);
	pci_set_irq(&c->d, 0);
	assert_int_equal(c->t->chip.level[gsi], 0);
	assert_false(cfg_rd(c, 1, 0x06, 2) & PCI_STATUS_INTERRUPT);
	/* The swizzle spreads slots and pins over the four GSIs. */
	assert_int_not_equal(pci_slot_gsi(1, 1), pci_slot_gsi(2, 1));
	assert_int_equal(pci_slot_gsi(1, 2), pci_slot_gsi(2, 1));
}

/* Devices whose pins share a GSI: the line is the OR of them. */
static void test_intx_shared(void **state)
{
	struct ctx *c = *state;
	struct pci_device more[4];
	char err[128];
	for (int i = 0; i < 4; i++) {
		pci_device_init(&more[i], c->t->vm, 0x1234, 0x11 + i, 0xff0000, 0, 0);
		assert_int_equal(pci_register(c->h, &more[i], err, sizeof(err)), 0);
	}
	struct pci_device *e = &more[3]; /* slot 5 */
	assert_int_equal(e->slot, 5);
	unsigned gsi = pci_slot_gsi(1, 1);
	assert_int_equal(pci_slot_gsi(5, 1), gsi);
	pci_set_irq(&c->d, 1);
	pci_set_irq(e, 1);
	pci_set_irq(&c->d, 0);
	assert_int_equal(c->t->chip.level[gsi], 1); /* slot 5 still asserts */
	pci_set_irq(e, 0);
	assert_int_equal(c->t->chip.level[gsi], 0);
	/* INTx disable on one device drops only its share. */
	pci_set_irq(&c->d, 1);
	pci_set_irq(e, 1);
	cfg_wr(c, 5, 0x04, 0x0400, 2);
	assert_int_equal(c->t->chip.level[gsi], 1);
	pci_set_irq(&c->d, 0);
	assert_int_equal(c->t->chip.level[gsi], 0);
	/* Unplugging a device that asserts releases the line. */
	cfg_wr(c, 5, 0x04, 0x0000, 2);
	assert_int_equal(c->t->chip.level[gsi], 1);
	for (int i = 0; i < 4; i++)
		pci_unregister(&more[i]);
	assert_int_equal(c->t->chip.level[gsi], 0);
}

static void test_msix(void **state)
{
	struct ctx *c = *state;
	uint64_t tbl = pci_bar_addr(&c->d, 2);
	unsigned m = cfg_rd(c, 1, 0x34, 1);
	assert_true(tbl >= BOARD_PCI_MMIO_BASE);
	/* Vectors start masked; nothing goes out while MSI-X is disabled. */
	assert_int_equal(mmio_rd(c->t, tbl + 12, 4), 1);
	pci_msix_notify(&c->d, 1);
	assert_int_equal(c->t->chip.nmsi, 0);
	assert_false(pci_msix_enabled(&c->d));
	cfg_wr(c, 1, m + 2, 0x8000, 2);
	assert_true(pci_msix_enabled(&c->d));
	/* Program vector 1. */
	mmio_wr(c->t, tbl + 16, 0xfee01000, 4);
	mmio_wr(c->t, tbl + 20, 0, 4);
	mmio_wr(c->t, tbl + 24, 0x4061, 4);
	assert_int_equal(mmio_rd(c->t, tbl + 16, 4), 0xfee01000);
	pci_msix_notify(&c->d, 1); /* still masked: pending */
	assert_int_equal(c->t->chip.nmsi, 0);
	assert_int_equal(mmio_rd(c->t, tbl + 0x800, 4), 0x2);
	mmio_wr(c->t, tbl + 28, 0, 4); /* unmask: the pending message goes out */
	assert_int_equal(c->t->chip.nmsi, 1);
	assert_int_equal(c->t->chip.msi_addr[0], 0xfee01000);
	assert_int_equal(c->t->chip.msi_data[0], 0x4061);
	assert_int_equal(mmio_rd(c->t, tbl + 0x800, 4), 0);
	pci_msix_notify(&c->d, 1);
	assert_int_equal(c->t->chip.nmsi, 2);
	/* Function mask holds everything back until cleared. */
	cfg_wr(c, 1, m + 2, 0xc000, 2);
	pci_msix_notify(&c->d, 1);
	assert_int_equal(c->t->chip.nmsi, 2);
	cfg_wr(c, 1, m + 2, 0x8000, 2);
	assert_int_equal(c->t->chip.nmsi, 3);
	/* Out-of-range vectors and table entries are ignored. */
	pci_msix_notify(&c->d, 9);
	mmio_wr(c->t, tbl + 16 * 9, 0x1234, 4);
	assert_int_equal(mmio_rd(c->t, tbl + 16 * 9, 4), 0);
	assert_int_equal(c->t->chip.nmsi, 3);
}

static void test_reset_register(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0xcf9, 0x02);
	assert_false(vm_stopping(c->t->vm));
	assert_int_equal(inb(c->t, 0xcf9), 0x02);
	outb(c->t, 0xcf9, 0x06);
	assert_true(vm_stopping(c->t->vm));
	assert_int_equal(c->t->vm->exit_status, 0);
}

static void test_bad_bars(void **state)
{
	(void)state;
	struct pci_device d;
	pci_device_init(&d, NULL, 1, 2, 0, 0, 0);
	assert_int_equal(pci_bar_init(&d, 6, PCI_BAR_MEM32, 16, &bar_ops, NULL), -1);
	assert_int_equal(pci_bar_init(&d, 5, PCI_BAR_MEM64, 16, &bar_ops, NULL), -1);
	assert_int_equal(pci_bar_init(&d, 0, PCI_BAR_IO, 4096, &bar_ops, NULL), -1);
	assert_int_equal(pci_bar_init(&d, 0, PCI_BAR_MEM32, 3000, &bar_ops, NULL), 0);
	assert_int_equal(d.bar[0].size, 4096); /* rounded up to a power of two */
	for (int i = 0; i < 100; i++)
		if (pci_add_capability(&d, 0x09, 32) < 0)
			return; /* config space runs out cleanly */
	fail();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_placement_and_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_move_and_decode_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register, setup, teardown),
		cmocka_unit_test(test_bad_bars),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
