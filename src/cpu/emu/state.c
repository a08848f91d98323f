/* State exchange of an emu vCPU with struct x86_state: the registers and
 * every part (MSRs, x87/SSE image, debug registers, events, local APIC),
 * in both directions.  The run state around it (waiting for SIPI) is the
 * scheduler's, in engine.c. */
#include <stddef.h>
#include <string.h>

#include "cpu/emu/sys.h"

/* The registers, then the parts s carries (x86_state.parts).  The vCPU's
 * run state (halted, waiting for SIPI) is the engine's: emu_vcpu_set_state
 * applies it. */
int emu_cpu_set_state(struct emu_cpu *cpu, const struct x86_state *s)
{
	/* What the TLB's translations were made under: the page tables (CR3),
	 * the paging controls (CR0, CR4, EFER), where the LAPIC page is, and
	 * the protection keys' rights (PKRU, with the FPU part). */
	bool same_tables = cpu->cr3 == s->cr3;
	bool same_paging = cpu->cr0 == s->cr0 && cpu->cr4 == s->cr4 && cpu->efer == s->efer &&
	                   (!s->apic_base || cpu->apic_base == s->apic_base) &&
	                   (!(s->parts & X86_STATE_FPU) || cpu->pkru == s->pkru);
	uint64_t xcr0 = s->xcr0 ? s->xcr0 : 1;

	if ((s->parts & X86_STATE_FPU) && (!emu_xcr0_valid(xcr0) || emu_fpu_load(cpu, s->fxsave) < 0))
		return -1; /* MXCSR bits or XCR0 features this CPU does not have */
	if (s->parts & X86_STATE_FPU) {
		cpu->xcr0 = xcr0;
		cpu->pkru = s->pkru; /* (a change of it flushes the TLB below) */
		memcpy(cpu->ymmh, s->ymmh, sizeof(cpu->ymmh));
	}
	memcpy(cpu->gpr, s->gpr, sizeof(cpu->gpr));
	cpu->rip = cpu->next_rip = s->rip;
	memcpy(cpu->seg, s->seg, sizeof(cpu->seg));
	cpu->tr = s->tr;
	cpu->ldt = s->ldt;
	cpu->gdt = s->gdt;
	cpu->idt = s->idt;
	cpu->cr0 = s->cr0;
	cpu->cr2 = s->cr2;
	cpu->cr3 = s->cr3;
	cpu->cr4 = s->cr4;
	cpu->cr8 = s->cr8;
	cpu->efer = s->efer;
	if (s->apic_base)
		cpu->apic_base = s->apic_base;
	emu_set_rflags(cpu, s->rflags);
	if (cpu->lapic)
		lapic_set_tpr(cpu->lapic, (uint8_t)(s->cr8 << 4));
	cpu->interrupt_shadow = false;
	cpu->dr6_deferred = 0;
	cpu->rep_yield_at = 0;
	cpu->halted = false;
	cpu->exc_depth = 0;
	cpu->inject.valid = false;
	if (s->parts & X86_STATE_MSRS)
		emu_msr_set_state(cpu, &s->msr);
	if (s->parts & X86_STATE_DEBUG) {
		memcpy(cpu->dr, s->dr, sizeof(s->dr));
		cpu->dr[6] = s->dr6;
		cpu->dr[7] = s->dr7;
		emu_dr_update(cpu);
	}
	if ((s->parts & X86_STATE_LAPIC) && cpu->lapic)
		lapic_set_regs(cpu->lapic, s->lapic);
	if ((s->parts & X86_STATE_MSRS) && cpu->lapic)
		lapic_set_tsc_deadline(cpu->lapic, s->msr.tsc_deadline);
	if (s->parts & X86_STATE_EVENTS) {
		const struct x86_events *e = &s->ev;
		cpu->interrupt_shadow = e->interrupt_shadow;
		cpu->nmi_pending = e->nmi_pending;
		cpu->nmi_blocked = e->nmi_masked;
		cpu->nmi_latched = false; /* the state has one pending NMI at most */
		cpu->halted = e->mp_state == X86_MP_HALTED;
		/* A software interrupt KVM had chosen is not re-injected: RIP
		 * is still at the INT instruction, which runs again. */
		if (e->exception_injected)
			cpu->inject = (typeof(cpu->inject)){ true, true, e->exception_has_error, e->exception_nr,
				                             e->exception_error };
		else if (e->interrupt_injected && !e->interrupt_soft)
			cpu->inject = (typeof(cpu->inject)){ true, false, false, e->interrupt_nr, 0 };
	}
	emu_update_mode(cpu);
	/* A state swapped in over the same memory (a SymCall's entry and
	 * return) keeps the TLB as a VM entry keeps the real one: with the
	 * same page tables and paging controls every entry still holds (a
	 * CPL change needs no flush, mmu.h); other page tables drop the
	 * non-global entries, as a MOV to CR3 does.  Anything else (new RAM,
	 * other paging controls) starts the TLB empty. */
	if (!(s->parts & X86_STATE_SAME_MEMORY) || !same_paging)
		emu_tlb_flush(cpu, true);
	else if (!same_tables)
		emu_tlb_flush(cpu, false);
	/* decoded blocks are keyed by guest-physical address and code mode,
	 * and dropped when their code is written: only new RAM (a restore)
	 * makes them stale */
	if (cpu->blocks && !(s->parts & X86_STATE_SAME_MEMORY))
		emu_blocks_flush(cpu);
	atomic_store(&cpu->irq_pending, true); /* look at what arrived with the state */
	return 0;
}

static void get_events(const struct emu_cpu *cpu, struct x86_events *e)
{
	e->interrupt_shadow = cpu->interrupt_shadow;
	e->nmi_pending = cpu->nmi_pending;
	e->nmi_masked = cpu->nmi_blocked;
	if (cpu->inject.valid) {
		e->exception_injected = cpu->inject.exception;
		e->interrupt_injected = !cpu->inject.exception;
		e->exception_nr = e->interrupt_nr = cpu->inject.vector;
		e->exception_has_error = cpu->inject.has_error;
		e->exception_error = cpu->inject.error;
	}
	e->mp_state = cpu->halted ? X86_MP_HALTED : X86_MP_RUNNABLE;
}

void emu_cpu_get_state(struct emu_cpu *cpu, struct x86_state *s)
{
	emu_cpu_get_parts(cpu, s, X86_STATE_ALL);
}

void emu_cpu_get_parts(struct emu_cpu *cpu, struct x86_state *s, uint32_t parts)
{
	/* the registers zeroed (padding and fields the engine lacks); the
	 * parts not asked for are left as they were, unread */
	memset(s, 0, offsetof(struct x86_state, msr));
	memcpy(s->gpr, cpu->gpr, sizeof(s->gpr));
	s->rip = cpu->rip;
	s->rflags = emu_get_rflags(cpu);
	memcpy(s->seg, cpu->seg, sizeof(s->seg));
	s->tr = cpu->tr;
	s->ldt = cpu->ldt;
	s->gdt = cpu->gdt;
	s->idt = cpu->idt;
	s->cr0 = cpu->cr0;
	s->cr2 = cpu->cr2;
	s->cr3 = cpu->cr3;
	s->cr4 = cpu->cr4;
	s->cr8 = cpu->lapic ? lapic_get_tpr(cpu->lapic) >> 4 : cpu->cr8;
	s->efer = cpu->efer;
	s->apic_base = cpu->apic_base;

	/* the parts only as asked: the 1 KiB LAPIC page, the MSRs (MTRRs
	 * among them) and the FPU image cost most */
	s->parts = parts & (X86_STATE_MSRS | X86_STATE_FPU | X86_STATE_DEBUG | X86_STATE_EVENTS);
	if (parts & X86_STATE_MSRS) {
		memset(&s->msr, 0, sizeof(s->msr));
		emu_msr_get_state(cpu, &s->msr);
	}
	if (parts & X86_STATE_FPU) {
		memset(s->fxsave, 0, sizeof(s->fxsave));
		emu_fpu_save(cpu, s->fxsave);
		s->xcr0 = cpu->xcr0;
		s->pkru = cpu->pkru;
		memcpy(s->ymmh, cpu->ymmh, sizeof(s->ymmh));
	}
	if (parts & X86_STATE_DEBUG) {
		memcpy(s->dr, cpu->dr, sizeof(s->dr));
		s->dr6 = cpu->dr[6];
		s->dr7 = cpu->dr[7];
	}
	if (parts & X86_STATE_EVENTS) {
		memset(&s->ev, 0, sizeof(s->ev));
		get_events(cpu, &s->ev);
	}
	if (cpu->lapic && (parts & X86_STATE_LAPIC)) {
		memset(s->lapic, 0, sizeof(s->lapic));
		lapic_get_regs(cpu->lapic, s->lapic);
		s->parts |= X86_STATE_LAPIC;
	}
}
