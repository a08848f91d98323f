/* Integer ALU: ADD OR ADC SBB AND SUB XOR CMP in all forms, TEST, INC, DEC,
 * NOT, NEG, XCHG, XADD, CMPXCHG, CMPXCHG8B/16B.
 *
 * Each operation records its operands for the lazy flags.  LOCK-prefixed
 * forms run as plain read-modify-writes: atomic with respect to this vCPU
 * only (enough for one vCPU; SMP guests need host atomics here). */
#include "cpu/emu/ops.h"

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP };

/* a op b with the lazy flags recorded; op is a constant in each caller. */
static inline __attribute__((always_inline)) uint64_t alu(struct emu_cpu *cpu, int op, unsigned size, uint64_t a, uint64_t b)
{
	uint64_t m = sz_mask(size), r;
	bool c;

	a &= m;
	b &= m;
	switch (op) {
	case A_ADD:
		r = (a + b) & m;
		cc_set(cpu, EMU_CC_ADD, size, r, a, b);
		return r;
	case A_ADC:
		c = emu_cf(cpu);
		r = (a + b + c) & m;
		cc_set(cpu, c ? EMU_CC_ADC : EMU_CC_ADD, size, r, a, b);
		return r;
	case A_SUB:
	case A_CMP:
		r = (a - b) & m;
		cc_set(cpu, EMU_CC_SUB, size, r, a, b);
		return r;
	case A_SBB:
		c = emu_cf(cpu);
		r = (a - b - c) & m;
		cc_set(cpu, c ? EMU_CC_SBB : EMU_CC_SUB, size, r, a, b);
		return r;
	case A_OR: r = a | b; break;
	case A_AND: r = a & b; break;
	default: r = a ^ b; break;
	}
	cc_set(cpu, EMU_CC_LOGIC, size, r, 0, 0);
	return r;
}

#define ALU_OPS(n, op)                                                                  \
	void op_##n##_EG(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                               \
		unsigned sz = in->opsize;                                               \
		uint64_t b = reg_read(cpu, in, in->reg, sz);                            \
		if (in->has_mem) {                                                      \
			uint64_t ea = ea_of(cpu, in);                                   \
			uint64_t r = alu(cpu, op, sz, emu_read(cpu, in->seg, ea, sz), b); \
			if (op != A_CMP)                                                \
				emu_write(cpu, in->seg, ea, r, sz);                     \
		} else {                                                                \
			uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->rm, sz), b); \
			if (op != A_CMP)                                                \
				reg_write(cpu, in, in->rm, r, sz);                      \
		}                                                                       \
	}                                                                               \
	void op_##n##_GE(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                               \
		unsigned sz = in->opsize;                                               \
		uint64_t b = rm_read(cpu, in, sz);                                      \
		uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->reg, sz), b);       \
		if (op != A_CMP)                                                        \
			reg_write(cpu, in, in->reg, r, sz);                             \
	}                                                                               \
	void op_##n##_EI(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                               \
		unsigned sz = in->opsize;                                               \
		if (in->has_mem) {                                                      \
			uint64_t ea = ea_of(cpu, in);                                   \
			uint64_t r = alu(cpu, op, sz, emu_read(cpu, in->seg, ea, sz), in->imm); \
			if (op != A_CMP)                                                \
				emu_write(cpu, in->seg, ea, r, sz);                     \
		} else {                                                                \
			uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->rm, sz), in->imm); \
			if (op != A_CMP)                                                \
				reg_write(cpu, in, in->rm, r, sz);                      \
		}                                                                       \
	}

ALU_OPS(add, A_ADD)
ALU_OPS(or, A_OR)
ALU_OPS(adc, A_ADC)
ALU_OPS(sbb, A_SBB)
ALU_OPS(and, A_AND)
ALU_OPS(sub, A_SUB)
ALU_OPS(xor, A_XOR)
ALU_OPS(cmp, A_CMP)

void op_test_EG(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t r = rm_read(cpu, in, sz) & reg_read(cpu, in, in->reg, sz);
	cc_set(cpu, EMU_CC_LOGIC, sz, r, 0, 0);
}

void op_test_EI(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t r = rm_read(cpu, in, sz) & in->imm & sz_mask(sz);
	cc_set(cpu, EMU_CC_LOGIC, sz, r, 0, 0);
}

/* Unary read-modify-write on the r/m operand. */
#define UNARY(name, body)                                                       \
	void name(struct emu_cpu *cpu, const struct emu_insn *in)               \
	{                                                                       \
		unsigned sz = in->opsize;                                       \
		uint64_t m = sz_mask(sz), a, r, ea = 0;                         \
		if (in->has_mem) {                                              \
			ea = ea_of(cpu, in);                                    \
			a = emu_read(cpu, in->seg, ea, sz);                     \
		} else {                                                        \
			a = reg_read(cpu, in, in->rm, sz);                      \
		}                                                               \
		body;                                                           \
		if (in->has_mem)                                                \
			emu_write(cpu, in->seg, ea, r, sz);                     \
		else                                                            \
			reg_write(cpu, in, in->rm, r, sz);                      \
	}

UNARY(op_inc, { r = (a + 1) & m; cc_set(cpu, EMU_CC_INC, sz, r, a, emu_cf(cpu)); })
UNARY(op_dec, { r = (a - 1) & m; cc_set(cpu, EMU_CC_DEC, sz, r, a, emu_cf(cpu)); })
UNARY(op_not, { r = ~a & m; })
UNARY(op_neg, { r = (0 - a) & m; cc_set(cpu, EMU_CC_SUB, sz, r, 0, a); })

void op_xchg(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t g = reg_read(cpu, in, in->reg, sz);
	if (in->has_mem) {
		uint64_t ea = ea_of(cpu, in);
		uint64_t v = emu_read(cpu, in->seg, ea, sz);
		emu_write(cpu, in->seg, ea, g, sz);
		reg_write(cpu, in, in->reg, v, sz);
	} else {
		uint64_t v = reg_read(cpu, in, in->rm, sz);
		reg_write(cpu, in, in->rm, g, sz);
		reg_write(cpu, in, in->reg, v, sz);
	}
}

void op_xadd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t g = reg_read(cpu, in, in->reg, sz), d, r;
	if (in->has_mem) {
		uint64_t ea = ea_of(cpu, in);
		d = emu_read(cpu, in->seg, ea, sz);
		r = alu(cpu, A_ADD, sz, d, g);
		emu_write(cpu, in->seg, ea, r, sz);
		reg_write(cpu, in, in->reg, d, sz);
	} else {
		d = reg_read(cpu, in, in->rm, sz);
		r = alu(cpu, A_ADD, sz, d, g);
		reg_write(cpu, in, in->reg, d, sz);
		reg_write(cpu, in, in->rm, r, sz);
	}
}

void op_cmpxchg(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t acc = reg_read(cpu, in, X86_RAX, sz), d, ea = 0;
	if (in->has_mem) {
		ea = ea_of(cpu, in);
		d = emu_read(cpu, in->seg, ea, sz);
	} else {
		d = reg_read(cpu, in, in->rm, sz);
	}
	alu(cpu, A_CMP, sz, acc, d);
	if (acc == d) {
		uint64_t src = reg_read(cpu, in, in->reg, sz);
		if (in->has_mem)
			emu_write(cpu, in->seg, ea, src, sz);
		else
			reg_write(cpu, in, in->rm, src, sz);
	} else {
		/* The destination is written back even on failure (the processor
		 * always writes), then the accumulator gets its value. */
		if (in->has_mem)
			emu_write(cpu, in->seg, ea, d, sz);
		reg_write(cpu, in, X86_RAX, d, sz);
	}
}

/* CMPXCHG8B m64 / CMPXCHG16B m128 (REX.W, 16-byte aligned). */
void op_cmpxchg8b(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = ea_of(cpu, in);
	uint32_t fl = emu_flags(cpu) & ~FL_ZF;

	if (in->opsize == 8) {
		uint64_t lo, hi;
		if (ea & 15)
			emu_raise_err(cpu, EXC_GP, 0);
		lo = emu_read(cpu, in->seg, ea, 8);
		hi = emu_read(cpu, in->seg, ea + 8, 8);
		if (lo == cpu->gpr[X86_RAX] && hi == cpu->gpr[X86_RDX]) {
			emu_write(cpu, in->seg, ea, cpu->gpr[X86_RBX], 8);
			emu_write(cpu, in->seg, ea + 8, cpu->gpr[X86_RCX], 8);
			fl |= FL_ZF;
		} else {
			emu_write(cpu, in->seg, ea, lo, 8);
			emu_write(cpu, in->seg, ea + 8, hi, 8);
			cpu->gpr[X86_RAX] = lo;
			cpu->gpr[X86_RDX] = hi;
		}
	} else {
		uint64_t v = emu_read(cpu, in->seg, ea, 8);
		uint64_t cmp = (uint32_t)cpu->gpr[X86_RAX] | (cpu->gpr[X86_RDX] << 32);
		if (v == cmp) {
			emu_write(cpu, in->seg, ea, (uint32_t)cpu->gpr[X86_RBX] | (cpu->gpr[X86_RCX] << 32), 8);
			fl |= FL_ZF;
		} else {
			emu_write(cpu, in->seg, ea, v, 8);
			cpu->gpr[X86_RAX] = (uint32_t)v;
			cpu->gpr[X86_RDX] = v >> 32;
		}
	}
	cc_set_flags(cpu, fl);
}
