/* Bit instructions: BT/BTS/BTR/BTC (register and immediate offsets; a
 * register offset addresses a bit string in memory beyond the operand),
 * BSF/BSR, TZCNT/LZCNT/POPCNT, BSWAP. */
#include "cpu/emu/ops.h"

enum { BT, BTS, BTR, BTC };

static inline void bit_op(struct emu_cpu *cpu, const struct emu_insn *in, int op, int64_t off)
{
	unsigned sz = in->opsize, w = sz * 8;
	uint64_t v, bit, r;
	uint32_t f = emu_flags(cpu) & ~RFLAGS_CF;

	if (in->has_mem) {
		/* The operand is the sz-byte unit holding the bit. */
		uint64_t ea = (ea_of(cpu, in) + (uint64_t)((off >> (w == 64   ? 6
		                                                    : w == 32 ? 5
		                                                              : 4)) *
		                                           (int64_t)sz)) &
		              sz_mask(in->addrsize);
		bit = (uint64_t)off & (w - 1);
		v = emu_read(cpu, in->seg, ea, sz);
		r = op == BTS ? v | (1ULL << bit) : op == BTR ? v & ~(1ULL << bit) : v ^ (1ULL << bit);
		if (op != BT)
			emu_write(cpu, in->seg, ea, r, sz);
	} else {
		bit = (uint64_t)off & (w - 1);
		v = reg_read(cpu, in, in->rm, sz);
		r = op == BTS ? v | (1ULL << bit) : op == BTR ? v & ~(1ULL << bit) : v ^ (1ULL << bit);
		if (op != BT)
			reg_write(cpu, in, in->rm, r, sz);
	}
	cc_set_flags(cpu, f | ((v >> bit) & 1));
}

/* Register offset: signed, of the operand size. */
#define BT_G(name, op)                                                                            \
	void name(struct emu_cpu *cpu, const struct emu_insn *in)                                 \
	{                                                                                         \
		bit_op(cpu, in, op, sz_sext(reg_read(cpu, in, in->reg, in->opsize), in->opsize)); \
	}
/* Immediate offset: taken modulo the operand width, never leaves it. */
#define BT_I(name, op)                                                          \
	void name(struct emu_cpu *cpu, const struct emu_insn *in)               \
	{                                                                       \
		bit_op(cpu, in, op, (int64_t)(in->imm & (in->opsize * 8 - 1))); \
	}

/* clang-format off */
BT_G(op_bt_G, BT)
BT_G(op_bts_G, BTS)
BT_G(op_btr_G, BTR)
BT_G(op_btc_G, BTC)
BT_I(op_bt_I, BT)
BT_I(op_bts_I, BTS)
BT_I(op_btr_I, BTR)
BT_I(op_btc_I, BTC)
/* clang-format on */

/* BSF/BSR: a zero source sets ZF and leaves the destination unchanged. */
void op_bsf(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = rm_read(cpu, in, sz);
	uint32_t f = emu_flags(cpu) & ~RFLAGS_ZF;
	if (!v) {
		cc_set_flags(cpu, f | RFLAGS_ZF);
		return;
	}
	reg_write_v(cpu, in->reg, (uint64_t)__builtin_ctzll(v), sz);
	cc_set_flags(cpu, f);
}

void op_bsr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = rm_read(cpu, in, sz);
	uint32_t f = emu_flags(cpu) & ~RFLAGS_ZF;
	if (!v) {
		cc_set_flags(cpu, f | RFLAGS_ZF);
		return;
	}
	reg_write_v(cpu, in->reg, 63 - (uint64_t)__builtin_clzll(v), sz);
	cc_set_flags(cpu, f);
}

static uint64_t byte_swap(uint64_t v, unsigned sz)
{
	return sz == 8   ? __builtin_bswap64(v)
	       : sz == 4 ? __builtin_bswap32((uint32_t)v)
	                 : __builtin_bswap16((uint16_t)v);
}

void op_tzcnt(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = rm_read(cpu, in, sz), r = v ? (uint64_t)__builtin_ctzll(v) : sz * 8;
	uint32_t f = emu_flags(cpu) & ~(RFLAGS_CF | RFLAGS_ZF);
	reg_write_v(cpu, in->reg, r, sz);
	cc_set_flags(cpu, f | (v ? 0 : RFLAGS_CF) | (r ? 0 : RFLAGS_ZF));
}

void op_lzcnt(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = rm_read(cpu, in, sz), r = v ? (uint64_t)__builtin_clzll(v) - (64 - sz * 8) : sz * 8;
	uint32_t f = emu_flags(cpu) & ~(RFLAGS_CF | RFLAGS_ZF);
	reg_write_v(cpu, in->reg, r, sz);
	cc_set_flags(cpu, f | (v ? 0 : RFLAGS_CF) | (r ? 0 : RFLAGS_ZF));
}

void op_popcnt(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t v = rm_read(cpu, in, sz);
	reg_write_v(cpu, in->reg, (uint64_t)__builtin_popcountll(v), sz);
	cc_set_flags(cpu, v ? 0 : RFLAGS_ZF);
}

/* MOVBE: a load (F0) or store (F1) with the bytes reversed; a 16-bit
 * load keeps the upper bits of the register as MOV does. */
void op_movbe(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t ea = ea_of(cpu, in);
	if (in->opcode == 0xf0)
		reg_write_v(cpu, in->reg, byte_swap(emu_read(cpu, in->seg, ea, sz), sz), sz);
	else
		emu_write(cpu, in->seg, ea, byte_swap(cpu->gpr[in->reg], sz), sz);
}

void op_bswap(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t v = cpu->gpr[in->rm];
	if (in->opsize == 8)
		cpu->gpr[in->rm] = __builtin_bswap64(v);
	else if (in->opsize == 4)
		cpu->gpr[in->rm] = __builtin_bswap32((uint32_t)v);
	else
		reg_write_v(cpu, in->rm, 0, 2); /* undefined; hardware gives 0 */
}
