/* Lazy arithmetic flags: inline helpers shared by the integer handlers.
 *
 * A flag-setting handler stores (op, size, result, operands) in cpu->cc;
 * the six arithmetic flags are computed only when read.  Conditions (Jcc,
 * SETcc, CMOVcc) are evaluated straight from the operands for the common
 * CMP/SUB and logic cases.  Values in cc are already truncated to size. */
#ifndef SYMBIONT_EMU_FLAGS_H
#define SYMBIONT_EMU_FLAGS_H

#include "cpu/emu/emu.h"

/* The RFLAGS bits are in symbiont/x86.h. */

enum {
	EMU_CC_FLAGS, /* dst holds the six flags themselves */
	EMU_CC_ADD,   /* dst = src1 + src2 */
	EMU_CC_ADC,   /* dst = src1 + src2 + 1 (ADC with carry 0 is EMU_CC_ADD) */
	EMU_CC_SUB,   /* dst = src1 - src2 (CMP, NEG as 0 - x) */
	EMU_CC_SBB,   /* dst = src1 - src2 - 1 */
	EMU_CC_LOGIC, /* CF = OF = 0 */
	EMU_CC_INC,   /* dst = src1 + 1, src2 = carry before */
	EMU_CC_DEC,   /* dst = src1 - 1, src2 = carry before */
	EMU_CC_SHL,   /* dst = src1 << src2, src2 in 1..63 */
	EMU_CC_SHR,
	EMU_CC_SAR,
	EMU_CC_MUL, /* CF = OF = src1 (0/1); SZP from dst */
};

static inline uint64_t sz_mask(unsigned size)
{
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline uint64_t sz_sign(unsigned size)
{
	return 1ULL << (size * 8 - 1);
}

static inline int64_t sz_sext(uint64_t v, unsigned size)
{
	unsigned sh = 64 - size * 8;
	return (int64_t)(v << sh) >> sh;
}

static inline void cc_set(struct emu_cpu *cpu, uint32_t op, unsigned size, uint64_t dst, uint64_t s1, uint64_t s2)
{
	cpu->cc.op = op;
	cpu->cc.size = size;
	cpu->cc.dst = dst;
	cpu->cc.src1 = s1;
	cpu->cc.src2 = s2;
}

/* Flags given explicitly (only the six arithmetic bits are kept). */
static inline void cc_set_flags(struct emu_cpu *cpu, uint32_t fl)
{
	cpu->cc.op = EMU_CC_FLAGS;
	cpu->cc.size = 8;
	cpu->cc.dst = fl & RFLAGS_ARITH;
}

/* PF, ZF and SF of a result. */
static inline uint32_t flags_szp(uint64_t res, unsigned size)
{
	uint32_t f = __builtin_parity((uint8_t)res) ? 0 : RFLAGS_PF;
	res &= sz_mask(size);
	if (!res)
		f |= RFLAGS_ZF;
	if (res & sz_sign(size))
		f |= RFLAGS_SF;
	return f;
}

uint32_t emu_cc_compute(const struct emu_flags *cc);
bool emu_cond_slow(struct emu_cpu *cpu, unsigned cond);

static inline uint32_t emu_flags(struct emu_cpu *cpu)
{
	if (cpu->cc.op == EMU_CC_FLAGS)
		return (uint32_t)cpu->cc.dst;
	return emu_cc_compute(&cpu->cc);
}

static inline __attribute__((always_inline)) bool emu_cf(struct emu_cpu *cpu)
{
	const struct emu_flags *cc = &cpu->cc;
	switch (cc->op) {
	case EMU_CC_FLAGS: return cc->dst & RFLAGS_CF;
	case EMU_CC_ADD: return cc->dst < cc->src1;
	case EMU_CC_ADC: return cc->dst <= cc->src1;
	case EMU_CC_SUB: return cc->src1 < cc->src2;
	case EMU_CC_SBB: return cc->src1 <= cc->src2;
	case EMU_CC_LOGIC: return false;
	case EMU_CC_MUL: return cc->src1;
	case EMU_CC_INC:
	case EMU_CC_DEC: return cc->src2;
	default: return emu_cc_compute(cc) & RFLAGS_CF;
	}
}

/* Condition code 0..15 as in Jcc's low nibble. */
static inline __attribute__((always_inline)) bool emu_cond(struct emu_cpu *cpu, unsigned cond)
{
	const struct emu_flags *cc = &cpu->cc;
	if (cc->op == EMU_CC_SUB) {
		uint64_t a = cc->src1, b = cc->src2;
		int64_t sa, sb;
		bool r;
		switch (cond >> 1) {
		case 1: r = a < b; break;  /* B */
		case 2: r = a == b; break; /* Z */
		case 3: r = a <= b; break; /* BE */
		case 6:
			sa = sz_sext(a, cc->size), sb = sz_sext(b, cc->size);
			r = sa < sb; /* L */
			break;
		case 7:
			sa = sz_sext(a, cc->size), sb = sz_sext(b, cc->size);
			r = sa <= sb; /* LE */
			break;
		default: return emu_cond_slow(cpu, cond);
		}
		return r ^ (cond & 1);
	}
	if (cc->op == EMU_CC_LOGIC) {
		uint64_t d = cc->dst;
		bool r;
		switch (cond >> 1) {
		case 0: r = false; break; /* O */
		case 1: r = false; break; /* B */
		case 2: r = d == 0; break;
		case 3: r = d == 0; break; /* BE = CF|ZF */
		case 4: r = d & sz_sign(cc->size); break;
		case 6: r = d & sz_sign(cc->size); break; /* L = SF^OF */
		case 7: r = d == 0 || (d & sz_sign(cc->size)); break;
		default: return emu_cond_slow(cpu, cond);
		}
		return r ^ (cond & 1);
	}
	if ((cond >> 1) == 1) /* B/NB: CF alone is cheap for most operations */
		return emu_cf(cpu) ^ (cond & 1);
	/* ZF and SF come from the result for every recorded operation. */
	if (cc->op != EMU_CC_FLAGS) {
		if ((cond >> 1) == 2)
			return !(cc->dst & sz_mask(cc->size)) ^ (cond & 1);
		if ((cond >> 1) == 4)
			return !!(cc->dst & sz_sign(cc->size)) ^ (cond & 1);
	}
	return emu_cond_slow(cpu, cond);
}

#endif
