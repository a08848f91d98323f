/* The event hub's code hooks and single-step on KVM (guest_debug.c), by
 * KVM's guest debugging: a hook is an INT3 written over the first byte of
 * the hooked instruction in guest memory (guest-physical, so it holds in
 * every address space, as on emu), KVM_GUESTDBG_USE_SW_BP brings each #BP
 * to the VMM, and after the event the vCPU steps over the instruction with
 * the original byte back (KVM_GUESTDBG_SINGLESTEP, interrupts blocked), then
 * the INT3 goes back.  A #BP that is not a hook (the guest's own INT3, as
 * Linux uses while patching its text) is given back to the guest.
 *
 * What the guest can tell: reading a hooked instruction's first byte shows
 * 0xCC; another vCPU running the instruction while one steps over it is
 * not counted. */
#ifndef SYMBIONT_KVM_GUEST_DEBUG_H
#define SYMBIONT_KVM_GUEST_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "cpu/engine.h"
#include "cpu/kvm/syscall_points.h"

/* The INT3s in guest memory, VM-wide. */
struct kvm_debug;

/* One vCPU's part: the guest-debug control KVM has, and a step over a hook. */
struct kvm_debug_vcpu {
	uint32_t control;   /* the last KVM_SET_GUEST_DEBUG control */
	unsigned hooks_gen; /* vm->hooks_gen the breakpoints were synced to */
	bool over;          /* stepping over the hooked instruction at over_gpa */
	bool inject_bp;     /* a #BP to give back to the guest on the next entry */
	uint64_t over_gpa;
	uint64_t step_from;         /* RIP when the current single step began */
	uint64_t dr[4], dr7;        /* the debug-register points KVM has for this vCPU */
	struct kvm_points_vcpu pts; /* which of them serve syscall and exception events */
	bool hub_over;              /* stepping over a hub point at hub_over_rip, its points lifted */
	uint64_t hub_over_rip;
};

struct kvm_debug *kvm_debug_new(void);
/* Takes the INT3s out of guest memory. */
void kvm_debug_free(struct kvm_debug *d, struct vm *vm);

/* Before each KVM_RUN: the INT3s as the hub's hooks say, and the vCPU's
 * guest-debug control. -1 with err if KVM refused it. */
int kvm_debug_prepare(struct kvm_debug *d, struct kvm_debug_vcpu *dv, struct vcpu *cpu, int fd, char *err,
                      size_t errlen);
/* The vCPU's registers as the event hub shows them (and CR0); -1 if KVM
 * would not give them. */
struct sym_regs;
int kvm_event_regs(struct vcpu *cpu, int fd, struct sym_regs *r, uint64_t *cr0);
/* The debugger's debug-register points (vm_set_hw_points), for every
 * vCPU from its next entry. */
void kvm_debug_set_points(struct kvm_debug *d, const struct vm_hw_point p[VM_HW_POINTS]);
/* The debug registers the debugger's points hold (bit i for DRi). */
unsigned kvm_debug_points_held(struct kvm_debug *d);
/* KVM_EXIT_DEBUG: delivers CODE_HOOK, HW_POINT or STEP, or gives a #BP back. */
void kvm_debug_exit(struct kvm_debug *d, struct kvm_debug_vcpu *dv, struct vcpu *cpu, int fd,
                    const struct kvm_debug_exit_arch *e);

#endif
