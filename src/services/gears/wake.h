/* Waking a sleeping guest process from the VMM alone (wake.c). */
#ifndef SYMBIONT_GEARS_WAKE_H
#define SYMBIONT_GEARS_WAKE_H

#include <stdint.h>

struct gears;

/* Interrupts the interruptible sleep of process *pid (its leader thread)
 * by a call of the guest kernel's signal_wake_up_state on an idle vCPU:
 * its system call restarts, as after a signal with no handler.  *pid 0:
 * the first user process asleep other than init and avoid, whose pid is
 * then put in *pid.  Control thread only; pauses the VM twice, briefly.
 * 0, or -1 with one line in err (no idle vCPU, no such process or symbol,
 * an engine without code hooks, a kernel that did not return in time). */
int gears_wake_process(struct gears *g, int32_t *pid, int32_t avoid, char *err, size_t errlen);

#endif
