/* Segmentation: descriptor loading, segment-register instructions, far
 * control transfers, IRET in every mode and the mode bookkeeping
 * (emu_update_mode) the decoder and the softmmu depend on.
 *
 * Not supported, because no guest we run uses them: task switches (task
 * gates, IRET with NT, far JMP/CALL to a TSS), call gates and VM86 mode.
 * They raise #GP instead of doing something half right. */
#include <string.h>

#include "cpu/emu/ops.h"
#include "cpu/emu/sys.h"
#include "symbiont/event.h"

#define H(name) static void name(struct emu_cpu *cpu, const struct emu_insn *in)

static bool protected_mode(const struct emu_cpu *cpu)
{
	return (cpu->cr0 & CR0_PE) && !(cpu->rflags & RFLAGS_VM);
}

void emu_update_mode(struct emu_cpu *cpu)
{
	const struct x86_seg *cs = &cpu->seg[SEG_CS];

	cpu->long_mode = (cpu->efer & EFER_LMA) != 0;
	if (!(cpu->cr0 & CR0_PE))
		cpu->cpl = 0;
	else if (cpu->rflags & RFLAGS_VM)
		cpu->cpl = 3;
	else
		cpu->cpl = cs->sel & 3;
	/* Callers may have set cpl already (IRET, interrupt delivery): what
	 * counts is whether a user stretch is open. */
	if (unlikely((cpu->cpl == 3) != (cpu->user_since != 0)) && cpu->vm) {
		uint64_t now = host_clock_ns();
		if (cpu->cpl == 3)
			cpu->user_since = now;
		else if (cpu->user_since)
			cpu->user_ns += now - cpu->user_since, cpu->user_since = 0;
	}
	if (cpu->long_mode && cs->l && (cpu->cr0 & CR0_PE))
		cpu->code_mode = EMU_MODE64;
	else if ((cpu->cr0 & CR0_PE) && cs->db && !(cpu->rflags & RFLAGS_VM))
		cpu->code_mode = EMU_MODE32;
	else
		cpu->code_mode = EMU_MODE16;
	emu_mmu_update_smap(cpu); /* SMAP depends on CPL */
}

/* ---- descriptors ------------------------------------------------------------ */

static uint64_t desc_addr(struct emu_cpu *cpu, uint16_t sel, unsigned size, bool *ok)
{
	uint64_t base, limit;

	if (sel & 4) {
		if (cpu->ldt.unusable || !cpu->ldt.present) {
			*ok = false;
			return 0;
		}
		base = cpu->ldt.base;
		limit = cpu->ldt.limit;
	} else {
		base = cpu->gdt.base;
		limit = cpu->gdt.limit;
	}
	*ok = (uint64_t)(sel & ~7) + size - 1 <= limit;
	return base + (sel & ~7);
}

bool emu_desc_read(struct emu_cpu *cpu, uint16_t sel, uint64_t *desc)
{
	bool ok;
	uint64_t a = desc_addr(cpu, sel, 8, &ok);
	if (!ok)
		return false;
	*desc = emu_read_linear(cpu, a, 8, true);
	return true;
}

bool emu_desc_read16(struct emu_cpu *cpu, uint16_t sel, uint64_t *lo, uint64_t *hi)
{
	bool ok;
	uint64_t a = desc_addr(cpu, sel, 16, &ok);
	if (!ok)
		return false;
	*lo = emu_read_linear(cpu, a, 8, true);
	*hi = emu_read_linear(cpu, a + 8, 8, true);
	return true;
}

void emu_desc_to_seg(struct x86_seg *s, uint16_t sel, uint64_t d)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
}

void emu_desc_set_accessed(struct emu_cpu *cpu, uint16_t sel, uint64_t d)
{
	bool ok;
	uint64_t a = desc_addr(cpu, sel, 8, &ok);
	if (ok && !(d & (1ULL << 40)))
		emu_write_linear(cpu, a + 5, ((d >> 40) & 0xff) | 1, 1, true);
}

void emu_load_seg_real(struct emu_cpu *cpu, int seg, uint16_t sel)
{
	struct x86_seg *s = &cpu->seg[seg];
	s->sel = sel;
	s->base = (uint64_t)sel << 4;
	s->present = 1;
	s->unusable = 0;
	if (cpu->rflags & RFLAGS_VM) {
		s->limit = 0xffff;
		s->type = seg == SEG_CS ? 0xb : 3;
		s->s = 1;
		s->dpl = 3;
		s->db = s->l = s->g = 0;
	}
}

static void seg_null(struct emu_cpu *cpu, int seg, uint16_t sel)
{
	struct x86_seg *s = &cpu->seg[seg];
	uint64_t base = s->base;

	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->unusable = 1;
	/* In 64-bit mode a null FS/GS keeps its base (set by MSR). */
	if (cpu->long_mode && (seg == SEG_FS || seg == SEG_GS))
		s->base = base;
}

void emu_load_seg(struct emu_cpu *cpu, int seg, uint16_t sel)
{
	struct x86_seg s;
	uint64_t d;
	unsigned rpl = sel & 3;

	if (!protected_mode(cpu)) {
		emu_load_seg_real(cpu, seg, sel);
		if (seg == SEG_SS)
			cpu->interrupt_shadow = true;
		return;
	}
	if ((sel & ~3) == 0) {
		if (seg == SEG_SS && !(cpu->code_mode == EMU_MODE64 && cpu->cpl < 3 && rpl == (unsigned)cpu->cpl))
			emu_raise_err(cpu, EXC_GP, 0);
		seg_null(cpu, seg, sel);
		if (seg == SEG_SS) {
			cpu->seg[SEG_SS].dpl = (uint8_t)cpu->cpl;
			cpu->seg[SEG_SS].db = 1;
			cpu->interrupt_shadow = true;
		}
		return;
	}
	if (!emu_desc_read(cpu, sel, &d))
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	emu_desc_to_seg(&s, sel, d);
	if (seg == SEG_SS) {
		if (rpl != (unsigned)cpu->cpl || s.dpl != cpu->cpl || !s.s || (s.type & 0xa) != 2)
			emu_raise_err(cpu, EXC_GP, sel & ~3);
		if (!s.present)
			emu_raise_err(cpu, EXC_SS, sel & ~3);
		cpu->interrupt_shadow = true;
	} else {
		if (!s.s || (s.type & 0xa) == 8) /* system, or execute-only code */
			emu_raise_err(cpu, EXC_GP, sel & ~3);
		if (!((s.type & 0xc) == 0xc)) { /* not conforming code: privilege check */
			unsigned m = rpl > (unsigned)cpu->cpl ? rpl : (unsigned)cpu->cpl;
			if (s.dpl < m)
				emu_raise_err(cpu, EXC_GP, sel & ~3);
		}
		if (!s.present)
			emu_raise_err(cpu, EXC_NP, sel & ~3);
	}
	emu_desc_set_accessed(cpu, sel, d);
	s.type |= 1;
	cpu->seg[seg] = s;
}

/* ---- stack (far transfers write first and commit RSP last) ------------------- */

uint64_t emu_stack_mask(const struct emu_cpu *cpu)
{
	return sz_mask(stack_asize(cpu));
}

static void set_zf(struct emu_cpu *cpu, bool z)
{
	uint64_t f = emu_get_rflags(cpu);
	emu_set_rflags(cpu, z ? f | RFLAGS_ZF : f & ~(uint64_t)RFLAGS_ZF);
}

/* ---- MOV/PUSH/POP sreg, LxS ---------------------------------------------------- */

H(op_mov_sreg_store)
{
	unsigned r = in->reg & 7;
	uint16_t v;
	if (r >= SEG_COUNT)
		emu_raise(cpu, EXC_UD);
	v = cpu->seg[r].sel;
	if (in->has_mem)
		emu_write(cpu, in->seg, ea_of(cpu, in), v, 2);
	else
		reg_write_v(cpu, in->rm, v, in->opsize == 2 ? 2 : 4);
}

H(op_mov_sreg_load)
{
	unsigned r = in->reg & 7;
	uint16_t v;
	if (r >= SEG_COUNT || r == SEG_CS)
		emu_raise(cpu, EXC_UD);
	v = (uint16_t)rm_read(cpu, in, 2);
	emu_load_seg(cpu, r, v);
}

static int sreg_of_push_pop(const struct emu_insn *in)
{
	if (in->map == 1)
		return in->opcode < 0xa8 ? SEG_FS : SEG_GS;
	return (in->opcode >> 3) & 3; /* 06/07 ES, 0E CS, 16/17 SS, 1E/1F DS */
}

H(op_push_sreg)
{
	push(cpu, cpu->seg[sreg_of_push_pop(in)].sel, in->opsize);
}

H(op_pop_sreg)
{
	int s = sreg_of_push_pop(in);
	uint16_t v = (uint16_t)stack_peek(cpu, 0, in->opsize);
	emu_load_seg(cpu, s, v);
	stack_adjust(cpu, in->opsize);
}

/* LES/LDS (C4/C5), LSS/LFS/LGS (0F B2/B4/B5): offset, then selector. */
H(op_lxs)
{
	int s;
	uint64_t ea, off;
	uint16_t sel;
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	if (in->map == 0)
		s = in->opcode == 0xc4 ? SEG_ES : SEG_DS;
	else
		s = in->opcode == 0xb2 ? SEG_SS : in->opcode == 0xb4 ? SEG_FS : SEG_GS;
	ea = ea_of(cpu, in);
	off = emu_read(cpu, in->seg, ea, in->opsize);
	sel = (uint16_t)emu_read(cpu, in->seg, (ea + in->opsize) & sz_mask(in->addrsize), 2);
	emu_load_seg(cpu, s, sel);
	reg_write_v(cpu, in->reg, off, in->opsize);
}

/* ---- far transfers --------------------------------------------------------------- */

/* Checks a code-segment selector as the target of a far JMP/CALL at the
 * current privilege and returns its cache (sel RPL set to CPL). */
static void code_target(struct emu_cpu *cpu, uint16_t sel, struct x86_seg *cs, uint64_t *d)
{
	if ((sel & ~3) == 0)
		emu_raise_err(cpu, EXC_GP, 0);
	if (!emu_desc_read(cpu, sel, d))
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	emu_desc_to_seg(cs, sel, *d);
	if (!cs->s || !(cs->type & 8)) /* gates and TSS: unsupported */
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	if (cs->type & 4) {
		if (cs->dpl > cpu->cpl)
			emu_raise_err(cpu, EXC_GP, sel & ~3);
	} else if ((sel & 3) > cpu->cpl || cs->dpl != cpu->cpl) {
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	}
	if (!cs->present)
		emu_raise_err(cpu, EXC_NP, sel & ~3);
	if (cs->l && cs->db && cpu->long_mode)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	cs->sel = (uint16_t)((sel & ~3) | cpu->cpl);
}

static void check_target(struct emu_cpu *cpu, const struct x86_seg *cs, uint64_t ip)
{
	if (cpu->long_mode && cs->l) {
		if ((uint64_t)((int64_t)(ip << 16) >> 16) != ip)
			emu_raise_err(cpu, EXC_GP, 0);
	} else if (ip > cs->limit) {
		emu_raise_err(cpu, EXC_GP, 0);
	}
}

static void commit_cs(struct emu_cpu *cpu, struct x86_seg *cs, uint64_t d, uint64_t ip)
{
	emu_desc_set_accessed(cpu, cs->sel, d);
	cs->type |= 1;
	cpu->seg[SEG_CS] = *cs;
	cpu->next_rip = ip;
	emu_update_mode(cpu);
}

static void far_jump(struct emu_cpu *cpu, uint16_t sel, uint64_t ip)
{
	struct x86_seg cs;
	uint64_t d;

	if (!protected_mode(cpu)) {
		emu_load_seg_real(cpu, SEG_CS, sel);
		cpu->next_rip = ip;
		emu_update_mode(cpu);
		return;
	}
	code_target(cpu, sel, &cs, &d);
	check_target(cpu, &cs, ip);
	commit_cs(cpu, &cs, d, ip);
}

static void far_call(struct emu_cpu *cpu, uint16_t sel, uint64_t ip, unsigned osz)
{
	struct x86_seg cs;
	uint64_t d = 0, mask = emu_stack_mask(cpu), sp = cpu->gpr[X86_RSP];
	uint16_t old_cs = cpu->seg[SEG_CS].sel;

	if (protected_mode(cpu)) {
		code_target(cpu, sel, &cs, &d);
		check_target(cpu, &cs, ip);
	}
	emu_write(cpu, SEG_SS, (sp - osz) & mask, old_cs, osz);
	emu_write(cpu, SEG_SS, (sp - 2 * osz) & mask, cpu->next_rip, osz);
	reg_write_a(cpu, X86_RSP, (sp - 2 * osz) & mask, stack_asize(cpu));
	if (!protected_mode(cpu)) {
		emu_load_seg_real(cpu, SEG_CS, sel);
		cpu->next_rip = ip;
		emu_update_mode(cpu);
		return;
	}
	commit_cs(cpu, &cs, d, ip);
}

/* EA ptr16:16/32 (not in 64-bit mode). */
H(op_jmp_far_imm)
{
	far_jump(cpu, (uint16_t)in->imm2, in->imm & sz_mask(in->opsize));
}

H(op_call_far_imm)
{
	far_call(cpu, (uint16_t)in->imm2, in->imm & sz_mask(in->opsize), in->opsize);
}

/* FF /3 and FF /5: m16:16/32/64. */
H(op_far_mem)
{
	uint64_t ea, ip;
	uint16_t sel;
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	ea = ea_of(cpu, in);
	ip = emu_read(cpu, in->seg, ea, in->opsize);
	sel = (uint16_t)emu_read(cpu, in->seg, (ea + in->opsize) & sz_mask(in->addrsize), 2);
	if (((in->modrm >> 3) & 7) == 3)
		far_call(cpu, sel, ip, in->opsize);
	else
		far_jump(cpu, sel, ip);
}

/* Data segments a return to an outer level may no longer use become null. */
static void null_inaccessible(struct emu_cpu *cpu)
{
	static const int segs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	for (unsigned i = 0; i < 4; i++) {
		struct x86_seg *s = &cpu->seg[segs[i]];
		if (s->unusable || (s->sel & ~3) == 0)
			continue;
		if ((!(s->type & 8) || !(s->type & 4)) && s->dpl < cpu->cpl)
			seg_null(cpu, segs[i], 0);
	}
}

/* Loads SS for a return to an outer privilege level (new CPL = rpl). */
static void load_ss_outer(struct emu_cpu *cpu, uint16_t sel, unsigned rpl, bool to64, struct x86_seg *ss, uint64_t *d)
{
	if ((sel & ~3) == 0) {
		if (!(to64 && rpl < 3))
			emu_raise_err(cpu, EXC_GP, 0);
		memset(ss, 0, sizeof(*ss));
		ss->sel = sel;
		ss->unusable = 1;
		ss->dpl = (uint8_t)rpl;
		ss->db = 1;
		*d = 0;
		return;
	}
	if (!emu_desc_read(cpu, sel, d))
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	emu_desc_to_seg(ss, sel, *d);
	if ((sel & 3) != rpl || ss->dpl != rpl || !ss->s || (ss->type & 0xa) != 2)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	if (!ss->present)
		emu_raise_err(cpu, EXC_SS, sel & ~3);
}

/* Checks the CS a RETF/IRET returns to. */
static void return_cs(struct emu_cpu *cpu, uint16_t sel, struct x86_seg *cs, uint64_t *d)
{
	unsigned rpl = sel & 3;
	if ((sel & ~3) == 0)
		emu_raise_err(cpu, EXC_GP, 0);
	if (!emu_desc_read(cpu, sel, d))
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	emu_desc_to_seg(cs, sel, *d);
	if (!cs->s || !(cs->type & 8) || rpl < (unsigned)cpu->cpl)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	if ((cs->type & 4) ? cs->dpl > rpl : cs->dpl != rpl)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	if (!cs->present)
		emu_raise_err(cpu, EXC_NP, sel & ~3);
}

/* CA/CB: RETF [imm16]. */
H(op_retf)
{
	unsigned osz = in->opsize, as = stack_asize(cpu);
	uint64_t mask = sz_mask(as), sp = cpu->gpr[X86_RSP], ip, imm = in->opcode == 0xca ? (in->imm & 0xffff) : 0;
	uint16_t sel;
	struct x86_seg cs, ss;
	uint64_t d, sd;
	unsigned rpl;

	ip = emu_read(cpu, SEG_SS, sp & mask, osz);
	sel = (uint16_t)emu_read(cpu, SEG_SS, (sp + osz) & mask, 2);
	if (!protected_mode(cpu)) {
		emu_load_seg_real(cpu, SEG_CS, sel);
		reg_write_a(cpu, X86_RSP, (sp + 2 * osz + imm) & mask, as);
		cpu->next_rip = ip & sz_mask(osz);
		emu_update_mode(cpu);
		return;
	}
	return_cs(cpu, sel, &cs, &d);
	rpl = sel & 3;
	if (rpl == (unsigned)cpu->cpl) {
		check_target(cpu, &cs, ip);
		reg_write_a(cpu, X86_RSP, (sp + 2 * osz + imm) & mask, as);
		commit_cs(cpu, &cs, d, ip);
		return;
	}
	{
		uint64_t nsp = emu_read(cpu, SEG_SS, (sp + 2 * osz + imm) & mask, osz);
		uint16_t nss = (uint16_t)emu_read(cpu, SEG_SS, (sp + 3 * osz + imm) & mask, 2);
		load_ss_outer(cpu, nss, rpl, cpu->long_mode && cs.l, &ss, &sd);
		check_target(cpu, &cs, ip);
		if (sd)
			emu_desc_set_accessed(cpu, nss, sd);
		commit_cs(cpu, &cs, d, ip);
		ss.type |= ss.unusable ? 0 : 1;
		cpu->seg[SEG_SS] = ss;
		emu_update_mode(cpu);
		reg_write_a(cpu, X86_RSP, (nsp + imm) & emu_stack_mask(cpu), stack_asize(cpu));
		null_inaccessible(cpu);
	}
}

/* CF: IRET/IRETD/IRETQ. */
H(op_iret)
{
	unsigned osz = in->opsize, as = stack_asize(cpu);
	uint64_t mask = sz_mask(as), sp = cpu->gpr[X86_RSP], ip, fl, old = emu_get_rflags(cpu), keep;
	uint16_t sel;
	struct x86_seg cs, ss;
	uint64_t d, sd = 0, nsp = 0;
	uint16_t nss = 0;
	unsigned rpl;
	bool pop_ss;

	ip = emu_read(cpu, SEG_SS, sp & mask, osz);
	sel = (uint16_t)emu_read(cpu, SEG_SS, (sp + osz) & mask, 2);
	fl = emu_read(cpu, SEG_SS, (sp + 2 * osz) & mask, osz);
	if (cpu->nmi_blocked) {
		/* IRET ends NMI blocking (even if it faults later: close enough). */
		cpu->nmi_blocked = false;
		if (cpu->nmi_pending)
			atomic_store(&cpu->irq_pending, true);
	}
	if (osz == 2)
		fl = (old & ~0xffffULL) | (fl & 0xffff);

	if (!(cpu->cr0 & CR0_PE)) {
		keep = RFLAGS_VM | RFLAGS_VIF | RFLAGS_VIP;
		emu_set_rflags(cpu, (fl & ~keep) | (old & keep));
		emu_load_seg_real(cpu, SEG_CS, sel);
		reg_write_a(cpu, X86_RSP, (sp + 3 * osz) & mask, as);
		cpu->next_rip = ip & sz_mask(osz);
		emu_update_mode(cpu);
		atomic_store(&cpu->irq_pending, true);
		return;
	}
	if (cpu->rflags & RFLAGS_VM)
		emu_raise_err(cpu, EXC_GP, 0); /* VM86 */
	if (old & RFLAGS_NT && !cpu->long_mode)
		emu_raise_err(cpu, EXC_GP, 0); /* task return */
	if (!cpu->long_mode && (fl & RFLAGS_VM) && cpu->cpl == 0)
		emu_raise_err(cpu, EXC_GP, 0); /* return to VM86 */

	return_cs(cpu, sel, &cs, &d);
	rpl = sel & 3;
	pop_ss = cpu->code_mode == EMU_MODE64 || rpl > (unsigned)cpu->cpl;
	if (pop_ss) {
		nsp = emu_read(cpu, SEG_SS, (sp + 3 * osz) & mask, osz);
		nss = (uint16_t)emu_read(cpu, SEG_SS, (sp + 4 * osz) & mask, 2);
		if (rpl == (unsigned)cpu->cpl && (nss & ~3) == 0 && cpu->code_mode == EMU_MODE64 && cs.l) {
			if (rpl == 3)
				emu_raise_err(cpu, EXC_GP, 0);
			memset(&ss, 0, sizeof(ss));
			ss.sel = nss;
			ss.unusable = 1;
			ss.dpl = (uint8_t)rpl;
			ss.db = 1;
		} else {
			load_ss_outer(cpu, nss, rpl, cpu->long_mode && cs.l, &ss, &sd);
		}
	}
	check_target(cpu, &cs, ip);

	/* Flags a given privilege may change. */
	keep = RFLAGS_VM | RFLAGS_FIXED;
	if (cpu->cpl > 0)
		keep |= RFLAGS_IOPL | RFLAGS_VIF | RFLAGS_VIP;
	if (cpu->cpl > (int)((old & RFLAGS_IOPL) >> 12))
		keep |= RFLAGS_IF;
	if (osz == 2)
		keep |= ~0xffffULL;
	fl = (fl & ~keep) | (old & keep); /* RF comes from the image: a #DB handler resumes with it */
	if (!cpu->long_mode)
		fl &= ~RFLAGS_VM;

	if (sd)
		emu_desc_set_accessed(cpu, nss, sd);
	commit_cs(cpu, &cs, d, ip);
	emu_set_rflags(cpu, fl & 0x3f7fd7);
	if (pop_ss) {
		if (!ss.unusable)
			ss.type |= 1;
		cpu->seg[SEG_SS] = ss;
		emu_update_mode(cpu);
		reg_write_a(cpu, X86_RSP, nsp & emu_stack_mask(cpu), stack_asize(cpu));
		if (cpu->code_mode == EMU_MODE64)
			cpu->gpr[X86_RSP] = nsp;
	} else {
		reg_write_a(cpu, X86_RSP, (sp + 3 * osz) & mask, as);
	}
	if (rpl > 0)
		null_inaccessible(cpu);
	if (fl & RFLAGS_IF)
		atomic_store(&cpu->irq_pending, true);
	if (cpu->cpl == 3 && cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_SYSCALL_EXIT))
		emu_event_user_return(cpu);
}

/* ---- descriptor tables (0F 00, 0F 01 /0-/3) ---------------------------------------- */

static void need_cpl0(struct emu_cpu *cpu)
{
	if (cpu->cpl != 0)
		emu_raise_err(cpu, EXC_GP, 0);
}

static void need_pmode(struct emu_cpu *cpu)
{
	if (!protected_mode(cpu))
		emu_raise(cpu, EXC_UD);
}

/* 0F 01 /0 /1 /2 /3 with a memory operand. */
H(op_dtable)
{
	unsigned r = (in->modrm >> 3) & 7;
	struct x86_dtable *t = (r & 1) ? &cpu->idt : &cpu->gdt;
	uint64_t ea;
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	if (r < 2)
		emu_umip_check(cpu); /* SGDT / SIDT */
	ea = ea_of(cpu, in);
	if (r >= 2) { /* LGDT / LIDT */
		uint64_t base;
		uint16_t limit;
		need_cpl0(cpu);
		limit = (uint16_t)emu_read(cpu, in->seg, ea, 2);
		if (cpu->code_mode == EMU_MODE64) {
			base = emu_read(cpu, in->seg, ea + 2, 8);
			if (!emu_canonical(base))
				emu_raise_err(cpu, EXC_GP, 0);
		} else
			base = emu_read(cpu, in->seg, (ea + 2) & sz_mask(in->addrsize), 4) &
			       (in->opsize == 2 ? 0xffffff : 0xffffffff);
		t->limit = limit;
		t->base = base;
		return;
	}
	/* SGDT / SIDT */
	emu_write(cpu, in->seg, ea, t->limit, 2);
	if (cpu->code_mode == EMU_MODE64)
		emu_write(cpu, in->seg, ea + 2, t->base, 8);
	else
		emu_write(cpu, in->seg, (ea + 2) & sz_mask(in->addrsize), (uint32_t)t->base, 4);
}

static void store_sel(struct emu_cpu *cpu, const struct emu_insn *in, uint16_t v)
{
	if (in->has_mem)
		emu_write(cpu, in->seg, ea_of(cpu, in), v, 2);
	else
		reg_write_v(cpu, in->rm, v, in->opsize);
}

static void load_system_seg(struct emu_cpu *cpu, uint16_t sel, bool tss)
{
	struct x86_seg s;
	uint64_t lo, hi = 0;
	bool ok;

	need_cpl0(cpu);
	if ((sel & ~3) == 0) {
		if (tss)
			emu_raise_err(cpu, EXC_GP, 0);
		memset(&cpu->ldt, 0, sizeof(cpu->ldt));
		cpu->ldt.sel = sel;
		cpu->ldt.unusable = 1;
		return;
	}
	if (sel & 4)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	ok = cpu->long_mode ? emu_desc_read16(cpu, sel, &lo, &hi) : emu_desc_read(cpu, sel, &lo);
	if (!ok)
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	emu_desc_to_seg(&s, sel, lo);
	if (s.s || (tss ? (s.type != 9 && (cpu->long_mode || s.type != 1)) : s.type != 2))
		emu_raise_err(cpu, EXC_GP, sel & ~3);
	if (!s.present)
		emu_raise_err(cpu, EXC_NP, sel & ~3);
	if (cpu->long_mode) {
		s.base |= (hi & 0xffffffffULL) << 32;
		/* the upper half's type field must be 0, and the base canonical */
		if (((hi >> 40) & 0x1f) || !emu_canonical(s.base))
			emu_raise_err(cpu, EXC_GP, sel & ~3);
	}
	if (tss) {
		bool o;
		uint64_t a = desc_addr(cpu, sel, 8, &o);
		s.type |= 2; /* busy */
		emu_write_linear(cpu, a + 5, ((lo >> 40) & 0xff) | 2, 1, true);
		cpu->tr = s;
	} else {
		cpu->ldt = s;
	}
}

/* 0F 00 /0../5 */
H(op_grp6)
{
	unsigned r = (in->modrm >> 3) & 7;
	uint16_t sel;

	need_pmode(cpu);
	switch (r) {
	case 0: emu_umip_check(cpu), store_sel(cpu, in, cpu->ldt.sel); return;
	case 1: emu_umip_check(cpu), store_sel(cpu, in, cpu->tr.sel); return;
	case 2: load_system_seg(cpu, (uint16_t)rm_read(cpu, in, 2), false); return;
	case 3: load_system_seg(cpu, (uint16_t)rm_read(cpu, in, 2), true); return;
	case 4:
	case 5: {
		uint64_t d;
		struct x86_seg s;
		bool ok;
		sel = (uint16_t)rm_read(cpu, in, 2);
		ok = (sel & ~3) && emu_desc_read(cpu, sel, &d);
		if (ok) {
			emu_desc_to_seg(&s, sel, d);
			ok = s.s;
			if (ok && !((s.type & 0xc) == 0xc)) /* not conforming code */
				ok = s.dpl >= cpu->cpl && s.dpl >= (sel & 3);
			if (ok)
				ok = r == 4 ? (!(s.type & 8) || (s.type & 2)) : (!(s.type & 8) && (s.type & 2));
		}
		set_zf(cpu, ok);
		return;
	}
	default: emu_raise(cpu, EXC_UD);
	}
}

/* 0F 02 LAR, 0F 03 LSL */
H(op_lar_lsl)
{
	uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
	uint64_t d = 0;
	struct x86_seg s;
	bool ok;

	need_pmode(cpu);
	ok = (sel & ~3) && emu_desc_read(cpu, sel, &d);
	if (ok) {
		emu_desc_to_seg(&s, sel, d);
		if (!s.s) {
			/* System types LAR/LSL accept. */
			static const uint16_t lar32 = 0x1a3e, lsl32 = 0x0a0e, lar64 = 0x0a04, lsl64 = 0x0a04;
			uint16_t m =
			        cpu->long_mode ? (in->opcode == 2 ? lar64 : lsl64) : (in->opcode == 2 ? lar32 : lsl32);
			ok = (m >> s.type) & 1;
		} else if (!((s.type & 0xc) == 0xc)) {
			ok = s.dpl >= cpu->cpl && s.dpl >= (sel & 3);
		}
	}
	set_zf(cpu, ok);
	if (!ok)
		return;
	if (in->opcode == 2)
		reg_write_v(cpu, in->reg, d >> 32 & 0x00f0ff00ULL, in->opsize);
	else
		reg_write_v(cpu, in->reg, s.limit, in->opsize);
}

/* 63 ARPL (legacy modes) */
H(op_arpl)
{
	uint16_t dst, src = (uint16_t)cpu->gpr[in->reg];
	need_pmode(cpu);
	dst = (uint16_t)rm_read(cpu, in, 2);
	if ((dst & 3) < (src & 3)) {
		rm_write(cpu, in, (dst & ~3) | (src & 3), 2);
		set_zf(cpu, true);
	} else {
		set_zf(cpu, false);
	}
}

/* Handlers for the segment-related opcodes; NULL when not one of them. */
emu_exec_fn emu_seg_select(const struct emu_insn *in)
{
	if (in->map == 0) {
		switch (in->opcode) {
		case 0x06:
		case 0x0e:
		case 0x16:
		case 0x1e: return op_push_sreg;
		case 0x07:
		case 0x17:
		case 0x1f: return op_pop_sreg;
		case 0x8c: return op_mov_sreg_store;
		case 0x8e: return op_mov_sreg_load;
		case 0xc4:
		case 0xc5: return op_lxs;
		case 0x9a: return op_call_far_imm;
		case 0xea: return op_jmp_far_imm;
		case 0xca:
		case 0xcb: return op_retf;
		case 0xcf: return op_iret;
		case 0x63: return op_arpl;
		case 0xff: return ((in->modrm >> 3) & 7) == 3 || ((in->modrm >> 3) & 7) == 5 ? op_far_mem : NULL;
		}
		return NULL;
	}
	if (in->map == 1) {
		switch (in->opcode) {
		case 0x00: return op_grp6;
		case 0x01: return ((in->modrm >> 3) & 7) < 4 && (in->modrm >> 6) != 3 ? op_dtable : NULL;
		case 0x02:
		case 0x03: return op_lar_lsl;
		case 0xa0:
		case 0xa8: return op_push_sreg;
		case 0xa1:
		case 0xa9: return op_pop_sreg;
		case 0xb2:
		case 0xb4:
		case 0xb5: return op_lxs;
		}
	}
	return NULL;
}
