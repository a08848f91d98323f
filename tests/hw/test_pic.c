/* 8259A pair: initialisation, priorities, EOI forms, cascade, ELCR level
 * inputs, auto-EOI, poll, rotation, special mask and spurious vectors. */
#include "hwtest.h"

#include "hw/pic.h"

struct ctx {
	struct test_vm *t;
	struct pic *pic;
	int intr, changes;
};

static void on_intr(void *opaque, int level)
{
	struct ctx *c = opaque;
	c->intr = level;
	c->changes++;
}

/* The sequence Linux's init_8259A uses (vectors 0x20/0x28). */
static void init_pair(struct test_vm *t, uint8_t icw4)
{
	outb(t, 0x20, 0x11);
	outb(t, 0x21, 0x20);
	outb(t, 0x21, 0x04);
	outb(t, 0x21, icw4);
	outb(t, 0xa0, 0x11);
	outb(t, 0xa1, 0x28);
	outb(t, 0xa1, 0x02);
	outb(t, 0xa1, icw4);
	outb(t, 0x21, 0x00);
	outb(t, 0xa1, 0x00);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(0);
	c->pic = pic_create(c->t->vm);
	assert_non_null(c->pic);
	pic_set_output(c->pic, on_intr, c);
	init_pair(c->t, 0x01);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	pic_destroy(c->pic);
	assert_int_equal(c->t->vm->pio.n, 0); /* all ranges released */
	tvm_free(c->t);
	free(c);
	return 0;
}

static uint8_t read_isr(struct test_vm *t, uint16_t port)
{
	outb(t, port, 0x0b);
	uint8_t v = inb(t, port);
	outb(t, port, 0x0a);
	return v;
}

static void test_init_and_ack(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(inb(c->t, 0x21), 0x00); /* IMR as written */
	assert_false(pic_has_intr(c->pic));
	pic_set_irq(c->pic, 3, 1);
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(c->intr, 1);
	assert_int_equal(inb(c->t, 0x20), 0x08); /* IRR */
	assert_int_equal(pic_ack(c->pic), 0x23);
	assert_false(pic_has_intr(c->pic));
	assert_int_equal(c->intr, 0);
	assert_int_equal(read_isr(c->t, 0x20), 0x08);
	assert_int_equal(inb(c->t, 0x20), 0x00); /* edge request consumed */
	outb(c->t, 0x20, 0x20);                  /* non-specific EOI */
	assert_int_equal(read_isr(c->t, 0x20), 0x00);
}

static void test_priority_and_nesting(void **state)
{
	struct ctx *c = *state;
	pic_set_irq(c->pic, 5, 1);
	pic_set_irq(c->pic, 4, 1);
	assert_int_equal(pic_ack(c->pic), 0x24); /* lower number wins */
	/* IRQ5 is lower priority than the in-service IRQ4: held off. */
	assert_false(pic_has_intr(c->pic));
	/* IRQ1 is higher: it nests. */
	pic_set_irq(c->pic, 1, 1);
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x21);
	assert_int_equal(read_isr(c->t, 0x20), 0x12);
	outb(c->t, 0x20, 0x20); /* EOI goes to the highest in service: 1 */
	assert_int_equal(read_isr(c->t, 0x20), 0x10);
	assert_false(pic_has_intr(c->pic));
	outb(c->t, 0x20, 0x64); /* specific EOI for 4 */
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x25);
}

static void test_mask(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x21, 0x08);
	pic_set_irq(c->pic, 3, 1);
	assert_false(pic_has_intr(c->pic));
	assert_int_equal(inb(c->t, 0x20), 0x08); /* still requested */
	outb(c->t, 0x21, 0x00);
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x23);
}

static void test_cascade(void **state)
{
	struct ctx *c = *state;
	pic_set_irq(c->pic, 10, 1);
	pic_set_irq(c->pic, 10, 0); /* an edge pulse is remembered */
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x2a);
	assert_int_equal(read_isr(c->t, 0x20), 0x04); /* cascade input in service */
	assert_int_equal(read_isr(c->t, 0xa0), 0x04);
	/* A second slave IRQ of lower priority waits for the slave's EOI. */
	pic_set_irq(c->pic, 12, 1);
	assert_false(pic_has_intr(c->pic));
	outb(c->t, 0xa0, 0x20);
	outb(c->t, 0x20, 0x20);
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x2c);
	/* Masking the cascade input hides the whole slave. */
	outb(c->t, 0xa0, 0x20);
	outb(c->t, 0x20, 0x20);
	outb(c->t, 0x21, 0x04);
	pic_set_irq(c->pic, 9, 1);
	assert_false(pic_has_intr(c->pic));
}

static void test_level_elcr(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x4d1, 0x0c); /* IRQ10, IRQ11 level */
	assert_int_equal(inb(c->t, 0x4d1), 0x0c);
	outb(c->t, 0x4d0, 0xff); /* IRQ0-2 cannot be level */
	assert_int_equal(inb(c->t, 0x4d0), 0xf8);
	outb(c->t, 0x4d0, 0x00);
	pic_set_irq(c->pic, 11, 1);
	assert_int_equal(pic_ack(c->pic), 0x2b);
	outb(c->t, 0xa0, 0x20);
	outb(c->t, 0x20, 0x20);
	/* Still asserted: requested again. */
	assert_true(pic_has_intr(c->pic));
	pic_set_irq(c->pic, 11, 0);
	assert_false(pic_has_intr(c->pic));
	/* Edge input by contrast: one request per rising edge. */
	pic_set_irq(c->pic, 6, 1);
	assert_int_equal(pic_ack(c->pic), 0x26);
	outb(c->t, 0x20, 0x20);
	assert_false(pic_has_intr(c->pic));
	pic_set_irq(c->pic, 6, 1); /* no new edge */
	assert_false(pic_has_intr(c->pic));
}

static void test_spurious(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(pic_ack(c->pic), 0x27);
	assert_int_equal(read_isr(c->t, 0x20), 0x00); /* spurious sets no ISR bit */
	/* A level request withdrawn on the slave withdraws the cascade
	 * request too: INTR drops instead of a later spurious IRQ15. */
	outb(c->t, 0x4d1, 0x80);
	pic_set_irq(c->pic, 15, 1);
	assert_true(pic_has_intr(c->pic));
	pic_set_irq(c->pic, 15, 0);
	assert_false(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x27);
	assert_int_equal(read_isr(c->t, 0xa0), 0x00);
}

static void test_auto_eoi(void **state)
{
	struct ctx *c = *state;
	init_pair(c->t, 0x03);
	pic_set_irq(c->pic, 4, 1);
	assert_int_equal(pic_ack(c->pic), 0x24);
	assert_int_equal(read_isr(c->t, 0x20), 0x00);
	pic_set_irq(c->pic, 5, 1); /* not blocked: nothing is in service */
	assert_int_equal(pic_ack(c->pic), 0x25);
}

static void test_poll(void **state)
{
	struct ctx *c = *state;
	pic_set_irq(c->pic, 6, 1);
	outb(c->t, 0x20, 0x0c); /* OCW3 poll */
	assert_int_equal(inb(c->t, 0x20), 0x86);
	assert_int_equal(read_isr(c->t, 0x20), 0x40);
	outb(c->t, 0x20, 0x20);
	outb(c->t, 0x20, 0x0c);
	assert_int_equal(inb(c->t, 0x20), 0x00); /* nothing pending */
}

static void test_rotate(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x20, 0xc3); /* set priority: IRQ3 lowest, IRQ4 highest */
	pic_set_irq(c->pic, 1, 1);
	pic_set_irq(c->pic, 5, 1);
	assert_int_equal(pic_ack(c->pic), 0x25);
	outb(c->t, 0x20, 0xa0); /* rotate on non-specific EOI: 5 becomes lowest */
	assert_int_equal(read_isr(c->t, 0x20), 0x00);
	pic_set_irq(c->pic, 6, 1);
	assert_int_equal(pic_ack(c->pic), 0x26); /* 6 is now highest */
	outb(c->t, 0x20, 0xe6);                  /* rotate on specific EOI 6 */
	assert_int_equal(pic_ack(c->pic), 0x21);
}

static void test_special_mask(void **state)
{
	struct ctx *c = *state;
	pic_set_irq(c->pic, 3, 1);
	assert_int_equal(pic_ack(c->pic), 0x23);
	pic_set_irq(c->pic, 5, 1);
	assert_false(pic_has_intr(c->pic)); /* blocked by in-service 3 */
	outb(c->t, 0x21, 0x08);
	outb(c->t, 0x20, 0x68); /* special mask mode on */
	assert_true(pic_has_intr(c->pic));
	assert_int_equal(pic_ack(c->pic), 0x25);
	outb(c->t, 0x20, 0x48); /* off again */
}

static void test_output_callback(void **state)
{
	struct ctx *c = *state;
	int before = c->changes;
	pic_set_irq(c->pic, 0, 1);
	pic_set_irq(c->pic, 1, 1);
	assert_int_equal(c->changes, before + 1); /* only real level changes */
	pic_ack(c->pic);
	assert_int_equal(c->intr, 0); /* IRQ1 is below in-service IRQ0 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_and_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_and_nesting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cascade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_elcr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spurious, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_callback, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
