/* Integer ALU: ADD OR ADC SBB AND SUB XOR CMP in all forms, TEST, INC, DEC,
 * NOT, NEG, XCHG, XADD, CMPXCHG, CMPXCHG8B/16B.
 *
 * Each operation records its operands for the lazy flags.  LOCK-prefixed
 * forms run as plain read-modify-writes: atomic with respect to this vCPU
 * only (enough for one vCPU; SMP guests need host atomics here). */
#include "cpu/emu/ops.h"

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP };

/* a op b with the lazy flags recorded; op is a constant in each caller. */
static inline __attribute__((always_inline)) uint64_t alu(struct emu_cpu *cpu, int op, unsigned size, uint64_t a,
                                                          uint64_t b)
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

#define ALU_OPS_SZ(n, op, sfx, SZ, ST)                                                          \
	ST void op_##n##_EG##sfx(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                                       \
		const unsigned sz = (SZ);                                                       \
		uint64_t b = reg_read(cpu, in, in->reg, sz);                                    \
		if (in->has_mem) {                                                              \
			uint64_t ea = ea_of(cpu, in);                                           \
			uint64_t r = alu(cpu, op, sz, emu_read(cpu, in->seg, ea, sz), b);       \
			if (op != A_CMP)                                                        \
				emu_write(cpu, in->seg, ea, r, sz);                             \
		} else {                                                                        \
			uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->rm, sz), b);        \
			if (op != A_CMP)                                                        \
				reg_write(cpu, in, in->rm, r, sz);                              \
		}                                                                               \
	}                                                                                       \
	ST void op_##n##_GE##sfx(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                                       \
		const unsigned sz = (SZ);                                                       \
		uint64_t b = rm_read(cpu, in, sz);                                              \
		uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->reg, sz), b);               \
		if (op != A_CMP)                                                                \
			reg_write(cpu, in, in->reg, r, sz);                                     \
	}                                                                                       \
	ST void op_##n##_EI##sfx(struct emu_cpu *cpu, const struct emu_insn *in)                \
	{                                                                                       \
		const unsigned sz = (SZ);                                                       \
		if (in->has_mem) {                                                              \
			uint64_t ea = ea_of(cpu, in);                                           \
			uint64_t r = alu(cpu, op, sz, emu_read(cpu, in->seg, ea, sz), in->imm); \
			if (op != A_CMP)                                                        \
				emu_write(cpu, in->seg, ea, r, sz);                             \
		} else {                                                                        \
			uint64_t r = alu(cpu, op, sz, reg_read(cpu, in, in->rm, sz), in->imm);  \
			if (op != A_CMP)                                                        \
				reg_write(cpu, in, in->rm, r, sz);                              \
		}                                                                               \
	}

/* Each handler exists generic and for each operand size; the decoder picks
 * the sized one (emu_specialize), so the size switches fold away. */
#define ALU_OPS(n, op)                    \
	ALU_OPS_SZ(n, op, , in->opsize, ) \
	ALU_OPS_SZ(n, op, _1, 1, static)  \
	ALU_OPS_SZ(n, op, _2, 2, static)  \
	ALU_OPS_SZ(n, op, _4, 4, static)  \
	ALU_OPS_SZ(n, op, _8, 8, static)

ALU_OPS(add, A_ADD)
ALU_OPS(or, A_OR)
ALU_OPS(adc, A_ADC)
ALU_OPS(sbb, A_SBB)
ALU_OPS(and, A_AND)
ALU_OPS(sub, A_SUB)
ALU_OPS(xor, A_XOR)
ALU_OPS(cmp, A_CMP)

#define TEST_SZ(sfx, SZ, ST)                                                        \
	ST void op_test_EG##sfx(struct emu_cpu *cpu, const struct emu_insn *in)     \
	{                                                                           \
		const unsigned sz = (SZ);                                           \
		uint64_t r = rm_read(cpu, in, sz) & reg_read(cpu, in, in->reg, sz); \
		cc_set(cpu, EMU_CC_LOGIC, sz, r, 0, 0);                             \
	}                                                                           \
	ST void op_test_EI##sfx(struct emu_cpu *cpu, const struct emu_insn *in)     \
	{                                                                           \
		const unsigned sz = (SZ);                                           \
		uint64_t r = rm_read(cpu, in, sz) & in->imm & sz_mask(sz);          \
		cc_set(cpu, EMU_CC_LOGIC, sz, r, 0, 0);                             \
	}

TEST_SZ(, in->opsize, )
TEST_SZ(_1, 1, static)
TEST_SZ(_2, 2, static)
TEST_SZ(_4, 4, static)
TEST_SZ(_8, 8, static)

/* Unary read-modify-write on the r/m operand. */
#define UNARY_SZ(name, SZ, ST, body)                                 \
	ST void name(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                            \
		const unsigned sz = (SZ);                            \
		uint64_t m = sz_mask(sz), a, r, ea = 0;              \
		if (in->has_mem) {                                   \
			ea = ea_of(cpu, in);                         \
			a = emu_read(cpu, in->seg, ea, sz);          \
		} else {                                             \
			a = reg_read(cpu, in, in->rm, sz);           \
		}                                                    \
		body;                                                \
		if (in->has_mem)                                     \
			emu_write(cpu, in->seg, ea, r, sz);          \
		else                                                 \
			reg_write(cpu, in, in->rm, r, sz);           \
	}
#define UNARY(name, body)                   \
	UNARY_SZ(name, in->opsize, , body)  \
	UNARY_SZ(name##_1, 1, static, body) \
	UNARY_SZ(name##_2, 2, static, body) \
	UNARY_SZ(name##_4, 4, static, body) \
	UNARY_SZ(name##_8, 8, static, body)

UNARY(op_inc, {
	r = (a + 1) & m;
	cc_set(cpu, EMU_CC_INC, sz, r, a, emu_cf(cpu));
})
UNARY(op_dec, {
	r = (a - 1) & m;
	cc_set(cpu, EMU_CC_DEC, sz, r, a, emu_cf(cpu));
})
UNARY(op_not, { r = ~a & m; })
UNARY(op_neg, {
	r = (0 - a) & m;
	cc_set(cpu, EMU_CC_SUB, sz, r, 0, a);
})

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
	uint32_t fl = emu_flags(cpu) & ~RFLAGS_ZF;

	if (in->opsize == 8) {
		uint64_t lo, hi;
		if (ea & 15)
			emu_raise_err(cpu, EXC_GP, 0);
		lo = emu_read(cpu, in->seg, ea, 8);
		hi = emu_read(cpu, in->seg, ea + 8, 8);
		if (lo == cpu->gpr[X86_RAX] && hi == cpu->gpr[X86_RDX]) {
			emu_write(cpu, in->seg, ea, cpu->gpr[X86_RBX], 8);
			emu_write(cpu, in->seg, ea + 8, cpu->gpr[X86_RCX], 8);
			fl |= RFLAGS_ZF;
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
			fl |= RFLAGS_ZF;
		} else {
			emu_write(cpu, in->seg, ea, v, 8);
			cpu->gpr[X86_RAX] = (uint32_t)v;
			cpu->gpr[X86_RDX] = v >> 32;
		}
	}
	cc_set_flags(cpu, fl);
}

/* The handler for this operand size, for the handlers that have sized
 * variants; others are returned as they are. */
emu_exec_fn emu_alu_specialize(emu_exec_fn fn, unsigned sz)
{
#define SPEC(h)           \
	if (fn == op_##h) \
		return sz == 1 ? op_##h##_1 : sz == 2 ? op_##h##_2 : sz == 4 ? op_##h##_4 : op_##h##_8;
#define SPEC3(n) SPEC(n##_EG) SPEC(n##_GE) SPEC(n##_EI)
	/* clang-format off */
	SPEC3(add) SPEC3(or) SPEC3(adc) SPEC3(sbb) SPEC3(and) SPEC3(sub) SPEC3(xor) SPEC3(cmp)
	SPEC(test_EG) SPEC(test_EI) SPEC(inc) SPEC(dec) SPEC(not) SPEC(neg)
	return fn;
	/* clang-format on */
#undef SPEC3
#undef SPEC
}
