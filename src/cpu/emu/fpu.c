/* x87 FPU for the software engine: opcodes D8..DF and 9B (FWAIT).
 *
 * The guest's x87 state is kept as an FNSAVE image (struct emu_fpu), so an
 * arithmetic instruction runs on the host FPU exactly as written: a stub
 * does FRSTOR of the guest image, the guest's own opcode byte and ModRM
 * (register forms as they are, memory forms rewritten to address a host
 * buffer), then FNSAVE back.  Rounding, precision control, stack faults,
 * tags, C0-C3, masked responses and the unmasked "result not stored" rules
 * are then the hardware's own.  FNSAVE is a non-waiting instruction, so an
 * unmasked exception the guest's instruction raises stays pending in the
 * guest image (ES set) and never traps on the host; the guest sees #MF at
 * its next waiting instruction, as on hardware (we always report #MF, i.e.
 * behave as CR0.NE=1).  The control instructions (FNINIT, FNCLEX, FNSTSW,
 * FNSTCW, FLDCW, FNSTENV, FLDENV, FNSAVE, FRSTOR) are done in C because
 * their memory formats depend on the guest's mode and operand size.
 * FRSTOR+FNSAVE cost a few hundred nanoseconds, so the common instructions
 * first try the fast path in fpu_fast.c, which falls back here whenever its
 * simple conditions do not hold.
 *
 * Stub table: for each opcode D8..DF, 64 register forms (ModRM C0..FF) then
 * 8 memory forms (ModRM.reg 0..7 with (%rsi) as the operand), 16 bytes
 * each.  FCMOVcc stubs first load the guest's arithmetic flags (rdx), and
 * every stub returns the host flags (for FCOMI). */
#include <string.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/fpu.h"
#include "cpu/emu/mmu.h"

__asm__(".pushsection .text\n"
        ".balign 16\n"
        ".globl emu_x87_stubs\n"
        ".hidden emu_x87_stubs\n"
        ".type emu_x87_stubs, @function\n"
        "emu_x87_stubs:\n"
        ".irp op, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
        ".set emu_x87_m, 0\n"
        ".rept 72\n"
        ".balign 16\n"
        ".if (\\op == 0xda || \\op == 0xdb) && emu_x87_m < 32\n"
        "push %rdx\n"
        "popfq\n"
        ".endif\n"
        "frstor (%rdi)\n"
        ".if emu_x87_m < 64\n"
        ".byte \\op, 0xc0 + emu_x87_m\n"
        ".else\n"
        ".byte \\op, ((emu_x87_m - 64) << 3) | 6\n"
        ".endif\n"
        "pushfq\n"
        "pop %rax\n"
        "fnsave (%rdi)\n"
        "ret\n"
        ".set emu_x87_m, emu_x87_m + 1\n"
        ".endr\n"
        ".endr\n"
        ".size emu_x87_stubs, . - emu_x87_stubs\n"
        ".popsection\n");

void emu_x87_stubs(void);
typedef uint64_t (*x87_stub_fn)(struct emu_fpu *img, void *mem, uint64_t flags);

_Static_assert(__builtin_offsetof(struct emu_fpu, st) == 28, "FNSAVE image layout");
_Static_assert(__builtin_offsetof(struct emu_fpu, fop) >= 108, "FNSAVE image size");

static inline x87_stub_fn x87_stub(unsigned op, unsigned idx)
{
	return (x87_stub_fn)((uintptr_t)emu_x87_stubs + ((op & 7) * 72 + idx) * 16);
}

/* ---- state helpers ------------------------------------------------------ */

uint16_t fpu_full_tags(const struct emu_cpu *cpu)
{
	unsigned top = fpu_top(cpu);
	uint16_t tw = 0;
	for (unsigned i = 0; i < 8; i++) {
		unsigned t = (cpu->fpu.tw >> (2 * i)) & 3;
		if (t != 3)
			t = fpu_classify(cpu->fpu.st[(i - top) & 7]);
		tw |= t << (2 * i);
	}
	return tw;
}

uint8_t fpu_abridged_tags(const struct emu_cpu *cpu)
{
	uint8_t a = 0;
	for (unsigned i = 0; i < 8; i++)
		if (((cpu->fpu.tw >> (2 * i)) & 3) != 3)
			a |= 1 << i;
	return a;
}

void fpu_set_abridged_tags(struct emu_cpu *cpu, uint8_t ftw)
{
	unsigned top = fpu_top(cpu);
	uint16_t tw = 0;
	for (unsigned i = 0; i < 8; i++)
		tw |= (ftw & (1 << i) ? fpu_classify(cpu->fpu.st[(i - top) & 7]) : 3u) << (2 * i);
	cpu->fpu.tw = tw;
}

/* Re-derive ES/B after the control word or status word was loaded: an
 * exception flag that is now unmasked is pending. */
void fpu_update_es(struct emu_cpu *cpu)
{
	if (cpu->fpu.sw & ~cpu->fpu.cw & 0x3f)
		cpu->fpu.sw |= FSW_ES | FSW_B;
	else
		cpu->fpu.sw &= ~(FSW_ES | FSW_B);
}

/* st[] is in stack order: after TOP changed from old_top without the
 * registers moving (FLDENV, FNINIT), re-index them. */
static void fpu_retop(struct emu_cpu *cpu, unsigned old_top)
{
	unsigned d = (fpu_top(cpu) - old_top) & 7;
	if (d) {
		uint8_t t[8][10];
		memcpy(t, cpu->fpu.st, sizeof(t));
		for (unsigned i = 0; i < 8; i++)
			memcpy(cpu->fpu.st[i], t[(i + d) & 7], 10);
	}
}

void mmx_enter_slow(struct emu_cpu *cpu)
{
	unsigned top = fpu_top(cpu);
	if (top) {
		uint8_t t[8][10];
		for (unsigned p = 0; p < 8; p++)
			memcpy(t[p], cpu->fpu.st[(p - top) & 7], 10);
		memcpy(cpu->fpu.st, t, sizeof(t));
		cpu->fpu.sw &= ~FSW_TOP;
	}
	cpu->fpu.tw = 0;
}

void emu_fpu_reset(struct emu_cpu *cpu)
{
	memset(&cpu->fpu, 0, sizeof(cpu->fpu));
	cpu->fpu.cw = 0x0040;
	cpu->fpu.tw = 0x5555;
	memset(cpu->xmm, 0, sizeof(cpu->xmm));
	memset(cpu->ymmh, 0, sizeof(cpu->ymmh));
	cpu->mxcsr = 0x1f80;
}

/* ---- common prologue / epilogue ------------------------------------------ */

static inline void x87_check_nm(struct emu_cpu *cpu)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		emu_raise(cpu, EXC_NM);
}

/* A waiting instruction: #NM, then a pending unmasked exception → #MF. */
static inline void x87_check(struct emu_cpu *cpu)
{
	x87_check_nm(cpu);
	if (fpu_pending(cpu))
		emu_raise(cpu, EXC_MF);
}

/* Last instruction / operand pointers and opcode (non-control instructions). */
static inline void x87_note(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea)
{
	cpu->fpu.fop = ((in->opcode & 7) << 8) | in->modrm;
	cpu->fpu.fip = cpu->rip;
	cpu->fpu.fcs = cpu->seg[SEG_CS].sel;
	if (in->has_mem) {
		cpu->fpu.fdp = ea;
		cpu->fpu.fds = cpu->seg[in->seg].sel;
	}
}

/* ---- register forms ---------------------------------------------------- */

static void x87_reg(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	x87_stub(in->opcode, in->modrm & 63)(&cpu->fpu, NULL, 0);
	x87_note(cpu, in, 0);
}

/* D8/DC/DE register forms and the register moves: fast path first. */
static void x87_arith(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	if (!x87_fast_arith(cpu, in))
		x87_stub(in->opcode, in->modrm & 63)(&cpu->fpu, NULL, 0);
	x87_note(cpu, in, 0);
}

static void x87_move(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	if (!x87_fast_move(cpu, in))
		x87_stub(in->opcode, in->modrm & 63)(&cpu->fpu, NULL, 0);
	x87_note(cpu, in, 0);
}

#define ARITH_FLAGS 0x8d5ULL /* CF PF AF ZF SF OF */

static void x87_fcmov(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	x87_stub(in->opcode, in->modrm & 63)(&cpu->fpu, NULL, (emu_get_rflags(cpu) & ARITH_FLAGS) | 2);
	x87_note(cpu, in, 0);
}

static void x87_fcomi(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	if (x87_fast_fcomi(cpu, in)) {
		x87_note(cpu, in, 0);
		return;
	}
	uint64_t f = x87_stub(in->opcode, in->modrm & 63)(&cpu->fpu, NULL, 0);
	/* Even with an unmasked #IA the host sets ZF PF CF ("unordered"). */
	emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~ARITH_FLAGS) | (f & 0x45));
	x87_note(cpu, in, 0);
}

static void x87_fnstsw_ax(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	x87_check_nm(cpu);
	cpu->gpr[X86_RAX] = (cpu->gpr[X86_RAX] & ~0xffffULL) | cpu->fpu.sw;
}

static void x87_fnclex(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	x87_check_nm(cpu);
	cpu->fpu.sw &= ~(0x00ff | FSW_B);
}

static void x87_fninit(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	x87_check_nm(cpu);
	unsigned old_top = fpu_top(cpu);
	cpu->fpu.sw = 0;
	fpu_retop(cpu, old_top);
	cpu->fpu.cw = 0x037f;
	cpu->fpu.sw = 0;
	cpu->fpu.tw = 0xffff;
	cpu->fpu.fop = cpu->fpu.fcs = cpu->fpu.fds = 0;
	cpu->fpu.fip = cpu->fpu.fdp = 0;
}

/* FENI, FDISI, FSETPM: 8087/287 leftovers, no-ops since the 387. */
static void x87_fnop_legacy(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	x87_check_nm(cpu);
}

static void x87_fwait(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	if ((cpu->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
		emu_raise(cpu, EXC_NM);
	if (fpu_pending(cpu))
		emu_raise(cpu, EXC_MF);
}

/* ---- memory forms ------------------------------------------------------ */

/* Operand bytes of the memory forms run through a stub. */
static const uint8_t x87_msize[8][8] = {
	[0] = { 4, 4, 4, 4, 4, 4, 4, 4 },   [1] = { 4, 0, 4, 4, 0, 0, 0, 0 },   [2] = { 4, 4, 4, 4, 4, 4, 4, 4 },
	[3] = { 4, 4, 4, 4, 0, 10, 0, 10 }, [4] = { 8, 8, 8, 8, 8, 8, 8, 8 },   [5] = { 8, 8, 8, 8, 0, 0, 0, 0 },
	[6] = { 2, 2, 2, 2, 2, 2, 2, 2 },   [7] = { 2, 2, 2, 2, 10, 8, 10, 8 },
};

static inline unsigned x87_mreg(const struct emu_insn *in)
{
	return (in->modrm >> 3) & 7;
}

static void x87_mload(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	uint64_t ea = emu_ea(cpu, in);
	unsigned n = x87_msize[in->opcode & 7][x87_mreg(in)];
	uint8_t buf[16];
	if (n == 10) {
		emu_read_bytes(cpu, in->seg, ea, buf, 10);
	} else {
		uint64_t v = emu_read(cpu, in->seg, ea, n);
		memcpy(buf, &v, 8);
	}
	if (!x87_fast_mload(cpu, in, buf))
		x87_stub(in->opcode, 64 + x87_mreg(in))(&cpu->fpu, buf, 0);
	x87_note(cpu, in, ea);
}

static void x87_mwrite(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea, const uint8_t *buf, unsigned n)
{
	if (n == 10) {
		emu_write_bytes(cpu, in->seg, ea, buf, 10);
	} else {
		uint64_t v;
		memcpy(&v, buf, 8);
		emu_write(cpu, in->seg, ea, v, n);
	}
}

/* Stores run on a copy so a faulting write leaves the guest state as it
 * was; an unmasked IE/DE/ZE/OE/UE means the hardware stores nothing. */
static void x87_mstore(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check(cpu);
	uint64_t ea = emu_ea(cpu, in);
	unsigned n = x87_msize[in->opcode & 7][x87_mreg(in)];
	uint8_t buf[16] = { 0 };
	uint16_t sw;
	if (x87_fast_mstore(cpu, in, buf, &sw)) {
		x87_mwrite(cpu, in, ea, buf, n);
		x87_fast_store_done(cpu, in, sw);
		x87_note(cpu, in, ea);
		return;
	}
	struct emu_fpu t = cpu->fpu;
	x87_stub(in->opcode, 64 + x87_mreg(in))(&t, buf, 0);
	if (!(t.sw & ~t.cw & 0x1f))
		x87_mwrite(cpu, in, ea, buf, n);
	cpu->fpu = t;
	x87_note(cpu, in, ea);
}

static void x87_fnstsw_m(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->fpu.sw, 2);
}

static void x87_fnstcw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->fpu.cw, 2);
}

static void x87_fldcw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	uint16_t v = (uint16_t)emu_read(cpu, in->seg, emu_ea(cpu, in), 2);
	cpu->fpu.cw = (v & 0x1f3f) | 0x0040;
	fpu_update_es(cpu);
}

/* FNSTENV/FLDENV layouts: 14 bytes (16-bit operand size) or 28 bytes
 * (32/64-bit), with real-mode variants that hold 20/32-bit linear pointers
 * split around the opcode. */
static bool x87_real(const struct emu_cpu *cpu)
{
	return !(cpu->cr0 & CR0_PE) || (cpu->rflags & (1ULL << 17));
}

static unsigned x87_env_store(struct emu_cpu *cpu, const struct emu_insn *in, uint8_t *b)
{
	struct emu_fpu *f = &cpu->fpu;
	uint16_t tw = fpu_full_tags(cpu);
	bool real = x87_real(cpu);
	uint32_t fip = (uint32_t)f->fip, fdp = (uint32_t)f->fdp;
	if (real) {
		fip += (uint32_t)f->fcs << 4;
		fdp += (uint32_t)f->fds << 4;
	}
	if (in->opsize == 2) {
		uint16_t h[7] = { f->cw, f->sw, tw };
		if (real) {
			h[3] = (uint16_t)fip;
			h[4] = (uint16_t)(((fip >> 16) & 0xf) << 12 | (f->fop & 0x7ff));
			h[5] = (uint16_t)fdp;
			h[6] = (uint16_t)(((fdp >> 16) & 0xf) << 12);
		} else {
			h[3] = (uint16_t)fip, h[4] = f->fcs, h[5] = (uint16_t)fdp, h[6] = f->fds;
		}
		memcpy(b, h, 14);
		return 14;
	}
	uint32_t w[7] = { 0xffff0000u | f->cw, 0xffff0000u | f->sw, 0xffff0000u | tw };
	if (real) {
		w[3] = 0xffff0000u | (fip & 0xffff);
		w[4] = (fip >> 16) << 12 | (f->fop & 0x7ff);
		w[5] = 0xffff0000u | (fdp & 0xffff);
		w[6] = (fdp >> 16) << 12;
	} else {
		w[3] = fip, w[4] = f->fcs | (uint32_t)(f->fop & 0x7ff) << 16;
		w[5] = fdp, w[6] = 0xffff0000u | f->fds;
	}
	memcpy(b, w, 28);
	return 28;
}

static unsigned x87_env_len(const struct emu_insn *in)
{
	return in->opsize == 2 ? 14 : 28;
}

static void x87_env_load(struct emu_cpu *cpu, const struct emu_insn *in, const uint8_t *b)
{
	struct emu_fpu *f = &cpu->fpu;
	bool real = x87_real(cpu);
	uint32_t v[7];
	if (in->opsize == 2) {
		uint16_t h[7];
		memcpy(h, b, 14);
		for (int i = 0; i < 7; i++)
			v[i] = h[i];
		if (real) {
			v[3] |= (v[4] >> 12) << 16, v[4] &= 0x7ff;
			v[5] |= (v[6] >> 12) << 16;
		}
	} else {
		memcpy(v, b, 28);
		if (real) {
			v[3] = (v[3] & 0xffff) | ((v[4] >> 12) & 0xffff) << 16, v[4] &= 0x7ff;
			v[5] = (v[5] & 0xffff) | ((v[6] >> 12) & 0xffff) << 16;
		}
	}
	f->cw = (uint16_t)((v[0] & 0x1f3f) | 0x40);
	f->sw = (uint16_t)v[1];
	f->tw = (uint16_t)v[2];
	f->fip = v[3];
	if (real) {
		f->fop = v[4] & 0x7ff, f->fcs = 0, f->fds = 0;
		f->fdp = v[5];
	} else {
		f->fcs = (uint16_t)v[4];
		f->fop = in->opsize == 2 ? f->fop : (v[4] >> 16) & 0x7ff;
		f->fdp = v[5], f->fds = (uint16_t)v[6];
	}
	fpu_update_es(cpu);
}

/* After the registers are in place: tags of non-empty registers follow
 * their contents. */
static void x87_fix_tags(struct emu_cpu *cpu)
{
	cpu->fpu.tw = fpu_full_tags(cpu);
}

static void x87_fnstenv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	uint8_t b[28];
	unsigned n = x87_env_store(cpu, in, b);
	emu_write_bytes(cpu, in->seg, emu_ea(cpu, in), b, n);
	cpu->fpu.cw |= 0x3f; /* masks everything; a pending ES stays */
}

static void x87_fldenv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	uint8_t b[28];
	emu_read_bytes(cpu, in->seg, emu_ea(cpu, in), b, x87_env_len(in));
	unsigned old_top = fpu_top(cpu);
	x87_env_load(cpu, in, b);
	fpu_retop(cpu, old_top);
	x87_fix_tags(cpu);
}

static void x87_fnsave(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	uint8_t b[108];
	unsigned n = x87_env_store(cpu, in, b);
	memcpy(b + n, cpu->fpu.st, 80);
	emu_write_bytes(cpu, in->seg, emu_ea(cpu, in), b, n + 80);
	x87_fninit(cpu, in);
}

static void x87_frstor(struct emu_cpu *cpu, const struct emu_insn *in)
{
	x87_check_nm(cpu);
	uint8_t b[108];
	unsigned n = x87_env_len(in);
	emu_read_bytes(cpu, in->seg, emu_ea(cpu, in), b, n + 80);
	x87_env_load(cpu, in, b);
	memcpy(cpu->fpu.st, b + n, 80);
	x87_fix_tags(cpu);
}

/* ---- selection ---------------------------------------------------------- */

static const emu_exec_fn x87_mem_ops[8][8] = {
	[0] = { x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload },
	[1] = { x87_mload, NULL, x87_mstore, x87_mstore, x87_fldenv, x87_fldcw, x87_fnstenv, x87_fnstcw },
	[2] = { x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload },
	[3] = { x87_mload, x87_mstore, x87_mstore, x87_mstore, NULL, x87_mload, NULL, x87_mstore },
	[4] = { x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload },
	[5] = { x87_mload, x87_mstore, x87_mstore, x87_mstore, x87_frstor, NULL, x87_fnsave, x87_fnstsw_m },
	[6] = { x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload, x87_mload },
	[7] = { x87_mload, x87_mstore, x87_mstore, x87_mstore, x87_mload, x87_mload, x87_mstore, x87_mstore },
};

/* Register forms.  The undocumented aliases every x87 since the 387
 * executes (FSTP1 D9 D8+i, FCOM2/FCOMP3 DC D0-DF, FXCH4 DD C8+i, FCOMP5
 * DE D0+i, FXCH7 DF C8+i, FSTP8/9 DF D0-DF, FFREEP DF C0+i) run on the
 * host as they are: their exact behaviour differs between vendors (AMD's
 * FSTP1 pops without an underflow check), and the guest sees the host's. */
static emu_exec_fn x87_reg_select(unsigned op, unsigned m)
{
	switch (op) {
	case 0:
	case 4: return (op == 4 && m >= 16 && m < 32) ? x87_reg : x87_arith;
	case 1: /* D1-D7, E2, E3, E6, E7, EF are undefined */
		if (m < 16 || m == 32 || m == 33 || m == 40 || m == 46)
			return x87_move;
		if (m < 17 || (m >= 24 && m < 34) || m == 36 || m == 37 || (m >= 40 && m != 47))
			return x87_reg;
		return NULL;
	case 2: return m < 32 ? x87_fcmov : m == 41 ? x87_reg : NULL;
	case 3:
		if (m < 32)
			return x87_fcmov;
		if (m == 32 || m == 33 || m == 36)
			return x87_fnop_legacy;
		if (m == 34)
			return x87_fnclex;
		if (m == 35)
			return x87_fninit;
		return m >= 40 && m < 56 ? x87_fcomi : NULL;
	case 5:
		if (m >= 16 && m < 32)
			return x87_move; /* FST, FSTP ST(i) */
		return m < 48 ? x87_reg : NULL;
	case 6:
		if (m < 16 || m >= 32)
			return x87_arith;
		return (m < 24 || m == 25) ? x87_reg : NULL;
	default: /* 7 */
		if (m < 32)
			return x87_reg;
		if (m == 32)
			return x87_fnstsw_ax;
		return m >= 40 && m < 56 ? x87_fcomi : NULL;
	}
}

emu_exec_fn emu_x87_select(const struct emu_insn *in)
{
	if (in->map != 0)
		return NULL;
	if (in->opcode == 0x9b)
		return x87_fwait;
	if (in->opcode < 0xd8 || in->opcode > 0xdf)
		return NULL;
	if (in->has_mem)
		return x87_mem_ops[in->opcode & 7][(in->modrm >> 3) & 7];
	return x87_reg_select(in->opcode & 7, in->modrm & 63);
}
