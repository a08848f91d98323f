/* isa-debug-exit semantics: status (v << 1) | 1, any access width. */
#include "hwtest.h"

#include "hw/board.h"
#include "hw/debugexit.h"

static int run(uint16_t port_off, uint64_t v, unsigned size)
{
	struct test_vm *t = tvm_new(0);
	struct debugexit *d = debugexit_create(t->vm, BOARD_DEBUG_EXIT_PORT);
	assert_non_null(d);
	assert_false(vm_stopping(t->vm));
	pout(t, BOARD_DEBUG_EXIT_PORT + port_off, v, size);
	assert_true(vm_stopping(t->vm));
	int st = t->vm->exit_status;
	debugexit_destroy(d);
	assert_int_equal(t->vm->pio.n, 0);
	tvm_free(t);
	return st;
}

static void test_statuses(void **state)
{
	(void)state;
	assert_int_equal(run(0, 0x00, 1), 1);
	assert_int_equal(run(0, 0x10, 1), 0x21);
	assert_int_equal(run(0, 0x01, 4), 3);
	assert_int_equal(run(0, 0x31, 2), 0x63);
	assert_int_equal(run(2, 0x05, 1), 11); /* any port of the four */
}

static void test_first_exit_wins_and_reads(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	struct debugexit *d = debugexit_create(t->vm, BOARD_DEBUG_EXIT_PORT);
	assert_int_equal(pin(t, BOARD_DEBUG_EXIT_PORT, 1), 0xff);
	assert_false(vm_stopping(t->vm)); /* reads do nothing */
	outb(t, BOARD_DEBUG_EXIT_PORT, 2);
	outb(t, BOARD_DEBUG_EXIT_PORT, 7);
	assert_int_equal(t->vm->exit_status, 5);
	/* The port is taken: a second device cannot claim it. */
	assert_null(debugexit_create(t->vm, BOARD_DEBUG_EXIT_PORT + 2));
	debugexit_destroy(d);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_first_exit_wins_and_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
