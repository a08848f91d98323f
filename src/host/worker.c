/* The worker thread behind host/worker.h. */
#include <pthread.h>
#include <stdlib.h>

#include "host/worker.h"
#include "symbiont/iothreads.h"

struct worker {
	pthread_t thread;
	pthread_mutex_t lock; /* the list and flags below */
	pthread_cond_t work, idle;
	struct worker_job *head, **tail;
	bool busy, stop;
	void (*run)(struct worker_job *job, void *ctx);
	void *ctx;
};

static void *loop(void *opaque)
{
	struct worker *w = opaque;
	io_thread_enter();
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->work, &w->lock);
		if (!w->head)
			break; /* stopping, and everything queued has run */
		struct worker_job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		w->busy = true;
		pthread_mutex_unlock(&w->lock);

		w->run(j, w->ctx);

		pthread_mutex_lock(&w->lock);
		w->busy = false;
		if (!w->head)
			pthread_cond_broadcast(&w->idle);
	}
	w->busy = false;
	pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
	io_thread_leave();
	return NULL;
}

struct worker *worker_start(void (*run)(struct worker_job *job, void *ctx), void *ctx)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->tail = &w->head;
	w->run = run;
	w->ctx = ctx;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->idle, NULL);
	if (pthread_create(&w->thread, NULL, loop, w)) {
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->work);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

void worker_submit(struct worker *w, struct worker_job *first, struct worker_job *last)
{
	last->next = NULL;
	pthread_mutex_lock(&w->lock);
	*w->tail = first;
	w->tail = &last->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
}

void worker_drain(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->head || w->busy)
		pthread_cond_wait(&w->idle, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
