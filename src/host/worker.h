/* A host worker thread with a job queue: device work that must not block a
 * vCPU (disk I/O) runs here, in submission order.  The device embeds a
 * struct worker_job in each job and gets it back in run(), on the worker
 * thread, without vm->io_lock; completing towards the guest is run()'s
 * business (it takes io_lock itself). */
#ifndef SYMBIONT_HOST_WORKER_H
#define SYMBIONT_HOST_WORKER_H

#include <stdbool.h>

struct worker;

struct worker_job {
	struct worker_job *next;
};

/* NULL when the thread cannot start. */
struct worker *worker_start(void (*run)(struct worker_job *job, void *ctx), void *ctx);
/* Appends a chain of jobs linked through next (first .. last). */
void worker_submit(struct worker *w, struct worker_job *first, struct worker_job *last);
/* Waits until every submitted job has run.  Without vm->io_lock. */
void worker_drain(struct worker *w);
/* Runs what is still queued, then stops the thread and frees w. */
void worker_stop(struct worker *w);

#endif
