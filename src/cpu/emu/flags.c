/* Lazy arithmetic flags: computing CF/PF/AF/ZF/SF/OF from the last
 * flag-setting operation recorded in cpu->cc (see flags.h). */
#include "cpu/emu/flags.h"

uint32_t emu_cc_compute(const struct emu_flags *cc)
{
	unsigned size = cc->size;
	uint64_t m = sz_mask(size), sign = sz_sign(size);
	uint64_t d = cc->dst & m, a = cc->src1, b = cc->src2;
	uint32_t f;

	switch (cc->op) {
	case EMU_CC_FLAGS: return (uint32_t)cc->dst & RFLAGS_ARITH;
	case EMU_CC_ADD:
	case EMU_CC_ADC:
		f = flags_szp(d, size) | ((a ^ b ^ d) & 0x10);
		if (cc->op == EMU_CC_ADD ? d < a : d <= a)
			f |= RFLAGS_CF;
		if ((a ^ d) & (b ^ d) & sign)
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_SUB:
	case EMU_CC_SBB:
		f = flags_szp(d, size) | ((a ^ b ^ d) & 0x10);
		if (cc->op == EMU_CC_SUB ? a < b : a <= b)
			f |= RFLAGS_CF;
		if ((a ^ b) & (a ^ d) & sign)
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_LOGIC: return flags_szp(d, size);
	case EMU_CC_INC:
		f = flags_szp(d, size) | ((a ^ d) & 0x10) | (b ? RFLAGS_CF : 0);
		if (d == sign)
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_DEC:
		f = flags_szp(d, size) | ((a ^ d) & 0x10) | (b ? RFLAGS_CF : 0);
		if (a == sign)
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_SHL:
		f = flags_szp(d, size);
		if (b <= size * 8 && ((a >> (size * 8 - b)) & 1))
			f |= RFLAGS_CF;
		if (!!(d & sign) ^ (f & RFLAGS_CF))
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_SHR:
		f = flags_szp(d, size);
		if (b <= 64 && ((a >> (b - 1)) & 1))
			f |= RFLAGS_CF;
		if (a & sign)
			f |= RFLAGS_OF;
		return f;
	case EMU_CC_SAR:
		f = flags_szp(d, size);
		if ((sz_sext(a, size) >> (b - 1 > 63 ? 63 : b - 1)) & 1)
			f |= RFLAGS_CF;
		return f;
	case EMU_CC_MUL:
		f = flags_szp(d, size);
		if (a)
			f |= RFLAGS_CF | RFLAGS_OF;
		return f;
	}
	return 0;
}

bool emu_cond_slow(struct emu_cpu *cpu, unsigned cond)
{
	uint32_t f = emu_flags(cpu);
	bool r;

	switch (cond >> 1) {
	case 0: r = f & RFLAGS_OF; break;
	case 1: r = f & RFLAGS_CF; break;
	case 2: r = f & RFLAGS_ZF; break;
	case 3: r = f & (RFLAGS_CF | RFLAGS_ZF); break;
	case 4: r = f & RFLAGS_SF; break;
	case 5: r = f & RFLAGS_PF; break;
	case 6: r = !(f & RFLAGS_SF) != !(f & RFLAGS_OF); break;
	default: r = (f & RFLAGS_ZF) || (!(f & RFLAGS_SF) != !(f & RFLAGS_OF)); break;
	}
	return r ^ (cond & 1);
}

uint64_t emu_get_rflags(struct emu_cpu *cpu)
{
	return (cpu->rflags & ~(uint64_t)RFLAGS_ARITH) | emu_flags(cpu) | RFLAGS_FIXED;
}

void emu_set_rflags(struct emu_cpu *cpu, uint64_t v)
{
	cpu->rflags = (v & ~(uint64_t)RFLAGS_ARITH) | RFLAGS_FIXED;
	if (v & RFLAGS_RF)
		cpu->dbg_slow |= 2; /* the executor clears RF after the next instruction */
	cc_set_flags(cpu, (uint32_t)v);
	if (__builtin_expect((cpu->cr4 & CR4_SMAP) != 0, 0))
		emu_mmu_update_smap(cpu); /* AC lifts SMAP */
}
