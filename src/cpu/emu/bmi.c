/* BMI1 and BMI2: the VEX-encoded general-purpose instructions (ANDN,
 * BEXTR, BLSI, BLSMSK, BLSR, BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX,
 * SHRX).  TZCNT, BMI1's legacy-encoded member, is in bitops.c.
 *
 * The decoder (decode.c) parses the VEX prefix into in->vex (present, L,
 * pp) and in->vvvv and asks emu_vex_select for the handler; everything
 * else VEX-encoded (AVX) is #UD, as CPUID offers no AVX.  Operand size is
 * 64 bits with VEX.W in 64-bit mode, else 32.  Flags the manuals leave
 * undefined (AF and PF always, SF for BEXTR) are cleared. */
#include "cpu/emu/ops.h"

#define VEX_L(in)  (((in)->vex >> 1) & 1)
#define VEX_PP(in) (((in)->vex >> 2) & 3) /* 0: none, 1: 66, 2: F3, 3: F2 */

enum { PP_NONE, PP_66, PP_F3, PP_F2 };

/* VEX is #UD in real and virtual-8086 mode (where C4/C5 are LES/LDS
 * with a register operand, itself #UD). */
static unsigned vex_begin(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM))
		emu_raise(cpu, EXC_UD);
	return in->opsize;
}

static uint64_t vreg(const struct emu_cpu *cpu, const struct emu_insn *in, unsigned sz)
{
	return cpu->gpr[in->vvvv] & sz_mask(sz);
}

static uint64_t msb(uint64_t v, unsigned sz)
{
	return v >> (sz * 8 - 1) & 1;
}

/* ZF and SF of r, CF as given; OF, AF, PF clear. */
static void logic_flags(struct emu_cpu *cpu, uint64_t r, unsigned sz, bool cf)
{
	cc_set_flags(cpu, (r ? 0 : RFLAGS_ZF) | (msb(r, sz) ? RFLAGS_SF : 0) | (cf ? RFLAGS_CF : 0));
}

static void op_andn(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t r = ~vreg(cpu, in, sz) & rm_read(cpu, in, sz) & sz_mask(sz);
	reg_write_v(cpu, in->reg, r, sz);
	logic_flags(cpu, r, sz, false);
}

static void op_bextr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = rm_read(cpu, in, sz), ctl = vreg(cpu, in, sz);
	unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff;
	uint64_t r = start < sz * 8 ? src >> start : 0;
	if (len < 64)
		r &= (1ULL << len) - 1;
	reg_write_v(cpu, in->reg, r, sz);
	cc_set_flags(cpu, r ? 0 : RFLAGS_ZF);
}

/* F3 /1 BLSR, /2 BLSMSK, /3 BLSI: the result goes to VEX.vvvv. */
static void op_blsr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = rm_read(cpu, in, sz), r = (src - 1) & src & sz_mask(sz);
	reg_write_v(cpu, in->vvvv, r, sz);
	logic_flags(cpu, r, sz, src == 0);
}

static void op_blsmsk(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = rm_read(cpu, in, sz), r = ((src - 1) ^ src) & sz_mask(sz);
	reg_write_v(cpu, in->vvvv, r, sz);
	cc_set_flags(cpu, (msb(r, sz) ? RFLAGS_SF : 0) | (src == 0 ? RFLAGS_CF : 0)); /* ZF always clear */
}

static void op_blsi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = rm_read(cpu, in, sz), r = (0 - src) & src & sz_mask(sz);
	reg_write_v(cpu, in->vvvv, r, sz);
	logic_flags(cpu, r, sz, src != 0);
}

static void op_bzhi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t r = rm_read(cpu, in, sz);
	unsigned n = vreg(cpu, in, sz) & 0xff;
	if (n < sz * 8)
		r &= (1ULL << n) - 1;
	reg_write_v(cpu, in->reg, r, sz);
	logic_flags(cpu, r, sz, n > sz * 8 - 1);
}

/* MULX: RDX times r/m, unsigned; low half to vvvv, then high half to reg
 * (so the high half wins when they are the same register).  No flags. */
static void op_mulx(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t a = cpu->gpr[X86_RDX] & sz_mask(sz), b = rm_read(cpu, in, sz), lo, hi;
	if (sz == 8) {
		unsigned __int128 p = (unsigned __int128)a * b;
		lo = (uint64_t)p, hi = (uint64_t)(p >> 64);
	} else {
		uint64_t p = a * b;
		lo = (uint32_t)p, hi = p >> 32;
	}
	reg_write_v(cpu, in->vvvv, lo, sz);
	reg_write_v(cpu, in->reg, hi, sz);
}

/* PDEP: the low bits of vvvv to the positions of the mask's set bits. */
static void op_pdep(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = vreg(cpu, in, sz), mask = rm_read(cpu, in, sz), r = 0;
	for (uint64_t bit = 1; mask; bit <<= 1) {
		uint64_t low = mask & -mask;
		if (src & bit)
			r |= low;
		mask &= mask - 1;
	}
	reg_write_v(cpu, in->reg, r, sz);
}

/* PEXT: the bits of vvvv at the mask's set bits, packed at the bottom. */
static void op_pext(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in);
	uint64_t src = vreg(cpu, in, sz), mask = rm_read(cpu, in, sz), r = 0;
	for (uint64_t bit = 1; mask; bit <<= 1) {
		uint64_t low = mask & -mask;
		if (src & low)
			r |= bit;
		mask &= mask - 1;
	}
	reg_write_v(cpu, in->reg, r, sz);
}

static void op_rorx(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in), bits = sz * 8, n = (unsigned)in->imm & (bits - 1);
	uint64_t v = rm_read(cpu, in, sz);
	uint64_t r = n ? (v >> n) | (v << (bits - n)) : v;
	reg_write_v(cpu, in->reg, r & sz_mask(sz), sz);
}

/* SARX, SHLX, SHRX: r/m shifted by vvvv (masked to the size); no flags. */
static void op_shiftx(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = vex_begin(cpu, in), n = (unsigned)vreg(cpu, in, sz) & (sz * 8 - 1);
	uint64_t v = rm_read(cpu, in, sz), r;
	switch (VEX_PP(in)) {
	case PP_F3: r = (uint64_t)(sz == 8 ? (int64_t)v >> n : (int64_t)(int32_t)v >> n); break;
	case PP_66: r = v << n; break;
	default: r = v >> n; break;
	}
	reg_write_v(cpu, in->reg, r & sz_mask(sz), sz);
}

emu_exec_fn emu_vex_select(struct emu_insn *in)
{
	unsigned pp = VEX_PP(in);
	if (in->map == 1 || (in->map == 2 && in->opcode < 0xf0) || (in->map == 3 && in->opcode != 0xf0))
		return emu_avx_select(in);
	if (VEX_L(in))
		return NULL; /* 256-bit forms of these do not exist */
	if (in->map == 3)
		/* (RORX has no vvvv operand: the field must be 1111) */
		return in->opcode == 0xf0 && pp == PP_F2 && in->vvvv == 0 ? op_rorx : NULL;
	if (in->map != 2)
		return NULL;
	switch (in->opcode) {
	case 0xf2: return pp == PP_NONE ? op_andn : NULL;
	case 0xf3:
		if (pp != PP_NONE)
			return NULL;
		switch ((in->modrm >> 3) & 7) {
		case 1: return op_blsr;
		case 2: return op_blsmsk;
		case 3: return op_blsi;
		}
		return NULL;
	case 0xf5: return pp == PP_NONE ? op_bzhi : pp == PP_F2 ? op_pdep : pp == PP_F3 ? op_pext : NULL;
	case 0xf6: return pp == PP_F2 ? op_mulx : NULL;
	case 0xf7: return pp == PP_NONE ? op_bextr : op_shiftx;
	}
	return NULL;
}
