/* SSE4.1 and SSE4.2 (66 0F 38 xx, 66 0F 3A xx, F2 0F 38 F0/F1 CRC32).
 *
 * Lane-wise integer operations, blends, inserts and extracts are C.  The
 * rest runs on the host as written, like the SSE FP operations (sse.h):
 * the operations without an immediate through FP(), and those whose
 * immediate selects the operation (ROUNDxx, DPPS/DPPD, PCMPxSTRx) through
 * a table of host stubs with one entry per immediate value.  These need a
 * host with SSE4.2, which emu_sse4_host_ok() reports for the CPUID policy
 * (every x86-64 host from the last fifteen years has it). */
#include "cpu/emu/sse.h"

bool emu_sse4_host_ok(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2");
}

/* ---- host as written, no immediate -------------------------------------- */

FP(pmuldq, "pmuldq", 16)
FP(pcmpeqq, "pcmpeqq", 16)
FP(packusdw, "packusdw", 16)
FP(pcmpgtq, "pcmpgtq", 16)
FP(pminsb, "pminsb", 16)
FP(pminsd, "pminsd", 16)
FP(pminuw, "pminuw", 16)
FP(pminud, "pminud", 16)
FP(pmaxsb, "pmaxsb", 16)
FP(pmaxsd, "pmaxsd", 16)
FP(pmaxuw, "pmaxuw", 16)
FP(pmaxud, "pmaxud", 16)
FP(pmulld, "pmulld", 16)
FP(phminposuw, "phminposuw", 16)
/* PMOVSX/PMOVZX read only as many bytes as they widen */
FP(pmovsxbw, "pmovsxbw", 8)
FP(pmovsxbd, "pmovsxbd", 4)
FP(pmovsxbq, "pmovsxbq", 2)
FP(pmovsxwd, "pmovsxwd", 8)
FP(pmovsxwq, "pmovsxwq", 4)
FP(pmovsxdq, "pmovsxdq", 8)
FP(pmovzxbw, "pmovzxbw", 8)
FP(pmovzxbd, "pmovzxbd", 4)
FP(pmovzxbq, "pmovzxbq", 2)
FP(pmovzxwd, "pmovzxwd", 8)
FP(pmovzxwq, "pmovzxwq", 4)
FP(pmovzxdq, "pmovzxdq", 8)

/* PTEST: ZF = (a AND b) == 0, CF = (NOT a AND b) == 0, others clear. */
static void ptest(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	uint64_t zf = !((d->q[0] & s->q[0]) | (d->q[1] & s->q[1]));
	uint64_t cf = !((~d->q[0] & s->q[0]) | (~d->q[1] & s->q[1]));
	emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~0x8d5ULL) | zf << 6 | cf);
}

/* BLENDVPS/BLENDVPD/PBLENDVB: the sign bits of XMM0 pick the source. */
static void blendv(struct emu_cpu *cpu, const struct emu_insn *in, unsigned lane)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true), *m = &cpu->xmm[0];
	X r = cpu->xmm[in->reg];
	for (unsigned i = 0; i < 16; i += lane)
		if (m->b[i + lane - 1] & 0x80)
			memcpy(&r.b[i], &s->b[i], lane);
	cpu->xmm[in->reg] = r;
}
static void pblendvb(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blendv(cpu, in, 1);
}
static void blendvps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blendv(cpu, in, 4);
}
static void blendvpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blendv(cpu, in, 8);
}

static void movntdqa(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!in->has_mem)
		emu_raise(cpu, EXC_UD);
	sse_check(cpu);
	X t;
	sse_load(cpu, in, &t, 16, true);
	cpu->xmm[in->reg] = t;
}

/* CRC32 (SSE4.2): CRC-32C, bit-reflected, of the source bytes into the
 * 32-bit accumulator; the destination is r32, or r64 with REX.W (upper
 * half zero). */
static void crc32(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned n = in->opcode == 0xf0 ? 1 : (in->rex & 8) ? 8 : in->opsize == 2 ? 2 : 4;
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), n) : cpu->gpr[in->rm];
	if (n == 1 && !in->has_mem && !in->rex && (in->rm & 4))
		v = cpu->gpr[in->rm & 3] >> 8; /* AH..BH */
	uint32_t crc = (uint32_t)cpu->gpr[in->reg];
	for (unsigned i = 0; i < n; i++) {
		crc ^= (uint8_t)(v >> (8 * i));
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	cpu->gpr[in->reg] = crc;
}

/* ---- immediate forms in C ------------------------------------------------ */

static void blend_imm(struct emu_cpu *cpu, const struct emu_insn *in, unsigned lane)
{
	sse_check(cpu);
	X t;
	const X *s = sse_src(cpu, in, &t, 16, true);
	X r = cpu->xmm[in->reg];
	for (unsigned i = 0; i < 16 / lane; i++)
		if (in->imm & (1u << i))
			memcpy(&r.b[i * lane], &s->b[i * lane], lane);
	cpu->xmm[in->reg] = r;
}
static void blendps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blend_imm(cpu, in, 4);
}
static void blendpd(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blend_imm(cpu, in, 8);
}
static void pblendw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	blend_imm(cpu, in, 2);
}

static void mpsadbw(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	X t, r;
	const X *s = sse_src(cpu, in, &t, 16, true), *d = &cpu->xmm[in->reg];
	unsigned o2 = (in->imm & 3) * 4, o1 = ((in->imm >> 2) & 1) * 4;
	for (unsigned i = 0; i < 8; i++) {
		unsigned sum = 0;
		for (unsigned j = 0; j < 4; j++) {
			int a = d->b[o1 + i + j], b = s->b[o2 + j];
			sum += (unsigned)(a > b ? a - b : b - a);
		}
		r.w[i] = (uint16_t)sum;
	}
	cpu->xmm[in->reg] = r;
}

/* PEXTRB/PEXTRW/PEXTRD/PEXTRQ/EXTRACTPS r/m, xmm, imm: ModRM.reg is the
 * XMM source; a register destination is zero-extended. */
static void pextr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	const X *x = &cpu->xmm[in->reg];
	unsigned n;
	uint64_t v;
	switch (in->opcode) {
	case 0x14: n = 1, v = x->b[in->imm & 15]; break;
	case 0x15: n = 2, v = x->w[in->imm & 7]; break;
	case 0x16:
		if (in->rex & 8)
			n = 8, v = x->q[in->imm & 1];
		else
			n = 4, v = x->d[in->imm & 3];
		break;
	default: n = 4, v = x->d[in->imm & 3]; break; /* EXTRACTPS */
	}
	if (in->has_mem)
		emu_write(cpu, in->seg, emu_ea(cpu, in), v, n);
	else
		cpu->gpr[in->rm] = v;
}

/* PINSRB/PINSRD/PINSRQ xmm, r/m, imm */
static void pinsr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	unsigned n = in->opcode == 0x20 ? 1 : (in->rex & 8) ? 8 : 4;
	uint64_t v = in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), n) : cpu->gpr[in->rm];
	X *x = &cpu->xmm[in->reg];
	if (n == 1)
		x->b[in->imm & 15] = (uint8_t)v;
	else if (n == 4)
		x->d[in->imm & 3] = (uint32_t)v;
	else
		x->q[in->imm & 1] = v;
}

/* INSERTPS xmm, xmm/m32, imm: element imm[7:6] of the register source (or
 * the m32) into element imm[5:4], then zero the elements in imm[3:0]. */
static void insertps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	unsigned imm = in->imm & 0xff;
	uint32_t v =
	        in->has_mem ? (uint32_t)emu_read(cpu, in->seg, emu_ea(cpu, in), 4) : cpu->xmm[in->rm].d[(imm >> 6) & 3];
	X *x = &cpu->xmm[in->reg];
	x->d[(imm >> 4) & 3] = v;
	for (unsigned i = 0; i < 4; i++)
		if (imm & (1u << i))
			x->d[i] = 0;
}

/* ---- host stubs, one per immediate ---------------------------------------
 * ROUNDPS/PD/SS/SD (imm 0..15) and DPPS/DPPD (0..255):
 *   rdi = X *d, rsi = const X *s, rdx = uint32_t *mxcsr (in: host MXCSR
 *   for the guest, out: after the operation).
 * PCMPESTRM/PCMPESTRI/PCMPISTRM/PCMPISTRI (0..255): rdi = struct strio. */

__asm__(".pushsection .text\n"
        ".balign 64\n"
        ".globl emu_sse4_round_stubs\n"
        ".hidden emu_sse4_round_stubs\n"
        "emu_sse4_round_stubs:\n"
        ".irp insn, roundps, roundpd, roundss, roundsd\n"
        ".set imm, 0\n"
        ".rept 16\n"
        ".balign 64\n"
        "movdqu (%rdi), %xmm0\n"
        "movdqu (%rsi), %xmm1\n"
        "stmxcsr -8(%rsp)\n"
        "ldmxcsr (%rdx)\n"
        "\\insn $imm, %xmm1, %xmm0\n"
        "stmxcsr (%rdx)\n"
        "ldmxcsr -8(%rsp)\n"
        "movdqu %xmm0, (%rdi)\n"
        "ret\n"
        ".set imm, imm + 1\n"
        ".endr\n"
        ".endr\n"
        ".balign 64\n"
        ".globl emu_sse4_dp_stubs\n"
        ".hidden emu_sse4_dp_stubs\n"
        "emu_sse4_dp_stubs:\n"
        ".irp insn, dpps, dppd\n"
        ".set imm, 0\n"
        ".rept 256\n"
        ".balign 64\n"
        "movdqu (%rdi), %xmm0\n"
        "movdqu (%rsi), %xmm1\n"
        "stmxcsr -8(%rsp)\n"
        "ldmxcsr (%rdx)\n"
        "\\insn $imm, %xmm1, %xmm0\n"
        "stmxcsr (%rdx)\n"
        "ldmxcsr -8(%rsp)\n"
        "movdqu %xmm0, (%rdi)\n"
        "ret\n"
        ".set imm, imm + 1\n"
        ".endr\n"
        ".endr\n"
        ".balign 64\n"
        ".globl emu_sse4_str_stubs\n"
        ".hidden emu_sse4_str_stubs\n"
        "emu_sse4_str_stubs:\n"
        ".irp insn, pcmpestrm, pcmpestri, pcmpistrm, pcmpistri\n"
        ".set imm, 0\n"
        ".rept 256\n"
        ".balign 64\n"
        "movdqu (%rdi), %xmm0\n"
        "movdqu 16(%rdi), %xmm1\n"
        "mov 32(%rdi), %rax\n"
        "mov 40(%rdi), %rdx\n"
        "xor %ecx, %ecx\n"
        "\\insn $imm, %xmm1, %xmm0\n"
        "pushfq\n"
        "popq 56(%rdi)\n"
        "mov %rcx, 48(%rdi)\n"
        "movdqu %xmm0, 64(%rdi)\n"
        "ret\n"
        ".set imm, imm + 1\n"
        ".endr\n"
        ".endr\n"
        ".popsection\n");

void emu_sse4_round_stubs(void);
void emu_sse4_dp_stubs(void);
void emu_sse4_str_stubs(void);

typedef void (*imm_fn)(X *d, const X *s, uint32_t *mx);

struct strio {
	X a, b;              /* 0: xmm1 (ModRM.reg), 16: xmm2/m128 */
	uint64_t rax, rdx;   /* 32, 40: explicit lengths */
	uint64_t rcx, flags; /* 48, 56: index, flags out */
	X m;                 /* 64: mask out (XMM0) */
};
_Static_assert(__builtin_offsetof(struct strio, m) == 64, "stub offsets");

static inline imm_fn imm_stub(void (*base)(void), unsigned idx)
{
	return (imm_fn)((uintptr_t)base + idx * 64);
}

/* Like fp_op, with the operation picked by the immediate. */
static void imm_fp_op(struct emu_cpu *cpu, const struct emu_insn *in, unsigned msz, imm_fn f)
{
	sse_check(cpu);
	X t, d = cpu->xmm[in->reg];
	const X *s = sse_src(cpu, in, &t, msz, msz == 16);
	uint32_t mx = host_mxcsr(cpu);
	f(&d, s, &mx);
	if (__builtin_expect(!(cpu->mxcsr & 0x0800) && !(mx & 0x10), 0)) {
		X d2 = cpu->xmm[in->reg];
		uint32_t mx2 = host_mxcsr(cpu) | 0x8000;
		f(&d2, s, &mx2);
		mx |= mx2 & 0x10;
	}
	sse_fp_flags(cpu, mx);
	cpu->xmm[in->reg] = d;
}

/* ROUNDxx: only imm[3:0] is defined. */
static void round_op(struct emu_cpu *cpu, const struct emu_insn *in)
{
	static const uint8_t msz[4] = { 16, 16, 4, 8 };
	unsigned k = in->opcode - 0x08;
	imm_fp_op(cpu, in, msz[k], imm_stub(emu_sse4_round_stubs, k * 16 + (in->imm & 15)));
}

static void dp_op(struct emu_cpu *cpu, const struct emu_insn *in)
{
	imm_fp_op(cpu, in, 16, imm_stub(emu_sse4_dp_stubs, (in->opcode - 0x40) * 256 + (in->imm & 0xff)));
}

/* PCMPxSTRx xmm1, xmm2/m128 (unaligned allowed), imm: the explicit-length
 * forms take RAX/RDX (64-bit with REX.W; clamped to 32-bit values with
 * the same saturated length), the index forms write ECX, the mask forms
 * XMM0; CF ZF SF OF from the comparison, AF PF clear. */
static int64_t clamp32(int64_t v)
{
	return v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : v;
}

static void pcmpstr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	struct strio io;
	X t;
	unsigned k = in->opcode - 0x60;
	io.a = cpu->xmm[in->reg];
	io.b = *sse_src(cpu, in, &t, 16, false);
	if (in->rex & 8) {
		io.rax = (uint64_t)clamp32((int64_t)cpu->gpr[X86_RAX]);
		io.rdx = (uint64_t)clamp32((int64_t)cpu->gpr[X86_RDX]);
	} else {
		io.rax = (uint32_t)cpu->gpr[X86_RAX];
		io.rdx = (uint32_t)cpu->gpr[X86_RDX];
	}
	((void (*)(struct strio *))((uintptr_t)emu_sse4_str_stubs + (k * 256 + (in->imm & 0xff)) * 64))(&io);
	if (k & 1)
		cpu->gpr[X86_RCX] = (uint32_t)io.rcx;
	else
		cpu->xmm[0] = io.m;
	emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~0x8d5ULL) | (io.flags & 0x8c1));
}

/* ---- selection ---------------------------------------------------------- */

static const emu_exec_fn ops38[0x42] = {
	[0x10] = pblendvb,   [0x14] = blendvps, [0x15] = blendvpd, [0x17] = ptest,    [0x20] = pmovsxbw,
	[0x21] = pmovsxbd,   [0x22] = pmovsxbq, [0x23] = pmovsxwd, [0x24] = pmovsxwq, [0x25] = pmovsxdq,
	[0x28] = pmuldq,     [0x29] = pcmpeqq,  [0x2a] = movntdqa, [0x2b] = packusdw, [0x30] = pmovzxbw,
	[0x31] = pmovzxbd,   [0x32] = pmovzxbq, [0x33] = pmovzxwd, [0x34] = pmovzxwq, [0x35] = pmovzxdq,
	[0x37] = pcmpgtq,    [0x38] = pminsb,   [0x39] = pminsd,   [0x3a] = pminuw,   [0x3b] = pminud,
	[0x3c] = pmaxsb,     [0x3d] = pmaxsd,   [0x3e] = pmaxuw,   [0x3f] = pmaxud,   [0x40] = pmulld,
	[0x41] = phminposuw,
};

static const emu_exec_fn ops3a[0x64] = {
	[0x08] = round_op, [0x09] = round_op, [0x0a] = round_op, [0x0b] = round_op, [0x0c] = blendps, [0x0d] = blendpd,
	[0x0e] = pblendw,  [0x14] = pextr,    [0x15] = pextr,    [0x16] = pextr,    [0x17] = pextr,   [0x20] = pinsr,
	[0x21] = insertps, [0x22] = pinsr,    [0x40] = dp_op,    [0x41] = dp_op,    [0x42] = mpsadbw, [0x60] = pcmpstr,
	[0x61] = pcmpstr,  [0x62] = pcmpstr,  [0x63] = pcmpstr,
};

emu_exec_fn sse4_select(const struct emu_insn *in, unsigned pfx)
{
	if (!emu_sse4_host_ok())
		return NULL; /* the host stubs would fault in the VMM */
	if (in->map == 2 && pfx == PF_F2 && (in->opcode == 0xf0 || in->opcode == 0xf1))
		return crc32;
	if (pfx != PF_66)
		return NULL;
	if (in->map == 2)
		return in->opcode < 0x42 ? ops38[in->opcode] : NULL;
	return in->opcode < 0x64 ? ops3a[in->opcode] : NULL;
}
