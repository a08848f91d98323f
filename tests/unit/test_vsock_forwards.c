/* A member's published TCP forwards (host/vsock_forwards.h): well-formed
 * lines are taken, anything else skipped, at most max of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host/vsock_forwards.h"

static void test_parse(void **state)
{
	static const char text[] = "40000 5001\n8080 80\nbad line\n0 5\n70000 1\n5 0\n 1 2\n1 2 \n3  4\n1 65535";
	uint16_t fwd[VSOCK_FORWARDS_MAX][2];

	(void)state;
	assert_int_equal(vsock_forwards_parse(text, strlen(text), fwd, VSOCK_FORWARDS_MAX), 3);
	assert_int_equal(fwd[0][0], 40000);
	assert_int_equal(fwd[0][1], 5001);
	assert_int_equal(fwd[1][0], 8080);
	assert_int_equal(fwd[1][1], 80);
	assert_int_equal(fwd[2][0], 1);
	assert_int_equal(fwd[2][1], 65535);
	/* at most max; only len bytes are looked at ("12 34" cut to 4 is "12 3") */
	assert_int_equal(vsock_forwards_parse(text, strlen(text), fwd, 1), 1);
	assert_int_equal(vsock_forwards_parse("12 34", 4, fwd, 4), 1);
	assert_int_equal(fwd[0][1], 3);
	assert_int_equal(vsock_forwards_parse("", 0, fwd, 4), 0);
	/* a number too long to be a port does not wrap into one */
	assert_int_equal(vsock_forwards_parse("4294967297 1\n65536 1", 20, fwd, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_parse) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
