/* 16550A: loopback (as Linux's autoconfig probes it), FIFOs and trigger
 * levels, IIR priorities, THRE interrupt semantics, OUT2 gating, and input
 * from a chardev arriving complete and in order. */
#include "hwtest.h"

#include "hw/board.h"
#include "hw/uart.h"
#include "host/chardev.h"

#define P   BOARD_COM1_PORT
#define IRQ BOARD_COM1_IRQ

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define FCR IIR
#define THR RBR

struct ctx {
	struct test_vm *t;
	struct chardev *chr;
	struct uart *u;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(0);
	c->chr = chardev_create_buffer(c->t->vm);
	c->u = uart_create(c->t->vm, P, IRQ, c->chr);
	assert_non_null(c->u);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	uart_destroy(c->u);
	chardev_destroy(c->chr);
	assert_int_equal(c->t->vm->pio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static uint8_t rd(struct ctx *c, int reg)
{
	return inb(c->t, P + reg);
}
static void wr(struct ctx *c, int reg, uint8_t v)
{
	outb(c->t, P + reg, v);
}

static void test_reset_state_and_scratch(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(rd(c, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(c, IIR), 0x01);
	assert_int_equal(rd(c, IER), 0x00);
	wr(c, SCR, 0xa5);
	assert_int_equal(rd(c, SCR), 0xa5);
	/* Divisor latch. */
	wr(c, LCR, 0x83);
	wr(c, RBR, 0x01);
	wr(c, IER, 0x00);
	assert_int_equal(rd(c, RBR), 0x01);
	assert_int_equal(rd(c, IER), 0x00);
	wr(c, LCR, 0x03);
	assert_int_equal(rd(c, LCR), 0x03);
	wr(c, IER, 0xff);
	assert_int_equal(rd(c, IER), 0x0f);
}

/* What Linux's autoconfig does to decide a UART is there. */
static void test_loopback(void **state)
{
	struct ctx *c = *state;
	wr(c, MCR, 0x1a);                          /* LOOP | OUT2 | RTS */
	assert_int_equal(rd(c, MSR) & 0xf0, 0x90); /* DCD | CTS */
	wr(c, MCR, 0x1f);
	assert_int_equal(rd(c, MSR) & 0xf0, 0xf0);
	wr(c, THR, 'A');
	assert_int_equal(rd(c, LSR) & 0x01, 0x01);
	assert_int_equal(rd(c, RBR), 'A');
	assert_int_equal(rd(c, LSR) & 0x01, 0x00);
	size_t n;
	chardev_output(c->chr, &n);
	assert_int_equal(n, 0); /* nothing left the chip */
	/* Host input does not reach a looped-back receiver. */
	chardev_push_input(c->chr, "x", 1);
	assert_int_equal(rd(c, LSR) & 0x01, 0x00);
	wr(c, MCR, 0x0b);
	assert_int_equal(rd(c, LSR) & 0x01, 0x01);
	assert_int_equal(rd(c, RBR), 'x');
	/* Leaving loopback: the host side's modem lines (CTS/DSR/DCD). */
	assert_int_equal(rd(c, MSR) & 0xf0, 0xb0);
}

static void test_fifo_and_overrun(void **state)
{
	struct ctx *c = *state;
	wr(c, FCR, 0x07);
	assert_int_equal(rd(c, IIR) & 0xc0, 0xc0); /* FIFOs enabled: 16550A */
	wr(c, MCR, 0x10);
	for (int i = 0; i < 17; i++)
		wr(c, THR, 'a' + i);
	uint8_t lsr = rd(c, LSR);
	assert_true(lsr & 0x02); /* overrun */
	assert_true(lsr & 0x01);
	assert_false(rd(c, LSR) & 0x02); /* cleared by reading LSR */
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(c, RBR), 'a' + i);
	assert_false(rd(c, LSR) & 0x01);
	/* Without FIFOs the receiver holds a single byte. */
	wr(c, FCR, 0x00);
	assert_int_equal(rd(c, IIR) & 0xc0, 0x00);
	wr(c, THR, '1');
	wr(c, THR, '2');
	assert_true(rd(c, LSR) & 0x02);
	assert_int_equal(rd(c, RBR), '1');
}

static void test_thre_interrupt(void **state)
{
	struct ctx *c = *state;
	wr(c, MCR, 0x08); /* OUT2: the IRQ reaches the PIC */
	wr(c, IER, 0x00);
	wr(c, IER, 0x02); /* enabling THRI with THR empty raises it */
	assert_int_equal(c->t->chip.level[IRQ], 1);
	assert_int_equal(rd(c, IIR), 0x02);
	assert_int_equal(c->t->chip.level[IRQ], 0); /* reading IIR acknowledged it */
	assert_int_equal(rd(c, IIR), 0x01);
	/* Writing THR: the byte goes out, THR empties, THRE comes back. */
	wr(c, THR, 'h');
	wr(c, THR, 'i');
	assert_int_equal(c->t->chip.level[IRQ], 1);
	size_t n;
	const uint8_t *out = chardev_output(c->chr, &n);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);
	/* The driver's UART_BUG_THRE probe: IER 0 then THRI again. */
	assert_int_equal(rd(c, IIR), 0x02);
	wr(c, IER, 0x00);
	wr(c, IER, 0x02);
	assert_int_equal(rd(c, IIR), 0x02);
	wr(c, IER, 0x00);
	assert_int_equal(c->t->chip.level[IRQ], 0);
}

static void test_out2_gates_irq(void **state)
{
	struct ctx *c = *state;
	wr(c, IER, 0x02);
	assert_int_equal(rd(c, IIR) & 0x0f, 0x02); /* pending inside the chip... */
	wr(c, IER, 0x00);
	wr(c, IER, 0x02);
	assert_int_equal(c->t->chip.rises[IRQ], 0); /* ...but not on the bus */
	wr(c, MCR, 0x08);
	assert_int_equal(c->t->chip.level[IRQ], 1);
	wr(c, MCR, 0x00);
	assert_int_equal(c->t->chip.level[IRQ], 0);
}

static void test_iir_priorities(void **state)
{
	struct ctx *c = *state;
	wr(c, FCR, 0x01);
	wr(c, MCR, 0x18); /* loopback to make an overrun */
	for (int i = 0; i < 17; i++)
		wr(c, THR, '0');
	wr(c, IER, 0x0f);
	assert_int_equal(rd(c, IIR) & 0x0f, 0x06); /* line status first */
	rd(c, LSR);
	assert_int_equal(rd(c, IIR) & 0x0f, 0x04); /* then received data */
	for (int i = 0; i < 16; i++)
		rd(c, RBR);
	assert_int_equal(rd(c, IIR) & 0x0f, 0x02); /* then THRE */
	/* Then modem status: changing the looped-back lines sets deltas. */
	assert_int_equal(rd(c, IIR) & 0x0f, 0x00);
	rd(c, MSR);
	assert_int_equal(rd(c, IIR) & 0x0f, 0x01);
}

static void test_input_in_order(void **state)
{
	struct ctx *c = *state;
	uint8_t msg[1000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = i * 7;
	/* All of it arrives before the guest reads anything. */
	chardev_push_input(c->chr, msg, 600);
	chardev_push_input(c->chr, msg + 600, 400);
	wr(c, FCR, 0xc1); /* FIFO, trigger 14 */
	wr(c, MCR, 0x08);
	wr(c, IER, 0x01);
	assert_int_equal(c->t->chip.level[IRQ], 1);
	assert_int_equal(rd(c, IIR), 0xc4); /* data at the trigger level */
	size_t got = 0;
	while (rd(c, LSR) & 0x01) {
		assert_true(got < sizeof(msg));
		assert_int_equal(rd(c, RBR), msg[got]);
		got++;
	}
	assert_int_equal(got, sizeof(msg));
	assert_int_equal(chardev_pending(c->chr), 0);
	assert_int_equal(c->t->chip.level[IRQ], 0);
	/* A few bytes, below the trigger: the character timeout reports them. */
	chardev_push_input(c->chr, "ok", 2);
	assert_int_equal(rd(c, IIR), 0xcc);
	assert_int_equal(rd(c, RBR), 'o');
	assert_int_equal(rd(c, RBR), 'k');
	assert_int_equal(rd(c, IIR), 0xc1);
}

/* Input that arrives while Linux's 8250 driver probes and starts up (FIFO
 * resets, blind reads of RBR) is still delivered, in order. */
static void test_input_survives_driver_startup(void **state)
{
	struct ctx *c = *state;
	chardev_push_input(c->chr, "hello", 5);
	wr(c, IER, 0x0f); /* autoconfig's IER probe */
	assert_int_equal(rd(c, IER), 0x0f);
	wr(c, IER, 0x00);
	wr(c, FCR, 0x07); /* serial8250_clear_fifos */
	wr(c, FCR, 0x00);
	rd(c, LSR); /* startup's "clear the interrupt registers" */
	rd(c, RBR);
	rd(c, IIR);
	rd(c, MSR);
	wr(c, FCR, 0x87);
	wr(c, LCR, 0x03);
	wr(c, MCR, 0x0b);
	rd(c, LSR);
	rd(c, RBR);
	wr(c, IER, 0x05); /* RLSI | RDI: now receiving */
	assert_int_equal(c->t->chip.level[IRQ], 1);
	char got[6] = { 0 };
	for (int i = 0; i < 5; i++) {
		assert_true(rd(c, LSR) & 0x01);
		got[i] = rd(c, RBR);
	}
	assert_string_equal(got, "hello");
	assert_false(rd(c, LSR) & 0x01);
}

static void test_fifo_clear(void **state)
{
	struct ctx *c = *state;
	wr(c, FCR, 0x01);
	wr(c, MCR, 0x10);
	wr(c, THR, 'z');
	wr(c, FCR, 0x03); /* clear RX */
	assert_false(rd(c, LSR) & 0x01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out2_gates_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_survives_driver_startup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_clear, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
