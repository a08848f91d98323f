/* Operand helpers for instruction handlers (all parts of the engine may
 * use them) and the prototypes of the integer handlers the decoder tables
 * point at.
 *
 * Register rules: 32-bit writes zero-extend to 64, 16- and 8-bit writes
 * merge; a byte register 4..7 names AH/CH/DH/BH unless the instruction has
 * a REX prefix (then SPL/BPL/SIL/DIL). */
#ifndef SYMBIONT_EMU_OPS_H
#define SYMBIONT_EMU_OPS_H

#include "cpu/emu/emu.h"
#include "cpu/emu/flags.h"

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* ---- registers ----------------------------------------------------------- */

static inline __attribute__((always_inline)) uint64_t reg_read(const struct emu_cpu *cpu, const struct emu_insn *in,
                                                               unsigned r, unsigned size)
{
	switch (size) {
	case 1:
		if (!in->rex && (r & 4))
			return (uint8_t)(cpu->gpr[r & 3] >> 8);
		return (uint8_t)cpu->gpr[r];
	case 2: return (uint16_t)cpu->gpr[r];
	case 4: return (uint32_t)cpu->gpr[r];
	default: return cpu->gpr[r];
	}
}

static inline __attribute__((always_inline)) void reg_write(struct emu_cpu *cpu, const struct emu_insn *in, unsigned r,
                                                            uint64_t v, unsigned size)
{
	switch (size) {
	case 1:
		if (!in->rex && (r & 4))
			cpu->gpr[r & 3] = (cpu->gpr[r & 3] & ~0xff00ULL) | ((v & 0xff) << 8);
		else
			cpu->gpr[r] = (cpu->gpr[r] & ~0xffULL) | (v & 0xff);
		break;
	case 2: cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | (v & 0xffff); break;
	case 4: cpu->gpr[r] = (uint32_t)v; break;
	default: cpu->gpr[r] = v; break;
	}
}

/* Writes a register of 2, 4 or 8 bytes (no byte-register aliasing). */
static inline void reg_write_v(struct emu_cpu *cpu, unsigned r, uint64_t v, unsigned size)
{
	if (size == 4)
		cpu->gpr[r] = (uint32_t)v;
	else if (size == 8)
		cpu->gpr[r] = v;
	else
		cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | (v & 0xffff);
}

/* Register whose low 16/32/64 bits an address-size-dependent instruction
 * uses (string ops, LOOP, JCXZ): writes keep the bits above. */
static inline uint64_t reg_read_a(const struct emu_cpu *cpu, unsigned r, unsigned asize)
{
	return cpu->gpr[r] & sz_mask(asize);
}

static inline void reg_write_a(struct emu_cpu *cpu, unsigned r, uint64_t v, unsigned asize)
{
	reg_write_v(cpu, r, v, asize);
}

/* ---- memory operands ----------------------------------------------------- */

static inline __attribute__((always_inline)) uint64_t ea_of(const struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t a = (uint64_t)(int64_t)in->disp;
	if (in->base < 16)
		a += cpu->gpr[in->base];
	else if (in->base == EMU_RIPREL)
		a += cpu->next_rip;
	if (in->index != EMU_NOREG)
		a += cpu->gpr[in->index] << in->scale;
	return a & sz_mask(in->addrsize);
}

/* r/m operand of the instruction's size. */
static inline __attribute__((always_inline)) uint64_t rm_read(struct emu_cpu *cpu, const struct emu_insn *in,
                                                              unsigned size)
{
	if (in->has_mem)
		return emu_read(cpu, in->seg, ea_of(cpu, in), size);
	return reg_read(cpu, in, in->rm, size);
}

static inline __attribute__((always_inline)) void rm_write(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t v,
                                                           unsigned size)
{
	if (in->has_mem)
		emu_write(cpu, in->seg, ea_of(cpu, in), v, size);
	else
		reg_write(cpu, in, in->rm, v, size);
}

/* ---- stack ---------------------------------------------------------------- */

/* Stack address size: 8 in 64-bit mode, else SS.B. */
static inline unsigned stack_asize(const struct emu_cpu *cpu)
{
	if (cpu->code_mode == EMU_MODE64)
		return 8;
	return cpu->seg[SEG_SS].db ? 4 : 2;
}

/* Pushes v; the memory write happens before RSP changes so a fault leaves
 * the state as it was. */
static inline __attribute__((always_inline)) void push(struct emu_cpu *cpu, uint64_t v, unsigned size)
{
	unsigned as = stack_asize(cpu);
	uint64_t sp = (cpu->gpr[X86_RSP] - size) & sz_mask(as);
	emu_write(cpu, SEG_SS, sp, v, size);
	reg_write_a(cpu, X86_RSP, sp, as);
}

/* Reads the top of stack at offset off without popping. */
static inline __attribute__((always_inline)) uint64_t stack_peek(struct emu_cpu *cpu, unsigned off, unsigned size)
{
	unsigned as = stack_asize(cpu);
	return emu_read(cpu, SEG_SS, (cpu->gpr[X86_RSP] + off) & sz_mask(as), size);
}

static inline void stack_adjust(struct emu_cpu *cpu, int64_t delta)
{
	unsigned as = stack_asize(cpu);
	reg_write_a(cpu, X86_RSP, (cpu->gpr[X86_RSP] + delta) & sz_mask(as), as);
}

static inline uint64_t pop(struct emu_cpu *cpu, unsigned size)
{
	uint64_t v = stack_peek(cpu, 0, size);
	stack_adjust(cpu, size);
	return v;
}

/* ---- control flow ---------------------------------------------------------- */

/* Sets the next RIP to target (already truncated to the operand size),
 * with the canonical check of 64-bit mode and the CS limit check of the
 * legacy modes: #GP(0) at the branch instruction. */
static inline __attribute__((always_inline)) void branch_to(struct emu_cpu *cpu, uint64_t target)
{
	if (cpu->code_mode == EMU_MODE64) {
		if (unlikely((uint64_t)((int64_t)(target << 16) >> 16) != target))
			emu_raise_err(cpu, EXC_GP, 0);
	} else if (unlikely(target > cpu->seg[SEG_CS].limit)) {
		emu_raise_err(cpu, EXC_GP, 0);
	}
	cpu->next_rip = target;
}

/* ---- handlers ---------------------------------------------------------------- */

#define H(name) void name(struct emu_cpu *cpu, const struct emu_insn *in)

/* alu.c */
#define ALU_DECL(n)     \
	H(op_##n##_EG); \
	H(op_##n##_GE); \
	H(op_##n##_EI)
ALU_DECL(add);
ALU_DECL(or);
ALU_DECL(adc);
ALU_DECL(sbb);
ALU_DECL(and);
ALU_DECL(sub);
ALU_DECL(xor);
ALU_DECL(cmp);
H(op_test_EG);
H(op_test_EI);
H(op_inc);
H(op_dec);
H(op_not);
H(op_neg);
H(op_cmpxchg);
H(op_xadd);
H(op_cmpxchg8b);
H(op_xchg);

/* shift.c */
H(op_rol);
H(op_ror);
H(op_rcl);
H(op_rcr);
H(op_shl);
H(op_shr);
H(op_sar);
H(op_shld);
H(op_shrd);

/* muldiv.c */
H(op_mul);
H(op_imul1);
H(op_div);
H(op_idiv);
H(op_imul_GE);
H(op_imul_GEI);

/* bitops.c */
H(op_bt_G);
H(op_bts_G);
H(op_btr_G);
H(op_btc_G);
H(op_bt_I);
H(op_bts_I);
H(op_btr_I);
H(op_btc_I);
H(op_bsf);
H(op_bsr);
H(op_tzcnt);
H(op_lzcnt);
H(op_popcnt);
H(op_movbe);
H(op_bswap);

/* string.c */
H(op_movs);
H(op_cmps);
H(op_stos);
H(op_lods);
H(op_scas);

/* branch.c */
H(op_jcc);
H(op_jmp_rel);
H(op_call_rel);
H(op_jmp_E);
H(op_call_E);
H(op_ret);
H(op_loop);
H(op_loope);
H(op_loopne);
H(op_jcxz);

/* misc.c */
H(op_mov_EG);
H(op_mov_GE);
H(op_mov_EI);
H(op_mov_load_moffs);
H(op_mov_store_moffs);
H(op_lea);
H(op_movzx);
H(op_movsx);
H(op_movsxd);
H(op_cbw);
H(op_cwd);
H(op_setcc);
H(op_cmov);
H(op_push_R);
H(op_push_E);
H(op_push_I);
H(op_pop_R);
H(op_pop_E);
H(op_pusha);
H(op_popa);
H(op_enter);
H(op_leave);
H(op_lahf);
H(op_sahf);
H(op_clc);
H(op_stc);
H(op_cmc);
H(op_cld);
H(op_std);
H(op_nop);
H(op_pause);
H(op_ud);
H(op_gp0);
H(op_xlat);
H(op_daa);
H(op_das);
H(op_aaa);
H(op_aas);
H(op_aam);
H(op_aad);

#undef H

/* Sized variants of the hottest handlers (alu.c, misc.c). */
emu_exec_fn emu_alu_specialize(emu_exec_fn fn, unsigned sz);
emu_exec_fn emu_misc_specialize(emu_exec_fn fn, unsigned sz);

/* Pure decoder (decode.c): decodes from the bytes b[0..avail), reading no
 * byte past the instruction's end nor past avail or 15.  Returns the
 * length, or 0 if the instruction may continue beyond avail (fetch more).
 * Undefined or over-long instructions decode to a handler raising
 * #UD or #GP. */
int emu_decode_bytes(const uint8_t *b, unsigned avail, enum emu_code_mode mode, struct emu_insn *in);

#endif
