/* Fast paths for the common x87 instructions.
 *
 * The exact path (fpu.c) reloads the whole guest x87 state with FRSTOR and
 * saves it with FNSAVE around every instruction, which costs hundreds of
 * nanoseconds.  Here only the one or two registers an instruction uses are
 * loaded (FLDT) onto the empty host stack, under the guest's control word
 * when it masks every exception (as Linux and C runtimes keep it; else the
 * exact path runs); the flags come back with
 * FNSTSW and the results with FSTPT.  Anything outside the simple case —
 * an empty operand, a full stack, an exception the guest left unmasked —
 * returns false before touching the guest state, and the caller takes the
 * exact path.  Register moves (FLD/FST/FSTP ST(i), FXCH, FLDZ, FLD1, FCHS,
 * FABS) need no host FPU at all.  tests/cpu/test_fpu checks every form of
 * both paths against the host.
 *
 * Host stub table: for each opcode D8..DF, 8 register forms (ModRM.reg r,
 * operand ST(1)) then 8 memory forms (operand at (%rsi)), 64 bytes each.
 * A stub loads b then a (so a is ST(0)), runs the instruction, stores the
 * status word, restores the host control word and pops what is left into
 * out0/out1. */
#include <string.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/fpu.h"

struct x87_io {
	uint16_t cw, sw;
	uint8_t a[10], b[10], out0[10], out1[10];
	uint16_t host_cw;
	uint16_t clr;   /* exception flags the guest does not have set yet */
	uint64_t flags; /* host RFLAGS after the instruction (FCOMI) */
};
_Static_assert(__builtin_offsetof(struct x87_io, clr) == 46, "stub offsets");
_Static_assert(__builtin_offsetof(struct x87_io, flags) == 48, "stub offsets");

/* NL values loaded (b then a), NF values stored after the instruction. */
__asm__(".pushsection .text\n"
        ".balign 64\n"
        ".globl emu_x87_fast_stubs\n"
        ".hidden emu_x87_fast_stubs\n"
        ".type emu_x87_fast_stubs, @function\n"
        "emu_x87_fast_stubs:\n"
        ".irp op, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
        ".set fr, 0\n"
        ".rept 16\n"
        ".balign 64\n"
        ".set NL, 0\n"
        ".set NF, 0\n"
        ".if fr < 8\n"
        /* register forms: D8 (FCOMP pops), DC, DE (pops) */
        ".if \\op == 0xd8\n"
        ".set NL, 2\n"
        ".set NF, 2\n"
        ".if fr == 3\n"
        ".set NF, 1\n"
        ".endif\n"
        ".endif\n"
        ".if \\op == 0xdc\n"
        ".set NL, 2\n"
        ".set NF, 2\n"
        ".endif\n"
        ".if \\op == 0xde\n"
        ".set NL, 2\n"
        ".set NF, 1\n"
        ".endif\n"
        /* FUCOMI/FCOMI (DB), FUCOMIP/FCOMIP (DF, pops) */
        ".if (\\op == 0xdb || \\op == 0xdf) && (fr == 5 || fr == 6)\n"
        ".set NL, 2\n"
        ".set NF, 2\n"
        ".if \\op == 0xdf\n"
        ".set NF, 1\n"
        ".endif\n"
        ".endif\n"
        ".else\n"
        ".set NL, 1\n"
        ".set NF, 1\n"
        ".if (\\op == 0xd8) || (\\op == 0xda) || (\\op == 0xdc) || (\\op == 0xde)\n"
        ".if fr == 11\n"
        ".set NF, 0\n" /* FCOMP m: pops */
        ".endif\n"
        ".else\n"
        ".if fr == 8\n" /* FLD/FILD */
        ".set NL, 0\n"
        ".endif\n"
        ".if (\\op == 0xdb && fr == 13) || (\\op == 0xdf && (fr == 12 || fr == 13))\n" /* FLD m80, FBLD, FILD m64 */
        ".set NL, 0\n"
        ".endif\n"
        ".if fr == 9 || fr == 11\n" /* FISTTP, FSTP/FISTP */
        ".set NF, 0\n"
        ".endif\n"
        ".if (\\op == 0xdb && fr == 15) || (\\op == 0xdf && (fr == 14 || fr == 15))\n" /* FSTP m80, FBSTP, FISTP m64 */
        ".set NF, 0\n"
        ".endif\n"
        ".endif\n"
        ".endif\n"
        "fldcw (%rdi)\n"
        /* FNCLEX is slow: only when the host holds a flag the guest lacks
         * (the op's own flags are then told apart) */
        "fnstsw %ax\n"
        "andw 46(%rdi), %ax\n"
        "jz 1f\n"
        "fnclex\n"
        "1:\n"
        ".if NL >= 2\n"
        "fldt 14(%rdi)\n"
        ".endif\n"
        ".if NL >= 1\n"
        "fldt 4(%rdi)\n"
        ".endif\n"
        ".if fr < 8\n"
        ".byte \\op, 0xc1 | (fr << 3)\n"
        ".else\n"
        ".byte \\op, ((fr - 8) << 3) | 6\n"
        ".endif\n"
        "fnstsw 2(%rdi)\n"
        "pushfq\n"
        "popq 48(%rdi)\n"
        "fldcw 44(%rdi)\n"
        ".if NF >= 1\n"
        "fstpt 24(%rdi)\n"
        ".endif\n"
        ".if NF >= 2\n"
        "fstpt 34(%rdi)\n"
        ".endif\n"
        "ret\n"
        ".set fr, fr + 1\n"
        ".endr\n"
        ".endr\n"
        ".size emu_x87_fast_stubs, . - emu_x87_fast_stubs\n"
        ".popsection\n");

void emu_x87_fast_stubs(void);
typedef void (*fast_fn)(struct x87_io *io, const void *mem);

static inline fast_fn fast_stub(unsigned op, unsigned idx)
{
	return (fast_fn)((uintptr_t)emu_x87_fast_stubs + ((op & 7) * 16 + idx) * 64);
}

/* ---- stack helpers (st[] is in stack order, tags are physical) ---------- */

static inline unsigned tag(const struct emu_fpu *f, unsigned k)
{
	return (f->tw >> (2 * ((((f->sw >> 11) & 7) + k) & 7))) & 3;
}

static inline void set_tag(struct emu_fpu *f, unsigned k, unsigned t)
{
	unsigned s = 2 * ((((f->sw >> 11) & 7) + k) & 7);
	f->tw = (uint16_t)((f->tw & ~(3u << s)) | t << s);
}

static inline void put(struct emu_fpu *f, unsigned k, const uint8_t v[10])
{
	memcpy(f->st[k], v, 10);
	set_tag(f, k, fpu_classify(v));
}

/* A pop leaves the value in its physical register, now ST(7) and empty. */
static void pop(struct emu_fpu *f)
{
	uint8_t t[10];
	set_tag(f, 0, 3);
	memcpy(t, f->st[0], 10);
	memmove(f->st[0], f->st[1], 70);
	memcpy(f->st[7], t, 10);
	f->sw = (uint16_t)((f->sw & ~FSW_TOP) | ((((f->sw >> 11) + 1) & 7) << 11));
}

static void push(struct emu_fpu *f, const uint8_t v[10])
{
	memmove(f->st[1], f->st[0], 70);
	f->sw = (uint16_t)((f->sw & ~FSW_TOP) | ((((f->sw >> 11) - 1) & 7) << 11));
	put(f, 0, v);
}

/* Runs a stub; false if exceptions are not all masked, or on a stack
 * fault (which the preconditions should exclude). */
static bool run(const struct emu_fpu *f, struct x87_io *io, unsigned op, unsigned idx, const void *mem)
{
	/* With an exception unmasked the flags of a masked run are not enough
	 * (an exact tiny result raises UE only when unmasked): exact path. */
	if ((f->cw & 0x3f) != 0x3f)
		return false;
	io->cw = f->cw;
	io->host_cw = 0x037f;
	io->clr = ~f->sw & 0x3f;
	fast_stub(op, idx)(io, mem);
	return !(io->sw & FSW_SF);
}

/* Status word after an instruction: sticky flags, and the condition bits
 * in cmask from the host. */
static inline void merge_sw(struct emu_fpu *f, uint16_t hsw, uint16_t cmask)
{
	f->sw = (uint16_t)((f->sw & ~cmask) | (hsw & cmask) | (hsw & 0x3f));
}

#define C1   0x0200
#define CALL 0x4700

/* ---- register forms ----------------------------------------------------- */

/* D8/DC/DE with a register operand: FADD FMUL FSUB FSUBR FDIV FDIVR (and
 * their P forms), FCOM/FCOMP ST(i). */
bool x87_fast_arith(struct emu_cpu *cpu, const struct emu_insn *in)
{
	struct emu_fpu *f = &cpu->fpu;
	unsigned op = in->opcode, r = (in->modrm >> 3) & 7, i = in->modrm & 7;
	bool cmp = r == 2 || r == 3;
	if (i == 0 || (cmp && op != 0xd8) || tag(f, 0) == 3 || tag(f, i) == 3)
		return false;
	struct x87_io io;
	memcpy(io.a, f->st[0], 10);
	memcpy(io.b, f->st[i], 10);
	if (!run(f, &io, op, r, NULL))
		return false;
	merge_sw(f, io.sw, cmp ? CALL : C1);
	if (cmp) {
		if (r == 3)
			pop(f);
	} else if (op == 0xd8) {
		put(f, 0, io.out0);
	} else if (op == 0xdc) {
		put(f, i, io.out1);
	} else {
		put(f, i, io.out0);
		pop(f);
	}
	return true;
}

/* FUCOMI/FCOMI ST(0), ST(i) (DB E8-F7) and their popping forms (DF): ZF PF
 * CF from the compare, OF SF AF clear; C0-C3 are left alone (the host keeps
 * even C1, which the SDM says is cleared). */
bool x87_fast_fcomi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	struct emu_fpu *f = &cpu->fpu;
	unsigned op = in->opcode, r = (in->modrm >> 3) & 7, i = in->modrm & 7;
	if (i == 0 || tag(f, 0) == 3 || tag(f, i) == 3)
		return false;
	struct x87_io io;
	memcpy(io.a, f->st[0], 10);
	memcpy(io.b, f->st[i], 10);
	if (!run(f, &io, op, r, NULL))
		return false;
	merge_sw(f, io.sw, 0);
	emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~0x8d5ULL) | (io.flags & 0x45));
	if (op == 0xdf)
		pop(f);
	return true;
}

/* Moves within the stack: no rounding, no exceptions without a stack
 * fault; C1 is cleared. */
bool x87_fast_move(struct emu_cpu *cpu, const struct emu_insn *in)
{
	static const uint8_t one[10] = { 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f }, zero[10];
	struct emu_fpu *f = &cpu->fpu;
	unsigned m = in->modrm, i = m & 7;
	uint8_t v[10];
	if (in->opcode == 0xd9) {
		switch (m & 0xf8) {
		case 0xc0: /* FLD ST(i) */
			if (tag(f, i) == 3 || tag(f, 7) != 3)
				return false;
			memcpy(v, f->st[i], 10);
			push(f, v);
			break;
		case 0xc8: /* FXCH ST(i) */
			if (tag(f, 0) == 3 || tag(f, i) == 3)
				return false;
			memcpy(v, f->st[0], 10);
			put(f, 0, f->st[i]);
			put(f, i, v);
			break;
		default:
			if (m == 0xe8 || m == 0xee) { /* FLD1, FLDZ */
				if (tag(f, 7) != 3)
					return false;
				push(f, m == 0xe8 ? one : zero);
			} else if (m == 0xe0 || m == 0xe1) { /* FCHS, FABS */
				if (tag(f, 0) == 3)
					return false;
				if (m == 0xe0)
					f->st[0][9] ^= 0x80;
				else
					f->st[0][9] &= 0x7f;
			} else {
				return false;
			}
		}
	} else { /* DD D0+i FST ST(i), DD D8+i FSTP ST(i) */
		if (tag(f, 0) == 3)
			return false;
		memcpy(v, f->st[0], 10);
		put(f, i, v);
		if (m >= 0xd8)
			pop(f);
	}
	f->sw &= (uint16_t)~C1;
	return true;
}

/* ---- memory forms ------------------------------------------------------- */

static bool is_push(unsigned op, unsigned r)
{
	return r == 0 ? (op & 1) : (op == 0xdb && r == 5) || (op == 0xdf && (r == 4 || r == 5));
}

/* Memory operand already read into buf: FLD/FILD/FBLD (push) or
 * arithmetic/compare on ST(0). */
bool x87_fast_mload(struct emu_cpu *cpu, const struct emu_insn *in, const uint8_t *buf)
{
	struct emu_fpu *f = &cpu->fpu;
	unsigned op = in->opcode, r = (in->modrm >> 3) & 7;
	struct x87_io io;
	if (is_push(op, r)) {
		if (tag(f, 7) != 3 || !run(f, &io, op, 8 + r, buf))
			return false;
		merge_sw(f, io.sw, C1);
		push(f, io.out0);
		return true;
	}
	bool cmp = r == 2 || r == 3;
	if (tag(f, 0) == 3)
		return false;
	memcpy(io.a, f->st[0], 10);
	if (!run(f, &io, op, 8 + r, buf))
		return false;
	merge_sw(f, io.sw, cmp ? CALL : C1);
	if (!cmp)
		put(f, 0, io.out0);
	else if (r == 3)
		pop(f);
	return true;
}

/* Stores: the value goes to buf and the new status word to *sw; the caller
 * writes memory, then commits with x87_fast_store_done. */
bool x87_fast_mstore(const struct emu_cpu *cpu, const struct emu_insn *in, uint8_t *buf, uint16_t *sw)
{
	const struct emu_fpu *f = &cpu->fpu;
	struct x87_io io;
	if (tag(f, 0) == 3)
		return false;
	memcpy(io.a, f->st[0], 10);
	if (!run(f, &io, in->opcode, 8 + ((in->modrm >> 3) & 7), buf))
		return false;
	*sw = (uint16_t)((f->sw & ~C1) | (io.sw & C1) | (io.sw & 0x3f));
	return true;
}

void x87_fast_store_done(struct emu_cpu *cpu, const struct emu_insn *in, uint16_t sw)
{
	unsigned op = in->opcode, r = (in->modrm >> 3) & 7;
	cpu->fpu.sw = sw;
	if (r == 1 || r == 3 || (op == 0xdb && r == 7) || (op == 0xdf && r >= 6))
		pop(&cpu->fpu);
}
