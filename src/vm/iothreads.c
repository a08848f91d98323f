/* The registry of I/O threads (symbiont/iothreads.h). */
#include <pthread.h>
#include <unistd.h>

#include "symbiont/iothreads.h"

/* More than any machine has: a loop, a vsock and a slirp thread, and one
 * worker per disk. */
#define MAX_IO_THREADS 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t tids[MAX_IO_THREADS];
static int count;
static void (*policy)(pid_t tid, void *ctx);
static void *policy_ctx;

void io_thread_enter(void)
{
	pid_t me = gettid();
	pthread_mutex_lock(&lock);
	if (count < MAX_IO_THREADS) /* past it a thread just keeps its default policy */
		tids[count++] = me;
	if (policy)
		policy(me, policy_ctx);
	pthread_mutex_unlock(&lock);
}

void io_thread_leave(void)
{
	pid_t me = gettid();
	pthread_mutex_lock(&lock);
	for (int i = 0; i < count; i++)
		if (tids[i] == me) {
			tids[i] = tids[--count];
			break;
		}
	pthread_mutex_unlock(&lock);
}

int io_threads_count(void)
{
	pthread_mutex_lock(&lock);
	int n = count;
	pthread_mutex_unlock(&lock);
	return n;
}

void io_threads_set_policy(void (*apply)(pid_t tid, void *ctx), void *ctx)
{
	pthread_mutex_lock(&lock);
	policy = apply;
	policy_ctx = ctx;
	for (int i = 0; apply && i < count; i++)
		apply(tids[i], ctx);
	pthread_mutex_unlock(&lock);
}
