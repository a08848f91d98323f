/* VSched's accounting arithmetic, apart from the threads and /proc that
 * feed it, so that it can be tested with made-up readings. */
#ifndef SYMBIONT_VM_VSCHED_ACCOUNT_H
#define SYMBIONT_VM_VSCHED_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbiont/vsched.h"

/* Per reserved thread: what the scheduler thread last read and counted. */
struct vsched_acct {
	pid_t tid;                              /* 0: not a reserved thread */
	uint64_t cpu_ns, wait_ns;               /* the kernel's figures at the window's start */
	bool base;                              /* cpu_ns/wait_ns hold a reading */
	uint64_t stretch_got, stretch_entitled; /* SCHED_DEADLINE: since it was last idle */
	struct vsched_stats st;
};

/* One window of elapsed ns ended with the thread's CPU time cpu_ns and its
 * time runnable but not running wait_ns (schedstat's first two figures;
 * under SCHED_DEADLINE a throttled thread's wait counts there too).  user:
 * the windows are the user-level scheduler's periods, each granting
 * runtime; otherwise SCHED_DEADLINE grants runtime every period_ns in
 * periods of its own phase. */
void vsched_account_window(struct vsched_acct *a, bool user, uint64_t runtime, uint64_t period_ns, uint64_t elapsed,
                           uint64_t cpu_ns, uint64_t wait_ns);

#endif
