/* SymSpy page parsing (src/services/symbiotic/symspy.c): a page as the
 * guest module writes it parses to the same figures; each field a hostile
 * guest can break is refused in one line; the seqcount copy gives only
 * consistent snapshots while a writer thread rewrites the page.  SymCall
 * results (symcall.c): the call area's header, the process records and the
 * page-cache answers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/symbiotic/symcall.h"
#include "symbiont/symspy.h"
#include "symbiont/memory.h"

static void good_global(struct sym_symspy_global *g)
{
	memset(g, 0, sizeof(*g));
	g->magic = SYM_SYMSPY_GLOBAL_MAGIC;
	g->layout = SYM_SYMSPY_LAYOUT;
	g->seq = 42;
	g->size = sizeof(*g);
	g->updates = 7;
	g->kaslr_base = 0xffffffff9a000000ull;
	g->mem_total_kb = 1000000;
	g->mem_free_kb = 800000;
	g->mem_available_kb = 900000;
	g->page_cache_kb = 50000;
	g->anon_kb = 3000;
	g->buffers_kb = 10;
	g->loadavg[0] = 2048 + 1024; /* 1.5 */
	g->nr_cpus = 2;
	g->nr_running = 3;
	g->nr_tasks = 60;
	g->rq_len[0] = 2;
	g->rq_len[1] = 1;
	strcpy(g->release, "6.1.0-57-cloud-amd64");
}

static void good_cpu(struct sym_symspy_cpu *c)
{
	memset(c, 0, sizeof(*c));
	c->magic = SYM_SYMSPY_CPU_MAGIC;
	c->layout = SYM_SYMSPY_LAYOUT;
	c->seq = 2;
	c->cpu = 1;
	c->switches = 99;
	c->pid = 120;
	c->tgid = 118;
	strcpy(c->comm, "sh");
}

static int parse_g(const struct sym_symspy_global *g, struct symspy_global *out, char *err)
{
	err[0] = '\0';
	int r = symspy_parse_global(g, sizeof(*g), out, err, 256);
	if (r)
		assert_non_null(err[0]); /* a refusal says why */
	assert_null(strchr(err, '\n'));
	return r;
}

static void test_global_good(void **state)
{
	struct sym_symspy_global g;
	struct symspy_global out;
	char err[256];
	(void)state;
	good_global(&g);
	assert_int_equal(parse_g(&g, &out, err), 0);
	assert_string_equal(out.release, "6.1.0-57-cloud-amd64");
	assert_true(out.kaslr_base == 0xffffffff9a000000ull);
	assert_int_equal(out.mem_total_kb, 1000000);
	assert_int_equal(out.mem_free_kb, 800000);
	assert_int_equal(out.mem_available_kb, 900000);
	assert_int_equal(out.page_cache_kb, 50000);
	assert_int_equal(out.anon_kb, 3000);
	assert_int_equal(out.buffers_kb, 10);
	assert_true(out.loadavg[0] > 1.49 && out.loadavg[0] < 1.51);
	assert_int_equal(out.nrq, 2);
	assert_int_equal(out.rq_len[0], 2);
	assert_int_equal(out.rq_len[1], 1);
	assert_int_equal(out.nr_tasks, 60);

	/* more CPUs than the page has room for: only the ones it holds */
	g.nr_cpus = 200;
	assert_int_equal(parse_g(&g, &out, err), 0);
	assert_int_equal(out.nrq, SYM_SYMSPY_MAX_CPUS);
}

static void test_global_hostile(void **state)
{
	struct sym_symspy_global g;
	struct symspy_global out;
	char err[256];
	(void)state;

	good_global(&g);
	g.magic ^= 1;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.layout = 2;
	assert_int_equal(parse_g(&g, &out, err), -1);
	assert_non_null(strstr(err, "layout"));
	good_global(&g);
	g.seq = 43; /* being written */
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.size = sizeof(g) + 8;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.mem_total_kb = 0;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.mem_total_kb = ~0ull;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.page_cache_kb = g.mem_total_kb + 1;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.nr_cpus = 0;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.nr_running = g.nr_tasks + 1;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	g.rq_len[1] = g.nr_tasks + 1;
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	memset(g.release, 'A', sizeof(g.release)); /* no NUL */
	assert_int_equal(parse_g(&g, &out, err), -1);
	assert_non_null(strstr(err, "terminated"));
	good_global(&g);
	g.release[3] = '\033';
	assert_int_equal(parse_g(&g, &out, err), -1);
	good_global(&g);
	assert_int_equal(symspy_parse_global(&g, sizeof(g) - 1, &out, err, sizeof(err)), -1);
}

static void test_cpu(void **state)
{
	struct sym_symspy_cpu c;
	struct symspy_cpu out;
	char err[256];
	(void)state;

	good_cpu(&c);
	assert_int_equal(symspy_parse_cpu(&c, sizeof(c), &out, err, sizeof(err)), 0);
	assert_int_equal(out.cpu, 1);
	assert_int_equal(out.pid, 120);
	assert_int_equal(out.tgid, 118);
	assert_int_equal(out.switches, 99);
	assert_string_equal(out.comm, "sh");

	c.pid = -1;
	assert_int_equal(symspy_parse_cpu(&c, sizeof(c), &out, err, sizeof(err)), -1);
	good_cpu(&c);
	memset(c.comm, 'x', sizeof(c.comm));
	assert_int_equal(symspy_parse_cpu(&c, sizeof(c), &out, err, sizeof(err)), -1);
	good_cpu(&c);
	c.magic = SYM_SYMSPY_GLOBAL_MAGIC; /* the other page */
	assert_int_equal(symspy_parse_cpu(&c, sizeof(c), &out, err, sizeof(err)), -1);
	good_cpu(&c);
	c.seq = 1;
	assert_int_equal(symspy_parse_cpu(&c, sizeof(c), &out, err, sizeof(err)), -1);
	good_cpu(&c);
	assert_int_equal(symspy_parse_cpu(&c, 8, &out, err, sizeof(err)), -1);
}

#define RAM (64 * 1024)

static void test_snapshot_bounds(void **state)
{
	static uint8_t ram[RAM] __attribute__((aligned(4096)));
	struct guest_mem m = { .host = ram, .size = RAM, .low_size = RAM };
	struct sym_symspy_cpu c, copy;
	char err[256];
	(void)state;

	good_cpu(&c);
	memcpy(ram + 0x2000, &c, sizeof(c));
	assert_int_equal(symspy_snapshot(&m, 0x2000, offsetof(struct sym_symspy_cpu, seq), &copy, sizeof(copy), 10, err,
	                                 sizeof(err)),
	                 0);
	assert_memory_equal(&copy, &c, sizeof(c));
	/* unaligned, past the end of RAM, in the hole, wrapping */
	const uint64_t bad[] = { 0x2008, RAM, RAM - 0x800, MEM_HOLE_START, ~0xfffull };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(symspy_snapshot(&m, bad[i], 8, &copy, sizeof(copy), 10, err, sizeof(err)), -1);
	/* a page forever being written */
	((struct sym_symspy_cpu *)(ram + 0x2000))->seq = 3;
	assert_int_equal(symspy_snapshot(&m, 0x2000, offsetof(struct sym_symspy_cpu, seq), &copy, sizeof(copy), 50, err,
	                                 sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "50"));
}

/* A writer thread rewrites the page as the module does (seq odd, fields,
 * seq even); every snapshot must hold fields from one rewrite. */
struct writer {
	struct sym_symspy_global *g;
	volatile bool stop;
	uint64_t rounds;
};

static void *writer_main(void *opaque)
{
	struct writer *w = opaque;
	struct sym_symspy_global *g = w->g;
	while (!w->stop) {
		uint64_t n = ++w->rounds;
		__atomic_store_n(&g->seq, g->seq + 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		__atomic_store_n(&g->updates, n, __ATOMIC_RELAXED);
		__atomic_store_n(&g->mem_free_kb, n % 1000, __ATOMIC_RELAXED);
		__atomic_store_n(&g->anon_kb, n % 1000, __ATOMIC_RELAXED);
		__atomic_store_n(&g->nr_tasks, (uint32_t)(n % 1000) + 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		__atomic_store_n(&g->seq, g->seq + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_snapshot_consistent(void **state)
{
	static uint8_t ram[RAM] __attribute__((aligned(4096)));
	struct guest_mem m = { .host = ram, .size = RAM, .low_size = RAM };
	struct sym_symspy_global *g = (void *)(ram + 0x4000), copy;
	struct writer w = { .g = g };
	struct symspy_global out;
	pthread_t t;
	char err[256];
	int ok = 0;
	(void)state;

	good_global(g);
	g->nr_running = 0;
	g->rq_len[0] = g->rq_len[1] = 0;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	while (__atomic_load_n(&w.rounds, __ATOMIC_RELAXED) < 1000)
		;
	for (int i = 0; i < 20000; i++) {
		if (symspy_snapshot(&m, 0x4000, offsetof(struct sym_symspy_global, seq), &copy, sizeof(copy), 100000,
		                    err, sizeof(err)))
			continue; /* never settled: allowed, never torn */
		assert_int_equal(copy.seq % 2, 0);
		assert_int_equal(symspy_parse_global(&copy, sizeof(copy), &out, err, sizeof(err)), 0);
		assert_int_equal(out.mem_free_kb, out.updates % 1000);
		assert_int_equal(out.anon_kb, out.updates % 1000);
		assert_int_equal(out.nr_tasks, out.updates % 1000 + 1);
		ok++;
	}
	w.stop = true;
	pthread_join(t, NULL);
	assert_true(ok > 0);
}

static void test_symcall_result(void **state)
{
	struct sym_symcall_area h = { .magic = SYM_SYMCALL_MAGIC, .layout = SYM_SYMCALL_LAYOUT, .id = 5 };
	uint32_t status, len;
	uint64_t ret;
	char err[256];
	(void)state;

	h.status = SYM_SYMCALL_OK;
	h.ret = 3;
	h.data_len = 120;
	assert_int_equal(symcall_check_result(&h, 5, 4096, &status, &ret, &len, err, sizeof(err)), 0);
	assert_int_equal(status, SYM_SYMCALL_OK);
	assert_int_equal(ret, 3);
	assert_int_equal(len, 120);
	/* another call's answer, no answer, a length past the buffer or the area, not the area */
	assert_int_equal(symcall_check_result(&h, 6, 4096, &status, &ret, &len, err, sizeof(err)), -1);
	h.status = SYM_SYMCALL_PENDING;
	assert_int_equal(symcall_check_result(&h, 5, 4096, &status, &ret, &len, err, sizeof(err)), -1);
	h.status = SYM_SYMCALL_OK;
	h.data_len = 4097;
	assert_int_equal(symcall_check_result(&h, 5, 4096, &status, &ret, &len, err, sizeof(err)), -1);
	h.data_len = SYM_SYMCALL_AREA_SIZE;
	assert_int_equal(symcall_check_result(&h, 5, 1 << 20, &status, &ret, &len, err, sizeof(err)), -1);
	h.data_len = 0;
	h.magic = 0;
	assert_int_equal(symcall_check_result(&h, 5, 4096, &status, &ret, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "magic"));
}

static void test_symcall_procs(void **state)
{
	struct sym_symcall_proc recs[3] = {
		{ .pid = 1, .ppid = 0, .uid = 0, .comm = "init" },
		{ .pid = 2, .ppid = 0, .flags = SYM_PROC_KTHREAD, .comm = "kthreadd" },
		{ .pid = 140, .ppid = 1, .uid = 1000, .state = 1, .comm = "sh" },
	};
	struct symcall_proc out[3];
	char err[256];
	(void)state;

	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 3, out, 3, err, sizeof(err)), 3);
	assert_string_equal(out[0].comm, "init");
	assert_false(out[0].kthread);
	assert_true(out[1].kthread);
	assert_int_equal(out[2].pid, 140);
	assert_int_equal(out[2].ppid, 1);
	assert_int_equal(out[2].uid, 1000);
	assert_int_equal(out[2].state, 1);
	/* counts that disagree, partial records, too many for the caller */
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 2, out, 3, err, sizeof(err)), -1);
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs) - 1, 3, out, 3, err, sizeof(err)), -1);
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 3, out, 2, err, sizeof(err)), -1);
	/* hostile records */
	recs[1].pid = -5;
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 3, out, 3, err, sizeof(err)), -1);
	recs[1].pid = 2;
	memset(recs[2].comm, 'a', sizeof(recs[2].comm));
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 3, out, 3, err, sizeof(err)), -1);
	strcpy(recs[2].comm, "s\x01h");
	assert_int_equal(symcall_parse_procs(recs, sizeof(recs), 3, out, 3, err, sizeof(err)), -1);
	assert_int_equal(symcall_parse_procs(recs, 0, 0, out, 3, err, sizeof(err)), 0);
}

static void test_symcall_fcache(void **state)
{
	struct {
		struct sym_symcall_fcache h;
		struct sym_symcall_fcache_page p[3];
	} d = { .h = { .size = 10000, .cached = 3, .next = SYM_FCACHE_END, .count = 3 },
		.p = { { 0, 0x1000 }, { 1, 0x5000 }, { 2, 0x2000 } } };
	struct sym_symcall_fcache h;
	struct sym_symcall_fcache_page out[3];
	char err[256];
	(void)state;

	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)), 3);
	assert_int_equal(h.size, 10000);
	assert_int_equal(out[1].gpa, 0x5000);
	/* a result, a length or a room that disagree; a drop with records */
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 2, 0, &h, out, 3, err, sizeof(err)), -1);
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d) - 1, SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)),
	        -1);
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 2, err, sizeof(err)), -1);
	assert_int_equal(symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_DROP, 3, 0, &h, out, 3, err, sizeof(err)),
	                 -1);
	assert_int_equal(symcall_parse_fcache(&d, 8, SYM_SYMCALL_FILE_DROP, 0, 0, &h, out, 3, err, sizeof(err)), -1);
	/* records below the first asked for, out of order, not a page's address */
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 1, &h, out, 3, err, sizeof(err)), -1);
	d.p[2].index = 1;
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)), -1);
	d.p[2].index = 2;
	d.p[0].gpa = 0x1008;
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)), -1);
	d.p[0].gpa = 0x1000;
	/* a walk that goes on: past its last record only */
	d.h.next = 2;
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)), -1);
	d.h.next = 7;
	assert_int_equal(
	        symcall_parse_fcache(&d, sizeof(d), SYM_SYMCALL_FILE_PAGES, 3, 0, &h, out, 3, err, sizeof(err)), 3);
	/* a drop's answer: the header alone */
	d.h = (struct sym_symcall_fcache){ .size = 5, .cached = 0, .next = SYM_FCACHE_END };
	assert_int_equal(
	        symcall_parse_fcache(&d.h, sizeof(d.h), SYM_SYMCALL_FILE_DROP, 9, 0, &h, out, 3, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_good),
		cmocka_unit_test(test_global_hostile),
		cmocka_unit_test(test_cpu),
		cmocka_unit_test(test_snapshot_bounds),
		cmocka_unit_test(test_snapshot_consistent),
		cmocka_unit_test(test_symcall_result),
		cmocka_unit_test(test_symcall_procs),
		cmocka_unit_test(test_symcall_fcache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
