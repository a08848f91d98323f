/* MMX and SSE2 integer instructions: each operation is written once over
 * n bytes (8 for an MMX register, 16 for an XMM register) and wrapped into
 * one handler per register file, so the 0F xx (MMX) and 66 0F xx (SSE2)
 * forms share the arithmetic.  Results go to a temporary first because
 * source and destination may be the same register. */
#include "cpu/emu/sse.h"

typedef void (*int_fn)(X *r, const X *a, const X *b, unsigned n);

SSE_INLINE void mmx_op(struct emu_cpu *cpu, const struct emu_insn *in, int_fn f)
{
	mmx_enter(cpu);
	X r, a, b;
	b.q[0] = mmx_src(cpu, in);
	a.q[0] = mmx_get(cpu, in->reg);
	f(&r, &a, &b, 8);
	mmx_set(cpu, in->reg, r.q[0]);
}

SSE_INLINE void xmm_op(struct emu_cpu *cpu, const struct emu_insn *in, int_fn f)
{
	sse_check(cpu);
	X r, t;
	const X *b = sse_src(cpu, in, &t, 16, true);
	f(&r, &cpu->xmm[in->reg], b, 16);
	cpu->xmm[in->reg] = r;
}

#define PI(name)                                                              \
	static void name##_mm(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                     \
		mmx_op(cpu, in, op_##name);                                   \
	}                                                                     \
	static void name##_xm(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                     \
		xmm_op(cpu, in, op_##name);                                   \
	}

/* Lane loops: i runs over the lanes of type T in n bytes. */
#define LANES(T, n) for (unsigned i = 0; i < (n) / sizeof(T); i++)
#define OP2(name, T, fld, expr)                                             \
	SSE_INLINE void op_##name(X *r, const X *a, const X *b, unsigned n) \
	{                                                                   \
		LANES(T, n)                                                 \
		{                                                           \
			T x = a->fld[i], y = b->fld[i];                     \
			(void)x;                                            \
			r->fld[i] = (T)(expr);                              \
		}                                                           \
	}                                                                   \
	PI(name)

static inline int sat8(int v)
{
	return v < -128 ? -128 : v > 127 ? 127 : v;
}
static inline int sat16(int v)
{
	return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}
static inline int satu8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}
static inline int satu16(int v)
{
	return v < 0 ? 0 : v > 65535 ? 65535 : v;
}

OP2(paddb, uint8_t, b, x + y)
OP2(paddw, uint16_t, w, x + y)
OP2(paddd, uint32_t, d, x + y)
OP2(paddq, uint64_t, q, x + y)
OP2(psubb, uint8_t, b, x - y)
OP2(psubw, uint16_t, w, x - y)
OP2(psubd, uint32_t, d, x - y)
OP2(psubq, uint64_t, q, x - y)
OP2(paddsb, int8_t, sb, sat8(x + y))
OP2(paddsw, int16_t, sw, sat16(x + y))
OP2(paddusb, uint8_t, b, satu8(x + y))
OP2(paddusw, uint16_t, w, satu16(x + y))
OP2(psubsb, int8_t, sb, sat8(x - y))
OP2(psubsw, int16_t, sw, sat16(x - y))
OP2(psubusb, uint8_t, b, satu8(x - y))
OP2(psubusw, uint16_t, w, satu16(x - y))
OP2(pcmpeqb, uint8_t, b, x == y ? 0xff : 0)
OP2(pcmpeqw, uint16_t, w, x == y ? 0xffff : 0)
OP2(pcmpeqd, uint32_t, d, x == y ? 0xffffffffu : 0)
OP2(pcmpgtb, int8_t, sb, x > y ? -1 : 0)
OP2(pcmpgtw, int16_t, sw, x > y ? -1 : 0)
OP2(pcmpgtd, int32_t, sd, x > y ? -1 : 0)
OP2(pand, uint64_t, q, x &y)
OP2(pandn, uint64_t, q, ~x &y)
OP2(por, uint64_t, q, x | y)
OP2(pxor, uint64_t, q, x ^ y)
OP2(pmullw, uint16_t, w, (uint32_t)x *y)
OP2(pmulhw, int16_t, sw, ((int32_t)x * y) >> 16)
OP2(pmulhuw, uint16_t, w, ((uint32_t)x * y) >> 16)
OP2(pavgb, uint8_t, b, (x + y + 1) >> 1)
OP2(pavgw, uint16_t, w, (x + y + 1) >> 1)
OP2(pminub, uint8_t, b, x < y ? x : y)
OP2(pmaxub, uint8_t, b, x > y ? x : y)
OP2(pminsw, int16_t, sw, x < y ? x : y)
OP2(pmaxsw, int16_t, sw, x > y ? x : y)

SSE_INLINE void op_pmuludq(X *r, const X *a, const X *b, unsigned n)
{
	for (unsigned i = 0; i < n / 8; i++)
		r->q[i] = (uint64_t)a->d[2 * i] * b->d[2 * i];
}
PI(pmuludq)

SSE_INLINE void op_pmaddwd(X *r, const X *a, const X *b, unsigned n)
{
	for (unsigned i = 0; i < n / 4; i++)
		r->d[i] = (uint32_t)((int32_t)a->sw[2 * i] * b->sw[2 * i]) +
		          (uint32_t)((int32_t)a->sw[2 * i + 1] * b->sw[2 * i + 1]);
}
PI(pmaddwd)

SSE_INLINE void op_psadbw(X *r, const X *a, const X *b, unsigned n)
{
	for (unsigned i = 0; i < n / 8; i++) {
		unsigned s = 0;
		for (unsigned j = 8 * i; j < 8 * i + 8; j++)
			s += a->b[j] > b->b[j] ? a->b[j] - b->b[j] : b->b[j] - a->b[j];
		r->q[i] = s;
	}
}
PI(psadbw)

/* Packs: the low half of the result comes from a, the high half from b. */
SSE_INLINE void op_packsswb(X *r, const X *a, const X *b, unsigned n)
{
	unsigned h = n / 2;
	for (unsigned i = 0; i < h; i++) {
		r->sb[i] = (int8_t)sat8(a->sw[i]);
		r->sb[h + i] = (int8_t)sat8(b->sw[i]);
	}
}
PI(packsswb)

SSE_INLINE void op_packuswb(X *r, const X *a, const X *b, unsigned n)
{
	unsigned h = n / 2;
	for (unsigned i = 0; i < h; i++) {
		r->b[i] = (uint8_t)satu8(a->sw[i]);
		r->b[h + i] = (uint8_t)satu8(b->sw[i]);
	}
}
PI(packuswb)

SSE_INLINE void op_packssdw(X *r, const X *a, const X *b, unsigned n)
{
	unsigned h = n / 4;
	for (unsigned i = 0; i < h; i++) {
		r->sw[i] = (int16_t)sat16(a->sd[i]);
		r->sw[h + i] = (int16_t)sat16(b->sd[i]);
	}
}
PI(packssdw)

/* Unpacks interleave the low (or high) halves of a and b. */
#define UNPACK(name, T, fld, high) UNPACK_(name, T, fld, high) PI(name)
#define UNPACK_(name, T, fld, high)                                         \
	SSE_INLINE void op_##name(X *r, const X *a, const X *b, unsigned n) \
	{                                                                   \
		unsigned h = n / sizeof(T) / 2, o = (high) ? h : 0;         \
		for (unsigned i = 0; i < h; i++) {                          \
			r->fld[2 * i] = a->fld[o + i];                      \
			r->fld[2 * i + 1] = b->fld[o + i];                  \
		}                                                           \
	}
UNPACK(punpcklbw, uint8_t, b, 0)
UNPACK(punpcklwd, uint16_t, w, 0)
UNPACK(punpckldq, uint32_t, d, 0)
UNPACK_(punpcklqdq, uint64_t, q, 0)
static void punpcklqdq_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	xmm_op(cpu, in, op_punpcklqdq);
}
UNPACK(punpckhbw, uint8_t, b, 1)
UNPACK(punpckhwd, uint16_t, w, 1)
UNPACK(punpckhdq, uint32_t, d, 1)
UNPACK_(punpckhqdq, uint64_t, q, 1)
static void punpckhqdq_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	xmm_op(cpu, in, op_punpckhqdq);
}

/* ---- shifts ------------------------------------------------------------- */

typedef void (*shift_fn)(X *r, const X *a, uint64_t c, unsigned n);

#define SHIFT(name, T, fld, bits, expr)                                     \
	SSE_INLINE void sh_##name(X *r, const X *a, uint64_t c, unsigned n) \
	{                                                                   \
		LANES(T, n)                                                 \
		{                                                           \
			T x = a->fld[i];                                    \
			r->fld[i] = (T)(expr);                              \
		}                                                           \
	}                                                                   \
	SSE_INLINE void op_##name(X *r, const X *a, const X *b, unsigned n) \
	{                                                                   \
		sh_##name(r, a, b->q[0], n);                                \
	}                                                                   \
	PI(name)
SHIFT(psrlw, uint16_t, w, 16, c > 15 ? 0 : x >> c)
SHIFT(psrld, uint32_t, d, 32, c > 31 ? 0 : x >> c)
SHIFT(psrlq, uint64_t, q, 64, c > 63 ? 0 : x >> c)
SHIFT(psllw, uint16_t, w, 16, c > 15 ? 0 : (uint32_t)x << c)
SHIFT(pslld, uint32_t, d, 32, c > 31 ? 0 : x << c)
SHIFT(psllq, uint64_t, q, 64, c > 63 ? 0 : x << c)
SHIFT(psraw, int16_t, sw, 16, x >> (c > 15 ? 15 : c))
SHIFT(psrad, int32_t, sd, 32, x >> (c > 31 ? 31 : c))

SSE_INLINE void sh_psrldq(X *r, const X *a, uint64_t c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		r->b[i] = i + c < n ? a->b[i + c] : 0;
}
SSE_INLINE void sh_pslldq(X *r, const X *a, uint64_t c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		r->b[i] = i >= c ? a->b[i - c] : 0;
}

/* Immediate forms (0F 71-73 groups): the register is ModRM.rm. */
SSE_INLINE void mmx_shi(struct emu_cpu *cpu, const struct emu_insn *in, shift_fn f)
{
	mmx_enter(cpu);
	X r, a;
	a.q[0] = mmx_get(cpu, in->rm);
	f(&r, &a, in->imm & 0xff, 8);
	mmx_set(cpu, in->rm, r.q[0]);
}
SSE_INLINE void xmm_shi(struct emu_cpu *cpu, const struct emu_insn *in, shift_fn f)
{
	sse_check(cpu);
	X r;
	f(&r, &cpu->xmm[in->rm], in->imm & 0xff, 16);
	cpu->xmm[in->rm] = r;
}
#define SHI(name)                                                              \
	static void name##_mmi(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                      \
		mmx_shi(cpu, in, sh_##name);                                   \
	}                                                                      \
	static void name##_xmi(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                      \
		xmm_shi(cpu, in, sh_##name);                                   \
	}
SHI(psrlw)
SHI(psraw)
SHI(psllw)
SHI(psrld)
SHI(psrad)
SHI(pslld)
SHI(psrlq)
SHI(psllq)
static void psrldq_xmi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	xmm_shi(cpu, in, sh_psrldq);
}
static void pslldq_xmi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	xmm_shi(cpu, in, sh_pslldq);
}

/* [opcode - 0x71][ModRM.reg][66?] */
static const emu_exec_fn shift_groups[3][8][2] = {
	[0] = { [2] = { psrlw_mmi, psrlw_xmi }, [4] = { psraw_mmi, psraw_xmi }, [6] = { psllw_mmi, psllw_xmi } },
	[1] = { [2] = { psrld_mmi, psrld_xmi }, [4] = { psrad_mmi, psrad_xmi }, [6] = { pslld_mmi, pslld_xmi } },
	[2] = { [2] = { psrlq_mmi, psrlq_xmi },
	        [3] = { NULL, psrldq_xmi },
	        [6] = { psllq_mmi, psllq_xmi },
	        [7] = { NULL, pslldq_xmi } },
};

/* ---- shuffles, inserts, extracts, masks --------------------------------- */

static void pshufw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	X a, r;
	a.q[0] = mmx_src(cpu, in);
	for (unsigned i = 0; i < 4; i++)
		r.w[i] = a.w[(in->imm >> (2 * i)) & 3];
	mmx_set(cpu, in->reg, r.q[0]);
}

static void pshufd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *a = sse_src(cpu, in, &t, 16, true);
	for (unsigned i = 0; i < 4; i++)
		r.d[i] = a->d[(in->imm >> (2 * i)) & 3];
	cpu->xmm[in->reg] = r;
}

/* PSHUFHW (F3) / PSHUFLW (F2): shuffle the words of one half. */
static void pshufhlw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *a = sse_src(cpu, in, &t, 16, true);
	unsigned o = (in->prefix & PFX_REP) ? 4 : 0;
	r = *a;
	for (unsigned i = 0; i < 4; i++)
		r.w[o + i] = a->w[o + ((in->imm >> (2 * i)) & 3)];
	cpu->xmm[in->reg] = r;
}

static void pinsrw_mm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	uint16_t v = in->has_mem ? (uint16_t)emu_read(cpu, in->seg, emu_ea(cpu, in), 2) : (uint16_t)cpu->gpr[in->rm];
	X a;
	a.q[0] = mmx_get(cpu, in->reg);
	a.w[in->imm & 3] = v;
	mmx_set(cpu, in->reg, a.q[0]);
}

static void pinsrw_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint16_t v = in->has_mem ? (uint16_t)emu_read(cpu, in->seg, emu_ea(cpu, in), 2) : (uint16_t)cpu->gpr[in->rm];
	cpu->xmm[in->reg].w[in->imm & 7] = v;
}

/* PEXTRW r32, mm/xmm, imm8: register forms only; the GPR is zero-extended. */
static void pextrw_mm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	X a;
	a.q[0] = mmx_get(cpu, in->rm);
	cpu->gpr[in->reg] = a.w[in->imm & 3];
}

static void pextrw_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	cpu->gpr[in->reg] = cpu->xmm[in->rm].w[in->imm & 7];
}

static unsigned movmskb(const X *a, unsigned n)
{
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++)
		m |= (a->b[i] >> 7) << i;
	return m;
}

static void pmovmskb_mm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	X a;
	a.q[0] = mmx_get(cpu, in->rm);
	cpu->gpr[in->reg] = movmskb(&a, 8);
}

static void pmovmskb_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	cpu->gpr[in->reg] = movmskb(&cpu->xmm[in->rm], 16);
}

/* MASKMOVQ / MASKMOVDQU: byte stores to DS:rDI (segment overridable)
 * where the mask byte's top bit is set.  Bytes are written one by one; the
 * hardware may also write them in any order. */
static void maskmov(struct emu_cpu *cpu, const struct emu_insn *in, const X *v, const X *m, unsigned n)
{
	uint64_t di = cpu->gpr[X86_RDI];
	if (in->addrsize == 4)
		di = (uint32_t)di;
	else if (in->addrsize == 2)
		di = (uint16_t)di;
	int seg = (in->prefix & PFX_SEG) ? in->seg : SEG_DS;
	for (unsigned i = 0; i < n; i++)
		if (m->b[i] & 0x80)
			emu_write(cpu, seg, di + i, v->b[i], 1);
}

static void maskmovq(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (in->has_mem)
		emu_raise(cpu, EXC_UD);
	mmx_enter(cpu);
	X v, m;
	v.q[0] = mmx_get(cpu, in->reg);
	m.q[0] = mmx_get(cpu, in->rm);
	maskmov(cpu, in, &v, &m, 8);
}

static void maskmovdqu(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	maskmov(cpu, in, &cpu->xmm[in->reg], &cpu->xmm[in->rm], 16);
}

/* ---- moves between register files and memory ---------------------------- */

static inline bool rexw(const struct emu_insn *in)
{
	return in->rex & 8;
}

/* 0F 6E: MOVD/MOVQ mm, r/m32/64 */
static void movd_mm_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	unsigned sz = rexw(in) ? 8 : 4;
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), sz) : cpu->gpr[in->rm];
	mmx_set(cpu, in->reg, sz == 4 ? (uint32_t)v : v);
}

/* 66 0F 6E: MOVD/MOVQ xmm, r/m32/64 (zeroes the rest) */
static void movd_xm_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	unsigned sz = rexw(in) ? 8 : 4;
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), sz) : cpu->gpr[in->rm];
	cpu->xmm[in->reg].q[0] = sz == 4 ? (uint32_t)v : v;
	cpu->xmm[in->reg].q[1] = 0;
}

static void store_gpr_or_mem(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t v, unsigned sz)
{
	if (in->has_mem)
		emu_write(cpu, in->seg, emu_ea(cpu, in), v, sz);
	else
		cpu->gpr[in->rm] = sz == 4 ? (uint32_t)v : v;
}

/* 0F 7E: MOVD/MOVQ r/m32/64, mm */
static void movd_mm_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	store_gpr_or_mem(cpu, in, mmx_get(cpu, in->reg), rexw(in) ? 8 : 4);
}

/* 66 0F 7E: MOVD/MOVQ r/m32/64, xmm */
static void movd_xm_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	store_gpr_or_mem(cpu, in, cpu->xmm[in->reg].q[0], rexw(in) ? 8 : 4);
}

/* F3 0F 7E: MOVQ xmm, xmm/m64 (zeroes the high half) */
static void movq_xm_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), 8) : cpu->xmm[in->rm].q[0];
	cpu->xmm[in->reg].q[0] = v;
	cpu->xmm[in->reg].q[1] = 0;
}

/* 66 0F D6: MOVQ xmm/m64, xmm */
static void movq_xm_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint64_t v = cpu->xmm[in->reg].q[0];
	if (in->has_mem) {
		emu_write(cpu, in->seg, emu_ea(cpu, in), v, 8);
	} else {
		cpu->xmm[in->rm].q[0] = v;
		cpu->xmm[in->rm].q[1] = 0;
	}
}

/* F3 0F D6: MOVQ2DQ xmm, mm */
static void movq2dq(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	mmx_enter(cpu);
	cpu->xmm[in->reg].q[0] = mmx_get(cpu, in->rm);
	cpu->xmm[in->reg].q[1] = 0;
}

/* F2 0F D6: MOVDQ2Q mm, xmm */
static void movdq2q(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	mmx_enter(cpu);
	mmx_set(cpu, in->reg, cpu->xmm[in->rm].q[0]);
}

/* 0F 6F / 0F 7F: MOVQ mm, mm/m64 and back; 0F E7 MOVNTQ m64, mm */
static void movq_mm_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	mmx_set(cpu, in->reg, mmx_src(cpu, in));
}

static void movq_mm_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	uint64_t v = mmx_get(cpu, in->reg);
	if (in->has_mem)
		emu_write(cpu, in->seg, emu_ea(cpu, in), v, 8);
	else
		mmx_set(cpu, in->rm, v);
}

static void movntq(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	movq_mm_store(cpu, in);
}

/* 66 0F 6F MOVDQA, F3 0F 6F MOVDQU and their stores 7F; 66 0F E7 MOVNTDQ. */
SSE_INLINE void movdq_load(struct emu_cpu *cpu, const struct emu_insn *in, bool aligned)
{
	sse_check(cpu);
	if (in->has_mem) {
		X t;
		sse_load(cpu, in, &t, 16, aligned);
		cpu->xmm[in->reg] = t;
	} else {
		cpu->xmm[in->reg] = cpu->xmm[in->rm];
	}
}

SSE_INLINE void movdq_store(struct emu_cpu *cpu, const struct emu_insn *in, bool aligned)
{
	sse_check(cpu);
	if (in->has_mem)
		sse_store(cpu, in, &cpu->xmm[in->reg], 16, aligned);
	else
		cpu->xmm[in->rm] = cpu->xmm[in->reg];
}

static void movdqa_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movdq_load(cpu, in, true);
}
static void movdqu_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movdq_load(cpu, in, false);
}
static void movdqa_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movdq_store(cpu, in, true);
}
static void movdqu_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	movdq_store(cpu, in, false);
}

static void movntdq(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	movdq_store(cpu, in, true);
}

/* 0F C3: MOVNTI m32/64, r32/64 */
static void movnti(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	unsigned sz = rexw(in) ? 8 : 4;
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->gpr[in->reg], sz);
}

/* 0F 77: EMMS empties every x87 register; like the other MMX instructions
 * it also sets TOP to 0 (as the host does). */
static void emms(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	mmx_enter(cpu);
	cpu->fpu.tw = 0xffff;
}

/* ---- SSSE3 (0F 38 / 0F 3A, MMX and 66 XMM forms) ------------------------- */

#define P2(name)                     \
	{                            \
		name##_mm, name##_xm \
	}

SSE_INLINE void op_pshufb(X *r, const X *a, const X *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		r->b[i] = (b->b[i] & 0x80) ? 0 : a->b[b->b[i] & (n - 1)];
}
PI(pshufb)

/* Horizontal ops: the low half of the result pairs up a's lanes, the high
 * half b's. */
#define HORIZ(name, T, fld, expr)                                           \
	SSE_INLINE void op_##name(X *r, const X *a, const X *b, unsigned n) \
	{                                                                   \
		unsigned h = n / sizeof(T) / 2;                             \
		for (unsigned i = 0; i < h; i++) {                          \
			T x = a->fld[2 * i], y = a->fld[2 * i + 1];         \
			r->fld[i] = (T)(expr);                              \
			x = b->fld[2 * i], y = b->fld[2 * i + 1];           \
			r->fld[h + i] = (T)(expr);                          \
		}                                                           \
	}                                                                   \
	PI(name)
HORIZ(phaddw, uint16_t, w, x + y)
HORIZ(phaddd, uint32_t, d, x + y)
HORIZ(phaddsw, int16_t, sw, sat16(x + y))
HORIZ(phsubw, uint16_t, w, x - y)
HORIZ(phsubd, uint32_t, d, x - y)
HORIZ(phsubsw, int16_t, sw, sat16(x - y))

SSE_INLINE void op_pmaddubsw(X *r, const X *a, const X *b, unsigned n)
{
	for (unsigned i = 0; i < n / 2; i++)
		r->sw[i] = (int16_t)sat16(a->b[2 * i] * b->sb[2 * i] + a->b[2 * i + 1] * b->sb[2 * i + 1]);
}
PI(pmaddubsw)

OP2(pmulhrsw, int16_t, sw, ((((int32_t)x * y) >> 14) + 1) >> 1)
OP2(psignb, int8_t, sb, y < 0 ? -x : y ? x : 0)
OP2(psignw, int16_t, sw, y < 0 ? -x : y ? x : 0)
OP2(psignd, int32_t, sd, y < 0 ? (int32_t)(0u - (uint32_t)x) : y ? x : 0)
OP2(pabsb, int8_t, sb, y < 0 ? -y : y)
OP2(pabsw, int16_t, sw, y < 0 ? -y : y)
OP2(pabsd, int32_t, sd, y < 0 ? (int32_t)(0u - (uint32_t)y) : y)

/* PALIGNR: (a:b) >> imm bytes, low n bytes. */
SSE_INLINE void palignr(X *r, const X *a, const X *b, unsigned imm, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned k = i + imm;
		r->b[i] = k < n ? b->b[k] : k < 2 * n ? a->b[k - n] : 0;
	}
}

static void palignr_mm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	mmx_enter(cpu);
	X r, a, b;
	b.q[0] = mmx_src(cpu, in);
	a.q[0] = mmx_get(cpu, in->reg);
	palignr(&r, &a, &b, in->imm & 0xff, 8);
	mmx_set(cpu, in->reg, r.q[0]);
}

static void palignr_xm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X r, t;
	const X *b = sse_src(cpu, in, &t, 16, true);
	palignr(&r, &cpu->xmm[in->reg], b, in->imm & 0xff, 16);
	cpu->xmm[in->reg] = r;
}

static const emu_exec_fn ssse3_ops[32][2] = {
	[0x00] = P2(pshufb), [0x01] = P2(phaddw),   [0x02] = P2(phaddd),  [0x03] = P2(phaddsw), [0x04] = P2(pmaddubsw),
	[0x05] = P2(phsubw), [0x06] = P2(phsubd),   [0x07] = P2(phsubsw), [0x08] = P2(psignb),  [0x09] = P2(psignw),
	[0x0a] = P2(psignd), [0x0b] = P2(pmulhrsw), [0x1c] = P2(pabsb),   [0x1d] = P2(pabsw),   [0x1e] = P2(pabsd),
};

/* Map 0F38 / 0F3A: SSSE3 only. */
emu_exec_fn sse_ssse3_select(const struct emu_insn *in, unsigned pfx)
{
	if (pfx > PF_66)
		return NULL;
	if (in->map == 3)
		return in->opcode == 0x0f ? (pfx ? palignr_xm : palignr_mm) : NULL;
	return in->opcode < 32 ? ssse3_ops[in->opcode][pfx] : NULL;
}

/* ---- SSE3 integer: LDDQU ------------------------------------------------ */

static void lddqu(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	movdq_load(cpu, in, false);
}

/* ---- selection ---------------------------------------------------------- */

/* [opcode][0: no prefix (MMX), 1: 66 (SSE2)] */
static const emu_exec_fn int_ops[256][2] = {
	[0x60] = P2(punpcklbw),
	[0x61] = P2(punpcklwd),
	[0x62] = P2(punpckldq),
	[0x63] = P2(packsswb),
	[0x64] = P2(pcmpgtb),
	[0x65] = P2(pcmpgtw),
	[0x66] = P2(pcmpgtd),
	[0x67] = P2(packuswb),
	[0x68] = P2(punpckhbw),
	[0x69] = P2(punpckhwd),
	[0x6a] = P2(punpckhdq),
	[0x6b] = P2(packssdw),
	[0x6c] = { NULL, punpcklqdq_xm },
	[0x6d] = { NULL, punpckhqdq_xm },
	[0x6e] = { movd_mm_load, movd_xm_load },
	[0x6f] = { movq_mm_load, movdqa_load },
	[0x70] = { pshufw, pshufd },
	[0x74] = P2(pcmpeqb),
	[0x75] = P2(pcmpeqw),
	[0x76] = P2(pcmpeqd),
	[0x77] = { emms, NULL },
	[0x7e] = { movd_mm_store, movd_xm_store },
	[0x7f] = { movq_mm_store, movdqa_store },
	[0xc3] = { movnti, NULL },
	[0xc4] = { pinsrw_mm, pinsrw_xm },
	[0xc5] = { pextrw_mm, pextrw_xm },
	[0xd1] = P2(psrlw),
	[0xd2] = P2(psrld),
	[0xd3] = P2(psrlq),
	[0xd4] = P2(paddq),
	[0xd5] = P2(pmullw),
	[0xd6] = { NULL, movq_xm_store },
	[0xd7] = { pmovmskb_mm, pmovmskb_xm },
	[0xd8] = P2(psubusb),
	[0xd9] = P2(psubusw),
	[0xda] = P2(pminub),
	[0xdb] = P2(pand),
	[0xdc] = P2(paddusb),
	[0xdd] = P2(paddusw),
	[0xde] = P2(pmaxub),
	[0xdf] = P2(pandn),
	[0xe0] = P2(pavgb),
	[0xe1] = P2(psraw),
	[0xe2] = P2(psrad),
	[0xe3] = P2(pavgw),
	[0xe4] = P2(pmulhuw),
	[0xe5] = P2(pmulhw),
	[0xe7] = { movntq, movntdq },
	[0xe8] = P2(psubsb),
	[0xe9] = P2(psubsw),
	[0xea] = P2(pminsw),
	[0xeb] = P2(por),
	[0xec] = P2(paddsb),
	[0xed] = P2(paddsw),
	[0xee] = P2(pmaxsw),
	[0xef] = P2(pxor),
	[0xf1] = P2(psllw),
	[0xf2] = P2(pslld),
	[0xf3] = P2(psllq),
	[0xf4] = P2(pmuludq),
	[0xf5] = P2(pmaddwd),
	[0xf6] = P2(psadbw),
	[0xf7] = { maskmovq, maskmovdqu },
	[0xf8] = P2(psubb),
	[0xf9] = P2(psubw),
	[0xfa] = P2(psubd),
	[0xfb] = P2(psubq),
	[0xfc] = P2(paddb),
	[0xfd] = P2(paddw),
	[0xfe] = P2(paddd),
};

emu_exec_fn sse_int_select(const struct emu_insn *in, unsigned pfx)
{
	unsigned op = in->opcode;
	if (op >= 0x71 && op <= 0x73) {
		if (in->has_mem || pfx > PF_66)
			return NULL;
		return shift_groups[op - 0x71][(in->modrm >> 3) & 7][pfx];
	}
	if (pfx == PF_F3) {
		switch (op) {
		case 0x6f: return movdqu_load;
		case 0x7f: return movdqu_store;
		case 0x70: return pshufhlw;
		case 0x7e: return movq_xm_load;
		case 0xd6: return movq2dq;
		}
		return NULL;
	}
	if (pfx == PF_F2) {
		switch (op) {
		case 0x70: return pshufhlw;
		case 0xd6: return movdq2q;
		case 0xf0: return lddqu;
		}
		return NULL;
	}
	/* Register-only forms */
	if ((op == 0xc5 || op == 0xd7) && in->has_mem)
		return NULL;
	return int_ops[op][pfx];
}
