/* The engine interface.  Nothing above src/cpu/ knows which engine runs.
 *
 * An engine runs vCPUs and turns their port-I/O and MMIO accesses into
 * vm_pio_*()/vm_mmio_*() calls.  Each vCPU runs on its own thread in
 * vcpu_run(), which returns only when the VM is stopping (vm_stopping()) or
 * on an engine failure.  Guest-caused conditions (triple fault, HLT with
 * interrupts off) are not failures: the engine ends the VM through
 * vm_request_exit() as the board would. */
#ifndef SYMBIONT_ENGINE_H
#define SYMBIONT_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "symbiont/device.h"
#include "symbiont/event.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"
#include "symbiont/x86.h"

struct vcpu {
	struct vm *vm;
	int id;
	pthread_t thread;
	int tid;      /* host thread id (for query-cpus-fast) */
	bool running; /* thread started (set by vm_run) */
	void *priv;   /* engine's per-vCPU state */
	/* Held off the CPU by vsched's user-level scheduler until its next
	 * period (vm_vcpu_throttle): an engine with a thread per vCPU checks it
	 * where it checks vm_pause_pending() and then calls vm_vcpu_hold(). */
	atomic_bool throttled;
};

/* A vCPU's engine-private part of a replay checkpoint (vcpu_rr_save). */
struct engine_rr_extra {
	uint64_t insn_count, insn_user, rep_yield_at;
};

struct engine_ops {
	const char *name;
	/* True when interrupts are handled by the engine itself (KVM's in-kernel
	 * PIC/IOAPIC/LAPIC): the builder then asks the board for no PIC and
	 * IOAPIC models. */
	bool has_irqchip;
	/* True when vcpu_run runs vm_vcpu_work() items (vm_run_work(), at a
	 * point where every vCPU's state is whole) as soon as
	 * vm_work_pending() says there is one. */
	bool runs_work;
	/* VM-wide set-up after memory exists, before devices: creates the VM,
	 * maps memory, installs vm->irqchip when has_irqchip, and may supply
	 * the VM's time source in vm->clock (both engines leave the host
	 * clock).  err gets one line. */
	int (*init)(struct vm *vm, char *err, size_t errlen);
	/* The CPU side of a board irqchip (engines without has_irqchip), reached
	 * through vm_cpu_extint()/vm_cpu_msi(), io_lock held: the ExtINT line's
	 * level and a message for the local APICs. */
	void (*extint)(struct vm *vm, int level);
	void (*msi)(struct vm *vm, uint64_t addr, uint32_t data);
	int (*vcpu_init)(struct vcpu *cpu, char *err, size_t errlen);
	int (*vcpu_set_state)(struct vcpu *cpu, const struct x86_state *s);
	int (*vcpu_get_state)(struct vcpu *cpu, struct x86_state *s);
	/* As vcpu_get_state, reading the registers and only the parts in
	 * parts (X86_STATE_*; s->parts says which were read, the others are
	 * not filled): what a state
	 * swapped out and back in (SymCall) needs, without the MSRs, the local
	 * APIC or the debug registers. */
	int (*vcpu_get_parts)(struct vcpu *cpu, struct x86_state *s, uint32_t parts);
	/* Optional (engines with runs_work): from inside vCPU work, runs this
	 * vCPU alone on the calling thread until done(arg) holds (looked at
	 * whenever the engine is back between blocks: after vcpu_run_end(),
	 * and every slice with more than one vCPU), max_ns has passed (seen
	 * then too), it halts for good or the VM stops.  0 when done, 1
	 * otherwise. */
	int (*vcpu_run_here)(struct vcpu *cpu, bool (*done)(void *arg), void *arg, uint64_t max_ns);
	/* From any thread: bring vcpu_run_here back between blocks at the
	 * next block boundary (lost if the vCPU is not in a run: callers
	 * waiting for a cut-off repeat it). */
	void (*vcpu_run_end)(struct vcpu *cpu);
	/* Runs on the vCPU's thread until vm_stopping(); 0, or -1 on engine
	 * failure (after vm_request_exit with a message on stderr). */
	int (*vcpu_run)(struct vcpu *cpu);
	/* From another thread: make vcpu_run notice vm_stopping() or a new
	 * interrupt promptly. */
	void (*vcpu_kick)(struct vcpu *cpu);
	void (*vcpu_destroy)(struct vcpu *cpu);
	void (*destroy)(struct vm *vm);
	/* Optional (NULL: nothing to do): a device wrote [gpa, gpa+len) of guest
	 * RAM behind the CPUs' back (DMA).  The emu engine drops code it decoded
	 * from there; callable from any thread. */
	void (*mem_written)(struct vm *vm, uint64_t gpa, uint64_t len);
	/* Optional (NULL: no live migration on this engine): dirty page
	 * logging of the vCPUs' writes to guest RAM.  dirty_log turns it on or
	 * off; dirty_collect ORs into bits (a bit per 4 KiB page of the flat
	 * RAM image) the pages written since the last collect and starts a new
	 * interval, so that no write is lost between two collects.  The emu
	 * engine keeps its log in vm->dirty_bits (its TLB sends the first write
	 * to a clean page to the slow path) and collects it with the vCPUs
	 * parked; kvm uses the kernel's dirty log.  0, or -1 with err. */
	int (*dirty_log)(struct vm *vm, bool on, char *err, size_t errlen);
	int (*dirty_collect)(struct vm *vm, uint64_t *bits, char *err, size_t errlen);
	/* Optional: a guest page became watched (sym_watch, symbiont/event.h);
	 * from the vCPUs' next block on, their writes to it must reach
	 * PAGE_WRITE.  Callable from any thread. */
	void (*watch_changed)(struct vm *vm);
	/* Record/replay (symbiont/replay.h), for engines that count retired
	 * instructions exactly: the count, and a hash of the architectural
	 * registers (with the RIP) that a replay must reproduce.  NULL: the
	 * engine cannot record. */
	uint64_t (*vcpu_insn_count)(struct vcpu *cpu);
	uint64_t (*vcpu_state_hash)(struct vcpu *cpu, uint64_t *rip);
	/* Optional (NULL: a replay takes no checkpoints): a replay's
	 * checkpoints (src/vm/replay_ckpt.c).  rr_save: what a restore needs
	 * beyond struct x86_state (the count; a REP string instruction that
	 * yielded); rr_load: puts it back, after vcpu_set_state.  dirty_rearm:
	 * the next write to every page reaches the dirty log again (as after
	 * dirty_collect), called on the vCPUs' own thread or with them parked,
	 * so it takes no pause. */
	void (*vcpu_rr_save)(struct vcpu *cpu, struct engine_rr_extra *x);
	void (*vcpu_rr_load)(struct vcpu *cpu, const struct engine_rr_extra *x);
	void (*dirty_rearm)(struct vm *vm);
	/* Optional: the code hooks (vm->hooks_gen) or the single-stepping
	 * (SYM_EV_STEP) changed; an engine that sets them up before entering
	 * the guest makes its vCPUs look again.  Callable from any thread. */
	void (*debug_changed)(struct vm *vm);
	/* Optional (NULL: refused): a debugger's debug-register points on
	 * every vCPU (vm_set_hw_points, symbiont/vcpu.h), checked already. */
	int (*set_hw_points)(struct vm *vm, const struct vm_hw_point p[VM_HW_POINTS], char *err, size_t errlen);
	/* Optional: the vCPU's counters (instructions, exits by reason, time
	 * run...), callable from any thread (values may be a moment old). */
	void (*vcpu_stats)(struct vcpu *cpu, device_stat_fn emit, void *ctx);
	/* Optional: the CPUID leaf (sub-leaf sub) this vCPU's guest sees, as
	 * EAX EBX ECX EDX, for the CPU model a snapshot records; -1 when it
	 * cannot be told. */
	int (*vcpu_cpuid)(struct vcpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);
	/* The vCPU event types it delivers (SYM_EV_BIT()s of symbiont/event.h's
	 * SYM_EV_VCPU_MASK); subscribing to another is refused.  Optional:
	 * events_on(), when the answer depends on the host, replaces it. */
	unsigned events;
	unsigned (*events_on)(struct vm *vm);
	/* Optional: a subscription of a type it delivers, about to be made, that
	 * may not fit (kvm: debug registers); -1 with one line in err refuses it. */
	int (*event_check)(struct vm *vm, const struct sym_filter *f, char *err, size_t errlen);
};

extern const struct engine_ops emu_engine_ops;
extern const struct engine_ops kvm_engine_ops;

/* Resolves "auto"/"emu"/"kvm" to an engine, or NULL with a reason in err. */
const struct engine_ops *engine_select(const char *name, char *err, size_t errlen);
/* /dev/kvm is kvm_pvm's: guest kernel code is emulated one instruction at
 * a time, and that emulator fails on an INT3 under guest debugging. */
bool kvm_is_pvm(void);
/* The names engine_select() resolves, without probing the host (a name can
 * be known and its engine still unusable here): for the command line. */
bool engine_known(const char *name);
extern const char engine_names[]; /* "auto, emu or kvm" */

#endif
