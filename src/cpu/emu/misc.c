/* Data movement and the rest of the integer set: MOV (all forms), LEA,
 * MOVZX/MOVSX/MOVSXD, CBW family, SETcc, CMOVcc, PUSH/POP (all forms),
 * PUSHA/POPA, ENTER/LEAVE, flag instructions, XLAT, NOP, BCD adjusts, and
 * the #UD / #GP(0) handlers the decoder uses for invalid encodings. */
#include "cpu/emu/ops.h"

#define MOV_SZ(sfx, SZ, ST)                                                    \
	ST void op_mov_EG##sfx(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                      \
		rm_write(cpu, in, reg_read(cpu, in, in->reg, (SZ)), (SZ));     \
	}                                                                      \
	ST void op_mov_GE##sfx(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                      \
		reg_write(cpu, in, in->reg, rm_read(cpu, in, (SZ)), (SZ));     \
	}                                                                      \
	ST void op_mov_EI##sfx(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                      \
		rm_write(cpu, in, in->imm, (SZ));                              \
	}

/* Generic, and one per operand size for emu_specialize. */
MOV_SZ(, in->opsize, )
MOV_SZ(_1, 1, static)
MOV_SZ(_2, 2, static)
MOV_SZ(_4, 4, static)
MOV_SZ(_8, 8, static)

void op_mov_load_moffs(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t v = emu_read(cpu, in->seg, in->imm & sz_mask(in->addrsize), in->opsize);
	reg_write(cpu, in, X86_RAX, v, in->opsize);
}

void op_mov_store_moffs(struct emu_cpu *cpu, const struct emu_insn *in)
{
	emu_write(cpu, in->seg, in->imm & sz_mask(in->addrsize), reg_read(cpu, in, X86_RAX, in->opsize), in->opsize);
}

void op_lea(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	reg_write_v(cpu, in->reg, ea_of(cpu, in), in->opsize);
}

void op_movzx(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned ssz = (in->opcode & 1) ? 2 : 1;
	reg_write_v(cpu, in->reg, rm_read(cpu, in, ssz), in->opsize);
}

void op_movsx(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned ssz = (in->opcode & 1) ? 2 : 1;
	reg_write_v(cpu, in->reg, (uint64_t)sz_sext(rm_read(cpu, in, ssz), ssz), in->opsize);
}

void op_movsxd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned ssz = in->opsize == 8 ? 4 : in->opsize;
	reg_write_v(cpu, in->reg, (uint64_t)sz_sext(rm_read(cpu, in, ssz), ssz), in->opsize);
}

void op_cbw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	reg_write_v(cpu, X86_RAX, (uint64_t)sz_sext(cpu->gpr[X86_RAX], sz / 2), sz);
}

void op_cwd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	reg_write_v(cpu, X86_RDX, (cpu->gpr[X86_RAX] & sz_sign(sz)) ? ~0ULL : 0, sz);
}

void op_setcc(struct emu_cpu *cpu, const struct emu_insn *in)
{
	rm_write(cpu, in, emu_cond(cpu, in->opcode & 15), 1);
}

void op_cmov(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t v = rm_read(cpu, in, in->opsize); /* the source is read either way */
	if (emu_cond(cpu, in->opcode & 15))
		reg_write_v(cpu, in->reg, v, in->opsize);
	else if (in->opsize == 4)
		cpu->gpr[in->reg] = (uint32_t)cpu->gpr[in->reg];
}

/* ---- stack ---- */

void op_push_R(struct emu_cpu *cpu, const struct emu_insn *in)
{
	push(cpu, cpu->gpr[in->rm], in->opsize);
}

void op_push_E(struct emu_cpu *cpu, const struct emu_insn *in)
{
	push(cpu, rm_read(cpu, in, in->opsize), in->opsize);
}

void op_push_I(struct emu_cpu *cpu, const struct emu_insn *in)
{
	push(cpu, in->imm, in->opsize);
}

void op_pop_R(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t v = stack_peek(cpu, 0, in->opsize);
	stack_adjust(cpu, in->opsize);
	reg_write_v(cpu, in->rm, v, in->opsize);
}

/* POP r/m: a memory address using rSP is computed after the increment. */
void op_pop_E(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = stack_peek(cpu, 0, sz), old = cpu->gpr[X86_RSP], ea;
	if (!in->has_mem) {
		stack_adjust(cpu, sz);
		reg_write_v(cpu, in->rm, v, sz);
		return;
	}
	stack_adjust(cpu, sz);
	ea = ea_of(cpu, in);
	cpu->gpr[X86_RSP] = old; /* until the write has succeeded */
	emu_write(cpu, in->seg, ea, v, sz);
	stack_adjust(cpu, sz);
}

void op_pusha(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = stack_asize(cpu);
	uint64_t sp = cpu->gpr[X86_RSP];
	for (int r = X86_RAX; r <= X86_RDI; r++) {
		sp = (sp - sz) & sz_mask(as);
		emu_write(cpu, SEG_SS, sp, cpu->gpr[r], sz); /* r == RSP: the original value */
	}
	reg_write_a(cpu, X86_RSP, sp, as);
}

void op_popa(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = stack_asize(cpu);
	uint64_t sp = cpu->gpr[X86_RSP], v[8];
	for (int r = X86_RDI; r >= X86_RAX; r--) {
		v[r] = emu_read(cpu, SEG_SS, sp & sz_mask(as), sz);
		sp += sz;
	}
	for (int r = X86_RAX; r <= X86_RDI; r++)
		if (r != X86_RSP)
			reg_write_v(cpu, r, v[r], sz);
	reg_write_a(cpu, X86_RSP, sp & sz_mask(as), as);
}

void op_enter(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = stack_asize(cpu), level = in->imm2 & 31;
	uint64_t m = sz_mask(as), sp = cpu->gpr[X86_RSP], bp = cpu->gpr[X86_RBP], frame;

	sp = (sp - sz) & m;
	emu_write(cpu, SEG_SS, sp, bp, sz);
	frame = sp;
	if (level) {
		for (unsigned i = 1; i < level; i++) {
			bp = (bp - sz) & m;
			uint64_t v = emu_read(cpu, SEG_SS, bp & m, sz);
			sp = (sp - sz) & m;
			emu_write(cpu, SEG_SS, sp, v, sz);
		}
		sp = (sp - sz) & m;
		emu_write(cpu, SEG_SS, sp, frame, sz);
	}
	sp = (sp - in->imm) & m;
	/* The hardware checks the final stack pointer can be written. */
	if (in->imm)
		emu_linear(cpu, SEG_SS, sp, 1, true);
	reg_write_v(cpu, X86_RBP, frame, sz);
	reg_write_a(cpu, X86_RSP, sp, as);
}

void op_leave(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = stack_asize(cpu);
	uint64_t bp = cpu->gpr[X86_RBP] & sz_mask(as);
	uint64_t v = emu_read(cpu, SEG_SS, bp, sz);
	reg_write_a(cpu, X86_RSP, (bp + sz) & sz_mask(as), as);
	reg_write_v(cpu, X86_RBP, v, sz);
}

/* ---- flags ---- */

void op_lahf(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint32_t f = emu_flags(cpu) & (RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF | RFLAGS_CF);
	(void)in;
	cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xff00ULL) | (uint64_t)(f | 2) << 8;
}

void op_sahf(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint32_t m = RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF | RFLAGS_CF;
	uint32_t ah = (uint32_t)(cpu->gpr[X86_RAX] >> 8) & m;
	(void)in;
	cc_set_flags(cpu, (emu_flags(cpu) & ~m) | ah);
}

void op_clc(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cc_set_flags(cpu, emu_flags(cpu) & ~RFLAGS_CF);
}

void op_stc(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cc_set_flags(cpu, emu_flags(cpu) | RFLAGS_CF);
}

void op_cmc(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cc_set_flags(cpu, emu_flags(cpu) ^ RFLAGS_CF);
}

void op_cld(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cpu->rflags &= ~(uint64_t)RFLAGS_DF;
}

void op_std(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cpu->rflags |= RFLAGS_DF;
}

/* ---- misc ---- */

void op_nop(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)cpu;
	(void)in;
}

/* PAUSE (F3 90): a spin-wait hint.  The loop counts them and lets another
 * vCPU run when this one spins (exec.c). */
void op_pause(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	cpu->pauses++;
	cpu->exit_block = true;
}

void op_ud(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	emu_raise(cpu, EXC_UD);
}

void op_gp0(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	emu_raise_err(cpu, EXC_GP, 0);
}

void op_xlat(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t a = (cpu->gpr[X86_RBX] + (uint8_t)cpu->gpr[X86_RAX]) & sz_mask(in->addrsize);
	reg_write(cpu, in, X86_RAX, emu_read(cpu, in->seg, a, 1), 1);
}

/* ---- BCD (legacy modes only) ---- */

static inline uint8_t al_of(struct emu_cpu *cpu)
{
	return (uint8_t)cpu->gpr[X86_RAX];
}
static inline void set_al(struct emu_cpu *cpu, uint8_t v)
{
	cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffULL) | v;
}

void op_daa(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint32_t f = emu_flags(cpu);
	uint8_t al = al_of(cpu), old = al;
	bool cf = f & RFLAGS_CF, af = false;
	(void)in;
	if ((al & 0xf) > 9 || (f & RFLAGS_AF)) {
		cf = cf || al > 0xf9;
		al += 6;
		af = true;
	}
	if (old > 0x99 || (f & RFLAGS_CF)) {
		al += 0x60;
		cf = true;
	}
	set_al(cpu, al);
	cc_set_flags(cpu, flags_szp(al, 1) | (cf ? RFLAGS_CF : 0) | (af ? RFLAGS_AF : 0));
}

void op_das(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint32_t f = emu_flags(cpu);
	uint8_t al = al_of(cpu), old = al;
	bool cf = false, af = false;
	(void)in;
	if ((al & 0xf) > 9 || (f & RFLAGS_AF)) {
		cf = (f & RFLAGS_CF) || al < 6;
		al -= 6;
		af = true;
	}
	if (old > 0x99 || (f & RFLAGS_CF)) {
		al -= 0x60;
		cf = true;
	}
	set_al(cpu, al);
	cc_set_flags(cpu, flags_szp(al, 1) | (cf ? RFLAGS_CF : 0) | (af ? RFLAGS_AF : 0));
}

static void aaa_aas(struct emu_cpu *cpu, bool sub)
{
	uint32_t f = emu_flags(cpu);
	uint16_t ax = (uint16_t)cpu->gpr[X86_RAX];
	bool adj = (ax & 0xf) > 9 || (f & RFLAGS_AF);
	if (adj) /* AX as a whole: AL's carry/borrow reaches AH (current CPUs) */
		ax = sub ? (uint16_t)(ax - 6 - 0x100) : (uint16_t)(ax + 0x106);
	ax &= 0xff0f;
	reg_write_v(cpu, X86_RAX, ax, 2);
	f = flags_szp(ax & 0xff, 1);
	cc_set_flags(cpu, f | (adj ? RFLAGS_AF | RFLAGS_CF : 0));
}

void op_aaa(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	aaa_aas(cpu, false);
}
void op_aas(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	aaa_aas(cpu, true);
}

void op_aam(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint8_t base = (uint8_t)in->imm, al = al_of(cpu);
	if (!base)
		emu_raise(cpu, EXC_DE);
	reg_write_v(cpu, X86_RAX, (uint64_t)(al / base) << 8 | (al % base), 2);
	cc_set(cpu, EMU_CC_LOGIC, 1, al % base, 0, 0);
}

void op_aad(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint8_t base = (uint8_t)in->imm;
	uint16_t ax = (uint16_t)cpu->gpr[X86_RAX];
	uint8_t al = (uint8_t)((ax & 0xff) + (ax >> 8) * base);
	reg_write_v(cpu, X86_RAX, al, 2);
	cc_set(cpu, EMU_CC_LOGIC, 1, al, 0, 0);
}

emu_exec_fn emu_misc_specialize(emu_exec_fn fn, unsigned sz)
{
#define SPEC(h)           \
	if (fn == op_##h) \
		return sz == 1 ? op_##h##_1 : sz == 2 ? op_##h##_2 : sz == 4 ? op_##h##_4 : op_##h##_8;
	/* clang-format off */
	SPEC(mov_EG) SPEC(mov_GE) SPEC(mov_EI)
	/* clang-format on */
#undef SPEC
	        return fn;
}
