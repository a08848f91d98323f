/* vCPU state for services: read and written while the VM is paused
 * (vm_pause()), through whichever engine runs it.  The state is the whole
 * architectural state both engines exchange (symbiont/x86.h). */
#ifndef SYMBIONT_VCPU_H
#define SYMBIONT_VCPU_H

#include <stddef.h>

#include "symbiont/device.h"
#include "symbiont/x86.h"

struct vm;

/* 0, or -1 with one line in err (no such vCPU, the VM not paused, the
 * engine refused). */
int vm_vcpu_get_state(struct vm *vm, int cpu, struct x86_state *s, char *err, size_t errlen);
int vm_vcpu_set_state(struct vm *vm, int cpu, const struct x86_state *s, char *err, size_t errlen);

/* Runs fn(vm, arg) on the thread that runs the vCPUs, soon, at a point
 * where every vCPU's state is whole, without pausing the VM; inside fn
 * vm_vcpu_get_state() and vm_vcpu_set_state() work as in a pause.  fn must
 * be quick and must not wait for anything.  Callable from any thread, from
 * a device or event callback on the vCPU thread too.  0 once queued, or -1
 * with one line in err: the engine runs no such work (kvm), or another
 * item is waiting. */
int vm_vcpu_work(struct vm *vm, void (*fn)(struct vm *vm, void *arg), void *arg, char *err, size_t errlen);

/* The engine's counters for vCPU cpu (emu: instructions retired, user and
 * kernel, time run, interrupts and exceptions delivered; kvm: exits by
 * reason, time in KVM_RUN), through emit; callable while the VM runs
 * (values may be a moment old).  -1 for no such vCPU. */
int vm_vcpu_stats(struct vm *vm, int cpu, device_stat_fn emit, void *ctx);

#endif
