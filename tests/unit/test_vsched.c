/* VSched's reservation syntax and its accounting, fed made-up readings of
 * the kernel's per-thread figures: a reservation kept at any phase of the
 * kernel's periods counts no miss, one the kernel falls short of counts
 * the miss and its lateness, an idle vCPU wants nothing, and the
 * user-level scheduler's periods are judged one by one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "symbiont/vsched.h"
#include "vm/vsched_account.h"

#define MS 1000000ULL

static void test_parse(void **state)
{
	struct vsched_spec s;
	char err[200];
	(void)state;
	assert_int_equal(vsched_parse("period=100ms,slice=30ms", &s, err, sizeof(err)), 0);
	assert_int_equal(s.period_ns, 100 * MS);
	assert_int_equal(s.slice_ns, 30 * MS);
	assert_int_equal(s.cpus, 0);
	assert_int_equal(s.io_ns, 0);
	assert_int_equal(vsched_parse("period=10ms,slice=3ms,io=500us", &s, err, sizeof(err)), 0);
	assert_int_equal(s.io_ns, 500000);
	assert_int_equal(s.slice_ns, 3 * MS);
	assert_int_equal(vsched_parse("period=100ms,cpus=0,2-3,slice=30ms", &s, err, sizeof(err)), 0);
	assert_int_equal(s.cpus, 0xd);
	assert_int_equal(s.slice_ns, 30 * MS);
	assert_int_equal(vsched_parse("period=100ms,slice=30ms,cpus=63", &s, err, sizeof(err)), 0);
	assert_true(s.cpus == 1ULL << 63);
	assert_int_equal(vsched_parse("slice=500us,period=1s", &s, err, sizeof(err)), 0);
	assert_int_equal(s.period_ns, 1000 * MS);
	assert_int_equal(s.slice_ns, 500000);
	static const char *const bad[] = { "",
		                           "period=100ms",
		                           "period=10ms,slice=20ms",
		                           "period=100,slice=3",
		                           "period=100ms,slice=1us",
		                           "period=11s,slice=1s",
		                           "period=-1ms,slice=1ms",
		                           "period=1ms,slice=1ms,x=1",
		                           "period=ms,slice=ms",
		                           "period=1ms,slice=1ms,cpus=64",
		                           "period=1ms,slice=1ms,cpus=3-1",
		                           "period=1ms,slice=1ms,cpus=",
		                           "period=1ms,slice=1ms,cpus=0,",
		                           "period=1ms,slice=1ms,cpus=0-",
		                           "period=1ms,slice=1ms,cpus=x",
		                           "period=1ms,slice=1ms,",
		                           "period=1ms,slice=1ms,io=",
		                           "period=1ms,slice=1ms,io=2ms",
		                           "period=1ms,slice=1ms,io=1us" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(vsched_parse(bad[i], &s, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "--sched"));
	}
}

/* A CPU-bound thread under SCHED_DEADLINE: 30 ms of every 100, delivered
 * at phase `phase` of the kernel's periods, while our windows start at 0.
 * Returns the thread's CPU time at time t (ms). */
static uint64_t delivered(uint64_t t, uint64_t phase, uint64_t slice_at, uint64_t slice)
{
	/* kernel period k runs [phase + 100k + slice_at, ... + slice) */
	uint64_t got = 0;
	for (uint64_t k = 0; phase + 100 * k <= t; k++) {
		uint64_t start = phase + 100 * k + slice_at, end = start + slice;
		if (t > start)
			got += (t < end ? t : end) - start;
	}
	return got * MS;
}

static struct vsched_acct run(uint64_t phase, uint64_t slice_at, uint64_t slice, int windows)
{
	struct vsched_acct a = { .tid = 1 };
	for (int w = 0; w <= windows; w++) {
		uint64_t t = (uint64_t)w * 100, cpu = delivered(t, phase, slice_at, slice);
		/* runnable the whole time: what it did not run it waited or was throttled */
		vsched_account_window(&a, false, 30 * MS, 100 * MS, 100 * MS, cpu, t * MS - cpu);
	}
	return a;
}

static void test_deadline_kept_any_phase(void **state)
{
	(void)state;
	for (uint64_t phase = 0; phase < 100; phase += 7) {
		for (uint64_t at = 0; at <= 70; at += 35) {
			struct vsched_acct a = run(phase, at, 30, 50);
			assert_int_equal(a.st.periods, 50);
			assert_int_equal(a.st.wanted, 50);
			assert_int_equal(a.st.misses, 0);
			assert_int_equal(a.st.lateness_ns, 0);
		}
	}
}

static void test_deadline_shortfall_is_a_miss(void **state)
{
	(void)state;
	/* the kernel gives 20 ms instead of 30 each period: behind by 10 ms a
	 * period, seen once the stretch is past the one period of slack */
	struct vsched_acct a = run(40, 10, 20, 30);
	assert_true(a.st.misses >= 20);
	assert_true(a.st.lateness_max_ns >= 1 * MS && a.st.lateness_max_ns <= 40 * MS);
	assert_true(a.st.lateness_ns >= a.st.misses * 1 * MS);
	assert_int_equal(a.st.received_ns, 30 * 20 * MS);
}

static void test_idle_wants_nothing(void **state)
{
	struct vsched_acct a = { .tid = 1 };
	(void)state;
	/* 5 ms of CPU a period, never waiting: the guest idles */
	for (int w = 0; w <= 20; w++)
		vsched_account_window(&a, false, 30 * MS, 100 * MS, 100 * MS, (uint64_t)w * 5 * MS, 0);
	assert_int_equal(a.st.periods, 20);
	assert_int_equal(a.st.wanted, 0);
	assert_int_equal(a.st.misses, 0);
	assert_int_equal(a.st.received_ns, 100 * MS);
}

static void test_user_level_periods(void **state)
{
	struct vsched_acct a = { .tid = 1 };
	uint64_t cpu = 0, wait = 0;
	(void)state;
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, cpu, wait);
	/* kept: 30 of 30 */
	cpu += 30 * MS;
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, cpu, wait);
	/* a competing thread took 12 ms of the slice: runnable 30, ran 18 */
	cpu += 18 * MS, wait += 12 * MS;
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, cpu, wait);
	/* idle: ran 2 ms and slept */
	cpu += 2 * MS;
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, cpu, wait);
	assert_int_equal(a.st.periods, 3);
	assert_int_equal(a.st.wanted, 2);
	assert_int_equal(a.st.misses, 1);
	assert_int_equal(a.st.lateness_ns, 12 * MS);
	assert_int_equal(a.st.lateness_max_ns, 12 * MS);
	assert_int_equal(a.st.received_ns, 50 * MS);
	assert_int_equal(a.st.entitled_ns, 60 * MS);
}

static void test_counters_going_back_rebase(void **state)
{
	struct vsched_acct a = { .tid = 1 };
	(void)state;
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, 500 * MS, 0);
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, 100 * MS, 0); /* a new thread, say */
	assert_int_equal(a.st.periods, 0);
	vsched_account_window(&a, true, 30 * MS, 100 * MS, 100 * MS, 130 * MS, 0);
	assert_int_equal(a.st.periods, 1);
	assert_int_equal(a.st.misses, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_deadline_kept_any_phase),
		cmocka_unit_test(test_deadline_shortfall_is_a_miss),
		cmocka_unit_test(test_idle_wants_nothing),
		cmocka_unit_test(test_user_level_periods),
		cmocka_unit_test(test_counters_going_back_rebase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
