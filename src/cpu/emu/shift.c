/* Shifts and rotates: ROL ROR RCL RCR SHL/SAL SHR SAR (C0/C1, D0-D3) and
 * SHLD/SHRD.  The count is masked to 5 bits (6 with a 64-bit operand); a
 * masked count of 0 changes neither the operand nor the flags.  OF is
 * architecturally defined only for a count of 1; for larger counts we give
 * the count-1 formula's value. */
#include "cpu/emu/ops.h"

static inline unsigned shift_count(const struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t c = (in->opcode & 0xfe) == 0xd2 && in->map == 0 ? cpu->gpr[X86_RCX] : in->imm;
	return (unsigned)c & (in->opsize == 8 ? 63 : 31);
}

static inline __attribute__((always_inline)) uint64_t shift_src(struct emu_cpu *cpu, const struct emu_insn *in,
                                                                uint64_t *ea)
{
	if (in->has_mem) {
		*ea = ea_of(cpu, in);
		return emu_read(cpu, in->seg, *ea, in->opsize);
	}
	return reg_read(cpu, in, in->rm, in->opsize);
}

static inline __attribute__((always_inline)) void shift_dst(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea,
                                                            uint64_t v)
{
	if (in->has_mem)
		emu_write(cpu, in->seg, ea, v, in->opsize);
	else
		reg_write(cpu, in, in->rm, v, in->opsize);
}

void op_shl(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	r = n < 64 ? (a << n) & sz_mask(sz) : 0;
	shift_dst(cpu, in, ea, r);
	cc_set(cpu, EMU_CC_SHL, sz, r, a, n);
}

void op_shr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	r = a >> n;
	shift_dst(cpu, in, ea, r);
	cc_set(cpu, EMU_CC_SHR, sz, r, a, n);
}

void op_sar(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	r = (uint64_t)(sz_sext(a, sz) >> (n > 63 ? 63 : n)) & sz_mask(sz);
	shift_dst(cpu, in, ea, r);
	cc_set(cpu, EMU_CC_SAR, sz, r, a, n);
}

static inline void set_cf_of(struct emu_cpu *cpu, bool cf, bool of)
{
	uint32_t f = emu_flags(cpu) & ~(RFLAGS_CF | RFLAGS_OF);
	cc_set_flags(cpu, f | (cf ? RFLAGS_CF : 0) | (of ? RFLAGS_OF : 0));
}

void op_rol(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize, w = sz * 8, k;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	k = n & (w - 1);
	r = k ? ((a << k) | (a >> (w - k))) & sz_mask(sz) : a;
	shift_dst(cpu, in, ea, r);
	set_cf_of(cpu, r & 1, (!!(r & sz_sign(sz))) ^ (r & 1));
}

void op_ror(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize, w = sz * 8, k;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r, s = sz_sign(sz);
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	k = n & (w - 1);
	r = k ? ((a >> k) | (a << (w - k))) & sz_mask(sz) : a;
	shift_dst(cpu, in, ea, r);
	set_cf_of(cpu, r & s, (!!(r & s)) ^ (!!(r & (s >> 1))));
}

/* Rotates through carry work on the (w+1)-bit value CF:operand. */
void op_rcl(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize, w = sz * 8, k;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r;
	bool cf;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	k = n % (w + 1);
	cf = emu_cf(cpu);
	if (k) {
		unsigned __int128 x = ((unsigned __int128)cf << w) | a, all = ((unsigned __int128)1 << (w + 1)) - 1;
		x = ((x << k) | (x >> (w + 1 - k))) & all;
		r = (uint64_t)x & sz_mask(sz);
		cf = (x >> w) & 1;
	} else {
		r = a;
	}
	shift_dst(cpu, in, ea, r);
	set_cf_of(cpu, cf, (!!(r & sz_sign(sz))) ^ cf);
}

void op_rcr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = shift_count(cpu, in), sz = in->opsize, w = sz * 8, k;
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), r, s = sz_sign(sz);
	bool cf;
	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	k = n % (w + 1);
	cf = emu_cf(cpu);
	if (k) {
		unsigned __int128 x = ((unsigned __int128)cf << w) | a, all = ((unsigned __int128)1 << (w + 1)) - 1;
		x = ((x >> k) | (x << (w + 1 - k))) & all;
		r = (uint64_t)x & sz_mask(sz);
		cf = (x >> w) & 1;
	} else {
		r = a;
	}
	shift_dst(cpu, in, ea, r);
	set_cf_of(cpu, cf, (!!(r & s)) ^ (!!(r & (s >> 1))));
}

/* SHLD/SHRD r/m, reg, imm8/CL (0F A4/A5/AC/AD). */
static void shxd(struct emu_cpu *cpu, const struct emu_insn *in, bool left)
{
	unsigned sz = in->opsize, w = sz * 8;
	unsigned n = (unsigned)((in->opcode & 1) ? cpu->gpr[X86_RCX] : in->imm) & (sz == 8 ? 63 : 31);
	uint64_t ea = 0, a = shift_src(cpu, in, &ea), b = reg_read(cpu, in, in->reg, sz), r, m = sz_mask(sz);
	bool cf;
	uint32_t f;

	if (!n) {
		if (!in->has_mem)
			reg_write(cpu, in, in->rm, a, sz);
		return;
	}
	if (left) {
		/* dest:src shifted left; for 16-bit counts above 16 the
		 * result is undefined: we keep shifting in copies of src. */
		unsigned __int128 x = ((unsigned __int128)a << w) | b;
		if (sz == 2)
			x = ((unsigned __int128)a << 32) | ((uint64_t)b << 16) | a;
		unsigned tw = sz == 2 ? 48 : 2 * w;
		r = (uint64_t)(x >> (tw - w - n)) & m;
		cf = (x >> (tw - n)) & 1;
	} else {
		unsigned __int128 x = ((unsigned __int128)b << w) | a;
		if (sz == 2)
			x = ((unsigned __int128)a << 32) | ((uint64_t)b << 16) | a;
		r = (uint64_t)(x >> n) & m;
		cf = (x >> (n - 1)) & 1;
	}
	shift_dst(cpu, in, ea, r);
	f = flags_szp(r, sz) | (cf ? RFLAGS_CF : 0);
	if ((r ^ a) & sz_sign(sz))
		f |= RFLAGS_OF;
	cc_set_flags(cpu, f);
}

void op_shld(struct emu_cpu *cpu, const struct emu_insn *in)
{
	shxd(cpu, in, true);
}
void op_shrd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	shxd(cpu, in, false);
}
