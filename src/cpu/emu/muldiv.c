/* MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV.  Division
 * raises #DE on a zero divisor or a quotient that does not fit. */
#include "cpu/emu/ops.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

/* Accumulator halves: AL/AH for bytes (AX as a whole), else rAX/rDX. */
void op_mul(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t b = rm_read(cpu, in, sz), a = reg_read(cpu, in, X86_RAX, sz), lo, hi;
	if (sz == 8) {
		u128 p = (u128)a * b;
		lo = (uint64_t)p, hi = (uint64_t)(p >> 64);
	} else {
		uint64_t p = a * b;
		lo = p & sz_mask(sz), hi = p >> (sz * 8);
	}
	if (sz == 1) {
		reg_write_v(cpu, X86_RAX, lo | hi << 8, 2);
	} else {
		reg_write_v(cpu, X86_RAX, lo, sz);
		reg_write_v(cpu, X86_RDX, hi, sz);
	}
	cc_set(cpu, EMU_CC_MUL, sz, lo, hi != 0, 0);
}

void op_imul1(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	int64_t b = sz_sext(rm_read(cpu, in, sz), sz), a = sz_sext(reg_read(cpu, in, X86_RAX, sz), sz);
	uint64_t lo, hi;
	bool ovf;
	if (sz == 8) {
		s128 p = (s128)a * b;
		lo = (uint64_t)p, hi = (uint64_t)((u128)p >> 64);
		ovf = p != (s128)(int64_t)lo;
	} else {
		int64_t p = a * b;
		lo = (uint64_t)p & sz_mask(sz), hi = ((uint64_t)p >> (sz * 8)) & sz_mask(sz);
		ovf = p != sz_sext(lo, sz);
	}
	if (sz == 1) {
		reg_write_v(cpu, X86_RAX, lo | hi << 8, 2);
	} else {
		reg_write_v(cpu, X86_RAX, lo, sz);
		reg_write_v(cpu, X86_RDX, hi, sz);
	}
	cc_set(cpu, EMU_CC_MUL, sz, lo, ovf, 0);
}

static void imul2(struct emu_cpu *cpu, const struct emu_insn *in, int64_t a, int64_t b)
{
	unsigned sz = in->opsize;
	uint64_t lo;
	bool ovf;
	if (sz == 8) {
		s128 p = (s128)a * b;
		lo = (uint64_t)p;
		ovf = p != (s128)(int64_t)lo;
	} else {
		int64_t p = a * b;
		lo = (uint64_t)p & sz_mask(sz);
		ovf = p != sz_sext(lo, sz);
	}
	reg_write_v(cpu, in->reg, lo, sz);
	cc_set(cpu, EMU_CC_MUL, sz, lo, ovf, 0);
}

void op_imul_GE(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	int64_t b = sz_sext(rm_read(cpu, in, sz), sz);
	imul2(cpu, in, sz_sext(reg_read(cpu, in, in->reg, sz), sz), b);
}

void op_imul_GEI(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	imul2(cpu, in, sz_sext(rm_read(cpu, in, sz), sz), sz_sext(in->imm, sz));
}

void op_div(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t d = rm_read(cpu, in, sz), q, r;
	if (!d)
		emu_raise(cpu, EXC_DE);
	if (sz == 8) {
		u128 n = ((u128)cpu->gpr[X86_RDX] << 64) | cpu->gpr[X86_RAX];
		u128 q128 = n / d;
		if (q128 >> 64)
			emu_raise(cpu, EXC_DE);
		q = (uint64_t)q128, r = (uint64_t)(n % d);
	} else {
		uint64_t n = sz == 1 ? (uint16_t)cpu->gpr[X86_RAX]
		                     : (reg_read(cpu, in, X86_RDX, sz) << (sz * 8)) | reg_read(cpu, in, X86_RAX, sz);
		q = n / d, r = n % d;
		if (q > sz_mask(sz))
			emu_raise(cpu, EXC_DE);
	}
	if (sz == 1) {
		reg_write_v(cpu, X86_RAX, q | r << 8, 2);
	} else {
		reg_write_v(cpu, X86_RAX, q, sz);
		reg_write_v(cpu, X86_RDX, r, sz);
	}
	/* Flags are undefined after DIV; leave them as they were. */
}

void op_idiv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	int64_t d = sz_sext(rm_read(cpu, in, sz), sz), q, r;
	if (!d)
		emu_raise(cpu, EXC_DE);
	if (sz == 8) {
		s128 n = (s128)(((u128)cpu->gpr[X86_RDX] << 64) | cpu->gpr[X86_RAX]);
		s128 q128;
		if (d == -1 && (u128)n == (u128)1 << 127) /* -2^127 / -1 */
			emu_raise(cpu, EXC_DE);
		q128 = n / d;
		if (q128 != (s128)(int64_t)q128)
			emu_raise(cpu, EXC_DE);
		q = (int64_t)q128, r = (int64_t)(n % d);
	} else {
		int64_t n =
		        sz == 1 ? (int16_t)cpu->gpr[X86_RAX]
		                : sz_sext((reg_read(cpu, in, X86_RDX, sz) << (sz * 8)) | reg_read(cpu, in, X86_RAX, sz),
		                          sz * 2);
		if (d == -1 && n == INT64_MIN) /* EDX:EAX = -2^63: the host division would trap */
			emu_raise(cpu, EXC_DE);
		q = n / d, r = n % d;
		if (q != sz_sext((uint64_t)q, sz))
			emu_raise(cpu, EXC_DE);
	}
	if (sz == 1) {
		reg_write_v(cpu, X86_RAX, ((uint64_t)q & 0xff) | ((uint64_t)r & 0xff) << 8, 2);
	} else {
		reg_write_v(cpu, X86_RAX, (uint64_t)q, sz);
		reg_write_v(cpu, X86_RDX, (uint64_t)r, sz);
	}
}
