/* The emu engine behind struct engine_ops: the scheduler (which vCPU runs,
 * time slices, INIT/SIPI, sleeping while all are halted, the interrupt
 * check between blocks) and the ops.  State exchange is state.c, the DMA
 * queue dma.c.
 *
 * Threads: every vCPU runs on vCPU 0's thread, round-robin, like QEMU's
 * single-threaded TCG.  Guest memory then needs no host atomics for LOCK
 * prefixes, TLBs and block caches are never touched by two threads, and an
 * IPI or INIT/SIPI to another vCPU is a plain store.  The other vCPU
 * threads only wait for the VM to stop.  With more than one vCPU a slice
 * timer on the event loop ends each vCPU's turn every EMU_SLICE_NS: it sets
 * irq_pending, and emu_check_interrupts() (which the loop calls at a block
 * boundary) jumps back to the scheduler.
 *
 * When no vCPU can run (all halted or waiting for SIPI) the runner sleeps
 * on a condition variable until a kick: an interrupt for some vCPU
 * (lapic.c → emu_kick) or the VM stopping.  Interrupt controllers: the
 * VM's irqchip (the board's 8259A and IOAPIC models, has_irqchip = false),
 * seen only through the vm_cpu_* / vm_irqchip_* seam: the ExtINT line
 * arrives on the BSP's LINT0, messages (IOAPIC entries, PCI MSIs) at
 * emu_msi(), and the vector of an ExtINT comes from vm_irqchip_ack(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/sys.h"
#include "symbiont/event.h"
#include "symbiont/replay.h"

#define EMU_SLICE_NS 2000000ULL

struct emu_vcpu {
	struct emu_cpu cpu; /* first: vcpu->priv is also a struct emu_cpu * */
	atomic_bool init_pending;
	atomic_int sipi_vector; /* -1: none */
	bool wait_sipi;
	bool in_slice;
	atomic_bool slice_over;
	jmp_buf slice_jmp;
	uint64_t slices, run_ns;          /* for metrics: turns on the runner and their host time */
	uint64_t halted_ns, halted_since; /* time halted (HLT until an interrupt); since when, or 0 */
};

struct emu_engine {
	struct vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	struct vm_timer slice;
	struct emu_vcpu *_Atomic current;
	struct emu_dma dma;        /* device writes to guest RAM not yet applied */
	atomic_bool watch_changed; /* pages became watched: protect them in every TLB */
};

static struct emu_vcpu *ev_of(struct emu_cpu *cpu)
{
	return (struct emu_vcpu *)cpu;
}

static void wake_runner(struct emu_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->kicked = true;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void emu_kick(struct emu_cpu *cpu)
{
	if (cpu->vm && cpu->vm->engine_priv)
		wake_runner(cpu->vm->engine_priv);
}

void emu_yield(struct emu_cpu *cpu)
{
	if (!cpu->vcpu || !ev_of(cpu)->in_slice)
		return;
	atomic_store(&ev_of(cpu)->slice_over, true);
	atomic_store(&cpu->irq_pending, true);
}

/* ---- INIT / SIPI (applied by the runner, between slices) ---- */

void emu_cpu_init_ipi(struct emu_cpu *cpu)
{
	atomic_store(&ev_of(cpu)->init_pending, true);
	emu_kick(cpu);
}

void emu_cpu_sipi(struct emu_cpu *cpu, uint8_t vector)
{
	atomic_store(&ev_of(cpu)->sipi_vector, vector);
	emu_kick(cpu);
}

static void apply_init_sipi(struct emu_vcpu *ev)
{
	struct emu_cpu *cpu = &ev->cpu;
	int v;

	if (atomic_exchange(&ev->init_pending, false)) {
		struct x86_state s;
		bool bsp = (cpu->apic_base & APIC_BASE_BSP) != 0;
		x86_state_reset(&s);
		s.apic_base = cpu->apic_base;
		emu_cpu_set_state(cpu, &s);
		if (cpu->vm)
			pthread_mutex_lock(&cpu->vm->io_lock);
		lapic_reset(cpu->lapic, bsp);
		if (cpu->vm)
			pthread_mutex_unlock(&cpu->vm->io_lock);
		cpu->nmi_pending = cpu->nmi_blocked = cpu->nmi_latched = false;
		ev->wait_sipi = !bsp;
	}
	v = atomic_exchange(&ev->sipi_vector, -1);
	if (v >= 0 && ev->wait_sipi) {
		cpu->seg[SEG_CS].sel = (uint16_t)(v << 8);
		cpu->seg[SEG_CS].base = (uint64_t)v << 12;
		cpu->rip = cpu->next_rip = 0;
		cpu->halted = false;
		ev->wait_sipi = false;
		emu_update_mode(cpu);
	}
}

/* ---- device writes to guest RAM (queued in dma.c) ---- */

/* Any thread: the running vCPU looks at the queue at its next block
 * boundary, before any vCPU can execute from the range. */
static void emu_mem_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct emu_engine *e = vm->engine_priv;
	struct emu_vcpu *cur;

	if (!e || !len)
		return;
	emu_dma_queue(&e->dma, gpa, len);
	cur = e->current;
	if (cur)
		atomic_store(&cur->cpu.irq_pending, true);
}

static void emu_watch_changed(struct vm *vm)
{
	struct emu_engine *e = vm->engine_priv;
	struct emu_vcpu *cur;

	if (!e)
		return;
	atomic_store(&e->watch_changed, true);
	cur = e->current;
	if (cur)
		atomic_store(&cur->cpu.irq_pending, true);
}

static void apply_dma(struct vm *vm)
{
	struct emu_engine *e = vm->engine_priv;
	if (!e)
		return;
	emu_dma_apply(&e->dma, vm);
	/* Every vCPU runs on this thread, so all TLBs can be fixed here. */
	if (atomic_load(&e->watch_changed) && atomic_exchange(&e->watch_changed, false))
		for (int i = 0; i < vm->ncpus; i++)
			if (vm->vcpus[i] && vm->vcpus[i]->priv)
				emu_tlb_protect_watched(emu_cpu_of(vm->vcpus[i]));
}

/* ---- interrupts ---- */

/* Replaying: the log, not the LAPIC or the PIC, says which interrupt comes
 * where; the devices still run (their reads are replayed) but what they
 * raise is never taken. */
static void replay_interrupts(struct emu_cpu *cpu)
{
	enum rr_irq_kind kind;
	int v;

	/* A checkpoint due here, or a debugger's seek that ends here (the
	 * stop was asked for: park at once, before anything is delivered). */
	if (replay_boundary(cpu->vm, cpu->rip) && cpu->vcpu) {
		atomic_store(&cpu->irq_pending, true);
		longjmp(ev_of(cpu)->slice_jmp, 1);
	}
	/* Everything due at this count and RIP, before any instruction runs:
	 * a recording stopped (a signal) right after delivering an interrupt
	 * ends at the handler's first instruction with nothing retired, and
	 * its end record must be met here, not one instruction later. */
	while ((v = replay_take_irq(cpu->vm, cpu->rip, &kind)) >= 0) {
		cpu->halted = false;
		if (kind == RR_IRQ_NMI)
			cpu->nmi_blocked = true;
		emu_deliver_interrupt(cpu, v, false);
		atomic_store(&cpu->irq_pending, true); /* another may be due at the same point */
	}
	cpu->insn_stop_inv = ~replay_next_stop(cpu->vm);
}

void emu_cpu_nmi(struct emu_cpu *cpu)
{
	/* Hardware takes an NMI at the next instruction boundary, so of two
	 * that arrive together one is in service and one pending; while a
	 * handler runs, any number collapse into one pending. */
	if (cpu->nmi_pending && !cpu->nmi_blocked)
		cpu->nmi_latched = true;
	cpu->nmi_pending = true;
	atomic_store(&cpu->irq_pending, true);
}

void emu_check_interrupts(struct emu_cpu *cpu)
{
	int v;

	atomic_store(&cpu->irq_pending, false);
	if (cpu->vm)
		apply_dma(cpu->vm);
	if (cpu->vcpu && atomic_exchange(&ev_of(cpu)->slice_over, false) &&
	    (ev_of(cpu)->in_slice || vm_pause_pending(cpu->vm) || vm_work_pending(cpu->vm))) {
		/* The flag just cleared may also have stood for an interrupt
		 * waiting in the LAPIC: set it again, or a halted vCPU leaving
		 * here is never looked at (run_all skips halted vCPUs without
		 * it) and the guest waits for a timer interrupt forever. */
		atomic_store(&cpu->irq_pending, true);
		longjmp(ev_of(cpu)->slice_jmp, 1); /* at a block boundary: state is whole */
	}
	if (unlikely(cpu->vm && cpu->vm->replay)) {
		if (replay_playing(cpu->vm)) {
			replay_interrupts(cpu);
			apply_dma(cpu->vm); /* what a logged input point wrote, before any block runs */
			return;
		}
		if (replay_defer_pending(cpu->vm)) { /* recording: a device's input, here */
			replay_run_deferred(cpu->vm, cpu->rip);
			apply_dma(cpu->vm);
		}
	}
	if (cpu->inject.valid) {
		cpu->inject.valid = false;
		cpu->halted = false;
		if (cpu->inject.exception) {
			cpu->exc_vector = cpu->inject.vector;
			cpu->exc_has_error = cpu->inject.has_error;
			cpu->exc_error = cpu->inject.error;
			emu_deliver_exception(cpu);
		} else {
			emu_deliver_interrupt(cpu, cpu->inject.vector, false);
		}
		atomic_store(&cpu->irq_pending, true);
		return;
	}
	/* The STI and MOV SS shadow holds NMIs back too (as VMX's
	 * interruptibility state and KVM treat it), not only INTR. */
	if (cpu->interrupt_shadow && (cpu->nmi_pending || (cpu->rflags & RFLAGS_IF))) {
		atomic_store(&cpu->irq_pending, true);
		return;
	}
	if (cpu->nmi_pending && !cpu->nmi_blocked) {
		/* a second NMI that came with it waits for this one's IRET */
		cpu->nmi_pending = cpu->nmi_latched;
		cpu->nmi_latched = false;
		cpu->nmi_blocked = true;
		cpu->halted = false;
		if (unlikely(cpu->vm && cpu->vm->replay))
			replay_note_irq(cpu->vm, RR_IRQ_NMI, EXC_NMI, cpu->rip);
		emu_deliver_interrupt(cpu, EXC_NMI, false);
		atomic_store(&cpu->irq_pending, true);
		return;
	}
	if (!(cpu->rflags & RFLAGS_IF))
		return; /* STI, POPF, IRET... set irq_pending again */
	if (!cpu->lapic)
		return;
	v = lapic_ack(cpu->lapic);
	if (v == -2) {
		if (!cpu->vm)
			return;
		pthread_mutex_lock(&cpu->vm->io_lock);
		v = vm_irqchip_ack(cpu->vm);
		pthread_mutex_unlock(&cpu->vm->io_lock);
	}
	if (v < 0)
		return;
	cpu->halted = false;
	if (unlikely(cpu->vm && cpu->vm->replay))
		replay_note_irq(cpu->vm, RR_IRQ_EXT, v, cpu->rip);
	emu_deliver_interrupt(cpu, v, false);
	atomic_store(&cpu->irq_pending, true); /* another may be waiting */
}

/* ---- the irqchip's outputs (vm_cpu_extint / vm_cpu_msi, io_lock held) ---- */

static void emu_extint(struct vm *vm, int level)
{
	if (vm->vcpus[0] && vm->vcpus[0]->priv)
		lapic_set_lint0(emu_cpu_of(vm->vcpus[0])->lapic, level);
}

static void slice_fire(void *opaque)
{
	struct emu_engine *e = opaque;
	struct emu_vcpu *ev = e->current;
	if (ev) {
		atomic_store(&ev->slice_over, true);
		atomic_store(&ev->cpu.irq_pending, true);
	}
	timer_arm(&e->slice, vm_now(e->vm) + EMU_SLICE_NS);
}

/* ---- engine_ops ---- */

static int emu_init(struct vm *vm, char *err, size_t errlen)
{
	struct emu_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "emu: out of memory");
		return -1;
	}
	e->vm = vm;
	vm->cfg.cpu_model = "portable"; /* emu's model is the portable one (cpu/cpuid.h) */
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	emu_dma_init(&e->dma);
	timer_init(&e->slice, &vm->timers, slice_fire, e);
	vm->engine_priv = e;
	return 0;
}

static int emu_vcpu_init(struct vcpu *v, char *err, size_t errlen)
{
	struct emu_vcpu *ev = aligned_alloc(64, (sizeof(*ev) + 63) & ~(size_t)63);
	struct emu_cpu *cpu;
	struct x86_state s;

	if (!ev) {
		snprintf(err, errlen, "emu: out of memory");
		return -1;
	}
	memset(ev, 0, sizeof(*ev));
	cpu = &ev->cpu;
	cpu->vm = v->vm;
	cpu->vcpu = v;
	cpu->mem = &v->vm->mem;
	atomic_init(&ev->sipi_vector, -1);
	cpu->apic_base = APIC_BASE_DEFAULT | APIC_BASE_EN | (v->id == 0 ? APIC_BASE_BSP : 0);
	cpu->lapic = lapic_create(cpu, v->id);
	if (!cpu->lapic) {
		free(ev);
		snprintf(err, errlen, "emu: out of memory");
		return -1;
	}
	emu_msr_reset(cpu);
	emu_fpu_reset(cpu);
	x86_state_reset(&s);
	s.apic_base = cpu->apic_base;
	emu_cpu_set_state(cpu, &s);
	ev->wait_sipi = v->id != 0;
	v->priv = ev;
	return 0;
}

static int emu_vcpu_set_state(struct vcpu *v, const struct x86_state *s)
{
	struct emu_vcpu *ev = v->priv;
	if (emu_cpu_set_state(&ev->cpu, s) < 0)
		return -1;
	ev->wait_sipi = (s->parts & X86_STATE_EVENTS) && s->ev.mp_state == X86_MP_WAIT_SIPI;
	return 0;
}

/* With the vCPUs stopped.  A pending INIT or SIPI is applied first, so the
 * state says where it leaves the vCPU. */
static int emu_vcpu_get_parts(struct vcpu *v, struct x86_state *s, uint32_t parts)
{
	struct emu_vcpu *ev = v->priv;
	apply_init_sipi(ev);
	emu_cpu_get_parts(&ev->cpu, s, parts);
	if (ev->wait_sipi && (parts & X86_STATE_EVENTS))
		s->ev.mp_state = X86_MP_WAIT_SIPI;
	return 0;
}

static int emu_vcpu_get_state(struct vcpu *v, struct x86_state *s)
{
	return emu_vcpu_get_parts(v, s, X86_STATE_ALL);
}

/* True when a halted vCPU can never wake: IF=0 and no NMI. */
static bool dead(struct emu_vcpu *ev)
{
	return ev->wait_sipi || (ev->cpu.halted && !(ev->cpu.rflags & RFLAGS_IF) && !ev->cpu.nmi_pending);
}

static void run_slice(struct emu_engine *e, struct emu_vcpu *ev, bool sliced)
{
	e->current = ev;
	apply_dma(e->vm);
	atomic_store(&ev->slice_over, false);
	uint64_t t0 = host_clock_ns(), t1;
	if (ev->halted_since)
		ev->halted_ns += t0 - ev->halted_since, ev->halted_since = 0;
	if (ev->cpu.cpl == 3)
		ev->cpu.user_since = t0;
	if (!setjmp(ev->slice_jmp)) {
		ev->in_slice = sliced;
		emu_exec(&ev->cpu);
	}
	ev->in_slice = false;
	ev->slices++;
	/* Replaying, a halt with nothing due at this count never ends. */
	if (unlikely(ev->cpu.halted && replay_playing(e->vm)) && !vm_stopping(e->vm))
		replay_halted(e->vm, ev->cpu.rip);
	t1 = host_clock_ns();
	ev->run_ns += t1 - t0;
	if (ev->cpu.user_since)
		ev->cpu.user_ns += t1 - ev->cpu.user_since, ev->cpu.user_since = 0;
	if (ev->cpu.halted)
		ev->halted_since = t1;
	e->current = NULL;
}

static void run_all(struct vm *vm, struct emu_engine *e)
{
	int n = vm->ncpus;

	if (n > 1) {
		pthread_mutex_lock(&vm->io_lock);
		timer_arm(&e->slice, vm_now(e->vm) + EMU_SLICE_NS);
		pthread_mutex_unlock(&vm->io_lock);
	}
	while (!vm_stopping(vm)) {
		bool ran = false, all_dead = true;

		if (vm_work_pending(vm)) {
			vm_run_work(vm); /* between slices: every vCPU's state is whole */
			continue;
		}
		if (vm_pause_pending(vm)) {
			vm_vcpu_park(vm); /* between slices: every vCPU's state is whole */
			continue;
		}
		pthread_mutex_lock(&e->lock);
		e->kicked = false;
		pthread_mutex_unlock(&e->lock);
		for (int i = 0; i < n && !vm_stopping(vm) && !vm_pause_pending(vm) && !vm_work_pending(vm); i++) {
			struct emu_vcpu *ev = vm->vcpus[i]->priv;
			struct emu_cpu *cpu = &ev->cpu;

			apply_init_sipi(ev);
			if (!dead(ev))
				all_dead = false;
			if (ev->wait_sipi || (cpu->halted && !atomic_load(&cpu->irq_pending)))
				continue;
			run_slice(e, ev, n > 1);
			ran = true;
		}
		/* A pause asked for mid-pass leaves vCPUs unexamined: all_dead
		 * then says nothing about them (prof's sampler once ended a
		 * running guest here as "halted"). */
		if (ran || vm_stopping(vm) || vm_pause_pending(vm) || vm_work_pending(vm))
			continue;
		if (all_dead) {
			bool pending = false;
			for (int i = 0; i < n; i++) {
				struct emu_vcpu *ev = vm->vcpus[i]->priv;
				pending |= atomic_load(&ev->init_pending) || atomic_load(&ev->sipi_vector) >= 0;
			}
			if (!pending) {
				fprintf(stderr, "guest halted with interrupts disabled\n");
				vm_request_exit(vm, 1);
				break;
			}
			continue;
		}
		pthread_mutex_lock(&e->lock);
		while (!e->kicked && !vm_stopping(vm) && !vm_pause_pending(vm) && !vm_work_pending(vm))
			pthread_cond_wait(&e->cond, &e->lock);
		pthread_mutex_unlock(&e->lock);
	}
	if (n > 1) {
		pthread_mutex_lock(&vm->io_lock);
		timer_cancel(&e->slice);
		pthread_mutex_unlock(&vm->io_lock);
	}
}

/* A synchronous run of one vCPU from inside vCPU work (vm_vcpu_run_here):
 * sliced, so that emu_yield() (vcpu_run_end, from any thread) and, with
 * more than one vCPU, run_all's slice timer bring the loop back to look at
 * done and the clock.  The slice timer is not armed here for one vCPU: a
 * new earliest deadline wakes the event loop, which cost a null SymCall
 * 4 us. */
static int emu_vcpu_run_here(struct vcpu *v, bool (*done)(void *arg), void *arg, uint64_t max_ns)
{
	struct vm *vm = v->vm;
	struct emu_engine *e = vm->engine_priv;
	struct emu_vcpu *ev = v->priv;
	uint64_t end = host_clock_ns() + max_ns;
	int rc = 1;

	while (!vm_stopping(vm)) {
		if (done(arg)) {
			rc = 0;
			break;
		}
		apply_init_sipi(ev);
		if (host_clock_ns() >= end || dead(ev))
			break;
		if (ev->cpu.halted && !atomic_load(&ev->cpu.irq_pending)) {
			struct timespec d = { 0, 50000 }; /* halted with interrupts on: let time bring one */
			nanosleep(&d, NULL);
			continue;
		}
		run_slice(e, ev, true);
	}
	return rc;
}

static void emu_vcpu_run_end(struct vcpu *v)
{
	struct emu_vcpu *ev = v->priv;
	if (ev)
		emu_yield(&ev->cpu);
}

static int emu_vcpu_run(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct emu_engine *e = vm->engine_priv;

	if (v->id == 0) {
		run_all(vm, e);
		return 0;
	}
	/* Other vCPUs run on vCPU 0's thread: this one only waits (and
	 * parks when asked, so that a pause counts every thread alike). */
	pthread_mutex_lock(&e->lock);
	while (!vm_stopping(vm)) {
		if (vm_pause_pending(vm)) {
			pthread_mutex_unlock(&e->lock);
			vm_vcpu_park(vm);
			pthread_mutex_lock(&e->lock);
			continue;
		}
		pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void emu_vcpu_stats(struct vcpu *v, device_stat_fn emit, void *ctx)
{
	struct emu_vcpu *ev = v->priv;
	if (!ev)
		return;
	emit(ctx, "instructions", ev->cpu.insn_count);
	emit(ctx, "instructions_user", ev->cpu.insn_user);
	emit(ctx, "instructions_kernel", ev->cpu.insn_count - ev->cpu.insn_user);
	emit(ctx, "run_ns", ev->run_ns);
	/* Guest time by privilege, and halted: host time, as the guest's CPU would count it. */
	emit(ctx, "user_ns", ev->cpu.user_ns);
	emit(ctx, "kernel_ns", ev->run_ns > ev->cpu.user_ns ? ev->run_ns - ev->cpu.user_ns : 0);
	uint64_t since = ev->halted_since;
	emit(ctx, "halted_ns", ev->halted_ns + (since ? host_clock_ns() - since : 0));
	emit(ctx, "slices", ev->slices);
	emit(ctx, "interrupts", ev->cpu.interrupts_delivered);
	emit(ctx, "exceptions", ev->cpu.exceptions_delivered);
	emit(ctx, "halted", ev->cpu.halted);
}

static void emu_vcpu_kick(struct vcpu *v)
{
	struct emu_vcpu *ev = v->priv;
	if (ev && replay_defer_pending(v->vm))
		atomic_store(&ev->cpu.irq_pending, true); /* recording: device input waits for the check */
	if (ev && (vm_pause_pending(v->vm) || vm_work_pending(v->vm))) {
		/* end the slice it may be running at the next block boundary */
		atomic_store(&ev->slice_over, true);
		atomic_store(&ev->cpu.irq_pending, true);
	}
	wake_runner(v->vm->engine_priv);
}

static void emu_vcpu_destroy(struct vcpu *v)
{
	struct emu_vcpu *ev = v->priv;
	if (!ev)
		return;
	if (v->vm)
		pthread_mutex_lock(&v->vm->io_lock);
	lapic_destroy(ev->cpu.lapic);
	if (v->vm)
		pthread_mutex_unlock(&v->vm->io_lock);
	emu_blocks_free(&ev->cpu);
	free(ev);
	v->priv = NULL;
}

static void emu_destroy(struct vm *vm)
{
	struct emu_engine *e = vm->engine_priv;
	if (!e)
		return;
	pthread_mutex_lock(&vm->io_lock);
	timer_cancel(&e->slice);
	pthread_mutex_unlock(&vm->io_lock);
	emu_dma_destroy(&e->dma);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
	vm->engine_priv = NULL;
}

static uint64_t emu_vcpu_insn_count(struct vcpu *v)
{
	return ((struct emu_vcpu *)v->priv)->cpu.insn_count;
}

static void emu_vcpu_rr_save(struct vcpu *v, struct engine_rr_extra *x)
{
	const struct emu_cpu *cpu = &((struct emu_vcpu *)v->priv)->cpu;
	*x = (struct engine_rr_extra){ .insn_count = cpu->insn_count,
		                       .insn_user = cpu->insn_user,
		                       .rep_yield_at = cpu->rep_yield_at };
}

static void emu_vcpu_rr_load(struct vcpu *v, const struct engine_rr_extra *x)
{
	struct emu_cpu *cpu = &((struct emu_vcpu *)v->priv)->cpu;
	cpu->insn_count = x->insn_count;
	cpu->insn_user = x->insn_user;
	cpu->rep_yield_at = x->rep_yield_at;
	cpu->insn_stop_inv = ~cpu->insn_count; /* look at the log's next event from here */
	atomic_store(&cpu->irq_pending, true);
}

/* The registers a replay must reproduce, hashed (the x87/SSE state and the
 * MSRs are left out: a difference there shows in the GPRs soon after). */
static uint64_t emu_vcpu_state_hash(struct vcpu *v, uint64_t *rip)
{
	struct emu_cpu *cpu = &((struct emu_vcpu *)v->priv)->cpu;
	uint64_t h = RR_HASH_INIT, w[8] = { cpu->rip, emu_get_rflags(cpu), cpu->cr0,       cpu->cr2, cpu->cr3,
		                            cpu->cr4, cpu->efer,           cpu->insn_count };

	h = rr_hash(h, cpu->gpr, sizeof(cpu->gpr));
	h = rr_hash(h, w, sizeof(w));
	for (int i = 0; i < 6; i++) {
		uint64_t sb[2] = { cpu->seg[i].sel, cpu->seg[i].base };
		h = rr_hash(h, sb, sizeof(sb));
	}
	*rip = cpu->rip;
	return h;
}

static int emu_vcpu_cpuid(struct vcpu *v, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	emu_cpuid(v->priv, leaf, sub, out);
	return 0;
}

/* ---- dirty page log (live migration) ---- */

/* Every TLB's write tags send the next write to each page to the slow
 * path, which marks it in vm->dirty_bits (mmu.c): done with the vCPUs
 * parked, in the same step as the log is taken, so that no page is taken
 * clean while a TLB still writes it on the fast path. */
static int protect_all_and_take(struct vm *vm, uint64_t *out, char *err, size_t errlen)
{
	if (vm_pause_hold(vm, false) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->priv)
			emu_tlb_protect_all(emu_cpu_of(vm->vcpus[i]));
	if (out)
		vm_dirty_take(vm, out);
	vm_resume_hold(vm, false);
	return 0;
}

/* Every vCPU runs on one thread: called there or with it parked. */
static void emu_dirty_rearm(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->priv)
			emu_tlb_protect_all(emu_cpu_of(vm->vcpus[i]));
}

static int emu_dirty_log(struct vm *vm, bool on, char *err, size_t errlen)
{
	/* Off: nothing to undo; a protected page is unprotected by its next
	 * write once no page counts as clean. */
	return on ? protect_all_and_take(vm, NULL, err, errlen) : 0;
}

static int emu_dirty_collect(struct vm *vm, uint64_t *bits, char *err, size_t errlen)
{
	return protect_all_and_take(vm, bits, err, errlen);
}

const struct engine_ops emu_engine_ops = {
	.name = "emu",
	.has_irqchip = false,
	.runs_work = true,
	.events = SYM_EV_VCPU_MASK, /* every vCPU event, from the executor (events.c) */
	.init = emu_init,
	.extint = emu_extint,
	.msi = emu_msi,
	.vcpu_init = emu_vcpu_init,
	.vcpu_set_state = emu_vcpu_set_state,
	.vcpu_get_state = emu_vcpu_get_state,
	.vcpu_get_parts = emu_vcpu_get_parts,
	.vcpu_run_here = emu_vcpu_run_here,
	.vcpu_run_end = emu_vcpu_run_end,
	.vcpu_run = emu_vcpu_run,
	.vcpu_kick = emu_vcpu_kick,
	.vcpu_stats = emu_vcpu_stats,
	.vcpu_destroy = emu_vcpu_destroy,
	.destroy = emu_destroy,
	.mem_written = emu_mem_written,
	.watch_changed = emu_watch_changed,
	.vcpu_cpuid = emu_vcpu_cpuid,
	.dirty_log = emu_dirty_log,
	.dirty_collect = emu_dirty_collect,
	.vcpu_insn_count = emu_vcpu_insn_count,
	.vcpu_state_hash = emu_vcpu_state_hash,
	.vcpu_rr_save = emu_vcpu_rr_save,
	.vcpu_rr_load = emu_vcpu_rr_load,
	.dirty_rearm = emu_dirty_rearm,
};
