/* AVX and AVX2: the VEX-encoded SIMD forms and the YMM registers.
 *
 * Most AVX forms are the SSE instructions with a third operand and a
 * 256-bit width whose two 128-bit halves ("lanes") are computed
 * independently.  Those run the legacy SSE handler (sse_*.c) once per lane
 * on scratch registers 16 (the r/m source) and 17 (the destination, loaded
 * with the VEX.vvvv source first): so the legacy code stays the one
 * definition of each operation, a fault leaves the destination untouched,
 * and VEX.128 zeroes bits 255:128 of the destination where legacy SSE
 * keeps them.  The forms that cross lanes (broadcasts, permutes, 128-bit
 * inserts and extracts, widening and narrowing conversions, gathers,
 * masked moves, variable shifts, VZEROUPPER/VZEROALL) have their own
 * handlers here; FMA and F16C are in avx_fma.c.
 *
 * Rules common to all (checked before anything else): #UD in real and
 * virtual-8086 mode, without CR4.OSXSAVE, or unless XCR0 enables both SSE
 * and AVX state; #NM with CR0.TS; #UD for VEX.L = 1 where a form has no
 * 256-bit version and for VEX.vvvv other than 1111b where it is unused
 * (both decided when the instruction is selected: a NULL handler is #UD).
 * Memory operands may be unaligned except for VMOVAPS/APD, VMOVDQA and
 * the non-temporal moves (16 or 32 bytes, by VEX.L).  Every opcode not
 * listed in emu_avx_select is #UD. */
#include "cpu/emu/avx.h"

/* ---- the VEX enable checks and memory ----------------------------------- */

bool emu_avx_ok(void)
{
	return emu_sse4_host_ok();
}

void avx_check(struct emu_cpu *cpu)
{
	if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM) || !(cpu->cr4 & CR4_OSXSAVE) || (cpu->xcr0 & 6) != 6)
		emu_raise(cpu, EXC_UD);
	if (cpu->cr0 & CR0_TS)
		emu_raise(cpu, EXC_NM);
}

static void *tlb_span(struct emu_cpu *cpu, uint64_t la, unsigned n, bool write)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	uint64_t tag = write ? e->tag_write : e->tag_read;
	if ((tag & emu_tlb_mask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK) && (la & 0xfff) <= 0x1000 - n)
		return (void *)(uintptr_t)(la + e->addend);
	return NULL;
}

void avx_load(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea, void *dst, unsigned n, bool aligned)
{
	uint64_t la = emu_linear(cpu, in->seg, ea, n, false);
	if (aligned && (la & (n - 1)))
		emu_raise_err(cpu, EXC_GP, 0);
	const void *p = tlb_span(cpu, la, n, false);
	if (p)
		memcpy(dst, p, n);
	else
		emu_read_bytes(cpu, in->seg, ea, dst, n);
}

void avx_store(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea, const void *src, unsigned n, bool aligned)
{
	uint64_t la = emu_linear(cpu, in->seg, ea, n, true);
	if (aligned && (la & (n - 1)))
		emu_raise_err(cpu, EXC_GP, 0);
	void *p = tlb_span(cpu, la, n, true);
	if (p)
		memcpy(p, src, n);
	else
		emu_write_bytes(cpu, in->seg, ea, src, n);
}

/* The r/m operand as 16 (VEX.L = 0) or 32 bytes. */
void avx_src(struct emu_cpu *cpu, const struct emu_insn *in, X v[2], bool aligned)
{
	if (in->has_mem) {
		avx_load(cpu, in, emu_ea(cpu, in), v, VL(in) ? 32 : 16, aligned);
		if (!VL(in))
			memset(&v[1], 0, 16);
	} else {
		v[0] = cpu->xmm[in->rm];
		v[1] = VL(in) ? cpu->ymmh[in->rm] : (X){ { 0 } };
	}
}

/* Runs a legacy SSE handler for a VEX form.  Legacy SSE is #UD with
 * CR0.EM set or CR4.OSFXSR clear, VEX is not (it answers to CR4.OSXSAVE
 * and XCR0, checked before): in that rare state the handler runs with
 * them as it wants, put back however it ends. */
static void run_sub(struct emu_cpu *cpu, const struct emu_insn *t, emu_exec_fn fn)
{
	if (__builtin_expect(!(cpu->cr0 & CR0_EM) && (cpu->cr4 & CR4_OSFXSR), 1)) {
		fn(cpu, t);
		return;
	}
	uint64_t cr0 = cpu->cr0, cr4 = cpu->cr4;
	jmp_buf outer;
	memcpy(&outer, &cpu->exc_jmp, sizeof(outer));
	cpu->cr0 &= ~CR0_EM;
	cpu->cr4 |= CR4_OSFXSR;
	if (setjmp(cpu->exc_jmp)) {
		cpu->cr0 = cr0, cpu->cr4 = cr4;
		memcpy(&cpu->exc_jmp, &outer, sizeof(outer));
		longjmp(cpu->exc_jmp, 1); /* (the fault is recorded: on to the loop) */
	}
	fn(cpu, t);
	cpu->cr0 = cr0, cpu->cr4 = cr4;
	memcpy(&cpu->exc_jmp, &outer, sizeof(outer));
}

/* The legacy handler on the scratch registers for one lane of a VEX.256
 * form, with every SIMD exception masked: the flags it raised.  The lanes'
 * flags are then judged together (sse_fp_flags), as the hardware does for
 * the whole register: an unmasked invalid, denormal or divide in either
 * lane faults before any precision flag, and nothing is written.  With
 * underflow unmasked, a second run with FTZ tells exact tiny results. */
static uint32_t lane_masked(struct emu_cpu *cpu, const struct emu_insn *t, emu_exec_fn fn, uint32_t guest)
{
	X d = cpu->xmm[AVX_SCR_DST];
	cpu->mxcsr = (guest | MXCSR_MASKS) & ~(uint32_t)MXCSR_FLAGS;
	run_sub(cpu, t, fn);
	uint32_t fl = cpu->mxcsr & MXCSR_FLAGS;
	if (!(guest & 0x0800)) {
		X r = cpu->xmm[AVX_SCR_DST];
		cpu->xmm[AVX_SCR_DST] = d;
		cpu->mxcsr = (guest | MXCSR_MASKS | 0x8000) & ~(uint32_t)MXCSR_FLAGS;
		run_sub(cpu, t, fn);
		fl |= cpu->mxcsr & 0x10;
		cpu->xmm[AVX_SCR_DST] = r;
	}
	cpu->mxcsr = guest;
	return fl;
}

/* ---- running the legacy handler per lane -------------------------------- */

/* A form whose legacy handler writes XMM[reg] (all of it, or merging into
 * what is there: the VEX.vvvv source, or the old register for the forms
 * without one). */
static void lanes(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned f = in->vflags;
	bool l1 = VL(in) && (f & AVXF_L1);
	struct emu_insn t = *in;
	unsigned s1 = f & AVXF_NDS ? in->vvvv : in->reg;
	X m[2] = { { { 0 } }, { { 0 } } }, src1[2] = { cpu->xmm[s1], cpu->ymmh[s1] };

	t.reg = AVX_SCR_DST;
	if (!(f & AVXF_RMGPR)) {
		if (!in->has_mem) {
			m[0] = cpu->xmm[in->rm];
			m[1] = f & AVXF_CNT ? m[0] : cpu->ymmh[in->rm];
			t.rm = AVX_SCR_SRC;
		} else if (l1) {
			avx_load(cpu, in, emu_ea(cpu, in), m, f & AVXF_CNT ? 16 : 32, false);
			if (f & AVXF_CNT)
				m[1] = m[0];
			t.has_mem = 0;
			t.rm = AVX_SCR_SRC;
		}
		cpu->xmm[AVX_SCR_SRC] = m[0];
	}
	cpu->xmm[AVX_SCR_DST] = src1[0];
	if (!l1) {
		run_sub(cpu, &t, in->vsub);
		cpu->xmm[in->reg] = cpu->xmm[AVX_SCR_DST];
		memset(&cpu->ymmh[in->reg], 0, 16);
		return;
	}
	uint32_t guest = cpu->mxcsr, fl = lane_masked(cpu, &t, in->vsub, guest);
	X lo = cpu->xmm[AVX_SCR_DST], hi;
	cpu->xmm[AVX_SCR_SRC] = m[1];
	cpu->xmm[AVX_SCR_DST] = src1[1];
	t.imm = in->imm >> in->vparam; /* (the imm8 bits of the upper lane) */
	fl |= lane_masked(cpu, &t, in->vsub, guest);
	hi = cpu->xmm[AVX_SCR_DST];
	sse_fp_flags(cpu, fl);
	cpu->xmm[in->reg] = lo;
	cpu->ymmh[in->reg] = hi;
}

/* VEX.256 forms that widen: the upper lane's source is the source's
 * bytes from vparam on (VPMOVSX/ZX, VCVTPS2PD, VCVTDQ2PD). */
static void widen(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!VL(in)) {
		lanes(cpu, in);
		return;
	}
	avx_check(cpu);
	struct emu_insn t = *in;
	uint8_t src[32] = { 0 };
	if (in->has_mem)
		avx_load(cpu, in, emu_ea(cpu, in), src, 2 * in->vparam, false);
	else
		memcpy(src, &cpu->xmm[in->rm], 16);
	t.has_mem = 0;
	t.rm = AVX_SCR_SRC;
	t.reg = AVX_SCR_DST;
	memcpy(&cpu->xmm[AVX_SCR_SRC], src, 16);
	uint32_t guest = cpu->mxcsr, fl = lane_masked(cpu, &t, in->vsub, guest);
	X lo = cpu->xmm[AVX_SCR_DST];
	memcpy(&cpu->xmm[AVX_SCR_SRC], src + in->vparam, 16);
	fl |= lane_masked(cpu, &t, in->vsub, guest);
	sse_fp_flags(cpu, fl);
	cpu->ymmh[in->reg] = cpu->xmm[AVX_SCR_DST];
	cpu->xmm[in->reg] = lo;
}

/* VEX.256 forms that narrow 256 bits into 128 (VCVTPD2PS, VCVT(T)PD2DQ):
 * each lane gives 64 bits. */
static void narrow(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!VL(in)) {
		lanes(cpu, in);
		return;
	}
	avx_check(cpu);
	struct emu_insn t = *in;
	X s[2];
	avx_src(cpu, in, s, false);
	t.has_mem = 0;
	t.rm = AVX_SCR_SRC;
	t.reg = AVX_SCR_DST;
	cpu->xmm[AVX_SCR_SRC] = s[0];
	uint32_t guest = cpu->mxcsr, fl = lane_masked(cpu, &t, in->vsub, guest);
	uint64_t lo = cpu->xmm[AVX_SCR_DST].q[0];
	cpu->xmm[AVX_SCR_SRC] = s[1];
	fl |= lane_masked(cpu, &t, in->vsub, guest);
	sse_fp_flags(cpu, fl);
	cpu->xmm[in->reg].q[0] = lo;
	cpu->xmm[in->reg].q[1] = cpu->xmm[AVX_SCR_DST].q[0];
	memset(&cpu->ymmh[in->reg], 0, 16);
}

/* 66 0F 71-73 with an imm8: the destination is VEX.vvvv, the source r/m. */
static void shift_imm(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	struct emu_insn t = *in;
	t.rm = AVX_SCR_DST;
	cpu->xmm[AVX_SCR_DST] = cpu->xmm[in->rm];
	run_sub(cpu, &t, in->vsub);
	X lo = cpu->xmm[AVX_SCR_DST], hi = { { 0 } };
	if (VL(in)) {
		cpu->xmm[AVX_SCR_DST] = cpu->ymmh[in->rm];
		run_sub(cpu, &t, in->vsub);
		hi = cpu->xmm[AVX_SCR_DST];
	}
	cpu->xmm[in->vvvv] = lo;
	cpu->ymmh[in->vvvv] = hi;
}

/* Forms that write no XMM register (stores, GPR and flag results): the
 * legacy handler as it is. */
static void plain(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	run_sub(cpu, in, in->vsub);
	if (in->vflags & AVXF_ZX0) /* VPCMPxSTRM: the result went to XMM0 */
		memset(&cpu->ymmh[0], 0, 16);
}

/* ---- moves ----------------------------------------------------------------- */

static void set_ymm(struct emu_cpu *cpu, unsigned r, const X v[2])
{
	cpu->xmm[r] = v[0];
	cpu->ymmh[r] = v[1];
}

/* VMOVUPS/UPD/DQU/APS/APD/DQA, VLDDQU, VMOVNTDQA loads: vparam 1 when the
 * memory operand must be aligned. */
static void vmov_load(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X v[2];
	avx_src(cpu, in, v, in->vparam);
	set_ymm(cpu, in->reg, v);
}

static void vmov_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X v[2] = { cpu->xmm[in->reg], VL(in) ? cpu->ymmh[in->reg] : (X){ { 0 } } };
	if (in->has_mem)
		avx_store(cpu, in, emu_ea(cpu, in), v, VL(in) ? 32 : 16, in->vparam);
	else
		set_ymm(cpu, in->rm, v);
}

/* VMOVSS/VMOVSD (F3/F2 0F 10/11): from memory the element zero-extended;
 * register to register the element of r/m (10) or reg (11) over the rest
 * of VEX.vvvv. */
static void vmovs(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = VPP(in) == PP_F3 ? 4 : 8;
	bool store = in->opcode == 0x11;
	if (in->has_mem) {
		if (store) {
			emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->xmm[in->reg].q[0], n);
			return;
		}
		X v[2] = { { { 0 } }, { { 0 } } };
		v[0].q[0] = emu_read(cpu, in->seg, emu_ea(cpu, in), n);
		set_ymm(cpu, in->reg, v);
		return;
	}
	unsigned dst = store ? in->rm : in->reg, src = store ? in->reg : in->rm;
	X v = cpu->xmm[in->vvvv];
	memcpy(&v, &cpu->xmm[src], n);
	cpu->xmm[dst] = v;
	memset(&cpu->ymmh[dst], 0, 16);
}

/* 66 0F D6 VMOVQ xmm/m64, xmm: the register form zero-extends into r/m. */
static void vmovq_store(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	if (in->has_mem) {
		emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->xmm[in->reg].q[0], 8);
		return;
	}
	X v[2] = { { .q = { cpu->xmm[in->reg].q[0], 0 } }, { { 0 } } };
	set_ymm(cpu, in->rm, v);
}

/* VZEROUPPER (VEX.L = 0), VZEROALL (1): registers 8-15 are untouched
 * outside 64-bit mode. */
static void vzero(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = cpu->code_mode == EMU_MODE64 ? 16 : 8;
	(void)in;
	for (unsigned i = 0; i < n; i++) {
		memset(&cpu->ymmh[i], 0, 16);
		if (VL(in))
			memset(&cpu->xmm[i], 0, 16);
	}
}

/* VMOVMSKPS/PD ymm and VPMOVMSKB ymm: the sign bits of elements of vparam
 * bytes. */
static void movmsk256(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	uint8_t b[32];
	unsigned n = in->vparam;
	memcpy(b, &cpu->xmm[in->rm], 16);
	memcpy(b + 16, &cpu->ymmh[in->rm], 16);
	uint64_t r = 0;
	for (unsigned i = 0; i < 32 / n; i++)
		r |= (uint64_t)(b[i * n + n - 1] >> 7) << i;
	cpu->gpr[in->reg] = r;
}

/* VPTEST, VTESTPS (vparam 4), VTESTPD (8): ZF when src AND dst has no
 * (sign) bit set, CF when src AND NOT dst has none; other flags clear. */
static void vtest(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2];
	avx_src(cpu, in, s, false);
	const X d[2] = { cpu->xmm[in->reg], cpu->ymmh[in->reg] };
	uint64_t sign = in->vparam == 4 ? 0x8000000080000000ULL : in->vparam == 8 ? 1ULL << 63 : ~0ULL;
	uint64_t z = 0, c = 0;
	for (unsigned i = 0; i < (VL(in) ? 4u : 2u); i++) {
		z |= s[i / 2].q[i % 2] & d[i / 2].q[i % 2] & sign;
		c |= s[i / 2].q[i % 2] & ~d[i / 2].q[i % 2] & sign;
	}
	cc_set_flags(cpu, (z ? 0 : RFLAGS_ZF) | (c ? 0 : RFLAGS_CF));
}

/* ---- broadcasts, inserts, extracts, permutes ------------------------------ */

/* VBROADCASTSS/SD/F128/I128, VPBROADCASTB/W/D/Q: vparam bytes repeated. */
static void broadcast(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = in->vparam;
	uint8_t e[16], out[32];
	if (in->has_mem)
		avx_load(cpu, in, emu_ea(cpu, in), e, n, false);
	else
		memcpy(e, &cpu->xmm[in->rm], n);
	for (unsigned i = 0; i < 32; i += n)
		memcpy(out + i, e, n);
	if (!VL(in))
		memset(out + 16, 0, 16);
	memcpy(&cpu->xmm[in->reg], out, 16);
	memcpy(&cpu->ymmh[in->reg], out + 16, 16);
}

/* VINSERTF128/I128 ymm1, ymm2, xmm/m128, imm8. */
static void insert128(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s, v[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	if (in->has_mem)
		avx_load(cpu, in, emu_ea(cpu, in), &s, 16, false);
	else
		s = cpu->xmm[in->rm];
	v[in->imm & 1] = s;
	set_ymm(cpu, in->reg, v);
}

/* VEXTRACTF128/I128 xmm/m128, ymm, imm8. */
static void extract128(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X v = in->imm & 1 ? cpu->ymmh[in->reg] : cpu->xmm[in->reg];
	if (in->has_mem) {
		avx_store(cpu, in, emu_ea(cpu, in), &v, 16, false);
	} else {
		cpu->xmm[in->rm] = v;
		memset(&cpu->ymmh[in->rm], 0, 16);
	}
}

/* VPERM2F128/I128: each half picks one of four lanes or zero. */
static void perm2x128(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], r[2];
	avx_src(cpu, in, s, false);
	const X a[4] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv], s[0], s[1] };
	for (unsigned h = 0; h < 2; h++) {
		unsigned c = (unsigned)in->imm >> (4 * h);
		r[h] = c & 8 ? (X){ { 0 } } : a[c & 3];
	}
	set_ymm(cpu, in->reg, r);
}

/* VPERMQ/VPERMPD ymm1, ymm2/m256, imm8. */
static void permq(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], r[2];
	avx_src(cpu, in, s, false);
	for (unsigned i = 0; i < 4; i++) {
		unsigned k = (unsigned)in->imm >> (2 * i) & 3;
		r[i / 2].q[i % 2] = s[k / 2].q[k % 2];
	}
	set_ymm(cpu, in->reg, r);
}

/* VPERMD/VPERMPS ymm1, ymm2 (indices), ymm3/m256. */
static void permd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], r[2];
	avx_src(cpu, in, s, false);
	const X ix[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	for (unsigned i = 0; i < 8; i++) {
		unsigned k = ix[i / 4].d[i % 4] & 7;
		r[i / 4].d[i % 4] = s[k / 4].d[k % 4];
	}
	set_ymm(cpu, in->reg, r);
}

/* VPERMILPS/PD: with an imm8 (3A 04/05, no vvvv) or a control vector
 * (38 0C/0D, in r/m; the data in vvvv); within each lane.  vparam: the
 * element size. */
static void permil(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], c[2], r[2];
	bool imm = in->map == 3;
	avx_src(cpu, in, imm ? s : c, false);
	if (!imm) {
		s[0] = cpu->xmm[in->vvvv];
		s[1] = cpu->ymmh[in->vvvv];
	}
	for (unsigned h = 0; h < 2; h++)
		for (unsigned i = 0; i < 16 / in->vparam; i++) {
			if (in->vparam == 4) {
				unsigned k = imm ? (unsigned)in->imm >> (2 * i) & 3 : c[h].d[i] & 3;
				r[h].d[i] = s[h].d[k];
			} else {
				unsigned k = imm ? (unsigned)in->imm >> (2 * h + i) & 1 : c[h].q[i] >> 1 & 1;
				r[h].q[i] = s[h].q[k];
			}
		}
	if (!VL(in))
		memset(&r[1], 0, 16);
	set_ymm(cpu, in->reg, r);
}

/* VPBLENDD: dword i from r/m when imm8 bit i (bits 4-7 for the upper
 * lane), else from vvvv. */
static void pblendd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], r[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	avx_src(cpu, in, s, false);
	for (unsigned i = 0; i < 8; i++)
		if (in->imm >> i & 1)
			r[i / 4].d[i % 4] = s[i / 4].d[i % 4];
	if (!VL(in))
		memset(&r[1], 0, 16);
	set_ymm(cpu, in->reg, r);
}

/* VBLENDVPS/PD, VPBLENDVB: the mask is the register in imm8[7:4] (its
 * top bit ignored outside 64-bit mode); vparam is the element size. */
static void blendv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned mr = (unsigned)in->imm >> 4 & (cpu->code_mode == EMU_MODE64 ? 15 : 7), n = in->vparam;
	X s[2], a[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	const X m[2] = { cpu->xmm[mr], cpu->ymmh[mr] };
	avx_src(cpu, in, s, false);
	for (unsigned h = 0; h < 2; h++)
		for (unsigned i = 0; i < 16; i += n)
			if (m[h].b[i + n - 1] & 0x80)
				memcpy(&a[h].b[i], &s[h].b[i], n);
	if (!VL(in))
		memset(&a[1], 0, 16);
	set_ymm(cpu, in->reg, a);
}

/* VPSLLVD/Q, VPSRLVD/Q, VPSRAVD: per-element counts from r/m. */
static void shiftv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	X s[2], a[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	avx_src(cpu, in, s, false);
	bool q = in->rex & 8;
	for (unsigned h = 0; h < (VL(in) ? 2u : 1u); h++)
		for (unsigned i = 0; i < (q ? 2u : 4u); i++) {
			uint64_t c = q ? s[h].q[i] : s[h].d[i];
			unsigned bits = q ? 64 : 32;
			uint64_t v = q ? a[h].q[i] : a[h].d[i], r;
			switch (in->opcode) {
			case 0x45: r = c >= bits ? 0 : v >> c; break;
			case 0x47: r = c >= bits ? 0 : v << c; break;
			default: r = (uint64_t)((int32_t)v >> (c >= 32 ? 31 : c)); break; /* 46: VPSRAVD */
			}
			if (q)
				a[h].q[i] = r;
			else
				a[h].d[i] = (uint32_t)r;
		}
	if (!VL(in))
		memset(&a[1], 0, 16);
	set_ymm(cpu, in->reg, a);
}

/* VMASKMOVPS/PD (38 2C-2F), VPMASKMOVD/Q (38 8C/8E): elements whose mask
 * (vvvv) sign bit is set are loaded (others zero) or stored.  Masked-off
 * elements never fault; the access is checked element by element. */
static void maskmov(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned n = in->vparam, cnt = (VL(in) ? 32 : 16) / n;
	bool store = (in->opcode & 0x0f) >= 0x0e;
	uint8_t m[32], v[32] = { 0 }, r[32] = { 0 };
	uint64_t ea = emu_ea(cpu, in);
	memcpy(m, &cpu->xmm[in->vvvv], 16);
	memcpy(m + 16, &cpu->ymmh[in->vvvv], 16);
	memcpy(v, &cpu->xmm[in->reg], 16);
	memcpy(v + 16, &cpu->ymmh[in->reg], 16);
	/* check every enabled element's access first: a fault leaves nothing done */
	for (unsigned i = 0; i < cnt; i++)
		if (m[i * n + n - 1] & 0x80)
			emu_linear(cpu, in->seg, (ea + i * n) & sz_mask(in->addrsize), n, store);
	for (unsigned i = 0; i < cnt; i++) {
		if (!(m[i * n + n - 1] & 0x80))
			continue;
		uint64_t a = (ea + i * n) & sz_mask(in->addrsize);
		if (store) {
			uint64_t x = 0;
			memcpy(&x, v + i * n, n);
			emu_write(cpu, in->seg, a, x, n);
		} else {
			uint64_t x = emu_read(cpu, in->seg, a, n);
			memcpy(r + i * n, &x, n);
		}
	}
	if (!store) {
		memcpy(&cpu->xmm[in->reg], r, 16);
		memcpy(&cpu->ymmh[in->reg], r + 16, 16);
	}
}

/* VGATHERDPS/DPD/QPS/QPD, VPGATHERDD/DQ/QD/QQ: VSIB addressing, elements
 * gathered from the lowest up; each done element clears its mask element,
 * so a fault leaves the completed part behind as the SDM requires; at the
 * end the whole mask is clear.  #UD unless the ModRM names a SIB, or when
 * two of destination, index and mask are one register. */
static void gather(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	bool q_elem = in->rex & 8, q_idx = in->opcode & 1;
	unsigned es = q_elem ? 8 : 4, vl = VL(in) ? 32 : 16;
	unsigned idx = in->index == EMU_NOREG ? 4 : in->index;
	if (cpu->code_mode != EMU_MODE64)
		idx &= 7;
	unsigned cnt = (q_idx ? vl / 8 : vl / 4);
	if (!q_idx && q_elem)
		cnt = vl / 8; /* DQ/DPD: dword indices, as many as qword elements */
	if (q_idx && !q_elem) /* QD/QPS: dword elements in an XMM */
		vl = 16;
	if (in->reg == idx || in->reg == in->vvvv || idx == in->vvvv)
		emu_raise(cpu, EXC_UD);
	uint8_t ix[32], d[32], m[32];
	memcpy(ix, &cpu->xmm[idx], 16);
	memcpy(ix + 16, &cpu->ymmh[idx], 16);
	uint64_t base = (in->base == EMU_NOREG ? 0 : cpu->gpr[in->base]) + (uint64_t)(int64_t)in->disp;
	for (unsigned i = 0; i < cnt; i++) {
		memcpy(m, &cpu->xmm[in->vvvv], 16);
		memcpy(m + 16, &cpu->ymmh[in->vvvv], 16);
		if (!(m[i * es + es - 1] & 0x80))
			continue;
		int64_t off;
		if (q_idx) {
			memcpy(&off, ix + i * 8, 8);
		} else {
			int32_t o32;
			memcpy(&o32, ix + i * 4, 4);
			off = o32;
		}
		uint64_t a = (base + ((uint64_t)off << in->scale)) & sz_mask(in->addrsize);
		uint64_t x = emu_read(cpu, in->seg, a, es);
		memcpy(d, &cpu->xmm[in->reg], 16);
		memcpy(d + 16, &cpu->ymmh[in->reg], 16);
		memcpy(d + i * es, &x, es);
		memset(m + i * es, 0, es);
		memcpy(&cpu->xmm[in->reg], d, 16);
		memcpy(&cpu->ymmh[in->reg], d + 16, 16);
		memcpy(&cpu->xmm[in->vvvv], m, 16);
		memcpy(&cpu->ymmh[in->vvvv], m + 16, 16);
	}
	/* the mask is cleared, and what is beyond the destination's width zeroed */
	memset(&cpu->xmm[in->vvvv], 0, 16);
	memset(&cpu->ymmh[in->vvvv], 0, 16);
	if (vl == 16)
		memset(&cpu->ymmh[in->reg], 0, 16);
	if (cnt * es < 16)
		memset(&cpu->xmm[in->reg].b[cnt * es], 0, 16 - cnt * es);
}

/* ---- VCMPPS/PD/SS/SD with the 32 predicates --------------------------------- */

static bool f32_snan(uint32_t x)
{
	return (x & 0x7fc00000) == 0x7f800000 && (x & 0x3fffff);
}
static bool f64_snan(uint64_t x)
{
	return (x & 0x7ff8000000000000ULL) == 0x7ff0000000000000ULL && (x & 0x7ffffffffffffULL);
}

/* One compare: the predicate's truth, and its IE/DE flags. */
static bool cmp_pred(unsigned p, bool unord, bool lt, bool eq)
{
	bool r;
	switch (p & 7) {
	case 0: r = eq; break;
	case 1: r = lt; break;
	case 2: r = lt || eq; break;
	case 3: r = unord; break;
	case 4: r = !eq; break;
	case 5: r = !lt; break;
	case 6: r = !(lt || eq); break;
	default: r = !unord; break;
	}
	return r ^ ((p & 8) && unord);
}

static bool cmp_signals(unsigned p)
{
	return (((p & 3) == 1) || ((p & 3) == 2)) ^ (p >> 4 & 1);
}

static uint32_t cmp32(uint32_t a, uint32_t b, unsigned p, bool daz, uint32_t *fl)
{
	bool da = (a & 0x7f800000) == 0 && (a & 0x7fffff), db = (b & 0x7f800000) == 0 && (b & 0x7fffff);
	if (daz) {
		a = da ? a & 0x80000000 : a;
		b = db ? b & 0x80000000 : b;
	}
	float x, y;
	memcpy(&x, &a, 4);
	memcpy(&y, &b, 4);
	bool unord = x != x || y != y;
	if (f32_snan(a) || f32_snan(b) || (unord && cmp_signals(p)))
		*fl |= 1;
	if (!daz && !unord && (da || db)) /* (no DE beside a NaN, as the hardware does) */
		*fl |= 2;
	return cmp_pred(p, unord, x < y, x == y) ? ~0u : 0;
}

static uint64_t cmp64(uint64_t a, uint64_t b, unsigned p, bool daz, uint32_t *fl)
{
	const uint64_t e = 0x7ff0000000000000ULL, m = 0xfffffffffffffULL, s = 1ULL << 63;
	bool da = !(a & e) && (a & m), db = !(b & e) && (b & m);
	if (daz) {
		a = da ? a & s : a;
		b = db ? b & s : b;
	}
	double x, y;
	memcpy(&x, &a, 8);
	memcpy(&y, &b, 8);
	bool unord = x != x || y != y;
	if (f64_snan(a) || f64_snan(b) || (unord && cmp_signals(p)))
		*fl |= 1;
	if (!daz && !unord && (da || db)) /* (no DE beside a NaN, as the hardware does) */
		*fl |= 2;
	return cmp_pred(p, unord, x < y, x == y) ? ~0ULL : 0;
}

static void vcmp(struct emu_cpu *cpu, const struct emu_insn *in)
{
	avx_check(cpu);
	unsigned pp = VPP(in), p = in->imm & 31;
	bool scalar = pp >= PP_F3, dbl = pp == PP_66 || pp == PP_F2, daz = cpu->mxcsr & 0x40;
	X s[2], a[2] = { cpu->xmm[in->vvvv], cpu->ymmh[in->vvvv] };
	if (scalar) {
		s[0].q[0] = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), dbl ? 8 : 4) : cpu->xmm[in->rm].q[0];
	} else {
		avx_src(cpu, in, s, false);
	}
	uint32_t fl = 0;
	unsigned n = scalar ? 1 : (VL(in) ? 2 : 1) * (dbl ? 2 : 4);
	for (unsigned i = 0; i < n; i++) {
		if (dbl)
			a[i / 2].q[i % 2] = cmp64(a[i / 2].q[i % 2], s[i / 2].q[i % 2], p, daz, &fl);
		else
			a[i / 4].d[i % 4] = cmp32(a[i / 4].d[i % 4], s[i / 4].d[i % 4], p, daz, &fl);
	}
	sse_fp_flags(cpu, fl);
	if (scalar || !VL(in))
		memset(&a[1], 0, 16);
	set_ymm(cpu, in->reg, a);
}

/* ---- selection --------------------------------------------------------------- */

/* The legacy handler of the same opcode with VEX.pp as its prefix. */
static emu_exec_fn legacy(struct emu_insn *in)
{
	return emu_sse_select(in);
}

static emu_exec_fn use(struct emu_insn *in, emu_exec_fn wrap, unsigned flags, unsigned param)
{
	emu_exec_fn sub = legacy(in);
	if (!sub)
		return NULL;
	if (!(flags & AVXF_NDS) && in->vvvv)
		return NULL; /* vvvv unused: must be 1111b */
	if (VL(in) && !(flags & (AVXF_L1 | AVXF_LIG)))
		return NULL;
	in->vsub = sub;
	in->vflags = (uint8_t)flags;
	in->vparam = (uint8_t)param;
	return wrap;
}

static emu_exec_fn own(struct emu_insn *in, emu_exec_fn fn, bool nds, unsigned lmask, unsigned w, unsigned param)
{
	if (!nds && in->vvvv)
		return NULL;
	if (!(lmask >> VL(in) & 1))
		return NULL;
	if (w != ANYW && ((in->rex >> 3) & 1) != w)
		return NULL;
	in->vparam = (uint8_t)param;
	return fn;
}

#define NDS  AVXF_NDS
#define L1   AVXF_L1
#define LIG  AVXF_LIG
#define CNT  AVXF_CNT
#define RGPR AVXF_RMGPR
#define L0   1u
#define LB   3u /* both lengths */
#define LY   2u /* 256 only */

static emu_exec_fn map1(struct emu_insn *in)
{
	unsigned op = in->opcode, pp = VPP(in);
	bool mem = in->has_mem;
	if (op == 0x77)
		return pp == PP_NONE && !in->vvvv ? vzero : NULL;
	if (pp == PP_NONE || pp == PP_66) {
		switch (op) {
		case 0x10: return own(in, vmov_load, false, LB, ANYW, 0);
		case 0x11: return own(in, vmov_store, false, LB, ANYW, 0);
		case 0x28: return own(in, vmov_load, false, LB, ANYW, 1);
		case 0x29: return own(in, vmov_store, false, LB, ANYW, 1);
		case 0x2b: return mem ? own(in, vmov_store, false, LB, ANYW, 1) : NULL;
		case 0x12:
		case 0x16: return pp == PP_66 && !mem ? NULL : use(in, lanes, NDS, 0);
		case 0x13:
		case 0x17: return mem ? use(in, plain, 0, 0) : NULL;
		case 0x14:
		case 0x15:
		case 0x54:
		case 0x55:
		case 0x56:
		case 0x57:
		case 0x58:
		case 0x59:
		case 0x5c:
		case 0x5d:
		case 0x5e:
		case 0x5f: return use(in, lanes, NDS | L1, 0);
		case 0x2e:
		case 0x2f: return use(in, plain, LIG, 0);
		case 0x50:
			if (mem)
				return NULL;
			return VL(in) ? own(in, movmsk256, false, LY, ANYW, pp == PP_66 ? 8 : 4) : use(in, plain, 0, 0);
		case 0x51: return use(in, lanes, L1, 0);
		case 0x52:
		case 0x53: return pp == PP_NONE ? use(in, lanes, L1, 0) : NULL;
		case 0x5a: return pp == PP_NONE ? use(in, widen, L1, 8) : use(in, narrow, L1, 0);
		case 0x5b: return use(in, lanes, L1, 0);
		case 0xc2: return own(in, vcmp, true, LB, ANYW, 0);
		case 0xc6: return use(in, lanes, NDS | L1, pp == PP_66 ? 2 : 0);
		}
	}
	if (pp == PP_F3 || pp == PP_F2) {
		switch (op) {
		case 0x10:
		case 0x11: return own(in, vmovs, !mem, LB, ANYW, 0);
		case 0x12: return use(in, lanes, L1, 0); /* VMOVSLDUP, VMOVDDUP */
		case 0x16: return pp == PP_F3 ? use(in, lanes, L1, 0) : NULL;
		case 0x2a: return use(in, lanes, NDS | LIG | RGPR, 0);
		case 0x2c:
		case 0x2d: return use(in, plain, LIG, 0);
		case 0x51:
		case 0x58:
		case 0x59:
		case 0x5a:
		case 0x5c:
		case 0x5d:
		case 0x5e:
		case 0x5f: return use(in, lanes, NDS | LIG, 0);
		case 0x52:
		case 0x53: return pp == PP_F3 ? use(in, lanes, NDS | LIG, 0) : NULL;
		case 0x5b: return pp == PP_F3 ? use(in, lanes, L1, 0) : NULL;
		case 0x6f: return pp == PP_F3 ? own(in, vmov_load, false, LB, ANYW, 0) : NULL;
		case 0x7f: return pp == PP_F3 ? own(in, vmov_store, false, LB, ANYW, 0) : NULL;
		case 0x70: return use(in, lanes, L1, 0);
		case 0x7e: return pp == PP_F3 ? use(in, lanes, 0, 0) : NULL; /* VMOVQ xmm, xmm/m64 */
		case 0xc2: return own(in, vcmp, true, LB, ANYW, 0);
		case 0x7c:
		case 0x7d:
		case 0xd0: return pp == PP_F2 ? use(in, lanes, NDS | L1, 0) : NULL;
		case 0xe6: return pp == PP_F3 ? use(in, widen, L1, 8) : use(in, narrow, L1, 0);
		case 0xf0: return pp == PP_F2 && mem ? own(in, vmov_load, false, LB, ANYW, 0) : NULL;
		}
		return NULL;
	}
	if (op == 0xae && pp == PP_NONE) {
		unsigned r = (in->modrm >> 3) & 7;
		return mem && (r == 2 || r == 3) ? use(in, plain, 0, 0) : NULL; /* VLDMXCSR, VSTMXCSR */
	}
	if (pp != PP_66)
		return NULL;
	switch (op) {
	case 0x6e: return use(in, lanes, RGPR, 0); /* VMOVD/Q xmm, r/m */
	case 0x7e: return use(in, plain, 0, 0);    /* VMOVD/Q r/m, xmm */
	case 0x6f: return own(in, vmov_load, false, LB, ANYW, 1);
	case 0x7f: return own(in, vmov_store, false, LB, ANYW, 1);
	case 0xe7: return mem ? own(in, vmov_store, false, LB, ANYW, 1) : NULL;
	case 0xd6: return own(in, vmovq_store, false, L0, ANYW, 0);
	case 0x70: return use(in, lanes, L1, 0);
	case 0x71:
	case 0x72:
	case 0x73: {
		emu_exec_fn fn = use(in, shift_imm, NDS | L1, 0);
		return mem ? NULL : fn;
	}
	case 0x7c:
	case 0x7d:
	case 0xd0: return use(in, lanes, NDS | L1, 0);
	case 0xc4: return use(in, lanes, NDS | RGPR, 0); /* VPINSRW */
	case 0xc5: return use(in, plain, 0, 0);          /* VPEXTRW r, xmm */
	case 0xd7:
		if (mem)
			return NULL;
		return VL(in) ? own(in, movmsk256, false, LY, ANYW, 1) : use(in, plain, 0, 0);
	case 0xe6: return use(in, narrow, L1, 0);
	case 0xf7: return use(in, plain, 0, 0); /* VMASKMOVDQU */
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xe1:
	case 0xe2:
	case 0xf1:
	case 0xf2:
	case 0xf3: return use(in, lanes, NDS | L1 | CNT, 0);
	}
	if ((op >= 0x60 && op <= 0x6d) || (op >= 0x74 && op <= 0x76) || (op >= 0xd4 && op <= 0xfe && op != 0xf7))
		return use(in, lanes, NDS | L1, 0);
	return NULL;
}

static emu_exec_fn map2(struct emu_insn *in)
{
	unsigned op = in->opcode;
	bool mem = in->has_mem;
	if (VPP(in) != PP_66)
		return NULL;
	if (op >= 0x96 && op <= 0xbf && (op & 0x0f) >= 6)
		return avx_fma_select(in);
	switch (op) {
	case 0x0c:
	case 0x0d: return own(in, permil, true, LB, 0, op == 0x0c ? 4 : 8);
	case 0x0e:
	case 0x0f: return own(in, vtest, false, LB, 0, op == 0x0e ? 4 : 8);
	case 0x13: return avx_f16c_select(in);
	case 0x16: return own(in, permd, true, LY, 0, 0);
	case 0x17: return own(in, vtest, false, LB, ANYW, 0);
	case 0x18: return own(in, broadcast, false, LB, 0, 4);
	case 0x19: return own(in, broadcast, false, LY, 0, 8);
	case 0x1a:
	case 0x5a: return mem ? own(in, broadcast, false, LY, 0, 16) : NULL;
	case 0x58: return own(in, broadcast, false, LB, 0, 4);
	case 0x59: return own(in, broadcast, false, LB, 0, 8);
	case 0x78: return own(in, broadcast, false, LB, 0, 1);
	case 0x79: return own(in, broadcast, false, LB, 0, 2);
	case 0x2a: return mem ? own(in, vmov_load, false, LB, ANYW, 1) : NULL;
	case 0x2c:
	case 0x2d:
	case 0x2e:
	case 0x2f: return mem ? own(in, maskmov, true, LB, 0, op & 1 ? 8 : 4) : NULL;
	case 0x8c:
	case 0x8e: return mem ? own(in, maskmov, true, LB, ANYW, in->rex & 8 ? 8 : 4) : NULL;
	case 0x36: return own(in, permd, true, LY, 0, 0);
	case 0x45:
	case 0x47: return own(in, shiftv, true, LB, ANYW, 0);
	case 0x46: return own(in, shiftv, true, LB, 0, 0);
	case 0x41: return use(in, lanes, 0, 0); /* VPHMINPOSUW */
	case 0x90:
	case 0x91:
	case 0x92:
	case 0x93: return mem && (in->modrm & 7) == 4 && in->addrsize != 2 ? own(in, gather, true, LB, ANYW, 0) : NULL;
	}
	static const uint8_t widen_half[6] = { 8, 4, 2, 8, 4, 8 }; /* bw bd bq wd wq dq */
	if ((op >= 0x20 && op <= 0x25) || (op >= 0x30 && op <= 0x35))
		return use(in, widen, L1, widen_half[op & 7]);
	if (op <= 0x0b || (op >= 0x1c && op <= 0x1e))
		return use(in, lanes, (op <= 0x0b ? NDS : 0) | L1, 0);
	if (op == 0x28 || op == 0x29 || op == 0x2b || (op >= 0x37 && op <= 0x40))
		return use(in, lanes, NDS | L1, 0);
	return NULL;
}

static emu_exec_fn map3(struct emu_insn *in)
{
	unsigned op = in->opcode;
	if (VPP(in) != PP_66)
		return NULL;
	switch (op) {
	case 0x00:
	case 0x01: return own(in, permq, false, LY, 1, 0);
	case 0x02: return own(in, pblendd, true, LB, 0, 0);
	case 0x04:
	case 0x05: return own(in, permil, false, LB, 0, op == 0x04 ? 4 : 8);
	case 0x06:
	case 0x46: return own(in, perm2x128, true, LY, 0, 0);
	case 0x08:
	case 0x09: return use(in, lanes, L1, 0);
	case 0x0a:
	case 0x0b: return use(in, lanes, NDS | LIG, 0);
	case 0x0c: return use(in, lanes, NDS | L1, 4);
	case 0x0d: return use(in, lanes, NDS | L1, 2);
	case 0x0e:
	case 0x0f:
	case 0x40: return use(in, lanes, NDS | L1, 0);
	case 0x42: return use(in, lanes, NDS | L1, 3);
	case 0x41: return use(in, lanes, NDS, 0);
	case 0x14:
	case 0x15:
	case 0x16:
	case 0x17: return use(in, plain, 0, 0);
	case 0x18:
	case 0x38: return own(in, insert128, true, LY, 0, 0);
	case 0x19:
	case 0x39: return own(in, extract128, false, LY, 0, 0);
	case 0x1d: return avx_f16c_select(in);
	case 0x20:
	case 0x22: return use(in, lanes, NDS | RGPR, 0);
	case 0x21: return use(in, lanes, NDS, 0);
	case 0x4a:
	case 0x4b:
	case 0x4c: return own(in, blendv, true, LB, 0, op == 0x4a ? 4 : op == 0x4b ? 8 : 1);
	case 0x60:
	case 0x62: return use(in, plain, AVXF_ZX0, 0);
	case 0x61:
	case 0x63: return use(in, plain, 0, 0);
	}
	return NULL;
}

emu_exec_fn emu_avx_select(struct emu_insn *in)
{
	static const uint8_t pfx[4] = { 0, PFX_OPSIZE, PFX_REP, PFX_REPNE };
	in->prefix = (uint8_t)((in->prefix & ~(PFX_OPSIZE | PFX_REP | PFX_REPNE)) | pfx[VPP(in)]);
	in->vsub = NULL;
	in->vflags = 0;
	in->vparam = 0;
	switch (in->map) {
	case 1: return map1(in);
	case 2: return map2(in);
	case 3: return map3(in);
	}
	return NULL;
}
