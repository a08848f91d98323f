/* vCPU state for services: read and written while the VM is paused
 * (vm_pause()), through whichever engine runs it.  The state is the whole
 * architectural state both engines exchange (symbiont/x86.h). */
#ifndef SYMBIONT_VCPU_H
#define SYMBIONT_VCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/device.h"
#include "symbiont/x86.h"

struct vm;

/* 0, or -1 with one line in err (no such vCPU, the VM not paused, the
 * engine refused). */
int vm_vcpu_get_state(struct vm *vm, int cpu, struct x86_state *s, char *err, size_t errlen);
int vm_vcpu_set_state(struct vm *vm, int cpu, const struct x86_state *s, char *err, size_t errlen);
/* vm_vcpu_get_state() reading the registers (always) and only the parts
 * marked in parts (X86_STATE_*); s->parts says which were read, and the
 * others are not filled (what they hold is unspecified).  For a
 * state swapped out and back (SymCall: X86_STATE_EVENTS | X86_STATE_FPU),
 * it spares the engine the MSRs, the local APIC page and the debug
 * registers (kvm: their ioctls).  Together with a set_state marked
 * X86_STATE_SAME_MEMORY that keeps CR0, CR3, CR4 and EFER, it is the light
 * swap: emu then keeps its TLB and decoded code. */
int vm_vcpu_get_parts(struct vm *vm, int cpu, struct x86_state *s, uint32_t parts, char *err, size_t errlen);

/* Runs fn(vm, arg) on the thread that runs the vCPUs, soon, at a point
 * where every vCPU's state is whole, without pausing the VM; inside fn
 * vm_vcpu_get_state() and vm_vcpu_set_state() work as in a pause.  fn must
 * be quick and must not wait for anything.  Callable from any thread, from
 * a device or event callback on the vCPU thread too.  0 once queued, or -1
 * with one line in err: the engine runs no such work (kvm), or another
 * item is waiting. */
int vm_vcpu_work(struct vm *vm, void (*fn)(struct vm *vm, void *arg), void *arg, char *err, size_t errlen);
/* True on the engine's thread inside vCPU work (where vCPU state may be
 * read and set without a pause, and vm_vcpu_run_here() works). */
bool vm_in_vcpu_work(struct vm *vm);
/* Inside vCPU work: runs vCPU cpu alone, on this thread, until done(arg)
 * holds, max_ns has passed, the vCPU halts with nothing to wake it or the
 * VM stops; the other vCPUs and any pause wait meanwhile, devices and
 * timers go on.  done and the time are looked at whenever the engine is
 * back between blocks: at the next block boundary after vm_vcpu_run_end()
 * (a device callback of that vCPU calls it when it has made done true;
 * another thread calls it, again and again, to cut a run off at max_ns)
 * and every 2 ms slice with more than one vCPU.  For a synchronous upcall
 * into the guest (SymCall) with no thread hand-off inside it.  0 when done
 * held, 1 when the run ended otherwise, -1 with one line in err: not in
 * vCPU work, no such vCPU, or an engine without it (kvm). */
int vm_vcpu_run_here(struct vm *vm, int cpu, bool (*done)(void *arg), void *arg, uint64_t max_ns, char *err,
                     size_t errlen);
void vm_vcpu_run_end(struct vm *vm, int cpu);
/* A debugger's debug-register points (x86 DR0-DR3 and DR7: up to four
 * linear addresses, instruction or data, on every vCPU), for an engine
 * that cannot hook code or watch pages itself: kvm, through
 * KVM_SET_GUEST_DEBUG (the guest's own debug registers stay its own).  A
 * hit is a SYM_EV_HW_POINT event on the vCPU's thread: before the
 * instruction for EXEC, after the accessing instruction for WRITE and
 * ACCESS.  0, or -1 with one line in err: an engine without them (emu:
 * its CODE_HOOK and watched pages are exact and unlimited), an address
 * not aligned to its length, a length that is not 1, 2, 4 or 8. */
#define VM_HW_POINTS 4
enum vm_hw_point_type { VM_HWP_EXEC, VM_HWP_WRITE, VM_HWP_ACCESS };
struct vm_hw_point {
	bool on;
	enum vm_hw_point_type type;
	uint8_t len; /* 1, 2, 4 or 8; EXEC: 1 */
	uint64_t addr;
};
int vm_set_hw_points(struct vm *vm, const struct vm_hw_point p[VM_HW_POINTS], char *err, size_t errlen);

/* The engine's counters for vCPU cpu (emu: instructions retired, user and
 * kernel, time run, interrupts and exceptions delivered; kvm: exits by
 * reason, time in KVM_RUN), through emit; callable while the VM runs
 * (values may be a moment old).  -1 for no such vCPU. */
int vm_vcpu_stats(struct vm *vm, int cpu, device_stat_fn emit, void *ctx);

#endif
