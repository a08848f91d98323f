/* The VM clock: monotonic nanoseconds, one per VM.  Every device and engine
 * reads time through it (PIT, RTC periodic/update timers, ACPI PM timer,
 * LAPIC timer, TSC, the event loop's timers, libslirp's timers), so time is
 * one input of the VM that can be replaced: by an engine (vm->clock set in
 * its init), by a test, or later by record/replay.  With no source set it
 * is the host's CLOCK_MONOTONIC.  A source must be callable from any thread
 * (vCPUs, the event loop, device workers). */
#ifndef SYMBIONT_CLOCK_H
#define SYMBIONT_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct vm_clock {
	uint64_t (*now)(void *ctx); /* NULL: host CLOCK_MONOTONIC */
	void *ctx;
};

/* The default source. */
uint64_t host_clock_ns(void);
/* The host's CLOCK_REALTIME ns from now: the deadline a wait of ns on a
 * condition variable with the default clock gives pthread_cond_timedwait. */
struct timespec host_deadline_after_ns(uint64_t ns);

static inline uint64_t vm_clock_read(const struct vm_clock *c)
{
	return c && c->now ? c->now(c->ctx) : host_clock_ns();
}

#endif
