/* The vsock group MAC policy parser (host/vsock_policy.h): what the lines
 * allow and forbid, and that every malformed line is refused with its
 * number. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/vsock_policy.h"

static struct vsock_policy *parse(const char *text, char *err, size_t errlen)
{
	return vsock_policy_parse(text, strlen(text), err, errlen);
}

static void test_allow_and_conflict(void **state)
{
	char err[256] = "";
	struct vsock_policy *p;
	(void)state;

	p = parse("# a policy\n"
	          "\n"
	          "allow web db   # web may call db\n"
	          "  allow\tdb cache\r\n"
	          "conflict bank-a bank-b oil.co\n"
	          "conflict x y",
	          err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(vsock_policy_allow_count(p), 2);
	assert_int_equal(vsock_policy_conflict_count(p), 2);
	assert_true(vsock_policy_allows(p, "web", "db"));
	assert_false(vsock_policy_allows(p, "db", "web")); /* directed */
	assert_true(vsock_policy_allows(p, "db", "cache"));
	assert_false(vsock_policy_allows(p, "web", "cache")); /* not transitive */
	assert_false(vsock_policy_allows(p, "", "db"));       /* unlabelled */
	assert_false(vsock_policy_allows(p, "web", "web"));   /* only what is written */
	assert_true(vsock_policy_conflict(p, "bank-a", "bank-b"));
	assert_true(vsock_policy_conflict(p, "oil.co", "bank-a"));
	assert_true(vsock_policy_conflict(p, "y", "x"));
	assert_false(vsock_policy_conflict(p, "bank-a", "bank-a"));
	assert_false(vsock_policy_conflict(p, "bank-a", "x"));
	assert_false(vsock_policy_conflict(p, "web", "db"));
	vsock_policy_free(p);

	/* No policy: everything allowed, nothing in conflict. */
	assert_true(vsock_policy_allows(NULL, "a", "b"));
	assert_false(vsock_policy_conflict(NULL, "a", "b"));
	/* An empty policy allows nothing. */
	p = parse("# nothing\n", err, sizeof(err));
	assert_non_null(p);
	assert_false(vsock_policy_allows(p, "a", "b"));
	vsock_policy_free(p);
}

static void test_errors_name_the_line(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "allow a\n", "line 1: expected 'allow FROM TO'" },
		{ "# c\nallow a b c\n", "line 2: expected 'allow FROM TO'" },
		{ "allow a b\n\n\ndeny a b\n", "line 4: unknown rule 'deny'" },
		{ "conflict a\n", "line 1: expected 'conflict LABEL LABEL...'" },
		{ "conflict a b a\n", "line 1: label 'a' twice" },
		{ "allow a b!\n", "line 1: 'b!' is not a label" },
		{ "allow a /x\n", "line 1: '/x' is not a label" },
		{ "allow\n", "line 1: expected 'allow FROM TO'" },
		{ "ALLOW a b\n", "line 1: unknown rule 'ALLOW'" },
	};
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_null(parse(bad[i].text, err, sizeof(err)));
		if (!strstr(err, bad[i].want))
			fail_msg("'%s': got '%s', want '%s'", bad[i].text, err, bad[i].want);
	}
	/* A 64-byte label, a NUL in a line, an over-long line. */
	char text[2048];
	snprintf(text, sizeof(text), "allow a %0*d\n", 64, 7);
	assert_null(parse(text, err, sizeof(err)));
	assert_non_null(strstr(err, "line 1: "));
	snprintf(text, sizeof(text), "allow a %0*d\n", 63, 7);
	struct vsock_policy *p = parse(text, err, sizeof(err));
	assert_non_null(p);
	vsock_policy_free(p);
	assert_null(vsock_policy_parse("allow a b\nallow a\0b\n", 20, err, sizeof(err)));
	assert_non_null(strstr(err, "line 2: a NUL byte"));
	memset(text, 'a', sizeof(text));
	assert_null(vsock_policy_parse(text, sizeof(text), err, sizeof(err)));
	assert_non_null(strstr(err, "line 1: longer than"));
}

static void test_limits(void **state)
{
	char err[256];
	size_t cap = (VSOCK_POLICY_RULES + 2) * 16, len = 0;
	char *text = malloc(cap);
	struct vsock_policy *p;
	(void)state;

	assert_non_null(text);
	for (int i = 0; i < VSOCK_POLICY_RULES; i++)
		len += (size_t)snprintf(text + len, cap - len, "allow a%d b\n", i);
	p = vsock_policy_parse(text, len, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(vsock_policy_allow_count(p), VSOCK_POLICY_RULES);
	assert_true(vsock_policy_allows(p, "a4095", "b"));
	vsock_policy_free(p);
	len += (size_t)snprintf(text + len, cap - len, "allow one more\n");
	assert_null(vsock_policy_parse(text, len, err, sizeof(err)));
	assert_non_null(strstr(err, "line 4097: more than"));
	free(text);

	/* Labels. */
	assert_true(vsock_label_valid("web-1.prod_x"));
	assert_false(vsock_label_valid(""));
	assert_false(vsock_label_valid("a b"));
	assert_false(vsock_label_valid("é"));
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_vsock_policy.XXXXXX", err[512];
	int fd = mkstemp(path);
	struct vsock_policy *p;
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "allow a b\nconflict a\n", 21), 21);
	close(fd);
	assert_null(vsock_policy_load(path, err, sizeof(err)));
	char want[600];
	snprintf(want, sizeof(want), "%s:2: expected 'conflict", path);
	if (strncmp(err, want, strlen(want)))
		fail_msg("got '%s', want '%s...'", err, want);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "allow a b\n", 10), 10);
	close(fd);
	p = vsock_policy_load(path, err, sizeof(err));
	assert_non_null(p);
	assert_true(vsock_policy_allows(p, "a", "b"));
	vsock_policy_free(p);
	unlink(path);
	assert_null(vsock_policy_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(vsock_policy_load("/tmp", err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_and_conflict),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
