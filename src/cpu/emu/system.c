/* System instructions: control and debug registers, RDMSR/WRMSR (the MSRs
 * themselves are in msr.c), CPUID, TSC,
 * SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS, CLI/STI, PUSHF/POPF, HLT, port
 * I/O with the IOPL and TSS bitmap checks, INT n, INVLPG, and the selector
 * the decoder asks for every system opcode (emu_sys_select).
 *
 * TLB rules: a CR3 write drops non-global entries; toggling CR4.PGE/PAE/PSE,
 * CR0.PG/WP/PE or EFER.NXE drops everything. */
#include <stdio.h>
#include <string.h>

#include "cpu/emu/fpu.h"
#include "cpu/emu/ops.h"
#include "cpu/emu/sys.h"
#include "symbiont/event.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

#define H(name) static void name(struct emu_cpu *cpu, const struct emu_insn *in)

/* VME..OSXMMEXCPT (no PVI), UMIP, PCIDE, OSXSAVE, SMEP, SMAP, PKE */
#define CR4_VALID ((0x7ffULL & ~(1ULL << 1)) | CR4_UMIP | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP | CR4_SMAP | CR4_PKE)
#define CR4_DE    (1ULL << 3)
#define CR4_TSD   (1ULL << 2)

static void need_cpl0(struct emu_cpu *cpu)
{
	if (cpu->cpl != 0)
		emu_raise_err(cpu, EXC_GP, 0);
}

/* ---- TSC ------------------------------------------------------------------ */

uint64_t emu_rdtsc(struct emu_cpu *cpu)
{
	return vm_now(cpu->vm) * (EMU_TSC_HZ / 1000000000ULL) + cpu->tsc_offset;
}

/* The TSC as an instruction reads it: host time, so logged when recording
 * and taken from the log when replaying. */
uint64_t emu_rdtsc_guest(struct emu_cpu *cpu)
{
	uint64_t t = emu_rdtsc(cpu);
	return unlikely(cpu->vm && cpu->vm->replay) ? replay_tsc(cpu->vm, t) : t;
}

/* ---- control registers -------------------------------------------------------- */

void emu_set_cr0(struct emu_cpu *cpu, uint64_t v)
{
	uint64_t old = cpu->cr0;

	if (v >> 32)
		emu_raise_err(cpu, EXC_GP, 0);
	v |= CR0_ET;
	if ((v & CR0_PG) && !(v & CR0_PE))
		emu_raise_err(cpu, EXC_GP, 0);
	if ((v & CR0_NW) && !(v & CR0_CD))
		emu_raise_err(cpu, EXC_GP, 0);
	if ((v & CR0_PG) && !(old & CR0_PG) && (cpu->efer & EFER_LME)) {
		if (!(cpu->cr4 & CR4_PAE) || cpu->seg[SEG_CS].l)
			emu_raise_err(cpu, EXC_GP, 0);
		cpu->efer |= EFER_LMA;
	}
	if (!(v & CR0_PG) && (old & CR0_PG) && (cpu->efer & EFER_LMA)) {
		if (cpu->code_mode == EMU_MODE64 || (cpu->cr4 & CR4_PCIDE))
			emu_raise_err(cpu, EXC_GP, 0);
		cpu->efer &= ~EFER_LMA;
	}
	cpu->cr0 = v;
	if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
		emu_tlb_flush(cpu, true);
	emu_update_mode(cpu);
	cpu->exit_block = true;
}

void emu_set_cr4(struct emu_cpu *cpu, uint64_t v)
{
	uint64_t old = cpu->cr4;

	if (v & ~CR4_VALID)
		emu_raise_err(cpu, EXC_GP, 0);
	if ((cpu->efer & EFER_LMA) && !(v & CR4_PAE))
		emu_raise_err(cpu, EXC_GP, 0);
	/* PCIDE: in long mode only, and set only while CR3's PCID is 0 */
	if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) && (!(cpu->efer & EFER_LMA) || (cpu->cr3 & 0xfff)))
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->cr4 = v;
	if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_PCIDE | CR4_PKE))
		emu_tlb_flush(cpu, true);
	emu_mmu_update_smap(cpu);
	cpu->exit_block = true;
}

/* With CR4.PCIDE, CR3[11:0] is the PCID and bit 63 asks to keep that
 * PCID's TLB entries: a hint, as emu keeps one set of entries for all
 * PCIDs and flushes them (all but global ones) on every CR3 write. */
void emu_set_cr3(struct emu_cpu *cpu, uint64_t v)
{
	if (cpu->cr4 & CR4_PCIDE)
		v &= ~(1ULL << 63);
	if (cpu->long_mode && (v >> EMU_PHYS_BITS))
		emu_raise_err(cpu, EXC_GP, 0);
	if (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_CR3_WRITE))
		emu_event_cr3(cpu, cpu->cr3, cpu->long_mode ? v : (uint32_t)v);
	cpu->cr3 = cpu->long_mode ? v : (uint32_t)v;
	emu_tlb_flush(cpu, false);
}

static uint64_t get_cr8(struct emu_cpu *cpu)
{
	return cpu->lapic ? lapic_get_tpr(cpu->lapic) >> 4 : cpu->cr8;
}

/* 0F 20 / 0F 22: MOV r, CRn / MOV CRn, r.  ModRM.mod is ignored. */
H(op_mov_cr)
{
	unsigned n = in->reg, sz = cpu->code_mode == EMU_MODE64 ? 8 : 4;
	uint64_t v;

	if (cpu->rflags & RFLAGS_VM)
		emu_raise_err(cpu, EXC_GP, 0);
	need_cpl0(cpu);
	if (n != 0 && n != 2 && n != 3 && n != 4 && !(n == 8 && cpu->code_mode == EMU_MODE64))
		emu_raise(cpu, EXC_UD);
	if (in->opcode == 0x20) {
		switch (n) {
		case 0: v = cpu->cr0; break;
		case 2: v = cpu->cr2; break;
		case 3: v = cpu->cr3; break;
		case 4: v = cpu->cr4; break;
		default: v = get_cr8(cpu); break;
		}
		reg_write_v(cpu, in->rm, v, sz);
		return;
	}
	v = cpu->gpr[in->rm] & sz_mask(sz);
	switch (n) {
	case 0: emu_set_cr0(cpu, v); break;
	case 2: cpu->cr2 = v; break;
	case 3: emu_set_cr3(cpu, v); break;
	case 4: emu_set_cr4(cpu, v); break;
	default:
		if (v & ~0xfULL)
			emu_raise_err(cpu, EXC_GP, 0);
		cpu->cr8 = v;
		if (cpu->lapic)
			lapic_set_tpr(cpu->lapic, (uint8_t)(v << 4));
		atomic_store(&cpu->irq_pending, true);
		break;
	}
}

/* 0F 21 / 0F 23: MOV r, DRn / MOV DRn, r. */
H(op_mov_dr)
{
	unsigned n = in->reg, sz = cpu->code_mode == EMU_MODE64 ? 8 : 4;

	need_cpl0(cpu);
	if (n > 7)
		emu_raise(cpu, EXC_UD);
	if (n == 4 || n == 5) {
		if (cpu->cr4 & CR4_DE)
			emu_raise(cpu, EXC_UD);
		n += 2;
	}
	if (cpu->dr[7] & DR7_GD) { /* general detect: a fault before the access; delivery clears GD */
		cpu->dr[6] |= DR6_BD;
		emu_raise(cpu, EXC_DB);
	}
	if (in->opcode == 0x21) {
		uint64_t v = cpu->dr[n];
		if (n == 6)
			v = (v & 0xe00f) | 0xffff0ff0;
		else if (n == 7)
			v = (v & ~0xd800ULL) | 0x400;
		reg_write_v(cpu, in->rm, v, sz);
	} else {
		uint64_t v = cpu->gpr[in->rm] & sz_mask(sz);
		if ((n == 6 || n == 7) && (v >> 32))
			emu_raise_err(cpu, EXC_GP, 0);
		cpu->dr[n] = v;
		if (n <= 3 || n == 7) {
			emu_dr_update(cpu);
			cpu->exit_block = true; /* the next instruction is matched against it */
		}
	}
}

H(op_clts)
{
	(void)in;
	need_cpl0(cpu);
	cpu->cr0 &= ~CR0_TS;
}

H(op_wbinvd)
{
	(void)in;
	need_cpl0(cpu);
}

H(op_rdmsr)
{
	uint64_t v;
	(void)in;
	need_cpl0(cpu);
	if (!emu_msr_read(cpu, (uint32_t)cpu->gpr[X86_RCX], &v))
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->gpr[X86_RAX] = (uint32_t)v;
	cpu->gpr[X86_RDX] = v >> 32;
}

H(op_wrmsr)
{
	uint64_t v = (uint32_t)cpu->gpr[X86_RAX] | (cpu->gpr[X86_RDX] << 32);
	(void)in;
	need_cpl0(cpu);
	if (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_MSR_WRITE) &&
	    !emu_event_wrmsr(cpu, (uint32_t)cpu->gpr[X86_RCX], &v)) {
		cpu->exit_block = true;
		return; /* a subscriber refused the write */
	}
	if (!emu_msr_write(cpu, (uint32_t)cpu->gpr[X86_RCX], v))
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->exit_block = true;
}

H(op_rdtsc)
{
	uint64_t t;
	(void)in;
	if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
		emu_raise_err(cpu, EXC_GP, 0);
	t = emu_rdtsc_guest(cpu);
	cpu->gpr[X86_RAX] = (uint32_t)t;
	cpu->gpr[X86_RDX] = t >> 32;
}

H(op_rdtscp)
{
	op_rdtsc(cpu, in);
	cpu->gpr[X86_RCX] = (uint32_t)cpu->tsc_aux;
}

/* F3 0F C7 /7 (register): RDPID, IA32_TSC_AUX at any CPL; 64-bit in
 * 64-bit mode whatever REX.W says, else 32-bit. */
H(op_rdpid)
{
	cpu->gpr[in->rm] = cpu->code_mode == EMU_MODE64 ? cpu->tsc_aux : (uint32_t)cpu->tsc_aux;
}

/* 66 0F 38 82: INVPCID r, m128 (type in the register, PCID and address
 * in memory).  One TLB for every PCID: each type flushes at least what it
 * must (an address's page in all PCIDs, or every non-global entry). */
void op_invpcid(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t type = cpu->code_mode == EMU_MODE64 ? cpu->gpr[in->reg] : (uint32_t)cpu->gpr[in->reg];
	uint64_t ea = emu_ea(cpu, in), desc[2];

	need_cpl0(cpu);
	emu_read_bytes(cpu, in->seg, ea, desc, 16);
	if (type > 3 || (desc[0] >> 12))
		emu_raise_err(cpu, EXC_GP, 0);
	if (type <= 1 && !(cpu->cr4 & CR4_PCIDE) && (desc[0] & 0xfff))
		emu_raise_err(cpu, EXC_GP, 0);
	if (type == 0) {
		if ((uint64_t)((int64_t)(desc[1] << 16) >> 16) != desc[1])
			emu_raise_err(cpu, EXC_GP, 0);
		emu_tlb_flush_page(cpu, desc[1]);
	} else {
		emu_tlb_flush(cpu, type == 2);
	}
	cpu->exit_block = true;
}

H(op_rdpmc)
{
	(void)in;
	emu_raise_err(cpu, EXC_GP, 0);
}

H(op_cpuid)
{
	uint32_t r[4];
	(void)in;
	emu_cpuid(cpu, (uint32_t)cpu->gpr[X86_RAX], (uint32_t)cpu->gpr[X86_RCX], r);
	cpu->gpr[X86_RAX] = r[0];
	cpu->gpr[X86_RBX] = r[1];
	cpu->gpr[X86_RCX] = r[2];
	cpu->gpr[X86_RDX] = r[3];
}

/* ---- fast system calls ------------------------------------------------------------------ */

static void flat_seg(struct x86_seg *s, uint16_t sel, bool code, bool l64, unsigned dpl)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->limit = 0xffffffff;
	s->type = code ? 0xb : 3;
	s->s = 1;
	s->dpl = (uint8_t)dpl;
	s->present = 1;
	s->g = 1;
	s->l = l64;
	s->db = !l64;
}

H(op_syscall)
{
	uint16_t sel = (uint16_t)(cpu->star >> 32);
	uint64_t fl = emu_get_rflags(cpu);
	(void)in;

	if (!(cpu->efer & EFER_SCE) || !(cpu->cr0 & CR0_PE))
		emu_raise(cpu, EXC_UD);
	if (cpu->cpl == 3 && cpu->code_mode == EMU_MODE64 && cpu->vm &&
	    (vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_ENTER) || vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT)) &&
	    emu_event_syscall(cpu))
		return;
	if (cpu->long_mode) {
		cpu->gpr[X86_RCX] = cpu->next_rip;
		cpu->gpr[11] = fl & ~RFLAGS_RF;
		flat_seg(&cpu->seg[SEG_CS], sel & ~3, true, true, 0);
		flat_seg(&cpu->seg[SEG_SS], (sel + 8) & ~3, false, false, 0);
		emu_set_rflags(cpu, fl & ~(cpu->sfmask | RFLAGS_RF));
		cpu->next_rip = cpu->code_mode == EMU_MODE64 ? cpu->lstar : cpu->cstar;
	} else {
		cpu->gpr[X86_RCX] = (uint32_t)cpu->next_rip;
		flat_seg(&cpu->seg[SEG_CS], sel & ~3, true, false, 0);
		flat_seg(&cpu->seg[SEG_SS], (sel + 8) & ~3, false, false, 0);
		emu_set_rflags(cpu, fl & ~(RFLAGS_VM | RFLAGS_IF | RFLAGS_RF));
		cpu->next_rip = (uint32_t)cpu->star;
	}
	emu_update_mode(cpu);
}

H(op_sysret)
{
	uint16_t sel = (uint16_t)(cpu->star >> 48);
	bool to64 = in->opsize == 8;

	if (!(cpu->efer & EFER_SCE) || !(cpu->cr0 & CR0_PE))
		emu_raise(cpu, EXC_UD);
	need_cpl0(cpu);
	if (cpu->long_mode) {
		if (to64 && !emu_canonical(cpu->gpr[X86_RCX]))
			emu_raise_err(cpu, EXC_GP, 0);
		if (to64)
			flat_seg(&cpu->seg[SEG_CS], (sel + 16) | 3, true, true, 3);
		else
			flat_seg(&cpu->seg[SEG_CS], sel | 3, true, false, 3);
		emu_set_rflags(cpu, (cpu->gpr[11] & 0x3c7fd7) | RFLAGS_FIXED);
		cpu->next_rip = to64 ? cpu->gpr[X86_RCX] : (uint32_t)cpu->gpr[X86_RCX];
	} else {
		flat_seg(&cpu->seg[SEG_CS], sel | 3, true, false, 3);
		emu_set_rflags(cpu, emu_get_rflags(cpu) | RFLAGS_IF);
		cpu->next_rip = (uint32_t)cpu->gpr[X86_RCX];
	}
	/* SS keeps its cached attributes except selector and DPL. */
	cpu->seg[SEG_SS].sel = (uint16_t)((sel + 8) | 3);
	cpu->seg[SEG_SS].dpl = 3;
	cpu->seg[SEG_SS].unusable = 0;
	cpu->seg[SEG_SS].present = 1;
	cpu->seg[SEG_SS].s = 1;
	cpu->seg[SEG_SS].type = 3;
	cpu->seg[SEG_SS].db = 1;
	cpu->seg[SEG_SS].base = 0;
	cpu->seg[SEG_SS].limit = 0xffffffff;
	emu_update_mode(cpu);
	atomic_store(&cpu->irq_pending, true);
	if (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT))
		emu_event_user_return(cpu);
}

H(op_sysenter)
{
	uint16_t sel = (uint16_t)cpu->sysenter_cs;
	(void)in;
	if (!(cpu->cr0 & CR0_PE) || (sel & ~3) == 0)
		emu_raise_err(cpu, EXC_GP, 0);
	if (cpu->cpl == 3 && cpu->long_mode && cpu->code_mode != EMU_MODE64 && cpu->vm &&
	    (vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_ENTER) || vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT)) &&
	    emu_event_sysenter(cpu))
		return;
	emu_set_rflags(cpu, emu_get_rflags(cpu) & ~(RFLAGS_VM | RFLAGS_IF | RFLAGS_RF));
	flat_seg(&cpu->seg[SEG_CS], sel & ~3, true, cpu->long_mode, 0);
	flat_seg(&cpu->seg[SEG_SS], (sel + 8) & ~3, false, false, 0);
	cpu->gpr[X86_RSP] = cpu->long_mode ? cpu->sysenter_esp : (uint32_t)cpu->sysenter_esp;
	cpu->next_rip = cpu->long_mode ? cpu->sysenter_eip : (uint32_t)cpu->sysenter_eip;
	emu_update_mode(cpu);
}

H(op_sysexit)
{
	uint16_t sel = (uint16_t)cpu->sysenter_cs;
	bool to64 = in->opsize == 8;
	if (!(cpu->cr0 & CR0_PE) || (sel & ~3) == 0)
		emu_raise_err(cpu, EXC_GP, 0);
	need_cpl0(cpu);
	flat_seg(&cpu->seg[SEG_CS], (uint16_t)((sel + (to64 ? 32 : 16)) | 3), true, to64, 3);
	flat_seg(&cpu->seg[SEG_SS], (uint16_t)((sel + (to64 ? 40 : 24)) | 3), false, false, 3);
	cpu->gpr[X86_RSP] = to64 ? cpu->gpr[X86_RCX] : (uint32_t)cpu->gpr[X86_RCX];
	cpu->next_rip = to64 ? cpu->gpr[X86_RDX] : (uint32_t)cpu->gpr[X86_RDX];
	emu_update_mode(cpu);
	if (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT))
		emu_event_user_return(cpu);
}

/* ---- 0F 01 register forms and /4../7 ------------------------------------------------------ */

H(op_swapgs)
{
	uint64_t t;
	(void)in;
	if (cpu->code_mode != EMU_MODE64)
		emu_raise(cpu, EXC_UD);
	need_cpl0(cpu);
	t = cpu->seg[SEG_GS].base;
	cpu->seg[SEG_GS].base = cpu->kernel_gs_base;
	cpu->kernel_gs_base = t;
}

/* UMIP: SGDT, SIDT, SLDT, STR and SMSW only at CPL 0. */
void emu_umip_check(struct emu_cpu *cpu)
{
	if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
		emu_raise_err(cpu, EXC_GP, 0);
}

/* 0F 01 EE / EF: RDPKRU / WRPKRU, any CPL, with CR4.PKE. */
H(op_rdwrpkru)
{
	if (!(cpu->cr4 & CR4_PKE))
		emu_raise(cpu, EXC_UD);
	if ((uint32_t)cpu->gpr[X86_RCX] || ((in->modrm & 1) && (uint32_t)cpu->gpr[X86_RDX]))
		emu_raise_err(cpu, EXC_GP, 0);
	if (in->modrm & 1) {
		emu_set_pkru(cpu, (uint32_t)cpu->gpr[X86_RAX]);
	} else {
		cpu->gpr[X86_RAX] = cpu->pkru;
		cpu->gpr[X86_RDX] = 0;
	}
}

/* 0F 01 CA / CB: CLAC / STAC (SMAP), CPL 0 only. */
H(op_clac_stac)
{
	if (cpu->cpl > 0) /* (#UD, not #GP) */
		emu_raise(cpu, EXC_UD);
	uint64_t f = emu_get_rflags(cpu);
	emu_set_rflags(cpu, (in->modrm & 1) ? f | RFLAGS_AC : f & ~RFLAGS_AC);
}

H(op_smsw)
{
	emu_umip_check(cpu);
	if (in->has_mem)
		emu_write(cpu, in->seg, ea_of(cpu, in), cpu->cr0 & 0xffff, 2);
	else
		reg_write_v(cpu, in->rm, cpu->cr0, in->opsize);
}

H(op_lmsw)
{
	uint64_t v = rm_read(cpu, in, 2) & 0xf;
	need_cpl0(cpu);
	/* LMSW can set PE but not clear it. */
	emu_set_cr0(cpu, (cpu->cr0 & ~0xeULL) | v | (cpu->cr0 & CR0_PE));
}

H(op_invlpg)
{
	uint64_t la;
	need_cpl0(cpu);
	la = ea_of(cpu, in);
	if (cpu->code_mode == EMU_MODE64)
		la += in->seg >= SEG_FS ? cpu->seg[in->seg].base : 0;
	else
		la = (la + cpu->seg[in->seg].base) & 0xffffffffULL;
	emu_tlb_flush_page(cpu, la);
}

/* ---- interrupt flag, flags, HLT ----------------------------------------------------------- */

static unsigned iopl(const struct emu_cpu *cpu)
{
	return (cpu->rflags & RFLAGS_IOPL) >> 12;
}

H(op_cli)
{
	(void)in;
	if ((cpu->cr0 & CR0_PE) && (unsigned)cpu->cpl > iopl(cpu))
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->rflags &= ~RFLAGS_IF;
}

H(op_sti)
{
	(void)in;
	if ((cpu->cr0 & CR0_PE) && (unsigned)cpu->cpl > iopl(cpu))
		emu_raise_err(cpu, EXC_GP, 0);
	if (!(cpu->rflags & RFLAGS_IF)) {
		cpu->rflags |= RFLAGS_IF;
		cpu->interrupt_shadow = true;
		atomic_store(&cpu->irq_pending, true);
	}
	cpu->exit_block = true;
}

H(op_pushf)
{
	if ((cpu->rflags & RFLAGS_VM) && iopl(cpu) < 3)
		emu_raise_err(cpu, EXC_GP, 0);
	push(cpu, emu_get_rflags(cpu) & ~(RFLAGS_VM | RFLAGS_RF), in->opsize);
}

H(op_popf)
{
	unsigned sz = in->opsize;
	uint64_t v, old = emu_get_rflags(cpu), keep = RFLAGS_VM | RFLAGS_VIP | RFLAGS_VIF;

	if ((cpu->rflags & RFLAGS_VM) && iopl(cpu) < 3)
		emu_raise_err(cpu, EXC_GP, 0);
	v = stack_peek(cpu, 0, sz);
	if ((cpu->cr0 & CR0_PE) && cpu->cpl > 0) {
		keep |= RFLAGS_IOPL;
		if ((unsigned)cpu->cpl > iopl(cpu))
			keep |= RFLAGS_IF;
	}
	if (sz == 2)
		keep |= ~0xffffULL;
	v = ((v & ~keep) | (old & keep)) & ~RFLAGS_RF;
	v &= 0x3f7fd7 | keep;
	stack_adjust(cpu, sz);
	emu_set_rflags(cpu, v | RFLAGS_FIXED);
	if ((v & RFLAGS_IF) && !(old & RFLAGS_IF))
		atomic_store(&cpu->irq_pending, true);
	cpu->exit_block = true;
}

H(op_hlt)
{
	(void)in;
	need_cpl0(cpu);
	cpu->halted = true;
	cpu->exit_block = true;
}

/* ---- port I/O ------------------------------------------------------------------------------- */

/* CPL > IOPL (or VM86): the TSS I/O permission bitmap decides. */
static void io_check(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
	uint64_t base;
	uint16_t bits;

	if (!(cpu->cr0 & CR0_PE) || ((unsigned)cpu->cpl <= iopl(cpu) && !(cpu->rflags & RFLAGS_VM)))
		return;
	if (cpu->tr.unusable || (cpu->tr.type & 7) != 3 || cpu->tr.limit < 0x67) /* need a busy 32/64-bit TSS */
		emu_raise_err(cpu, EXC_GP, 0);
	base = emu_read_linear(cpu, cpu->tr.base + 0x66, 2, true);
	if (base + port / 8 + 1 > cpu->tr.limit)
		emu_raise_err(cpu, EXC_GP, 0);
	bits = (uint16_t)emu_read_linear(cpu, cpu->tr.base + base + port / 8, 2, true);
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		emu_raise_err(cpu, EXC_GP, 0);
}

static unsigned io_size(const struct emu_insn *in)
{
	if (!(in->opcode & 1))
		return 1;
	return in->opsize == 2 ? 2 : 4;
}

static void write_acc(struct emu_cpu *cpu, uint64_t v, unsigned size)
{
	if (size == 1)
		cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffULL) | (v & 0xff);
	else
		reg_write_v(cpu, X86_RAX, v, size);
}

static uint64_t pio_in(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
	if (unlikely(cpu->dr_io))
		emu_dr_io(cpu, port, size);
	if (!cpu->vm)
		return sz_mask(size);
	return vm_pio_read(cpu->vm, port, size) & sz_mask(size);
}

static void pio_out(struct emu_cpu *cpu, uint16_t port, uint64_t v, unsigned size)
{
	if (unlikely(cpu->dr_io))
		emu_dr_io(cpu, port, size);
	if (cpu->vm)
		vm_pio_write(cpu->vm, port, v & sz_mask(size), size);
}

/* E4..E7 (imm8 port), EC..EF (DX port). */
H(op_inout)
{
	unsigned size = io_size(in);
	uint16_t port = in->opcode >= 0xec ? (uint16_t)cpu->gpr[X86_RDX] : (uint16_t)in->imm;

	io_check(cpu, port, size);
	if (in->opcode & 2)
		pio_out(cpu, port, cpu->gpr[X86_RAX], size);
	else
		write_acc(cpu, pio_in(cpu, port, size), size);
	/* A device may have raised an interrupt or stopped the VM. */
	cpu->exit_block = true;
}

/* 6C/6D INS, 6E/6F OUTS, with REP. */
H(op_insouts)
{
	unsigned size = io_size(in), as = in->addrsize;
	bool out = in->opcode >= 0x6e, rep = (in->prefix & (PFX_REP | PFX_REPNE)) != 0;
	uint16_t port = (uint16_t)cpu->gpr[X86_RDX];
	int64_t step = (cpu->rflags & RFLAGS_DF) ? -(int64_t)size : (int64_t)size;
	unsigned ireg = out ? X86_RSI : X86_RDI;
	unsigned budget = 4096; /* iterations before letting interrupts in */

	io_check(cpu, port, size);
	for (;;) {
		uint64_t idx;
		if (rep && reg_read_a(cpu, X86_RCX, as) == 0)
			break;
		idx = reg_read_a(cpu, ireg, as);
		if (out)
			pio_out(cpu, port, emu_read(cpu, in->seg, idx, size), size);
		else
			emu_write(cpu, SEG_ES, idx, pio_in(cpu, port, size), size);
		reg_write_a(cpu, ireg, (idx + step) & sz_mask(as), as);
		if (!rep)
			break;
		reg_write_a(cpu, X86_RCX, (reg_read_a(cpu, X86_RCX, as) - 1) & sz_mask(as), as);
		if ((--budget == 0 || cpu->dr_hit) && reg_read_a(cpu, X86_RCX, as) != 0) {
			emu_rep_yield(cpu); /* resume the REP later */
			break;
		}
	}
	cpu->exit_block = true;
}

/* ---- software interrupts -------------------------------------------------------------------------- */

H(op_int)
{
	if ((cpu->rflags & RFLAGS_VM) && iopl(cpu) < 3)
		emu_raise_err(cpu, EXC_GP, 0);
	if ((in->imm & 0xff) == 0x80 && cpu->cpl == 3 && cpu->long_mode && cpu->vm &&
	    (vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_ENTER) || vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT)) &&
	    emu_event_int80(cpu))
		return;
	emu_deliver_interrupt(cpu, (int)(in->imm & 0xff), true);
}

H(op_int3)
{
	(void)in;
	emu_deliver_interrupt(cpu, EXC_BP, true);
}

H(op_into)
{
	(void)in;
	if (emu_get_rflags(cpu) & (1u << 11))
		emu_deliver_interrupt(cpu, EXC_OF, true);
}

H(op_int1)
{
	(void)in;
	emu_deliver_int1(cpu);
}

/* 62: BOUND r, m (legacy modes). */
H(op_bound)
{
	unsigned sz = in->opsize == 2 ? 2 : 4;
	uint64_t ea;
	int64_t idx, lo, hi;
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	ea = ea_of(cpu, in);
	idx = sz_sext(cpu->gpr[in->reg], sz);
	lo = sz_sext(emu_read(cpu, in->seg, ea, sz), sz);
	hi = sz_sext(emu_read(cpu, in->seg, (ea + sz) & sz_mask(in->addrsize), sz), sz);
	if (idx < lo || idx > hi)
		emu_raise(cpu, EXC_BR);
}

/* ---- selector ---------------------------------------------------------------------------------- */

static emu_exec_fn grp7(const struct emu_insn *in)
{
	unsigned r = (in->modrm >> 3) & 7, rm = in->modrm & 7;
	bool mem = (in->modrm >> 6) != 3;

	if (mem) {
		switch (r) {
		case 4: return op_smsw;
		case 6: return op_lmsw;
		case 7: return op_invlpg;
		}
		return NULL; /* /0../3 handled by seg.c; /5 nothing */
	}
	switch (r) {
	case 1:
		if ((rm == 2 || rm == 3) && !(in->prefix & (PFX_OPSIZE | PFX_REP | PFX_REPNE)))
			return op_clac_stac;
		return NULL;
	case 2:
		if (rm == 0 && !(in->prefix & (PFX_OPSIZE | PFX_REP | PFX_REPNE)))
			return emu_xgetbv;
		if (rm == 1 && !(in->prefix & (PFX_OPSIZE | PFX_REP | PFX_REPNE)))
			return emu_xsetbv;
		return NULL;
	case 4: return op_smsw;
	case 5:
		if ((rm == 6 || rm == 7) && !(in->prefix & (PFX_OPSIZE | PFX_REP | PFX_REPNE)))
			return op_rdwrpkru;
		return NULL;
	case 6: return op_lmsw;
	case 7:
		if (rm == 0)
			return op_swapgs;
		if (rm == 1)
			return op_rdtscp;
		return NULL;
	}
	return NULL; /* VMX, MONITOR/MWAIT, CLAC/STAC...: not advertised */
}

emu_exec_fn emu_sys_select(const struct emu_insn *in)
{
	emu_exec_fn fn = emu_seg_select(in);

	if (fn)
		return fn;
	if (in->map == 0) {
		switch (in->opcode) {
		case 0x62: return op_bound;
		case 0x6c:
		case 0x6d:
		case 0x6e:
		case 0x6f: return op_insouts;
		case 0x9c: return op_pushf;
		case 0x9d: return op_popf;
		case 0xcc: return op_int3;
		case 0xcd: return op_int;
		case 0xce: return op_into;
		case 0xe4:
		case 0xe5:
		case 0xe6:
		case 0xe7:
		case 0xec:
		case 0xed:
		case 0xee:
		case 0xef: return op_inout;
		case 0xf1: return op_int1;
		case 0xf4: return op_hlt;
		case 0xfa: return op_cli;
		case 0xfb: return op_sti;
		}
		return NULL;
	}
	if (in->map == 1) {
		switch (in->opcode) {
		case 0x01: return grp7(in);
		case 0x05: return op_syscall;
		case 0x06: return op_clts;
		case 0x07: return op_sysret;
		case 0x08:
		case 0x09: return op_wbinvd;
		case 0x20:
		case 0x22: return op_mov_cr;
		case 0x21:
		case 0x23: return op_mov_dr;
		case 0x30: return op_wrmsr;
		case 0x31: return op_rdtsc;
		case 0x32: return op_rdmsr;
		case 0x33: return op_rdpmc;
		case 0x34: return op_sysenter;
		case 0x35: return op_sysexit;
		case 0xa2: return op_cpuid;
		case 0xc7: /* the rest of group 9: RDPID and XSAVEC (no RDRAND/RDSEED, XSAVES, VMX) */
			if (((in->modrm >> 3) & 7) == 4 && in->has_mem &&
			    !(in->prefix & (PFX_REP | PFX_REPNE | PFX_OPSIZE | PFX_LOCK)))
				return emu_xsavec;
			return ((in->modrm >> 3) & 7) == 7 && !in->has_mem && (in->prefix & PFX_REP) &&
			                       !(in->prefix & PFX_OPSIZE)
			               ? op_rdpid
			               : NULL;
		}
	}
	return NULL;
}
