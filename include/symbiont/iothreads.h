/* The VM's I/O threads: the event loop and every thread that moves data
 * between a device and the host (the vsock and slirp threads, disk
 * workers).  A guest waiting for I/O is woken only when one of them runs,
 * so a reservation that covers the vCPUs alone does not bound an
 * interactive VM's response time (docs/vsched.md).  Each such thread
 * enters itself here as it starts and leaves as it ends; whoever sets a
 * scheduling policy for them (vsched) sees every one, present and future.
 *
 * One VM per process: the registry is process-wide.  Safe from any thread. */
#ifndef SYMBIONT_IOTHREADS_H
#define SYMBIONT_IOTHREADS_H

#include <sys/types.h>

/* The calling thread is an I/O thread (until io_thread_leave); the policy
 * in force, if any, is applied to it now. */
void io_thread_enter(void);
void io_thread_leave(void);

/* How many I/O threads there are now. */
int io_threads_count(void);

/* From now on apply(tid, ctx) is called for every I/O thread: at once for
 * those there are, and as each later one enters.  NULL stops it (threads
 * keep what they were given). */
void io_threads_set_policy(void (*apply)(pid_t tid, void *ctx), void *ctx);

#endif
