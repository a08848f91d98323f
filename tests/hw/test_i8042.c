/* i8042: what Linux's i8042 probe does (CTR read/write, self tests, port
 * enables, flush), the keyboard's answers, the missing mouse, and every
 * reset path ending the VM. */
#include "hwtest.h"

#include "hw/i8042.h"

struct ctx {
	struct test_vm *t;
	struct i8042 *k;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(0);
	c->k = i8042_create(c->t->vm, 1, 12);
	assert_non_null(c->k);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	i8042_destroy(c->k);
	assert_int_equal(c->t->vm->pio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

/* i8042_command(): write, then read one byte once OBF says so. */
static int cmd(struct ctx *c, uint8_t command)
{
	assert_false(inb(c->t, 0x64) & 0x02); /* input buffer free */
	outb(c->t, 0x64, command);
	if (!(inb(c->t, 0x64) & 0x01))
		return -1;
	return inb(c->t, 0x60);
}

static void test_self_tests(void **state)
{
	struct ctx *c = *state;
	assert_false(inb(c->t, 0x64) & 0x01); /* nothing to flush */
	assert_int_equal(cmd(c, 0xaa), 0x55);
	assert_true(inb(c->t, 0x64) & 0x04); /* system flag */
	assert_int_equal(cmd(c, 0xab), 0x00);
	assert_int_equal(cmd(c, 0xa9), 0x00);
	assert_false(vm_stopping(c->t->vm));
}

static void test_command_byte(void **state)
{
	struct ctx *c = *state;
	int ctr = cmd(c, 0x20);
	assert_true(ctr >= 0);
	assert_true(ctr & 0x01); /* keyboard interrupt on */
	outb(c->t, 0x64, 0x60);
	assert_true(inb(c->t, 0x64) & 0x08); /* last write was a command */
	outb(c->t, 0x60, 0x74);
	assert_int_equal(cmd(c, 0x20), 0x74);
	outb(c->t, 0x64, 0xae); /* enable keyboard port */
	assert_int_equal(cmd(c, 0x20) & 0x10, 0);
	outb(c->t, 0x64, 0xad);
	assert_int_equal(cmd(c, 0x20) & 0x10, 0x10);
	outb(c->t, 0x64, 0xa8);
	assert_int_equal(cmd(c, 0x20) & 0x20, 0);
	outb(c->t, 0x64, 0xa7);
	assert_int_equal(cmd(c, 0x20) & 0x20, 0x20);
}

static void test_keyboard_and_irq(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x60, 0xff); /* keyboard reset */
	assert_int_equal(c->t->chip.level[1], 1);
	assert_int_equal(inb(c->t, 0x60), 0xfa);
	assert_int_equal(inb(c->t, 0x60), 0xaa);
	assert_int_equal(c->t->chip.level[1], 0);
	outb(c->t, 0x60, 0xf2); /* identify */
	assert_int_equal(inb(c->t, 0x60), 0xfa);
	assert_int_equal(inb(c->t, 0x60), 0xab);
	assert_int_equal(inb(c->t, 0x60), 0x83);
	outb(c->t, 0x60, 0xed); /* LEDs + parameter */
	assert_int_equal(inb(c->t, 0x60), 0xfa);
	outb(c->t, 0x60, 0x07);
	assert_int_equal(inb(c->t, 0x60), 0xfa);
	assert_false(inb(c->t, 0x64) & 0x01);
	/* With the interrupt disabled in the CTR, data is polled only. */
	outb(c->t, 0x64, 0x60);
	outb(c->t, 0x60, 0x44);
	outb(c->t, 0x60, 0xee);
	assert_int_equal(c->t->chip.level[1], 0);
	assert_int_equal(inb(c->t, 0x60), 0xee);
}

static void test_no_mouse(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x64, 0x60);
	outb(c->t, 0x60, 0x47); /* both interrupts on */
	/* AUX loopback works (the port exists)... */
	outb(c->t, 0x64, 0xd3);
	outb(c->t, 0x60, 0x5a);
	assert_int_equal(inb(c->t, 0x64) & 0x21, 0x21);
	assert_int_equal(c->t->chip.level[12], 1);
	assert_int_equal(inb(c->t, 0x60), 0x5a);
	assert_int_equal(c->t->chip.level[12], 0);
	/* ...but a byte for the mouse comes back as a timeout at once. */
	outb(c->t, 0x64, 0xd4);
	outb(c->t, 0x60, 0xf2);
	uint8_t st = inb(c->t, 0x64);
	assert_int_equal(st & 0x61, 0x61); /* OBF | AUXDATA | TIMEOUT */
	assert_int_equal(inb(c->t, 0x60), 0xfe);
	assert_false(inb(c->t, 0x64) & 0x40);
}

static void test_reset_pulse(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x64, 0xfe);
	assert_true(vm_stopping(c->t->vm));
	assert_int_equal(c->t->vm->exit_status, 0);
}

static void test_reset_output_port(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(cmd(c, 0xd0) & 0x01, 0x01);
	outb(c->t, 0x64, 0xd1);
	outb(c->t, 0x60, 0x03); /* A20 on, reset high: nothing happens */
	assert_false(vm_stopping(c->t->vm));
	outb(c->t, 0x64, 0xd1);
	outb(c->t, 0x60, 0x02);
	assert_true(vm_stopping(c->t->vm));
	assert_int_equal(c->t->vm->exit_status, 0);
}

static void test_port92(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(inb(c->t, 0x92), 0x02);
	outb(c->t, 0x92, 0x02);
	assert_false(vm_stopping(c->t->vm));
	outb(c->t, 0x92, 0x03);
	assert_true(vm_stopping(c->t->vm));
	assert_int_equal(c->t->vm->exit_status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_mouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port92, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
