/* SYM_EV_MSR_WRITE on KVM (msr_events.c), through KVM's MSR filter: while
 * someone subscribes, writes to the MSRs in the filter's ranges exit to
 * the VMM (KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER), the
 * event is delivered, and the VMM does the write itself (KVM_SET_MSRS) or,
 * on SYM_SKIP, drops it.  Without subscribers the filter is taken out and
 * writes cost what they did. */
#ifndef SYMBIONT_KVM_MSR_EVENTS_H
#define SYMBIONT_KVM_MSR_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <linux/kvm.h>

#include "cpu/engine.h"
#include "symbiont/event.h"

struct kvm_msr_events {
	bool supported;       /* this KVM has the MSR filter and user-space MSR exits */
	bool lstar;           /* the filter has LSTAR for the syscall points (syscall_points.h) */
	atomic_uint gen;      /* vm->msrs_gen the filter was built for */
	pthread_mutex_t lock; /* changes of the filter */
};

/* Enables the user-space exits if KVM has them (supported says). */
void kvm_msr_events_init(struct kvm_msr_events *m, int vm_fd);
void kvm_msr_events_destroy(struct kvm_msr_events *m);
/* Whether the filter must change before the next KVM_RUN: cheap, for every entry. */
static inline bool kvm_msr_events_lstar_wanted(struct vm *vm)
{
	return vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER) || vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT);
}
static inline bool kvm_msr_events_stale(const struct kvm_msr_events *m, struct vm *vm)
{
	return m->supported && (atomic_load_explicit(&vm->msrs_gen, memory_order_relaxed) !=
	                                atomic_load_explicit(&m->gen, memory_order_relaxed) ||
	                        m->lstar != kvm_msr_events_lstar_wanted(vm));
}
/* Builds the filter the subscriptions ask for (none: no filter), and
 * LSTAR while syscall events are wanted (their entry point follows it);
 * -1 with err. */
int kvm_msr_events_sync(struct kvm_msr_events *m, struct vm *vm, int vm_fd, char *err, size_t errlen);
/* KVM_EXIT_X86_WRMSR on vCPU fd: the event, then the write or not. */
void kvm_msr_events_exit(struct vcpu *cpu, int fd, struct kvm_run *run);

#endif
