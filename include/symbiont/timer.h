/* VM timers.  Deadlines are in nanoseconds of the VM's clock (vm_now(),
 * symbiont/clock.h), the same clock the event loop passes to timers_run.  Timers
 * fire on the VM's event-loop thread with vm->io_lock held, the same lock
 * device register accesses run under, so device code needs no locking.
 * timer_arm()/timer_cancel() must be called with vm->io_lock held: device
 * code already holds it; engine code (e.g. the emu LAPIC) must take it. */
#ifndef SYMBIONT_TIMER_H
#define SYMBIONT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct timer_list;

struct vm_timer {
	uint64_t deadline;
	void (*fire)(void *opaque);
	void *opaque;
	bool armed;
	struct vm_timer *next;
	struct timer_list *list;
};

struct timer_list {
	struct vm_timer *head;      /* sorted by deadline */
	void (*changed)(void *ctx); /* wakes the loop when the head moves */
	void *ctx;
};

void timer_init(struct vm_timer *t, struct timer_list *list, void (*fire)(void *), void *opaque);
void timer_arm(struct vm_timer *t, uint64_t deadline_ns);
void timer_cancel(struct vm_timer *t);
/* Runs every timer whose deadline is <= now; returns the next deadline or
 * UINT64_MAX.  Called by the event loop. */
uint64_t timers_run(struct timer_list *list, uint64_t now);

#endif
