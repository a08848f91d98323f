/* GEARS without a guest (src/services/gears/): the strace-style decoder
 * and formatter against a fake process memory with holes (bad pointers,
 * strings that run into unmapped pages, endless strings), flag and errno
 * names, the matching of traces and rules, and the envp rewrite of
 * inject-env, including each case where it must leave the exec alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/gears/decode.h"
#include "services/gears/envp.h"
#include "services/gears/flags.h"
#include "services/gears/names.h"
#include "services/gears/rules.h"

/* A process memory of PAGES pages at BASE; each page mapped or not,
 * writable or not. */
#define BASE  0x10000ULL
#define PAGES 32

struct fake {
	uint8_t bytes[PAGES * 4096];
	bool mapped[PAGES], writable[PAGES];
};

static bool range_ok(const struct fake *f, uint64_t va, size_t len, bool write)
{
	if (va < BASE || va + len > BASE + sizeof(f->bytes) || va + len < va)
		return false;
	for (uint64_t p = (va - BASE) / 4096; len && p <= (va + len - 1 - BASE) / 4096; p++)
		if (!f->mapped[p] || (write && !f->writable[p]))
			return false;
	return true;
}

static int fake_read(void *ctx, uint64_t va, void *buf, size_t len)
{
	struct fake *f = ctx;
	if (!range_ok(f, va, len, false))
		return -1;
	memcpy(buf, f->bytes + (va - BASE), len);
	return 0;
}

static int fake_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
	struct fake *f = ctx;
	if (!range_ok(f, va, len, true))
		return -1;
	memcpy(f->bytes + (va - BASE), buf, len);
	return 0;
}

static struct fake *fake_new(struct gears_mem *m)
{
	struct fake *f = calloc(1, sizeof(*f));
	for (int i = 0; i < PAGES; i++)
		f->mapped[i] = f->writable[i] = true;
	*m = (struct gears_mem){ .read = fake_read, .write = fake_write, .ctx = f };
	return f;
}

static uint64_t put_str(struct fake *f, uint64_t va, const char *s)
{
	memcpy(f->bytes + (va - BASE), s, strlen(s) + 1);
	return va;
}

static void put_u64(struct fake *f, uint64_t va, uint64_t v)
{
	memcpy(f->bytes + (va - BASE), &v, 8);
}

static char *line(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, bool exited, int64_t ret,
                  const struct gears_mem *m)
{
	static char out[GEARS_LINE_MAX];
	uint64_t args[6] = { a0, a1, a2, a3, 0, 0 };
	gears_format_call(out, sizeof(out), nr, args, exited, ret, m);
	return out;
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(gears_syscall_name(257), "openat");
	assert_string_equal(gears_syscall_name(0), "read");
	assert_null(gears_syscall_name(100000));
	assert_int_equal(gears_syscall_number("execve"), 59);
	assert_int_equal(gears_syscall_number("no_such_call"), -1);
	assert_string_equal(gears_errno_name(13), "EACCES");
	assert_null(gears_errno_name(0));
	assert_null(gears_errno_name(-1));
	assert_int_equal(gears_errno_number("ENOENT"), 2);
}

static void test_flags(void **state)
{
	char b[256];
	(void)state;
	gears_format_flags(b, sizeof(b), GEARS_OPEN_FLAGS, 02000000);
	assert_string_equal(b, "O_RDONLY|O_CLOEXEC");
	gears_format_flags(b, sizeof(b), GEARS_OPEN_FLAGS, 01 | 0100 | 01000);
	assert_string_equal(b, "O_WRONLY|O_CREAT|O_TRUNC");
	gears_format_flags(b, sizeof(b), GEARS_OPEN_FLAGS, 02 | 04010000);
	assert_string_equal(b, "O_RDWR|O_SYNC");
	gears_format_flags(b, sizeof(b), GEARS_OPEN_FLAGS, 0x80000000ULL);
	assert_string_equal(b, "O_RDONLY|0x80000000");
	gears_format_flags(b, sizeof(b), GEARS_PROT, 0);
	assert_string_equal(b, "PROT_NONE");
	gears_format_flags(b, sizeof(b), GEARS_PROT, 3);
	assert_string_equal(b, "PROT_READ|PROT_WRITE");
	gears_format_flags(b, sizeof(b), GEARS_MAP_FLAGS, 0x22);
	assert_string_equal(b, "MAP_PRIVATE|MAP_ANONYMOUS");
	gears_format_flags(b, sizeof(b), GEARS_ACCESS_MODE, 0);
	assert_string_equal(b, "F_OK");
	gears_format_flags(b, sizeof(b), GEARS_AT_FLAGS, 0);
	assert_string_equal(b, "0");
	gears_format_flags(b, 8, GEARS_OPEN_FLAGS, 02000000); /* small buffers cut, never overflow */
	assert_int_equal(strlen(b), 7);
}

static void test_openat(void **state)
{
	struct gears_mem m;
	struct fake *f = fake_new(&m);
	char r[96];
	(void)state;
	uint64_t p = put_str(f, BASE + 100, "/etc/hostname");
	assert_string_equal(line(257, (uint64_t)-100, p, 0, 0, true, 3, &m),
	                    "openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY)");
	assert_string_equal(line(257, 5, p, 0101, 0644, true, 3, &m),
	                    "openat(5, \"/etc/hostname\", O_WRONLY|O_CREAT, 0644)");
	gears_format_result(r, sizeof(r), 257, true, 3);
	assert_string_equal(r, "3");
	gears_format_result(r, sizeof(r), 257, true, -2);
	assert_string_equal(r, "-1 ENOENT (No such file or directory)");
	gears_format_result(r, sizeof(r), 59, false, 0);
	assert_string_equal(r, "?");
	gears_format_result(r, sizeof(r), 9, true, 0x7f0000001000);
	assert_string_equal(r, "0x7f0000001000");
	gears_format_result(r, sizeof(r), 0, true, -512);
	assert_string_equal(r, "? ERESTARTSYS (to be restarted)");
	gears_format_result(r, sizeof(r), 0, true, -4000);
	assert_string_equal(r, "-1 (errno 4000)");
	free(f);
}

static void test_hostile_memory(void **state)
{
	struct gears_mem m;
	struct fake *f = fake_new(&m);
	(void)state;
	/* a NULL, a wild and a kernel pointer */
	assert_string_equal(line(2, 0, 0, 0, 0, true, -14, &m), "open(NULL, O_RDONLY)");
	assert_string_equal(line(2, 0xdead0000, 0, 0, 0, true, -14, &m), "open(<bad address>, O_RDONLY)");
	assert_string_equal(line(2, 0xffffffff81000000ULL, 0, 0, 0, true, -14, &m), "open(<bad address>, O_RDONLY)");
	/* a string that runs into an unmapped page: what was read, cut */
	f->mapped[2] = false;
	memset(f->bytes + 4096 + 4090, 'a', 6);
	assert_string_equal(line(2, BASE + 4096 + 4090, 0, 0, 0, true, -14, &m), "open(\"aaaaaa\"..., O_RDONLY)");
	/* a string that ends right before the hole is whole */
	f->bytes[4096 + 4095] = 0;
	assert_string_equal(line(2, BASE + 4096 + 4090, 0, 0, 0, true, -14, &m), "open(\"aaaaa\", O_RDONLY)");
	/* an endless path is cut at 256 bytes */
	memset(f->bytes + 3 * 4096, 'b', 3 * 4096);
	char *l = line(2, BASE + 3 * 4096, 0, 0, 0, true, -36, &m);
	assert_int_equal(strlen(l), strlen("open(\"") + 256 + strlen("\"..., O_RDONLY)"));
	/* control bytes escaped */
	put_str(f, BASE + 200, "a\"b\\c\n\x01");
	assert_string_equal(line(87, BASE + 200, 0, 0, 0, true, 0, &m), "unlink(\"a\\\"b\\\\c\\n\\x01\")");
	/* an argv whose array runs into a hole, an envp counted */
	put_u64(f, BASE + 2 * 4096 - 16, BASE + 100);
	put_str(f, BASE + 100, "/bin/sh");
	put_u64(f, BASE + 2 * 4096 - 8, BASE + 100);
	assert_string_equal(line(59, BASE + 100, BASE + 2 * 4096 - 16, 0, 0, false, 0, &m),
	                    "execve(\"/bin/sh\", [\"/bin/sh\", \"/bin/sh\", <bad address>], NULL)");
	/* an argv that never ends is shown to 16 entries */
	for (int i = 0; i < 40; i++)
		put_u64(f, BASE + 8 * 4096 + 8 * i, BASE + 100);
	l = line(59, BASE + 100, BASE + 8 * 4096, BASE + 8 * 4096, 0, false, 0, &m);
	assert_non_null(strstr(l, "\"/bin/sh\", ...], 0x18000 /* 40 vars */)"));
	/* a line longer than the buffer ends in "..." */
	char small[24];
	uint64_t args[6] = { BASE + 3 * 4096 };
	gears_format_call(small, sizeof(small), 2, args, true, 0, &m);
	assert_string_equal(small, "open(\"bbbbbbbbbbbbbb...");
	/* unknown calls: six raw arguments */
	assert_string_equal(line(499, 1, 2, 3, 4, true, 0, &m), "syscall_499(0x1, 0x2, 0x3, 0x4, 0, 0)");
	free(f);
}

static void test_buffers_and_sockets(void **state)
{
	struct gears_mem m;
	struct fake *f = fake_new(&m);
	(void)state;
	put_str(f, BASE + 300, "hello\n");
	assert_string_equal(line(1, 1, BASE + 300, 6, 0, true, 6, &m), "write(1, \"hello\\n\", 6)");
	/* read: contents at exit, as many bytes as returned; before, the pointer */
	assert_string_equal(line(0, 3, BASE + 300, 100, 0, true, 5, &m), "read(3, \"hello\", 100)");
	assert_string_equal(line(0, 3, BASE + 300, 100, 0, true, -11, &m), "read(3, 0x1012c, 100)");
	/* long buffers are cut at 32 bytes; a length past the memory is a bad address */
	memset(f->bytes + 400, 'x', 100);
	assert_non_null(strstr(line(1, 1, BASE + 400, 100, 0, true, 100, &m), "xxxxxxxx\"..., 100)"));
	assert_string_equal(line(1, 1, BASE + PAGES * 4096 - 4, 100, 0, true, 100, &m), "write(1, <bad address>, 100)");
	uint8_t sin[16] = { 2, 0, 0, 80, 10, 0, 2, 2 };
	memcpy(f->bytes + 600, sin, sizeof(sin));
	assert_string_equal(
	        line(42, 3, BASE + 600, 16, 0, true, 0, &m),
	        "connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"10.0.2.2\")}, 16)");
	f->bytes[700] = 1, f->bytes[701] = 0;
	put_str(f, BASE + 702, "/run/sock");
	assert_string_equal(line(42, 3, BASE + 700, 12, 0, true, 0, &m),
	                    "connect(3, {sa_family=AF_UNIX, sun_path=\"/run/sock\"}, 12)");
	assert_string_equal(line(42, 3, BASE + 700, 1, 0, true, 0, &m), "connect(3, 0x102bc, 1)");
	free(f);
}

static void test_rules(void **state)
{
	struct gears_who anyone = { .pid = -1 }, p412 = { .pid = 412 }, cat = { .pid = -1, .comm = "cat" },
	                 web = { .pid = -1, .cgroup = "/web" }, webcat = { .pid = -1, .comm = "cat", .cgroup = "/web" };
	uint64_t bits[SYM_SYSCALL_MAX / 64];
	char err[128];
	(void)state;
	assert_true(gears_who_matches(&anyone, 1, 1, "init", "/"));
	assert_true(gears_who_matches(&p412, 413, 412, "x", "/")); /* a thread of 412 */
	assert_true(gears_who_matches(&p412, 412, 400, "x", "/")); /* the thread 412 */
	assert_false(gears_who_matches(&p412, 7, 7, "x", "/"));
	assert_true(gears_who_matches(&cat, 7, 7, "cat", "/"));
	assert_false(gears_who_matches(&cat, 7, 7, "catx", "/"));
	assert_false(gears_who_filters(&anyone));
	assert_true(gears_who_filters(&web));
	/* a cgroup selects itself and what is below it, component by component */
	assert_true(gears_who_matches(&web, 7, 7, "x", "/web"));
	assert_true(gears_who_matches(&web, 7, 7, "x", "/web/app.slice"));
	assert_false(gears_who_matches(&web, 7, 7, "x", "/webx"));
	assert_false(gears_who_matches(&web, 7, 7, "x", "/"));
	assert_false(gears_who_matches(&web, 7, 7, "x", ""));   /* unknown: not selected */
	assert_true(gears_who_matches(&anyone, 7, 7, "x", "")); /* no filter: anyone */
	assert_true(gears_who_matches(&webcat, 7, 7, "cat", "/web/a"));
	assert_false(gears_who_matches(&webcat, 7, 7, "sh", "/web/a"));

	assert_int_equal(gears_parse_syscalls("openat,read,2", bits, err, sizeof(err)), 0);
	assert_true(bits[4] >> 1 & 1); /* 257 */
	assert_true(bits[0] & 1 && bits[0] & 4);
	assert_false(bits[0] & 2);
	assert_int_equal(gears_parse_syscalls("all", bits, err, sizeof(err)), 0);
	for (int i = 0; i < SYM_SYSCALL_MAX / 64; i++)
		assert_int_equal(bits[i], 0);
	assert_int_equal(gears_parse_syscalls("openat,nope", bits, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown syscall 'nope'");
	assert_int_equal(gears_parse_syscalls("openat,,read", bits, err, sizeof(err)), -1);
	assert_int_equal(gears_parse_syscalls("512", bits, err, sizeof(err)), -1);

	assert_true(gears_path_under("/secret", "/secret"));
	assert_true(gears_path_under("/secret/x", "/secret"));
	assert_true(gears_path_under("//secret/./x", "/secret/"));
	assert_true(gears_path_under("/secret/x", "/"));
	assert_false(gears_path_under("/secretx", "/secret"));
	assert_false(gears_path_under("/etc/secret", "/secret"));
	assert_false(gears_path_under("secret/x", "/secret"));
	assert_false(gears_path_under("/", "/secret"));

	assert_true(gears_exec_selected("", "", "/bin/ls"));
	assert_true(gears_exec_selected("ls", "", "/bin/ls"));
	assert_false(gears_exec_selected("ls", "", "/bin/lsblk"));
	assert_true(gears_exec_selected("a-very-long-nam", "", "/usr/bin/a-very-long-name-indeed"));
	assert_true(gears_exec_selected("", "/tmp/x.sh", "/tmp/x.sh"));
	assert_false(gears_exec_selected("", "/tmp/x.sh", "x.sh"));

	assert_true(gears_env_assignment_valid("LD_PRELOAD=/lib/x.so"));
	assert_true(gears_env_assignment_valid("EMPTY="));
	assert_false(gears_env_assignment_valid("=x"));
	assert_false(gears_env_assignment_valid("NOEQUALS"));
	assert_false(gears_env_assignment_valid("1X=y"));
	assert_false(gears_env_assignment_valid("A-B=y"));
}

/* The environment an envp at va holds, as "A=1 B=2". */
static void env_text(const struct gears_mem *m, uint64_t envp, char *out, size_t len)
{
	uint64_t p;
	out[0] = 0;
	for (int i = 0; !m->read(m->ctx, envp + 8 * i, &p, 8) && p; i++) {
		char s[256];
		assert_true(gears_read_string(m, p, s, sizeof(s)) >= 0);
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", s);
	}
}

static void test_env_rewrite(void **state)
{
	struct gears_mem m;
	struct fake *f = fake_new(&m);
	const char *vars[] = { "B=new", "C=3" };
	uint64_t envp = BASE + 28 * 4096, rsp = BASE + 24 * 4096 + 8, out;
	char text[512];
	(void)state;
	put_u64(f, envp, put_str(f, BASE + 100, "A=1"));
	put_u64(f, envp + 8, put_str(f, BASE + 200, "B=old"));
	put_u64(f, envp + 16, put_str(f, BASE + 300, "BB=2"));
	put_u64(f, envp + 24, 0);
	memcpy(f->bytes + 24 * 4096 - 64, "red zone", 8);

	assert_int_equal(gears_env_rewrite(&m, rsp, envp, vars, 2, &out), 0);
	env_text(&m, out, text, sizeof(text));
	assert_string_equal(text, "A=1 BB=2 B=new C=3");
	assert_true(out < rsp - GEARS_RED_ZONE && out % 16 == 0 && rsp - out < GEARS_ENV_MAX_BYTES);
	assert_memory_equal(f->bytes + 24 * 4096 - 64, "red zone", 8); /* untouched */
	env_text(&m, envp, text, sizeof(text));
	assert_string_equal(text, "A=1 B=old BB=2"); /* the old one too */

	/* no envp at all: just the injected ones */
	assert_int_equal(gears_env_rewrite(&m, rsp, 0, vars, 2, &out), 0);
	env_text(&m, out, text, sizeof(text));
	assert_string_equal(text, "B=new C=3");

	/* the exec is left alone when: the stack below rsp is read-only... */
	f->writable[23] = false;
	assert_int_equal(gears_env_rewrite(&m, rsp, envp, vars, 2, &out), -1);
	f->writable[23] = true;
	/* ...or unmapped, rsp is too low to leave room, envp or one of its
	 * strings cannot be read, the environment never ends */
	f->mapped[23] = false;
	assert_int_equal(gears_env_rewrite(&m, rsp, envp, vars, 2, &out), -1);
	f->mapped[23] = true;
	assert_int_equal(gears_env_rewrite(&m, BASE + 100, envp, vars, 2, &out), -1);
	assert_int_equal(gears_env_rewrite(&m, rsp, 0xdead0000, vars, 2, &out), -1);
	put_u64(f, envp + 8, 0xdead0000);
	assert_int_equal(gears_env_rewrite(&m, rsp, envp, vars, 2, &out), -1);
	for (int i = 0; i < 4096 + 8; i++)
		put_u64(f, BASE + 4 * 4096 + 8 * i, BASE + 100);
	assert_int_equal(gears_env_rewrite(&m, rsp, BASE + 4 * 4096, vars, 2, &out), -1);
	/* nothing to inject, or no way to write */
	assert_int_equal(gears_env_rewrite(&m, rsp, 0, vars, 0, &out), -1);
	m.write = NULL;
	assert_int_equal(gears_env_rewrite(&m, rsp, 0, vars, 2, &out), -1);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_openat),
		cmocka_unit_test(test_hostile_memory),
		cmocka_unit_test(test_buffers_and_sockets),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_env_rewrite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
