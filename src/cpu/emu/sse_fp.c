/* SSE/SSE2/SSE3 floating point: PS/PD/SS/SD arithmetic, compares and
 * conversions, and the FP-register moves, shuffles and masks.  Each one runs the same instruction on the host with the
 * guest's MXCSR rounding, FZ and DAZ loaded (and every exception masked, so
 * the host never traps); the flags it raises come back through STMXCSR.
 * That makes results, NaN propagation, MIN/MAX operand order, integer
 * indefinite values and the flags bit-exact without a softfloat library.
 * An exception the guest left unmasked turns into #XM (or #UD without
 * CR4.OSXMMEXCPT) before the destination is written. */
#include "cpu/emu/sse.h"

/* Unmasked exceptions are precise: an unmasked pre-computation exception
 * (IE, DE, ZE) in any lane stops the instruction before the
 * post-computation ones (OE, UE, PE) are even detected. */
_Noreturn void sse_fp_fault(struct emu_cpu *cpu, uint32_t flags)
{
	uint32_t um = ~(cpu->mxcsr >> 7) & MXCSR_FLAGS;
	if (flags & um & 7)
		flags &= 7;
	else if (flags & um & 0x18) /* unmasked OE/UE: PE is not reported (as the host does) */
		flags &= ~0x20u;
	cpu->mxcsr |= flags & MXCSR_FLAGS;
	emu_raise(cpu, (cpu->cr4 & CR4_OSXMMEXCPT) ? EXC_XM : EXC_UD);
}

#define FP4(op) FP(op##ps, #op "ps", 16) FP(op##ss, #op "ss", 4) FP(op##pd, #op "pd", 16) FP(op##sd, #op "sd", 8)
FP4(add)
FP4(sub)
FP4(mul)
FP4(div)
FP4(min)
FP4(max)
FP4(sqrt)
FP(addsubps, "addsubps", 16)
FP(addsubpd, "addsubpd", 16)
FP(haddps, "haddps", 16)
FP(haddpd, "haddpd", 16)
FP(hsubps, "hsubps", 16)
FP(hsubpd, "hsubpd", 16)
FP(rcpps, "rcpps", 16)
FP(rcpss, "rcpss", 4)
FP(rsqrtps, "rsqrtps", 16)
FP(rsqrtss, "rsqrtss", 4)
FP(cvtps2pd, "cvtps2pd", 8)
FP(cvtpd2ps, "cvtpd2ps", 16)
FP(cvtss2sd, "cvtss2sd", 4)
FP(cvtsd2ss, "cvtsd2ss", 8)
FP(cvtdq2ps, "cvtdq2ps", 16)
FP(cvtps2dq, "cvtps2dq", 16)
FP(cvttps2dq, "cvttps2dq", 16)
FP(cvtdq2pd, "cvtdq2pd", 8)
FP(cvtpd2dq, "cvtpd2dq", 16)
FP(cvttpd2dq, "cvttpd2dq", 16)

/* CMPxx with the predicate in imm8[2:0]: one handler per predicate. */
#define CMP1(kind, msz, p) FP(cmp##kind##_##p, "cmp" #kind " $" #p ",", msz)
/* clang-format off */
#define CMP8(kind, msz)                                                              \
	CMP1(kind, msz, 0) CMP1(kind, msz, 1) CMP1(kind, msz, 2) CMP1(kind, msz, 3)  \
	CMP1(kind, msz, 4) CMP1(kind, msz, 5) CMP1(kind, msz, 6) CMP1(kind, msz, 7)  \
	static const emu_exec_fn cmp##kind##_ops[8] = {                              \
		cmp##kind##_0, cmp##kind##_1, cmp##kind##_2, cmp##kind##_3,          \
		cmp##kind##_4, cmp##kind##_5, cmp##kind##_6, cmp##kind##_7           \
	};
/* clang-format on */
CMP8(ps, 16)
CMP8(ss, 4)
CMP8(pd, 16)
CMP8(sd, 8)

/* ---- COMIS / UCOMIS: ZF PF CF from the compare, OF SF AF cleared -------- */

#define HOSTCMP(name, insn)                                                                         \
	static inline uint32_t host_##name(const X *d, const X *s, uint32_t mx, uint64_t *fl)       \
	{                                                                                           \
		v2di a, b;                                                                          \
		uint32_t sv;                                                                        \
		uint8_t z, p, c;                                                                    \
		__builtin_memcpy(&a, d, 16);                                                        \
		__builtin_memcpy(&b, s, 16);                                                        \
		__asm__ volatile(HOST_PRE insn " %[b], %[a]" HOST_POST                              \
		                 : [mx] "+m"(mx), [sv] "=m"(sv), "=@ccz"(z), "=@ccp"(p), "=@ccc"(c) \
		                 : [a] "x"(a), [b] "x"(b));                                         \
		*fl = (uint64_t)z << 6 | (uint64_t)p << 2 | c;                                      \
		return mx;                                                                          \
	}                                                                                           \
	static void name(struct emu_cpu *cpu, const struct emu_insn *in)                            \
	{                                                                                           \
		sse_check(cpu);                                                                     \
		X t;                                                                                \
		const X *s = sse_src(cpu, in, &t, insn[sizeof(insn) - 2] == 's' ? 4 : 8, false);    \
		uint64_t fl;                                                                        \
		sse_fp_flags(cpu, host_##name(&cpu->xmm[in->reg], s, host_mxcsr(cpu), &fl));        \
		emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~0x8d5ULL) | fl);                        \
	}
HOSTCMP(comiss, "comiss")
HOSTCMP(ucomiss, "ucomiss")
HOSTCMP(comisd, "comisd")
HOSTCMP(ucomisd, "ucomisd")

/* ---- conversions with a general register -------------------------------- */

/* CVT(T)SS2SI / CVT(T)SD2SI r32/r64, xmm/m32/m64 */
#define TOINT(name, insn, msz)                                                       \
	static void name(struct emu_cpu *cpu, const struct emu_insn *in)             \
	{                                                                            \
		sse_check(cpu);                                                      \
		X t;                                                                 \
		const X *s = sse_src(cpu, in, &t, msz, false);                       \
		v2di b;                                                              \
		__builtin_memcpy(&b, s, 16);                                         \
		uint32_t mx = host_mxcsr(cpu), sv;                                   \
		uint64_t r;                                                          \
		if (in->rex & 8)                                                     \
			__asm__ volatile(HOST_PRE insn " %[b], %q[r]" HOST_POST      \
			                 : [r] "=r"(r), [mx] "+m"(mx), [sv] "=m"(sv) \
			                 : [b] "x"(b));                              \
		else                                                                 \
			__asm__ volatile(HOST_PRE insn " %[b], %k[r]" HOST_POST      \
			                 : [r] "=r"(r), [mx] "+m"(mx), [sv] "=m"(sv) \
			                 : [b] "x"(b));                              \
		sse_fp_flags(cpu, mx);                                               \
		cpu->gpr[in->reg] = (in->rex & 8) ? r : (uint32_t)r;                 \
	}
TOINT(cvtss2si, "cvtss2si", 4)
TOINT(cvttss2si, "cvttss2si", 4)
TOINT(cvtsd2si, "cvtsd2si", 8)
TOINT(cvttsd2si, "cvttsd2si", 8)

/* CVTSI2SS / CVTSI2SD xmm, r/m32/64 */
#define FROMINT(name, insn)                                                                                \
	static void name(struct emu_cpu *cpu, const struct emu_insn *in)                                   \
	{                                                                                                  \
		sse_check(cpu);                                                                            \
		unsigned sz = (in->rex & 8) ? 8 : 4;                                                       \
		uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), sz) : cpu->gpr[in->rm]; \
		v2di a;                                                                                    \
		__builtin_memcpy(&a, &cpu->xmm[in->reg], 16);                                              \
		uint32_t mx = host_mxcsr(cpu), sv;                                                         \
		if (sz == 8)                                                                               \
			__asm__ volatile(HOST_PRE insn "q %q[v], %[a]" HOST_POST                           \
			                 : [a] "+x"(a), [mx] "+m"(mx), [sv] "=m"(sv)                       \
			                 : [v] "r"(v));                                                    \
		else                                                                                       \
			__asm__ volatile(HOST_PRE insn "l %k[v], %[a]" HOST_POST                           \
			                 : [a] "+x"(a), [mx] "+m"(mx), [sv] "=m"(sv)                       \
			                 : [v] "r"(v));                                                    \
		sse_fp_flags(cpu, mx);                                                                     \
		__builtin_memcpy(&cpu->xmm[in->reg], &a, 16);                                              \
	}
FROMINT(cvtsi2ss, "cvtsi2ss")
FROMINT(cvtsi2sd, "cvtsi2sd")

/* ---- conversions with an MMX register ------------------------------------
 * Done with the XMM forms on the low lanes (the spare lanes hold zeros,
 * which raise no flags).  A register MMX operand switches the x87 to MMX
 * mode; a memory operand of CVTPI2PS/PD does not. */

static void cvtpi2ps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X s = { .q = { 0, 0 } }, d = cpu->xmm[in->reg], r = { .q = { 0, 0 } };
	if (in->has_mem) {
		s.q[0] = emu_read(cpu, in->seg, emu_ea(cpu, in), 8);
	} else {
		mmx_enter(cpu);
		s.q[0] = mmx_get(cpu, in->rm);
	}
	sse_fp_flags(cpu, host_cvtdq2ps(&r, &s, host_mxcsr(cpu)));
	d.q[0] = r.q[0];
	cpu->xmm[in->reg] = d;
}

static void cvtpi2pd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X s = { .q = { 0, 0 } }, r = { .q = { 0, 0 } };
	if (in->has_mem) {
		s.q[0] = emu_read(cpu, in->seg, emu_ea(cpu, in), 8);
	} else {
		mmx_enter(cpu);
		s.q[0] = mmx_get(cpu, in->rm);
	}
	sse_fp_flags(cpu, host_cvtdq2pd(&r, &s, host_mxcsr(cpu)));
	cpu->xmm[in->reg] = r;
}

/* CVT(T)PS2PI mm, xmm/m64 and CVT(T)PD2PI mm, xmm/m128 */
SSE_INLINE void to_pi(struct emu_cpu *cpu, const struct emu_insn *in, unsigned msz, host_fn f)
{
	sse_check(cpu);
	if (fpu_pending(cpu))
		emu_raise(cpu, EXC_MF);
	X t, r = { .q = { 0, 0 } }, s;
	s = *sse_src(cpu, in, &t, msz, msz == 16);
	if (msz == 8)
		s.q[1] = 0;
	mmx_enter(cpu);
	sse_fp_flags(cpu, f(&r, &s, host_mxcsr(cpu)));
	mmx_set(cpu, in->reg, r.q[0]);
}
static void cvtps2pi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	to_pi(cpu, in, 8, host_cvtps2dq);
}
static void cvttps2pi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	to_pi(cpu, in, 8, host_cvttps2dq);
}
static void cvtpd2pi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	to_pi(cpu, in, 16, host_cvtpd2dq);
}
static void cvttpd2pi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	to_pi(cpu, in, 16, host_cvttpd2dq);
}

/* ---- bitwise, shuffles, masks (no FP exceptions) ------------------------ */

#define BITOP(name, expr)                                                \
	static void name(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                \
		sse_check(cpu);                                          \
		X t;                                                     \
		const X *s = sse_src(cpu, in, &t, 16, true);             \
		X *d = &cpu->xmm[in->reg];                               \
		for (int i = 0; i < 2; i++) {                            \
			uint64_t x = d->q[i], y = s->q[i];               \
			d->q[i] = (expr);                                \
		}                                                        \
	}
BITOP(andps, x &y)
BITOP(andnps, ~x &y)
BITOP(orps, x | y)
BITOP(xorps, x ^ y)

static void shufps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	unsigned m = in->imm & 0xff;
	r.d[0] = d->d[m & 3];
	r.d[1] = d->d[(m >> 2) & 3];
	r.d[2] = s->d[(m >> 4) & 3];
	r.d[3] = s->d[(m >> 6) & 3];
	cpu->xmm[in->reg] = r;
}

static void shufpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	r.q[0] = d->q[in->imm & 1];
	r.q[1] = s->q[(in->imm >> 1) & 1];
	cpu->xmm[in->reg] = r;
}

static void unpcklps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	r.d[0] = d->d[0], r.d[1] = s->d[0], r.d[2] = d->d[1], r.d[3] = s->d[1];
	cpu->xmm[in->reg] = r;
}

static void unpckhps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	r.d[0] = d->d[2], r.d[1] = s->d[2], r.d[2] = d->d[3], r.d[3] = s->d[3];
	cpu->xmm[in->reg] = r;
}

static void unpcklpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true);
	cpu->xmm[in->reg].q[1] = s->q[0];
}

static void unpckhpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true);
	uint64_t hi = s->q[1];
	cpu->xmm[in->reg].q[0] = cpu->xmm[in->reg].q[1];
	cpu->xmm[in->reg].q[1] = hi;
}

static void movmskps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	const X *s = &cpu->xmm[in->rm];
	cpu->gpr[in->reg] = (s->d[0] >> 31) | (s->d[1] >> 31) << 1 | (s->d[2] >> 31) << 2 | (s->d[3] >> 31) << 3;
}

static void movmskpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	const X *s = &cpu->xmm[in->rm];
	cpu->gpr[in->reg] = (s->q[0] >> 63) | (s->q[1] >> 63) << 1;
}

/* ---- moves -------------------------------------------------------------- */

SSE_INLINE void mov_load(struct emu_cpu *cpu, const struct emu_insn *in, bool aligned)
{
	sse_check(cpu);
	X t;
	cpu->xmm[in->reg] = *sse_src(cpu, in, &t, 16, aligned);
}

SSE_INLINE void mov_store(struct emu_cpu *cpu, const struct emu_insn *in, bool aligned)
{
	sse_check(cpu);
	if (in->has_mem)
		sse_store(cpu, in, &cpu->xmm[in->reg], 16, aligned);
	else
		cpu->xmm[in->rm] = cpu->xmm[in->reg];
}

static void movups_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mov_load(cpu, in, false);
}
static void movaps_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mov_load(cpu, in, true);
}
static void movups_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mov_store(cpu, in, false);
}
static void movaps_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mov_store(cpu, in, true);
}

static void movntps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	mov_store(cpu, in, true);
}

/* MOVSS/MOVSD: memory loads zero the rest, register moves merge. */
SSE_INLINE void movs_load(struct emu_cpu *cpu, const struct emu_insn *in, unsigned sz)
{
	sse_check(cpu);
	X *d = &cpu->xmm[in->reg];
	if (in->has_mem) {
		X t;
		sse_load(cpu, in, &t, sz, false);
		*d = t;
	} else if (sz == 4) {
		d->d[0] = cpu->xmm[in->rm].d[0];
	} else {
		d->q[0] = cpu->xmm[in->rm].q[0];
	}
}

SSE_INLINE void movs_store(struct emu_cpu *cpu, const struct emu_insn *in, unsigned sz)
{
	sse_check(cpu);
	const X *s = &cpu->xmm[in->reg];
	if (in->has_mem)
		emu_write(cpu, in->seg, emu_ea(cpu, in), sz == 4 ? s->d[0] : s->q[0], sz);
	else if (sz == 4)
		cpu->xmm[in->rm].d[0] = s->d[0];
	else
		cpu->xmm[in->rm].q[0] = s->q[0];
}

static void movss_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movs_load(cpu, in, 4);
}
static void movsd_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movs_load(cpu, in, 8);
}
static void movss_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movs_store(cpu, in, 4);
}
static void movsd_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movs_store(cpu, in, 8);
}

/* 0F 12: MOVLPS xmm, m64 / MOVHLPS xmm, xmm; 66 0F 12: MOVLPD xmm, m64.
 * 0F 16: MOVHPS xmm, m64 / MOVLHPS xmm, xmm; 66 0F 16: MOVHPD xmm, m64. */
static void movlps_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), 8) : cpu->xmm[in->rm].q[1];
	cpu->xmm[in->reg].q[0] = v;
}

static void movhps_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), 8) : cpu->xmm[in->rm].q[0];
	cpu->xmm[in->reg].q[1] = v;
}

static void movlpd_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	movlps_load(cpu, in);
}

static void movhpd_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	movhps_load(cpu, in);
}

/* 0F/66 0F 13: MOVLPS/MOVLPD m64, xmm; 17: MOVHPS/MOVHPD m64, xmm */
static void movlps_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->xmm[in->reg].q[0], 8);
}

static void movhps_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->xmm[in->reg].q[1], 8);
}

/* SSE3 duplicating moves: F3 0F 16 MOVSHDUP, F3 0F 12 MOVSLDUP (m128,
 * aligned), F2 0F 12 MOVDDUP (m64). */
static void movshdup(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true);
	uint32_t a = s->d[1], b = s->d[3];
	X *d = &cpu->xmm[in->reg];
	d->d[0] = d->d[1] = a;
	d->d[2] = d->d[3] = b;
}

static void movsldup(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true);
	uint32_t a = s->d[0], b = s->d[2];
	X *d = &cpu->xmm[in->reg];
	d->d[0] = d->d[1] = a;
	d->d[2] = d->d[3] = b;
}

static void movddup(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), 8) : cpu->xmm[in->rm].q[0];
	cpu->xmm[in->reg].q[0] = cpu->xmm[in->reg].q[1] = v;
}

/* ---- selection ---------------------------------------------------------- */

/* [opcode][none, 66, F3, F2] */
static const emu_exec_fn fp_ops[256][4] = {
	[0x10] = { movups_load, movups_load, movss_load, movsd_load },
	[0x11] = { movups_store, movups_store, movss_store, movsd_store },
	[0x12] = { movlps_load, movlpd_load, movsldup, movddup },
	[0x13] = { movlps_store, movlps_store },
	[0x14] = { unpcklps, unpcklpd },
	[0x15] = { unpckhps, unpckhpd },
	[0x16] = { movhps_load, movhpd_load, movshdup },
	[0x17] = { movhps_store, movhps_store },
	[0x28] = { movaps_load, movaps_load },
	[0x29] = { movaps_store, movaps_store },
	[0x2a] = { cvtpi2ps, cvtpi2pd, cvtsi2ss, cvtsi2sd },
	[0x2b] = { movntps, movntps },
	[0x2c] = { cvttps2pi, cvttpd2pi, cvttss2si, cvttsd2si },
	[0x2d] = { cvtps2pi, cvtpd2pi, cvtss2si, cvtsd2si },
	[0x2e] = { ucomiss, ucomisd },
	[0x2f] = { comiss, comisd },
	[0x50] = { movmskps, movmskpd },
	[0x51] = { sqrtps, sqrtpd, sqrtss, sqrtsd },
	[0x52] = { rsqrtps, NULL, rsqrtss },
	[0x53] = { rcpps, NULL, rcpss },
	[0x54] = { andps, andps },
	[0x55] = { andnps, andnps },
	[0x56] = { orps, orps },
	[0x57] = { xorps, xorps },
	[0x58] = { addps, addpd, addss, addsd },
	[0x59] = { mulps, mulpd, mulss, mulsd },
	[0x5a] = { cvtps2pd, cvtpd2ps, cvtss2sd, cvtsd2ss },
	[0x5b] = { cvtdq2ps, cvtps2dq, cvttps2dq },
	[0x5c] = { subps, subpd, subss, subsd },
	[0x5d] = { minps, minpd, minss, minsd },
	[0x5e] = { divps, divpd, divss, divsd },
	[0x5f] = { maxps, maxpd, maxss, maxsd },
	[0xc6] = { shufps, shufpd },
	[0x7c] = { NULL, haddpd, NULL, haddps },
	[0x7d] = { NULL, hsubpd, NULL, hsubps },
	[0xd0] = { NULL, addsubpd, NULL, addsubps },
	[0xe6] = { NULL, cvttpd2dq, cvtdq2pd, cvtpd2dq },
};

emu_exec_fn sse_fp_select(const struct emu_insn *in, unsigned pfx)
{
	unsigned op = in->opcode;
	if (op == 0xc2) {
		static const emu_exec_fn *const cmp[4] = { cmpps_ops, cmppd_ops, cmpss_ops, cmpsd_ops };
		return cmp[pfx][in->imm & 7];
	}
	if (op == 0x50 && in->has_mem)
		return NULL;
	if ((op == 0x7c || op == 0x7d || op == 0xd0) && !(__builtin_cpu_init(), __builtin_cpu_supports("sse3")))
		return NULL; /* SSE3 arithmetic runs on the host's SSE3 */
	return fp_ops[op][pfx];
}
