/* The I/O thread registry (symbiont/iothreads.h): a policy reaches the
 * threads there are when it is set and each one that enters later, and a
 * thread that leaves is no longer counted. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "symbiont/iothreads.h"

static pid_t seen[8];
static int nseen;

static void record(pid_t tid, void *ctx)
{
	(void)ctx;
	if (nseen < 8)
		seen[nseen++] = tid;
}

struct helper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int step; /* 1: entered; 2: told to leave; 3: left */
	pid_t tid;
};

static void *helper_thread(void *arg)
{
	struct helper *h = arg;
	io_thread_enter();
	pthread_mutex_lock(&h->lock);
	h->tid = gettid();
	h->step = 1;
	pthread_cond_broadcast(&h->cond);
	while (h->step != 2)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	io_thread_leave();
	return NULL;
}

static void wait_step(struct helper *h, int step)
{
	pthread_mutex_lock(&h->lock);
	while (h->step != step)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void test_policy_reaches_present_and_later_threads(void **state)
{
	struct helper a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct helper b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	pthread_t ta, tb;
	(void)state;

	assert_int_equal(io_threads_count(), 0);
	assert_int_equal(pthread_create(&ta, NULL, helper_thread, &a), 0);
	wait_step(&a, 1);
	assert_int_equal(io_threads_count(), 1);

	io_threads_set_policy(record, NULL); /* a is there: applied at once */
	assert_int_equal(nseen, 1);
	assert_int_equal(seen[0], a.tid);

	assert_int_equal(pthread_create(&tb, NULL, helper_thread, &b), 0);
	wait_step(&b, 1); /* b enters later: applied as it enters */
	assert_int_equal(io_threads_count(), 2);
	assert_int_equal(nseen, 2);
	assert_int_equal(seen[1], b.tid);

	io_threads_set_policy(NULL, NULL); /* stopped: nothing more is applied */
	for (struct helper *h = &a; h; h = h == &a ? &b : NULL) {
		pthread_mutex_lock(&h->lock);
		h->step = 2;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(io_threads_count(), 0);
	io_thread_enter();
	assert_int_equal(nseen, 2);
	io_thread_leave();
	assert_int_equal(io_threads_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_reaches_present_and_later_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
