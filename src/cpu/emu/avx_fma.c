/* FMA3 (VFMADD/VFMSUB/VFNMADD/VFNMSUB/VFMADDSUB/VFMSUBADD 132/213/231,
 * PS/PD/SS/SD) and F16C (VCVTPH2PS, VCVTPS2PH).
 *
 * A fused multiply-add rounds once: each element is computed with the C
 * library's fma()/fmaf() under the guest's MXCSR rounding mode (fesetround)
 * with the host's exception flags read back (fetestexcept); what MXCSR adds
 * to IEEE (DAZ, FTZ, the denormal flag, the x86 NaN rules) is applied
 * here.  Half-precision conversions are integer code. */
#include <fenv.h>
#include <math.h>

#include "cpu/emu/avx.h"

#define F_IE 0x01u
#define F_DE 0x02u
#define F_ZE 0x04u
#define F_OE 0x08u
#define F_UE 0x10u
#define F_PE 0x20u

static int host_round(uint32_t mxcsr)
{
	static const int rc[4] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };
	return rc[mxcsr >> 13 & 3];
}

static uint32_t host_flags(void)
{
	int e = fetestexcept(FE_ALL_EXCEPT);
	return (e & FE_INVALID ? F_IE : 0) | (e & FE_DIVBYZERO ? F_ZE : 0) | (e & FE_OVERFLOW ? F_OE : 0) |
	       (e & FE_UNDERFLOW ? F_UE : 0) | (e & FE_INEXACT ? F_PE : 0);
}

/* Element formats: single (4 bytes) or double (8). */
struct fmt {
	unsigned bytes;
	uint64_t sign, exp, man, quiet;
};
static const struct fmt F32 = { 4, 0x80000000u, 0x7f800000u, 0x7fffffu, 0x400000u };
static const struct fmt F64 = { 8, 1ULL << 63, 0x7ff0000000000000ULL, 0xfffffffffffffULL, 1ULL << 51 };

static bool is_nan(const struct fmt *f, uint64_t x)
{
	return (x & f->exp) == f->exp && (x & f->man);
}
static bool is_denormal(const struct fmt *f, uint64_t x)
{
	return !(x & f->exp) && (x & f->man);
}

/* One element: op[0..2] are the instruction's operands 1, 2 and 3; form
 * 0/1/2 is 132/213/231; negp negates the product, negc the addend. */
static uint64_t fma_elem(const struct fmt *f, const uint64_t op[3], unsigned form, bool negp, bool negc, uint32_t mxcsr,
                         uint32_t *flags)
{
	static const uint8_t pick[3][3] = { { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 } }; /* a, b, c */
	uint64_t v[3];
	uint32_t fl = 0;
	bool daz = mxcsr & 0x40, any_nan = false;
	for (unsigned i = 0; i < 3; i++) {
		v[i] = op[i];
		if (is_denormal(f, v[i])) {
			if (daz)
				v[i] &= f->sign;
		}
		any_nan |= is_nan(f, v[i]);
	}
	uint64_t a = v[pick[form][0]], b = v[pick[form][1]], c = v[pick[form][2]];
	if (any_nan) {
		for (unsigned i = 0; i < 3; i++)
			if (is_nan(f, v[i]) && !(v[i] & f->quiet))
				fl |= F_IE;
		/* (inf * 0 with a quiet NaN addend is not invalid: the NaN wins) */
		uint64_t r = 0;
		for (unsigned i = 0; i < 3; i++) {
			unsigned k = pick[form][i];
			if (is_nan(f, v[k])) {
				r = v[k] | f->quiet;
				break;
			}
		}
		*flags |= fl;
		return r;
	}
	if (!daz)
		for (unsigned i = 0; i < 3; i++)
			if (is_denormal(f, v[i]))
				fl |= F_DE;
	if (negp)
		a ^= f->sign;
	if (negc)
		c ^= f->sign;
	uint64_t r = 0;
	feclearexcept(FE_ALL_EXCEPT);
	if (f->bytes == 4) {
		volatile float x, y, z, res;
		uint32_t t;
		t = (uint32_t)a, memcpy((void *)&x, &t, 4);
		t = (uint32_t)b, memcpy((void *)&y, &t, 4);
		t = (uint32_t)c, memcpy((void *)&z, &t, 4);
		res = fmaf(x, y, z);
		memcpy(&t, (const void *)&res, 4);
		r = t;
	} else {
		volatile double x, y, z, res;
		memcpy((void *)&x, &a, 8);
		memcpy((void *)&y, &b, 8);
		memcpy((void *)&z, &c, 8);
		res = fma(x, y, z);
		memcpy(&r, (const void *)&res, 8);
	}
	fl |= host_flags();
	bool tiny = is_denormal(f, r) || ((fl & F_UE) != 0);
	if (tiny && !(mxcsr & (F_UE << 7)))
		fl |= F_UE; /* unmasked: tininess alone */
	else if (tiny && (mxcsr & 0x8000)) {
		r &= f->sign; /* FTZ */
		fl |= F_UE | F_PE;
	}
	if (fl & F_IE)
		fl &= ~(uint32_t)F_DE;
	*flags |= fl;
	return r;
}

static void fma_op(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned lo = in->opcode & 0x0f, form = (in->opcode >> 4) - 9;
	bool dbl = in->rex & 8, scalar = (lo & 1) && lo >= 9;
	const struct fmt *f = dbl ? &F64 : &F32;
	unsigned es = f->bytes, n = scalar ? 1 : (VL(in) ? 32 : 16) / es;
	uint8_t o1[32], o2[32], o3[32] = { 0 };
	memcpy(o1, &cpu->xmm[in->reg], 16);
	memcpy(o1 + 16, &cpu->ymmh[in->reg], 16);
	memcpy(o2, &cpu->xmm[in->vvvv], 16);
	memcpy(o2 + 16, &cpu->ymmh[in->vvvv], 16);
	if (scalar) {
		if (in->has_mem) {
			uint64_t x = emu_read(cpu, in->seg, emu_ea(cpu, in), es);
			memcpy(o3, &x, es);
		} else {
			memcpy(o3, &cpu->xmm[in->rm], 16);
		}
	} else {
		avx_src(cpu, in, (X *)o3, false);
	}
	int saved = fegetround();
	fesetround(host_round(cpu->mxcsr));
	uint32_t fl = 0;
	uint8_t r[32];
	memcpy(r, o1, 32);
	for (unsigned i = 0; i < n; i++) {
		uint64_t op[3] = { 0, 0, 0 }, x;
		memcpy(&op[0], o1 + i * es, es);
		memcpy(&op[1], o2 + i * es, es);
		memcpy(&op[2], o3 + i * es, es);
		bool negp = lo >= 0xc, negc;
		switch (lo) {
		case 6: negc = !(i & 1); break; /* FMADDSUB: subtract in even elements */
		case 7: negc = i & 1; break;    /* FMSUBADD: in odd ones */
		default: negc = lo == 0xa || lo == 0xb || lo == 0xe || lo == 0xf; break;
		}
		x = fma_elem(f, op, form, negp, negc, cpu->mxcsr, &fl);
		memcpy(r + i * es, &x, es);
	}
	feclearexcept(FE_ALL_EXCEPT);
	fesetround(saved);
	sse_fp_flags(cpu, fl);
	if (scalar || !VL(in))
		memset(r + 16, 0, 16);
	memcpy(&cpu->xmm[in->reg], r, 16);
	memcpy(&cpu->ymmh[in->reg], r + 16, 16);
}

emu_exec_fn avx_fma_select(struct emu_insn *in)
{
	/* (VEX.W picks PS/PD or SS/SD; the scalar forms ignore VEX.L) */
	return (in->opcode & 0x0f) >= 6 ? fma_op : NULL;
}

/* ---- F16C ------------------------------------------------------------------- */

static uint32_t half_to_single(uint16_t h, uint32_t *fl)
{
	uint32_t s = (uint32_t)(h & 0x8000) << 16, e = h >> 10 & 31, m = h & 0x3ff;
	if (e == 31) {
		if (!m)
			return s | 0x7f800000;
		if (!(m & 0x200))
			*fl |= F_IE;
		return s | 0x7fc00000 | m << 13;
	}
	if (e == 0) {
		if (!m)
			return s;
		/* denormal: m * 2^-24, normalised */
		int shift = 0;
		while (!(m & 0x400))
			m <<= 1, shift++;
		return s | (uint32_t)(127 - 15 - shift + 1) << 23 | (m & 0x3ff) << 13;
	}
	return s | (e - 15 + 127) << 23 | m << 13;
}

/* rc: 0 nearest, 1 down, 2 up, 3 toward zero. */
static uint16_t single_to_half(uint32_t x, unsigned rc, bool daz, uint32_t mxcsr, uint32_t *fl)
{
	uint16_t s = (uint16_t)(x >> 16 & 0x8000);
	uint32_t e = x >> 23 & 0xff, m = x & 0x7fffff;
	if (e == 255) {
		if (!m)
			return s | 0x7c00;
		if (!(m & 0x400000))
			*fl |= F_IE;
		return (uint16_t)(s | 0x7e00 | m >> 13);
	}
	if (e == 0 && m) {
		if (daz)
			return s;
		*fl |= F_DE;
	}
	if (e == 0 && !m)
		return s;
	/* value = sig * 2^(E - 23) with sig holding the implicit bit */
	uint32_t sig = e ? m | 0x800000 : m;
	int E = e ? (int)e - 127 : -126;
	int shift = E >= -14 ? 13 : 13 + (-14 - E);
	uint32_t q, rem, half;
	if (shift >= 32) {
		q = 0, rem = sig, half = 0; /* (below half an ULP: never rounds up to nearest) */
	} else {
		q = sig >> shift;
		rem = sig & ((1u << shift) - 1);
		half = 1u << (shift - 1);
	}
	bool inexact = rem != 0, up = false;
	switch (rc) {
	case 0: up = shift < 32 && (rem > half || (rem == half && (q & 1))); break;
	case 1: up = inexact && s; break;
	case 2: up = inexact && !s; break;
	default: break;
	}
	q += up;
	int he = E >= -14 ? E + 15 : 0; /* biased exponent of q's leading bit position */
	uint32_t out;
	if (E >= -14) {
		if (q & 0x800) /* rounding carried into the next binade */
			q >>= 1, he++;
		out = (uint32_t)he << 10 | (q & 0x3ff);
	} else {
		out = q; /* a denormal, or the smallest normal after rounding (q = 0x400) */
	}
	if (he >= 31) {
		*fl |= F_OE | F_PE;
		bool to_inf = rc == 0 || (rc == 1 && s) || (rc == 2 && !s);
		return (uint16_t)(s | (to_inf ? 0x7c00 : 0x7bff));
	}
	/* tiny after rounding, as the hardware detects it: below the smallest
	 * normal once rounded to 11 significant bits with an unbounded
	 * exponent (only [2^-15, 2^-14) can round up to it) */
	bool tiny = E < -14;
	if (E == -15) {
		uint32_t q11 = sig >> 13, r11 = sig & 0x1fff;
		bool up11 = rc == 0   ? (r11 > 0x1000 || (r11 == 0x1000 && (q11 & 1)))
		            : rc == 1 ? r11 && s
		            : rc == 2 ? r11 && !s
		                      : false;
		tiny = q11 + up11 < 0x800;
	}
	if (inexact)
		*fl |= F_PE;
	if (tiny && (inexact || !(mxcsr & (F_UE << 7))))
		*fl |= F_UE;
	return (uint16_t)(s | out);
}

/* VEX.66.0F38.W0 13: VCVTPH2PS xmm/ymm, xmm/m64/m128. */
static void cvtph2ps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = VL(in) ? 8 : 4;
	uint16_t h[8] = { 0 };
	if (in->has_mem)
		avx_load(cpu, in, emu_ea(cpu, in), h, n * 2, false);
	else
		memcpy(h, &cpu->xmm[in->rm], 16);
	uint32_t fl = 0, r[8] = { 0 };
	for (unsigned i = 0; i < n; i++)
		r[i] = half_to_single(h[i], &fl);
	sse_fp_flags(cpu, fl);
	memcpy(&cpu->xmm[in->reg], r, 16);
	memcpy(&cpu->ymmh[in->reg], r + 4, 16);
}

/* VEX.66.0F3A.W0 1D: VCVTPS2PH xmm/m64/m128, xmm/ymm, imm8 (imm8[2]: the
 * MXCSR rounding mode, else imm8[1:0]); FTZ does not apply, DAZ does. */
static void cvtps2ph(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = VL(in) ? 8 : 4, rc = in->imm & 4 ? cpu->mxcsr >> 13 & 3 : in->imm & 3;
	uint32_t s[8], fl = 0;
	uint16_t h[8] = { 0 };
	memcpy(s, &cpu->xmm[in->reg], 16);
	memcpy(s + 4, &cpu->ymmh[in->reg], 16);
	for (unsigned i = 0; i < n; i++) {
		uint32_t f1 = 0;
		h[i] = single_to_half(s[i], rc, cpu->mxcsr & 0x40, cpu->mxcsr, &f1);
		fl |= f1;
	}
	sse_fp_flags(cpu, fl);
	if (in->has_mem) {
		avx_store(cpu, in, emu_ea(cpu, in), h, n * 2, false);
	} else {
		memcpy(&cpu->xmm[in->rm], h, 16);
		memset(&cpu->ymmh[in->rm], 0, 16);
	}
}

emu_exec_fn avx_f16c_select(struct emu_insn *in)
{
	if (in->vvvv || (in->rex & 8))
		return NULL;
	return in->map == 2 ? cvtph2ps : cvtps2ph;
}
