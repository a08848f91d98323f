/* The pure parts of profiling: the folded-stack table and its bound, what a
 * sample is counted as, the flame graph writer, the per-process counts
 * behind top and their bound, top's arithmetic, and argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cli/ctl_sampling.h"
#include "services/prof/args.h"
#include "services/prof/elfsyms.h"
#include "services/prof/flamegraph.h"
#include "services/prof/orc.h"
#include "services/prof/proc_table.h"
#include "services/prof/sample.h"
#include "services/prof/stacks.h"

static uint64_t count_of(struct stack_table *t, const char *stack)
{
	size_t n;
	const struct stack_entry **v = stack_table_sorted(t, &n);
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i]->stack, stack))
			c = v[i]->count;
	free(v);
	return c;
}

static void test_stacks_count_and_sort(void **state)
{
	struct stack_table t;
	size_t n;
	(void)state;
	assert_int_equal(stack_table_init(&t, 16), 0);
	stack_table_add(&t, "a;[user]", 1);
	stack_table_add(&t, "b;[kernel];schedule", 3);
	stack_table_add(&t, "a;[user]", 4);
	stack_table_add(&t, "c;[user]", 0); /* nothing to count */
	assert_int_equal(t.total, 8);
	const struct stack_entry **v = stack_table_sorted(&t, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->stack, "a;[user]");
	assert_int_equal(v[0]->count, 5);
	assert_string_equal(v[1]->stack, "b;[kernel];schedule");
	free(v);
	stack_table_clear(&t);
	assert_int_equal(t.total, 0);
	assert_null(stack_table_sorted(&t, &n));
	assert_int_equal(n, 0);
	stack_table_free(&t);
}

/* Past the bound new stacks go to "[other]" and the total stays exact. */
static void test_stacks_bounded(void **state)
{
	struct stack_table t;
	char s[64];
	(void)state;
	assert_int_equal(stack_table_init(&t, 8), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(s, sizeof(s), "[unknown];[kernel];0x%x", i);
		stack_table_add(&t, s, 2);
	}
	stack_table_add(&t, "[unknown];[kernel];0x3", 1); /* an old one still counts as itself */
	assert_int_equal(t.n, 8);
	assert_int_equal(t.total, 2001);
	assert_int_equal(count_of(&t, STACKS_OTHER), 2 * 992);
	assert_int_equal(count_of(&t, "[unknown];[kernel];0x3"), 3);
	stack_table_free(&t);
}

static void test_frame_clean(void **state)
{
	char out[16];
	(void)state;
	stack_frame_clean(out, sizeof(out), "a;b\nc\x01\xff");
	assert_string_equal(out, "a?b?c??");
	stack_frame_clean(out, sizeof(out), "");
	assert_string_equal(out, "?");
	stack_frame_clean(out, 4, "abcdef");
	assert_string_equal(out, "abc");
}

static struct sample kernel_sample(const char *comm, const char *sym, const char *mod)
{
	struct sample s = {
		.readable = true, .rip = 0xffffffff81001234ull, .cpl = 0, .task_known = true, .tid = 42, .pid = 42
	};
	snprintf(s.comm, sizeof(s.comm), "%s", comm);
	if (sym) {
		s.symbol_known = true;
		snprintf(s.symbol, sizeof(s.symbol), "%s", sym);
		snprintf(s.module, sizeof(s.module), "%s", mod ? mod : "");
	}
	return s;
}

static void test_sample_stacks(void **state)
{
	char out[STACK_TEXT_MAX];
	struct sample s;
	(void)state;

	s = kernel_sample("probe1", "do_syscall_64", NULL);
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "probe1;[kernel];do_syscall_64");
	assert_int_equal(sample_mode(&s), SAMPLE_KERNEL);

	s = kernel_sample("kworker/0:1", "e1000_clean", "e1000");
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "kworker/0:1;[kernel];e1000_clean [e1000]");

	s = kernel_sample("evil;name", NULL, NULL); /* a guest comm cannot add frames */
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "evil?name;[kernel];0xffffffff81001234");

	s = kernel_sample("sh", NULL, NULL);
	s.cpl = 3;
	s.rip = 0x401000;
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "sh;[user]");
	assert_int_equal(sample_mode(&s), SAMPLE_USER);

	s = kernel_sample("swapper/1", "native_safe_halt", NULL);
	s.halted = true;
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "[idle];native_safe_halt");
	s.halted = false;
	s.tid = s.pid = 0; /* the idle task between HLTs */
	assert_int_equal(sample_mode(&s), SAMPLE_IDLE);

	s = (struct sample){ .readable = true, .rip = 0x101234, .cpl = 0 }; /* not a Linux guest */
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "[unknown];[kernel];0x101234");
	assert_int_equal(sample_mode(&s), SAMPLE_UNKNOWN);
	s.halted = true;
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "[idle]");

	s = (struct sample){ 0 };
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "[unknown];[unreadable]");
}

static size_t occurrences(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void test_flamegraph_svg(void **state)
{
	struct stack_entry e[] = { { "a&b;[user]", 6 }, { "a&b;[kernel];x<y>", 2 }, { "[idle];native_safe_halt", 2 } };
	const struct stack_entry *v[] = { &e[0], &e[1], &e[2] };
	(void)state;
	char *svg = flamegraph_svg(v, 3, "t\"itle", "10 samples");
	assert_non_null(svg);
	assert_true(!strncmp(svg, "<?xml", 5));
	assert_non_null(strstr(svg, "</svg>\n"));
	/* all, a&b, [user], [kernel], x<y>, [idle], native_safe_halt */
	assert_int_equal(occurrences(svg, "<g>"), 7);
	assert_int_equal(occurrences(svg, "</g>"), 7);
	assert_non_null(strstr(svg, "a&amp;b (8 samples, 80.00%)"));
	assert_non_null(strstr(svg, "x&lt;y&gt;"));
	assert_non_null(strstr(svg, "t&quot;itle"));
	assert_null(strstr(svg, "a&b"));
	assert_non_null(strstr(svg, "rgb(190,190,190)")); /* idle is grey */
	free(svg);

	svg = flamegraph_svg(NULL, 0, NULL, NULL); /* nothing sampled: still a document */
	assert_non_null(svg);
	assert_non_null(strstr(svg, "</svg>"));
	assert_int_equal(occurrences(svg, "<g>"), 0);
	free(svg);
}

/* However many stacks, at most FLAMEGRAPH_MAX_BOXES boxes are drawn. */
static void test_flamegraph_bounded(void **state)
{
	enum { N = 20000 };
	struct stack_entry *e = calloc(N, sizeof(*e));
	const struct stack_entry **v = calloc(N, sizeof(*v));
	(void)state;
	for (int i = 0; i < N; i++) {
		char s[64];
		snprintf(s, sizeof(s), "p%d;[kernel];f%d", i % 7, i);
		e[i].stack = strdup(s);
		e[i].count = 1000;
		v[i] = &e[i];
	}
	char *svg = flamegraph_svg(v, N, "t", "s");
	assert_non_null(svg);
	assert_true(occurrences(svg, "<g>") <= FLAMEGRAPH_MAX_BOXES);
	assert_true(strlen(svg) < 4 * 1024 * 1024);
	free(svg);
	for (int i = 0; i < N; i++)
		free(e[i].stack);
	free(e);
	free(v);
}

static void test_proc_table(void **state)
{
	struct proc_table t;
	(void)state;
	assert_int_equal(proc_table_init(&t, 3), 0);
	proc_table_add(&t, 10, "sh", false, true);
	proc_table_add(&t, 10, "probe", false, false); /* exec changed its name */
	proc_table_add(&t, 11, "a", false, true);
	proc_table_add(&t, 12, "b", false, true);
	proc_table_add(&t, 10, "probe", false, true);
	proc_table_add(&t, 13, "c", false, true); /* full: 11, seen longest ago, goes */
	assert_int_equal(t.n, 3);
	bool has11 = false, has10 = false;
	for (size_t i = 0; i < t.n; i++) {
		has11 |= t.e[i].pid == 11;
		if (t.e[i].pid == 10) {
			has10 = true;
			assert_string_equal(t.e[i].comm, "probe");
			assert_int_equal(t.e[i].user, 2);
			assert_int_equal(t.e[i].kernel, 1);
		}
	}
	assert_false(has11);
	assert_true(has10);
	proc_table_free(&t);
}

static void test_top_view(void **state)
{
	struct json_object *prev =
	        json_tokener_parse("{\"cpus\": 2, \"rounds\": 100, \"idle\": 50, \"processes\": ["
	                           "{\"pid\": 5, \"comm\": \"busy\", \"user\": 40, \"kernel\": 10},"
	                           "{\"pid\": 6, \"comm\": \"quiet\", \"user\": 5, \"kernel\": 5},"
	                           "{\"pid\": 7, \"comm\": \"reused\", \"user\": 90, \"kernel\": 0}]}");
	struct json_object *cur = json_tokener_parse(
	        "{\"cpus\": 2, \"rounds\": 200, \"idle\": 150, \"processes\": ["
	        "{\"pid\": 5, \"comm\": \"busy\", \"user\": 120, \"kernel\": 10},"
	        "{\"pid\": 6, \"comm\": \"quiet\", \"user\": 5, \"kernel\": 5},"
	        "{\"pid\": 7, \"comm\": \"new\", \"user\": 1, \"kernel\": 9},"
	        "{\"pid\": 8, \"comm\": \"kw\", \"kernel_thread\": true, \"user\": 0, \"kernel\": 2}]}");
	struct top_view v;
	(void)state;
	assert_int_equal(top_view_build(prev, cur, &v), 0);
	assert_int_equal(v.rounds, 100);
	assert_int_equal(v.cpus, 2);
	assert_true(v.idle > 49.9 && v.idle < 50.1);
	assert_int_equal(v.n, 3); /* quiet used nothing in between */
	assert_int_equal(v.rows[0].pid, 5);
	assert_true(v.rows[0].cpu > 79.9 && v.rows[0].cpu < 80.1);
	assert_true(v.rows[0].kernel < 0.01);
	assert_int_equal(v.rows[1].pid, 7); /* counts went down: a new process, all of it counts */
	assert_int_equal(v.rows[1].samples, 10);
	assert_string_equal(v.rows[1].comm, "new");
	assert_int_equal(v.rows[2].pid, 8);
	assert_true(v.rows[2].kernel_thread);
	top_view_free(&v);

	assert_int_equal(top_view_build(NULL, cur, &v), 0); /* since sampling began */
	assert_int_equal(v.rounds, 200);
	assert_int_equal(v.n, 4);
	top_view_free(&v);

	struct json_object *bad = json_tokener_parse("{\"cpus\": 2}");
	assert_int_equal(top_view_build(prev, bad, &v), -1);
	assert_int_equal(top_view_build(prev, NULL, &v), -1);
	json_object_put(bad);
	json_object_put(prev);
	json_object_put(cur);
}

static void test_args(void **state)
{
	char err[128];
	unsigned hz;
	bool b;
	(void)state;
	struct json_object *a = json_object_new_object();
	assert_int_equal(prof_arg_frequency(a, 99, 1000, &hz, err, sizeof(err)), 0);
	assert_int_equal(hz, 99);
	assert_int_equal(prof_arg_bool(a, "svg", &b, err, sizeof(err)), 0);
	assert_false(b);
	json_object_object_add(a, "frequency", json_object_new_int(250));
	json_object_object_add(a, "svg", json_object_new_boolean(1));
	assert_int_equal(prof_arg_frequency(a, 99, 1000, &hz, err, sizeof(err)), 0);
	assert_int_equal(hz, 250);
	assert_int_equal(prof_arg_bool(a, "svg", &b, err, sizeof(err)), 0);
	assert_true(b);
	const char *bad[] = { "0", "1001", "-5", "\"99\"", "1.5", "null" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object_object_add(a, "frequency", json_tokener_parse(bad[i]));
		err[0] = 0;
		assert_int_equal(prof_arg_frequency(a, 99, 1000, &hz, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "'frequency' must be"));
		assert_null(strchr(err, '\n'));
	}
	json_object_object_add(a, "svg", json_object_new_string("yes"));
	assert_int_equal(prof_arg_bool(a, "svg", &b, err, sizeof(err)), -1);
	json_object_put(a);

	double s;
	assert_int_equal(ctl_parse_seconds("5", 100, &s), 0);
	assert_true(s == 5);
	assert_int_equal(ctl_parse_seconds("0.5", 100, &s), 0);
	assert_true(s == 0.5);
	const char *bad_secs[] = { "", "0", "-1", "abc", "5s", "1e9", "nan", "inf" };
	for (size_t i = 0; i < sizeof(bad_secs) / sizeof(bad_secs[0]); i++)
		assert_int_equal(ctl_parse_seconds(bad_secs[i], 100, &s), -1);
}

/* ---- ORC unwinding on a synthetic kernel ---------------------------------- */

#define K 0xffffffff81000000ull
#define S 0xffffc90000000000ull

/* An entry in the pre-6.4 layout. */
static void orc_entry(uint8_t *b, int16_t sp_off, unsigned sp_reg, unsigned type)
{
	b[0] = (uint8_t)sp_off, b[1] = (uint8_t)((uint16_t)sp_off >> 8);
	b[2] = b[3] = 0;        /* bp_offset */
	b[4] = (uint8_t)sp_reg; /* bp_reg UNDEFINED */
	b[5] = (uint8_t)type;
}

/* A calls nothing we see; the chain is E -> D -> (interrupt) C -> B -> A:
 * A and B are CALL frames 16 and 8 bytes deep, C an interrupt entry with
 * pt_regs on the stack, D a CALL frame, E the bottom (sp_reg UNDEFINED). */
static void synthetic_kernel(struct orc_table *t, uint8_t *stack, uint64_t cs)
{
	enum { SP = 5, UNDEF = 0, CALL = 0, REGS = 1 };
	int32_t rel[6];
	uint8_t e[6 * 6];
	uint64_t ip_start = K + 0x100000;
	uint64_t at[6] = { K + 0x1000, K + 0x2000, K + 0x3000, K + 0x4000, K + 0x5000, K + 0x6000 };
	for (int i = 0; i < 6; i++)
		rel[i] = (int32_t)(int64_t)(at[i] - (ip_start + 4 * (uint64_t)i));
	orc_entry(e + 0, 16, SP, CALL);
	orc_entry(e + 6, 8, SP, CALL);
	orc_entry(e + 12, 0, SP, REGS);
	orc_entry(e + 18, 8, SP, CALL);
	orc_entry(e + 24, 0, UNDEF, CALL);
	orc_entry(e + 30, 0, UNDEF, CALL);
	assert_int_equal(orc_table_init(t, ip_start, rel, e, 6, ORC_LAYOUT_V1), 0);
	memset(stack, 0, 1024);
	uint64_t v;
	v = K + 0x2010, memcpy(stack + 8, &v, 8);        /* A's return into B */
	v = K + 0x3010, memcpy(stack + 16, &v, 8);       /* B's return into C */
	v = K + 0x4010, memcpy(stack + 24 + 128, &v, 8); /* C's pt_regs: ip, cs, sp */
	memcpy(stack + 24 + 136, &cs, 8);
	v = S + 400, memcpy(stack + 24 + 152, &v, 8);
	v = K + 0x5010, memcpy(stack + 400, &v, 8); /* D's return into E */
}

static void test_orc_unwind(void **state)
{
	struct orc_table t;
	uint8_t stack[1024];
	uint64_t f[ORC_MAX_FRAMES];
	struct orc_regs r = { .ip = K + 0x1010, .sp = S };
	struct orc_stack st = { .base = S, .bytes = stack, .len = sizeof(stack) };
	(void)state;

	synthetic_kernel(&t, stack, 0x10);
	assert_int_equal(orc_unwind(&t, &st, &r, f, ORC_MAX_FRAMES), 5);
	for (int i = 0; i < 5; i++)
		assert_true(f[i] == K + 0x1010 + 0x1000 * (uint64_t)i);
	assert_int_equal(orc_unwind(&t, &st, &r, f, 2), 2); /* bounded by the caller */
	st.len = 170;                                       /* the interrupt frame's saved sp is past the copy */
	assert_int_equal(orc_unwind(&t, &st, &r, f, ORC_MAX_FRAMES), 3);
	orc_table_free(&t);

	synthetic_kernel(&t, stack, 0x33); /* the interrupt came from user mode */
	st.len = sizeof(stack);
	assert_int_equal(orc_unwind(&t, &st, &r, f, ORC_MAX_FRAMES), 3);
	r.ip = K + 0x90000; /* past the table: not kernel text */
	assert_int_equal(orc_unwind(&t, &st, &r, f, ORC_MAX_FRAMES), 1);
	orc_table_free(&t);
}

/* A hostile guest: a stack of return addresses that all lead back into A
 * unwinds to the frame bound, not forever; a table out of order is refused. */
static void test_orc_hostile(void **state)
{
	struct orc_table t;
	uint8_t stack[4096];
	uint64_t f[ORC_MAX_FRAMES], v = K + 0x1010;
	struct orc_regs r = { .ip = K + 0x1010, .sp = S };
	struct orc_stack st = { .base = S, .bytes = stack, .len = sizeof(stack) };
	(void)state;
	synthetic_kernel(&t, stack, 0x10);
	for (size_t off = 0; off < sizeof(stack); off += 8)
		memcpy(stack + off, &v, 8);
	assert_int_equal(orc_unwind(&t, &st, &r, f, ORC_MAX_FRAMES), ORC_MAX_FRAMES);
	orc_table_free(&t);

	int32_t rel[2] = { 0x100, 0 }; /* the second entry is below the first */
	uint8_t e[12] = { 0 };
	assert_int_equal(orc_table_init(&t, K, rel, e, 2, ORC_LAYOUT_V1), -1);
	assert_int_equal(orc_table_init(&t, K, rel, e, 0, ORC_LAYOUT_V1), -1);
}

static void test_sample_chain(void **state)
{
	char out[STACK_TEXT_MAX];
	struct sample s = kernel_sample("dd", "read_zero", NULL);
	(void)state;
	snprintf(s.callers, sizeof(s.callers), "entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_read;vfs_read");
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out,
	                    "dd;[kernel];entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_read;vfs_read;read_zero");
}

/* User samples: the function when the executable's symbols name it. */
static void test_user_stacks(void **state)
{
	struct sample s = { .readable = true, .rip = 0x401690, .cpl = 3, .task_known = true, .tid = 7, .pid = 7 };
	char out[STACK_TEXT_MAX];
	(void)state;

	snprintf(s.comm, sizeof(s.comm), "spin");
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "spin;[user]");
	s.symbol_known = true;
	snprintf(s.symbol, sizeof(s.symbol), "inner;fake");
	sample_stack(&s, out, sizeof(out));
	assert_string_equal(out, "spin;[user];inner?fake"); /* a name cannot add frames */
	assert_int_equal(sample_mode(&s), SAMPLE_USER);
}

/* The reader on this very program (position-independent, not stripped):
 * a function's address less the load address names it; garbage is
 * refused in one line. */
extern const char __executable_start[];
__attribute__((noinline)) int elfsyms_probe_target(int x);
__attribute__((noinline)) int elfsyms_probe_target(int x)
{
	return x * 3 + 1;
}

static void test_elfsyms(void **state)
{
	char err[256];
	(void)state;
	struct elfsyms *s = elfsyms_load("/proc/self/exe", err, sizeof(err));
	if (!s)
		fail_msg("%s", err);
	assert_false(elfsyms_fixed(s));
	uint64_t off = (uint64_t)(uintptr_t)elfsyms_probe_target - (uint64_t)(uintptr_t)__executable_start;
	assert_non_null(elfsyms_at(s, off));
	assert_string_equal(elfsyms_at(s, off), "elfsyms_probe_target");
	assert_string_equal(elfsyms_at(s, off + 1), "elfsyms_probe_target");
	assert_null(elfsyms_at(s, 0));
	elfsyms_free(s);
	static const uint8_t junk[64] = { 0x7f, 'E', 'L', 'F', 2, 1 };
	assert_null(elfsyms_parse(junk, sizeof(junk), err, sizeof(err)));
	assert_null(strchr(err, '\n'));
	assert_null(elfsyms_load("/no/such/file", err, sizeof(err)));
	assert_non_null(strstr(err, "/no/such/file"));
	assert_int_equal(elfsyms_probe_target(1), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stacks_count_and_sort),
		cmocka_unit_test(test_stacks_bounded),
		cmocka_unit_test(test_frame_clean),
		cmocka_unit_test(test_sample_stacks),
		cmocka_unit_test(test_flamegraph_svg),
		cmocka_unit_test(test_flamegraph_bounded),
		cmocka_unit_test(test_proc_table),
		cmocka_unit_test(test_top_view),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_orc_unwind),
		cmocka_unit_test(test_orc_hostile),
		cmocka_unit_test(test_sample_chain),
		cmocka_unit_test(test_user_stacks),
		cmocka_unit_test(test_elfsyms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
