/* Syscall and exception events on KVM (syscall_points.c), by instruction
 * breakpoints in the debug registers (KVM_GUESTDBG_USE_HW_BP), which stock
 * KVM offers: it has no SYSCALL exit and intercepts only #DB and #BP.
 *
 *   SYSCALL_ENTER  a point on the 64-bit entry, the vCPU's LSTAR.  There
 *                  RCX holds the user's return address, R11 its RFLAGS and
 *                  RSP is still the user's stack: the event shows the
 *                  registers as at the SYSCALL instruction (RIP = RCX - 2,
 *                  CPL 3; RCX and R11 are already SYSCALL's).  A changed
 *                  number or argument goes back into the registers; a
 *                  skipped call returns at once as SYSRET would (RAX the
 *                  result, CS/SS from STAR, RFLAGS from R11).
 *   SYSCALL_EXIT   a point on the kernel's SYSRETQ, found by reading the
 *                  entry code from LSTAR on (the first REX.W 0F 07 in its
 *                  first 4 KiB, as in Linux's entry_SYSCALL_64 and the test
 *                  guest).  At that instruction RCX, R11 and RSP are the
 *                  user's return address, RFLAGS and stack, and CR3 the
 *                  user's: the hub's (CR3, RSP, RIP) match of exits to
 *                  entries works for any number of processes and blocked
 *                  calls with this one point.  A return by IRET instead
 *                  (Linux after a signal, ptrace, a non-canonical RCX) is
 *                  not seen: the entry is counted unmatched, as on emu for
 *                  calls that never come back.
 *   EXCEPTION      a point on the handler the guest's IDT names for each
 *                  vector a subscriber asked for (one point per vector, the
 *                  IDT read again before each entry into the guest).  The
 *                  event's RIP, RFLAGS, RSP and CPL come from the frame the
 *                  CPU pushed, CR2 from the vCPU; a software INT n to that
 *                  vector, or a jump to the handler, looks the same.
 *
 * The four debug registers are shared with the debugger (vm_set_hw_points):
 * the hub's points take the highest free ones, the debugger's keep their
 * slot, and whichever comes second is refused in one line when they would
 * not fit.  No subscriber: no point, no exit. */
#ifndef SYMBIONT_KVM_SYSCALL_POINTS_H
#define SYMBIONT_KVM_SYSCALL_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/engine.h"
#include "symbiont/event.h"

enum kvm_point_kind { KVM_PT_NONE, KVM_PT_SYSCALL, KVM_PT_SYSRET, KVM_PT_EXCEPTION };

/* One vCPU's hub points. */
struct kvm_points_vcpu {
	bool lstar_known; /* lstar, star and sysret read since the guest last wrote LSTAR */
	uint64_t lstar, star;
	uint64_t sysret; /* the SYSRETQ found from lstar; 0: none */
	uint8_t kind[4]; /* what each debug register serves (enum kvm_point_kind) */
	uint8_t vector[4];
};

/* The offset of the SYSRETQ (REX.W 0F 07) in code, or -1. */
long kvm_find_sysret(const uint8_t *code, size_t len);
/* How many debug registers the hub's events need. */
int kvm_points_demand(bool syscalls, bool exits, uint32_t vectors);
/* The hub's points into the debug registers the debugger leaves free
 * (debugger: its enabled slots, bit i for DRi), highest first: kind[] and
 * vector[] per slot, addr[] for each; how many did not fit. */
int kvm_points_assign(unsigned debugger, const uint64_t *addrs, const uint8_t *kinds, const uint8_t *vectors, int n,
                      uint64_t dr[4], uint64_t *dr7, uint8_t kind[4], uint8_t vector[4]);

/* Before an entry: the points this vCPU needs now, added to dr[]/dr7 in
 * the slots debugger leaves free. */
void kvm_points_prepare(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, unsigned debugger, uint64_t dr[4],
                        uint64_t *dr7);
/* A #DB with the hub's slots hit (bit i for DRi): the events, then the vCPU
 * past the point: true when the caller must still step over it with the
 * points lifted (kvm_pvm, where RF does not keep the point from firing
 * again). */
bool kvm_points_hit(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, unsigned hit);
/* The guest wrote LSTAR, or its state was set: read it again. */
static inline void kvm_points_forget(struct kvm_points_vcpu *pv)
{
	pv->lstar_known = false;
}
/* Admission (engine_ops.event_check): would f's subscription still fit
 * beside the debugger's points (debugger: their slots)?  -1 with err. */
int kvm_points_check(struct vm *vm, const struct sym_filter *f, unsigned debugger, char *err, size_t errlen);

#endif
