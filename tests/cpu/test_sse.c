/* Differential test of the MMX/SSE/SSE2 part against the host CPU.
 *
 * Every map-0F opcode × mandatory prefix × REX.W that emu_sse_select
 * accepts is assembled with register operands (xmm0/xmm1, mm0/mm1,
 * rax/rcx) and with a memory operand at [rsi], run natively from a copied
 * harness and through the engine (decoder + handler) on random inputs rich
 * in NaNs, infinities, denormals, ±0 and integer limits under random MXCSR
 * rounding/FZ/DAZ (and sometimes unmasked exceptions), and compared bit for
 * bit: registers, memory, MXCSR, arithmetic flags, and the exception
 * (SIGILL ↔ #UD, SIGFPE ↔ #XM, SIGSEGV ↔ #GP). */
#include <cpuid.h>

#include "fputest.h"

struct nstate {
	uint8_t xmm[2][16];         /* 0 */
	uint64_t mm[2];             /* 32 */
	uint64_t rax, rcx;          /* 48 */
	uint32_t mxcsr, host_mxcsr; /* 64 */
	uint64_t flags;             /* 72 */
	uint64_t rsi;               /* 80 */
	uint64_t pad;
	uint8_t mem[32] __attribute__((aligned(16))); /* 96 */
};
_Static_assert(offsetof(struct nstate, mem) == 96, "harness offsets");

__asm__(".text\n"
        "sse_harness_start:\n"
        "stmxcsr 68(%rdi)\n"
        "movdqu (%rdi), %xmm0\n"
        "movdqu 16(%rdi), %xmm1\n"
        "movq 32(%rdi), %mm0\n"
        "movq 40(%rdi), %mm1\n"
        "mov 48(%rdi), %rax\n"
        "mov 56(%rdi), %rcx\n"
        "mov 80(%rdi), %rsi\n"
        "ldmxcsr 64(%rdi)\n"
        "pushq 72(%rdi)\n"
        "popfq\n"
        "sse_harness_slot:\n"
        ".fill 16, 1, 0x90\n"
        "pushfq\n"
        "popq 72(%rdi)\n"
        "stmxcsr 64(%rdi)\n"
        "ldmxcsr 68(%rdi)\n"
        "movdqu %xmm0, (%rdi)\n"
        "movdqu %xmm1, 16(%rdi)\n"
        "movq %mm0, 32(%rdi)\n"
        "movq %mm1, 40(%rdi)\n"
        "mov %rax, 48(%rdi)\n"
        "mov %rcx, 56(%rdi)\n"
        "emms\n"
        "ret\n"
        "sse_harness_end:\n");
extern const uint8_t sse_harness_start[], sse_harness_slot[], sse_harness_end[];

static uint8_t *harness, *slot;
static struct emu_env *env;

#define ARITH 0x8d5ULL

struct result {
	int vec;
	struct nstate s;
};

static void run_native(const uint8_t *b, unsigned len, struct nstate *s, int *vec)
{
	jit_patch(slot, b, len);
	host_sig = 0;
	*vec = -1;
	if (sigsetjmp(host_jmp, 1)) {
		__builtin_ia32_ldmxcsr(0x1f80);
		__asm__ volatile("emms");
		*vec = sig_vector(host_sig);
		if (host_sig == SIGFPE)
			s->mxcsr = host_sig_mxcsr;
		return;
	}
	((void (*)(struct nstate *))harness)(s);
}

static void run_emu(const uint8_t *b, unsigned len, struct nstate *s, int *vec, bool mmx)
{
	struct emu_cpu *cpu = env->cpu;
	memcpy(&cpu->xmm[0], s->xmm[0], 16);
	memcpy(&cpu->xmm[1], s->xmm[1], 16);
	cpu->gpr[X86_RAX] = s->rax;
	cpu->gpr[X86_RCX] = s->rcx;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	cpu->mxcsr = s->mxcsr;
	emu_set_rflags(cpu, s->flags);
	/* x87 as the harness leaves it after MOVQ mm0/mm1: TOP 0, all valid */
	cpu->fpu.cw = 0x37f, cpu->fpu.sw = 0, cpu->fpu.tw = 0;
	mmx_set(cpu, 0, s->mm[0]);
	mmx_set(cpu, 1, s->mm[1]);
	memcpy(env->mem.host + GUEST_MEM_ADDR, s->mem, 32);
	*vec = emu_run1(cpu, b, len);
	if (*vec == EXC_XM) {
		s->mxcsr = cpu->mxcsr;
		return;
	}
	if (*vec >= 0)
		return;
	memcpy(s->xmm[0], &cpu->xmm[0], 16);
	memcpy(s->xmm[1], &cpu->xmm[1], 16);
	s->rax = cpu->gpr[X86_RAX];
	s->rcx = cpu->gpr[X86_RCX];
	s->mxcsr = cpu->mxcsr;
	s->flags = emu_get_rflags(cpu);
	s->mm[0] = mmx_get(cpu, 0);
	s->mm[1] = mmx_get(cpu, 1);
	(void)mmx;
	memcpy(s->mem, env->mem.host + GUEST_MEM_ADDR, 32);
}

static int tolerated;

static int tolerated_dp;

static bool same(const struct nstate *a, const struct nstate *b, int va, int vb, unsigned op)
{
	if (va != vb)
		return false;
	if (va == EXC_XM && (op == 0x340 || op == 0x341) && ((a->mxcsr ^ b->mxcsr) & 0x3f)) {
		/* Known deviation: DPPS/DPPD multiply, then add; which flags an
		 * unmasked exception leaves depends on the step that raised it,
		 * which a run with every exception masked cannot tell. */
		tolerated_dp++;
		return true;
	}
	if (va == EXC_XM) {
		/* Known deviation: with an unmasked OE/UE in one lane of a packed
		 * op, the hardware still reports PE from the other lanes; the
		 * engine, which sees the lanes' flags ORed, reports no PE. */
		uint32_t um = ~(a->mxcsr >> 7) & 0x3f, d = (a->mxcsr ^ b->mxcsr) & 0x3f;
		if (d == 0x20 && (a->mxcsr & um & 0x18)) {
			tolerated++;
			return true;
		}
		return d == 0;
	}
	if (va >= 0)
		return true;
	return !memcmp(a->xmm, b->xmm, 32) && a->mm[0] == b->mm[0] && a->mm[1] == b->mm[1] && a->rax == b->rax &&
	       a->rcx == b->rcx && a->mxcsr == b->mxcsr && (a->flags & ARITH) == (b->flags & ARITH) &&
	       !memcmp(a->mem, b->mem, 32);
}

static void show(const char *who, const struct nstate *s, int vec)
{
	printf(" %s: vec %d mxcsr %08x flags %03llx rax %016llx rcx %016llx mm0 %016llx mm1 %016llx\n", who, vec,
	       s->mxcsr, (unsigned long long)(s->flags & ARITH), (unsigned long long)s->rax, (unsigned long long)s->rcx,
	       (unsigned long long)s->mm[0], (unsigned long long)s->mm[1]);
	hexdump("xmm0", s->xmm[0], 16);
	hexdump("xmm1", s->xmm[1], 16);
	hexdump("mem ", s->mem, 32);
}

/* Opcodes are map<<8 | byte: 0x1xx for 0F xx, 0x2xx for 0F 38 xx, 0x3xx
 * for 0F 3A xx. */
static bool has_imm(unsigned op)
{
	unsigned b = op & 0xff;
	return (op >> 8) == 3 ||
	       ((op >> 8) == 1 && ((b >= 0x70 && b <= 0x73) || b == 0xc2 || (b >= 0xc4 && b <= 0xc6)));
}

/* Skipped: MASKMOVQ/MASKMOVDQU write through RDI (the harness's state
 * pointer), 0F AE is covered by the fault/FXSAVE tests. */
static bool skip_op(unsigned op)
{
	return op == 0x1f7 || op == 0x1ae;
}

/* Opcodes the decoder hands to the SSE part (0F AE, with WRFSBASE and
 * friends, is never run natively: skip_op). */
static bool sse_space(unsigned op)
{
	unsigned b = op & 0xff;
	if (op >= 0x200)
		return true;
	return (b >= 0x10 && b <= 0x17) || (b >= 0x28 && b <= 0x2f) || (b >= 0x50 && b <= 0x7f) ||
	       (b >= 0xc2 && b <= 0xc6) || b >= 0xd0;
}

static int forms, runs, failures;
static char covered[4][2][0x400][2]; /* [pfx][rex.w][map<<8|opcode][mem] */
static char host_only[4][0x400];

static unsigned encode(uint8_t *b, unsigned pfx, bool w, unsigned op, unsigned modrm, unsigned imm)
{
	static const uint8_t pb[4] = { 0, 0x66, 0xf3, 0xf2 };
	unsigned n = 0;
	if (pfx)
		b[n++] = pb[pfx];
	if (w)
		b[n++] = 0x48;
	b[n++] = 0x0f;
	if (op >> 8 == 2)
		b[n++] = 0x38;
	else if (op >> 8 == 3)
		b[n++] = 0x3a;
	b[n++] = (uint8_t)op;
	b[n++] = (uint8_t)modrm;
	if (has_imm(op))
		b[n++] = (uint8_t)imm;
	return n;
}

static uint32_t gen_mxcsr(void)
{
	uint32_t m = 0x1f80 | (uint32_t)(rnd() % 4) << 13;
	if (rnd() % 4 == 0)
		m |= 0x8000; /* FZ */
	if (rnd() % 4 == 0)
		m |= 0x0040; /* DAZ */
	if (rnd() % 8 == 0)
		m &= ~(uint32_t)((rnd() & 0x3f) << 7); /* some exceptions unmasked */
	if (rnd() % 4 == 0)
		m |= (uint32_t)(rnd() & 0x3f); /* sticky flags already set */
	return m;
}

static void test_form(unsigned pfx, bool w, unsigned op, bool mem, unsigned iters)
{
	struct emu_insn in;
	uint8_t b[16];
	unsigned modrm0 = mem ? 0x06 : 0xc1;
	unsigned n = encode(b, pfx, w, op, modrm0, 0);
	memset(&in, 0, sizeof(in));
	if (emu_decode_bytes(b, n, EMU_MODE64, &in) != (int)n)
		return;
	if (!emu_sse_select(&in)) {
		/* Not implemented: note the register forms the host runs (later
		 * extensions such as SSE4.1), for the coverage list. */
		if (!mem && !w && sse_space(op)) {
			struct nstate sn;
			int vn;
			memset(&sn, 0, sizeof(sn));
			sn.mxcsr = 0x1f80;
			sn.rsi = (uint64_t)(uintptr_t)sn.mem;
			run_native(b, n, &sn, &vn);
			if (vn != EXC_UD)
				host_only[pfx][op] = 1;
		}
		return;
	}
	covered[pfx][w][op][mem] = 1;
	forms++;
	for (unsigned it = 0; it < iters; it++) {
		unsigned modrm = modrm0;
		if (op >= 0x171 && op <= 0x173) {
			static const uint8_t r[] = { 2, 3, 4, 6, 7 };
			modrm = (modrm & 0xc7) | r[rnd() % 5] << 3;
		} else if (!mem && rnd() % 4 == 0) {
			modrm = rnd() % 2 ? 0xc0 : 0xc8;
		}
		unsigned imm = (unsigned)rnd() & 0xff;
		if (op == 0x1c2)
			imm &= 7;
		if (op == 0x30f && rnd() % 2)
			imm &= 0x1f; /* PALIGNR: mostly shifts that keep bytes */
		n = encode(b, pfx, w, op, modrm, imm);
		memset(&in, 0, sizeof(in));
		emu_decode_bytes(b, n, EMU_MODE64, &in);
		if (!emu_sse_select(&in))
			continue;

		struct nstate s0, sn, se;
		memset(&s0, 0, sizeof(s0));
		gen_vec(s0.xmm[0]);
		gen_vec(s0.xmm[1]);
		uint8_t t[16];
		gen_vec(t);
		memcpy(&s0.mm[0], t, 16);
		gen_vec(s0.mem);
		gen_vec(s0.mem + 16);
		s0.rax = rnd() % 2 ? rnd() : int_special[rnd() % 16];
		s0.rcx = rnd() % 2 ? rnd() : (uint64_t)(int64_t)(int32_t)gen_f32();
		s0.mxcsr = gen_mxcsr();
		s0.flags = (rnd() & ARITH) | 2;
		sn = s0, se = s0;
		sn.rsi = (uint64_t)(uintptr_t)sn.mem;
		int vn, ve;
		run_native(b, n, &sn, &vn);
		run_emu(b, n, &se, &ve, false);
		se.rsi = sn.rsi;
		runs++;
		if (!same(&sn, &se, vn, ve, op)) {
			if (failures++ < 12) {
				printf("MISMATCH:");
				for (unsigned i = 0; i < n; i++)
					printf(" %02x", b[i]);
				printf("\n");
				show("input ", &s0, -1);
				show("native", &sn, vn);
				show("emu   ", &se, ve);
			}
		}
	}
}

static void test_all_forms(void **state)
{
	(void)state;
	host_signals(); /* after cmocka's own handlers */
	for (unsigned op = 0x110; op < 0x400; op++) {
		if (skip_op(op))
			continue;
		for (unsigned pfx = 0; pfx < 4; pfx++)
			for (unsigned w = 0; w < 2; w++)
				for (unsigned mem = 0; mem < 2; mem++)
					test_form(pfx, w, op, mem, 400);
	}
	printf("sse: %d forms, %d runs, %d mismatches, %d tolerated (PE with unmasked OE/UE in packed ops), "
	       "%d tolerated (DPPS/DPPD flags of an unmasked #XM)\n",
	       forms, runs, failures, tolerated, tolerated_dp);
	FILE *f = getenv("SSE_COVERAGE") ? fopen(getenv("SSE_COVERAGE"), "w") : NULL;
	if (f) {
		static const char *pn[4] = { "--", "66", "F3", "F2" };
		static const char *mn[4] = { "", "0F ", "0F 38 ", "0F 3A " };
		for (unsigned op = 0; op < 0x400; op++)
			for (unsigned p = 0; p < 4; p++)
				for (unsigned w = 0; w < 2; w++)
					if (covered[p][w][op][0] || covered[p][w][op][1])
						fprintf(f, "%s %s%s%02X%s%s\n", pn[p], w ? "REX.W " : "", mn[op >> 8],
						        op & 0xff, covered[p][w][op][0] ? " reg" : "",
						        covered[p][w][op][1] ? " mem" : "");
		for (unsigned op = 0; op < 0x400; op++)
			for (unsigned p = 0; p < 4; p++)
				if (host_only[p][op])
					fprintf(f, "%s %s%02X host-only\n", pn[p], mn[op >> 8], op & 0xff);
		fclose(f);
	}
	assert_true(forms > 150);
	assert_int_equal(failures, 0);
}

/* ---- faults and state instructions --------------------------------------- */

static int emu_bytes(const char *hex)
{
	return emu_run_hex(env->cpu, hex);
}

static void test_faults(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 8;
	/* MOVAPS xmm0, [rsi] misaligned → #GP; MOVUPS fine; PXOR xmm, m128 misaligned → #GP */
	assert_int_equal(emu_bytes("0f 28 06"), EXC_GP);
	assert_int_equal(emu_bytes("0f 10 06"), -1);
	assert_int_equal(emu_bytes("66 0f ef 06"), EXC_GP);
	assert_int_equal(emu_bytes("f3 0f 6f 06"), -1); /* MOVDQU */
	assert_int_equal(emu_bytes("f3 0f 58 06"), -1); /* ADDSS m32: no alignment */
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	assert_int_equal(emu_bytes("66 0f ef 06"), -1);
	/* MOVDQU across a page boundary, both directions */
	uint8_t pat[16], back[16];
	for (int i = 0; i < 16; i++)
		pat[i] = (uint8_t)(0xa0 + i);
	memcpy(env->mem.host + 0x2ff8, pat, 16);
	cpu->gpr[X86_RSI] = 0x2ff8;
	assert_int_equal(emu_bytes("f3 0f 6f 06"), -1);
	assert_memory_equal(&cpu->xmm[0], pat, 16);
	for (int i = 0; i < 16; i++)
		cpu->xmm[1].b[i] = (uint8_t)(0x50 + i);
	cpu->gpr[X86_RSI] = 0x3ff4;
	assert_int_equal(emu_bytes("f3 0f 7f 0e"), -1);
	memcpy(back, env->mem.host + 0x3ff4, 16);
	assert_memory_equal(back, &cpu->xmm[1], 16);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	/* CR0.TS → #NM, CR0.EM → #UD for SSE, #NM for x87, #UD for MMX */
	cpu->cr0 |= CR0_TS;
	assert_int_equal(emu_bytes("0f 58 c1"), EXC_NM);
	assert_int_equal(emu_bytes("0f fc c1"), EXC_NM);
	assert_int_equal(emu_bytes("d9 e8"), EXC_NM);
	assert_int_equal(emu_bytes("9b"), EXC_NM); /* MP=1 */
	cpu->cr0 &= ~CR0_TS;
	cpu->cr0 |= CR0_EM;
	assert_int_equal(emu_bytes("0f 58 c1"), EXC_UD);
	assert_int_equal(emu_bytes("0f fc c1"), EXC_UD);
	assert_int_equal(emu_bytes("d9 e8"), EXC_NM);
	cpu->cr0 &= ~CR0_EM;
	/* CR4.OSFXSR=0 → #UD for SSE, MMX still runs */
	cpu->cr4 &= ~CR4_OSFXSR;
	assert_int_equal(emu_bytes("0f 58 c1"), EXC_UD);
	assert_int_equal(emu_bytes("66 0f fc c1"), EXC_UD);
	assert_int_equal(emu_bytes("0f fc c1"), -1);
	cpu->cr4 |= CR4_OSFXSR;
	/* Unmasked divide by zero: #XM with OSXMMEXCPT, else #UD; dest untouched */
	cpu->mxcsr = 0x1f80 & ~0x200;
	cpu->xmm[0].f[0] = 1.0f, cpu->xmm[1].f[0] = 0.0f;
	assert_int_equal(emu_bytes("f3 0f 5e c1"), EXC_XM);
	assert_true(cpu->xmm[0].f[0] == 1.0f);
	assert_int_equal(cpu->mxcsr & 0x3f, 0x4);
	cpu->cr4 &= ~CR4_OSXMMEXCPT;
	assert_int_equal(emu_bytes("f3 0f 5e c1"), EXC_UD);
	cpu->cr4 |= CR4_OSXMMEXCPT;
	/* LDMXCSR reserved bit → #GP; STMXCSR round trip */
	uint32_t bad = 0x10000, good = 0x7fbf;
	memcpy(env->mem.host + GUEST_MEM_ADDR, &bad, 4);
	assert_int_equal(emu_bytes("0f ae 16"), EXC_GP);
	memcpy(env->mem.host + GUEST_MEM_ADDR, &good, 4);
	assert_int_equal(emu_bytes("0f ae 16"), -1);
	assert_int_equal(cpu->mxcsr, good);
	assert_int_equal(emu_bytes("0f ae 1e"), -1);
	assert_memory_equal(env->mem.host + GUEST_MEM_ADDR, &good, 4);
	cpu->mxcsr = 0x1f80;
	/* fences and CLFLUSH run */
	assert_int_equal(emu_bytes("0f ae e8"), -1);
	assert_int_equal(emu_bytes("0f ae f0"), -1);
	assert_int_equal(emu_bytes("0f ae f8"), -1);
	assert_int_equal(emu_bytes("0f ae 3e"), -1);
	/* Not implemented: AES, PCLMULQDQ → #UD; XSAVE without CR4.OSXSAVE; 0F D0 needs 66/F2 */
	assert_int_equal(emu_bytes("66 0f 38 dc c1"), EXC_UD);
	assert_int_equal(emu_bytes("66 0f 3a 44 c1 00"), EXC_UD);
	assert_int_equal(emu_bytes("0f d0 c1"), EXC_UD);
	assert_int_equal(emu_bytes("0f ae 26"), EXC_UD);
	/* Pending x87 exception → #MF on MMX instructions */
	cpu->fpu.sw |= FSW_ES | FSW_IE;
	assert_int_equal(emu_bytes("0f fc c1"), EXC_MF);
	cpu->fpu.sw = 0;
}

/* FXSAVE image of the engine against the host's for the same state, and
 * FXRSTOR of that image back. */
__asm__(".text\n"
        "fx_native:\n" /* rdi: 512-byte in, rsi: 512-byte out */
        "sub $8, %rsp\n"
        "fxsave64 -512-64(%rsp)\n" /* keep the host's own state (below the red zone) */
        "fxrstor64 (%rdi)\n"
        "fxsave64 (%rsi)\n"
        "fxrstor64 -512-64(%rsp)\n"
        "add $8, %rsp\n"
        "ret\n");

static void test_fxsave(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	static uint8_t img[512] __attribute__((aligned(16)));
	for (int round = 0; round < 200; round++) {
		/* a random but valid image, through the engine's FXRSTOR then FXSAVE64 */
		memset(img, 0, sizeof(img));
		uint16_t cw = (uint16_t)(0x0040 | (rnd() & 0x0f3f) | 0x3f), sw = (uint16_t)(rnd() & 0x7f00);
		memcpy(img, &cw, 2);
		memcpy(img + 2, &sw, 2);
		img[4] = (uint8_t)rnd();
		uint32_t mx = 0x1f80 | (rnd() & 0xffff & ~0x1f80u);
		memcpy(img + 24, &mx, 4);
		for (int i = 0; i < 8; i++) {
			uint64_t m = rnd();
			uint16_t e = (uint16_t)(rnd() % 3 ? 0x3fff + rnd() % 64 : rnd());
			memcpy(img + 32 + 16 * i, &m, 8);
			memcpy(img + 40 + 16 * i, &e, 2);
		}
		for (int i = 0; i < 16; i++)
			gen_vec(img + 160 + 16 * i);
		memcpy(env->mem.host + GUEST_MEM_ADDR, img, 512);
		cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
		assert_int_equal(emu_bytes("48 0f ae 0e"), -1); /* FXRSTOR64 [rsi] */
		cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 1024;
		assert_int_equal(emu_bytes("48 0f ae 06"), -1); /* FXSAVE64 [rsi] */
		static uint8_t host_out[512] __attribute__((aligned(16)));
		memset(host_out, 0, 512);
		{
			extern void fx_native(const void *in, void *out);
			fx_native(img, host_out);
		}
		const uint8_t *e = env->mem.host + GUEST_MEM_ADDR + 1024;
		/* FCW FSW FTW, MXCSR, registers, XMM: pointers (6..23) and
		 * MXCSR_MASK (host-specific) excluded. */
		assert_memory_equal(e, host_out, 6);
		assert_memory_equal(e + 24, host_out + 24, 4);
		for (int i = 0; i < 8; i++)
			assert_memory_equal(e + 32 + 16 * i, host_out + 32 + 16 * i, 10);
		assert_memory_equal(e + 160, host_out + 160, 256);
	}
	/* State exchange: emu_fpu_save gives the FXSAVE64 image, emu_fpu_load
	 * takes it back; reserved MXCSR bits are refused */
	{
		static uint8_t a[512], b[512];
		emu_fpu_save(cpu, a);
		assert_memory_equal(a, env->mem.host + GUEST_MEM_ADDR + 1024, 416);
		struct emu_fpu keep = cpu->fpu;
		union emu_xmm kx[16];
		memcpy(kx, cpu->xmm, sizeof(kx));
		emu_fpu_reset(cpu);
		assert_int_equal(emu_fpu_load(cpu, a), 0);
		emu_fpu_save(cpu, b);
		assert_memory_equal(a, b, 512);
		assert_memory_equal(cpu->xmm, kx, sizeof(kx));
		assert_memory_equal(cpu->fpu.st, keep.st, 80);
		uint32_t badmx = 0x20000;
		memcpy(a + 24, &badmx, 4);
		assert_int_equal(emu_fpu_load(cpu, a), -1);
	}
	/* Misaligned FXSAVE → #GP */
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 8;
	assert_int_equal(emu_bytes("0f ae 06"), EXC_GP);
	/* Reserved MXCSR bits in the image → #GP */
	uint32_t bad = 0x80000;
	memcpy(env->mem.host + GUEST_MEM_ADDR + 24, &bad, 4);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	assert_int_equal(emu_bytes("0f ae 0e"), EXC_GP);
	cpu->mxcsr = 0x1f80;
}

/* XSAVE/XRSTOR of the x87 and SSE components against the host's: a random
 * image through XRSTOR64 then XSAVE64 (and XSAVEOPT64) with RFBM = 3 on
 * both sides; XRSTOR of an image whose XSTATE_BV leaves a component out
 * (it is initialized, MXCSR is still loaded); then the SDM's faults of
 * XSAVE, XRSTOR, XGETBV and XSETBV. */
__asm__(".text\n"
        "xs_native:\n" /* rdi: 576-byte image in, rsi: out; both 64-byte aligned */
        "sub $8, %rsp\n"
        "fxsave64 -512-64(%rsp)\n" /* the host's own x87/SSE state */
        "mov $3, %eax\n"
        "xor %edx, %edx\n"
        "xrstor64 (%rdi)\n"
        "xsave64 (%rsi)\n"
        "fxrstor64 -512-64(%rsp)\n"
        "add $8, %rsp\n"
        "ret\n");

__asm__(".text\n"
        "xsc_native:\n" /* rdi: image in (either format), rsi: compacted out; both 64-byte aligned */
        "sub $8, %rsp\n"
        "fxsave64 -512-64(%rsp)\n"
        "mov $3, %eax\n"
        "xor %edx, %edx\n"
        "xrstor64 (%rdi)\n"
        "xsavec64 (%rsi)\n"
        "fxrstor64 -512-64(%rsp)\n"
        "add $8, %rsp\n"
        "ret\n");

static bool host_has_xsavec(void)
{
	unsigned a, b, c, d;
	return __get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a >> 1 & 1);
}

static bool host_has_xsave(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c >> 27 & 1); /* OSXSAVE: the host kernel enabled it */
}

static void random_fx_image(uint8_t *img)
{
	memset(img, 0, 576);
	uint16_t cw = (uint16_t)(0x0040 | (rnd() & 0x0f3f) | 0x3f), sw = (uint16_t)(rnd() & 0x7f00);
	memcpy(img, &cw, 2);
	memcpy(img + 2, &sw, 2);
	img[4] = (uint8_t)(rnd() | 1); /* at least one register in use */
	uint32_t mx = 0x1f80 | (rnd() & 0xffff & ~0x1f80u);
	memcpy(img + 24, &mx, 4);
	for (int i = 0; i < 8; i++) {
		uint64_t m = rnd();
		uint16_t e = (uint16_t)(rnd() % 3 ? 0x3fff + rnd() % 64 : rnd());
		memcpy(img + 32 + 16 * i, &m, 8);
		memcpy(img + 40 + 16 * i, &e, 2);
	}
	for (int i = 0; i < 16; i++)
		gen_vec(img + 160 + 16 * i);
	img[160] |= 1; /* XMM0 non-zero: the SSE component is not in its initial state */
}

/* The registers an XSAVE image holds: FCW FSW FTW, MXCSR, ST0-7, XMM0-15. */
static void assert_same_regs(const uint8_t *a, const uint8_t *b)
{
	assert_memory_equal(a, b, 6);
	assert_memory_equal(a + 24, b + 24, 4);
	for (int i = 0; i < 8; i++)
		assert_memory_equal(a + 32 + 16 * i, b + 32 + 16 * i, 10);
	assert_memory_equal(a + 160, b + 160, 256);
}

/* VEX: BMI1/BMI2 run (tests/cpu/test_insn_diff.c compares them with the
 * host); L = 1, a legacy prefix or REX before VEX, an AVX opcode without
 * CR4.OSXSAVE, an unknown map, and RORX with vvvv in use are #UD. */
static void test_vex_faults(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	cpu->gpr[X86_RAX] = 0xf0, cpu->gpr[X86_RCX] = 0x3c;
	assert_int_equal(emu_bytes("c4 e2 78 f2 d1"), -1); /* ANDN edx, eax, ecx */
	assert_int_equal(cpu->gpr[X86_RDX], 0x0c);
	assert_int_equal(emu_bytes("c4 e2 7c f2 d1"), EXC_UD);    /* L = 1 */
	assert_int_equal(emu_bytes("66 c4 e2 78 f2 d1"), EXC_UD); /* 66 first */
	assert_int_equal(emu_bytes("f3 c4 e2 78 f2 d1"), EXC_UD);
	assert_int_equal(emu_bytes("40 c4 e2 78 f2 d1"), EXC_UD); /* REX first */
	assert_int_equal(emu_bytes("c4 e2 79 f2 d1"), EXC_UD);    /* ANDN with pp = 66 */
	assert_int_equal(emu_bytes("c5 f8 58 c1"), EXC_UD);    /* VADDPS: CR4.OSXSAVE clear (test_avx has the rest) */
	assert_int_equal(emu_bytes("c5 f8 77"), EXC_UD);       /* VZEROUPPER */
	assert_int_equal(emu_bytes("c4 e4 78 f2 d1"), EXC_UD); /* map 4 */
	assert_int_equal(emu_bytes("c4 e3 7b f0 d1 04"), -1);  /* RORX edx, ecx, 4 */
	assert_int_equal(cpu->gpr[X86_RDX], 0xc0000003);
	assert_int_equal(emu_bytes("c4 e3 73 f0 d1 04"), EXC_UD); /* RORX with vvvv = 1 */
	cpu->cr0 &= ~CR0_PE;                                      /* real mode: no VEX */
	assert_int_equal(emu_bytes("c4 e2 78 f2 d1"), EXC_UD);
	cpu->cr0 |= CR0_PE;
}

/* (This file's one-instruction harness, for system instructions of the
 * CPU model:) UMIP makes SGDT, SIDT, SLDT, STR and SMSW #GP at CPL 3 only;
 * STAC/CLAC set and clear AC at CPL 0 and are #UD at CPL 3; RDPID; PCIDE,
 * CR3 with a PCID, INVPCID; RDPKRU/WRPKRU. */
static void test_umip_stac(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	static const char *const umip[] = { "0f 01 06", "0f 01 0e", "0f 00 c0", "0f 00 c8", "0f 01 e0" };
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	cpu->cr4 |= CR4_UMIP;
	for (int i = 0; i < 5; i++) {
		cpu->cpl = 3;
		assert_int_equal(emu_bytes(umip[i]), EXC_GP);
		cpu->cpl = 0;
		assert_int_equal(emu_bytes(umip[i]), -1);
	}
	cpu->cr4 &= ~CR4_UMIP;
	cpu->cpl = 3;
	assert_int_equal(emu_bytes("0f 01 06"), -1); /* without UMIP: any CPL */
	assert_int_equal(emu_bytes("0f 01 cb"), EXC_UD);
	cpu->cpl = 0;
	assert_int_equal(emu_bytes("0f 01 cb"), -1); /* STAC */
	assert_true(emu_get_rflags(cpu) & RFLAGS_AC);
	assert_int_equal(emu_bytes("0f 01 ca"), -1); /* CLAC */
	assert_false(emu_get_rflags(cpu) & RFLAGS_AC);
	/* RDPID: TSC_AUX at any CPL, 64 bits in 64-bit mode; RDSEED/RDRAND are not offered */
	cpu->tsc_aux = 0x1234;
	cpu->gpr[X86_RAX] = ~0ULL;
	cpu->cpl = 3;
	assert_int_equal(emu_bytes("f3 0f c7 f8"), -1);
	assert_int_equal(cpu->gpr[X86_RAX], 0x1234);
	cpu->cpl = 0;
	assert_int_equal(emu_bytes("0f c7 f8"), EXC_UD);
	assert_int_equal(emu_bytes("0f c7 f0"), EXC_UD);
	assert_int_equal(emu_bytes("66 f3 0f c7 f8"), EXC_UD);
	/* PCID: CR4.PCIDE only while CR3's PCID is 0; then CR3 keeps the PCID
	 * and drops bit 63 (no-flush); INVPCID's faults */
	uint64_t cr4 = cpu->cr4, cr3 = cpu->cr3;
	cpu->cr3 = 0x2005;
	cpu->gpr[X86_RAX] = cr4 | CR4_PAE | CR4_PCIDE;   /* (long mode needs PAE) */
	assert_int_equal(emu_bytes("0f 22 e0"), EXC_GP); /* MOV CR4, RAX */
	cpu->cr3 = 0x2000;
	assert_int_equal(emu_bytes("0f 22 e0"), -1);
	cpu->gpr[X86_RAX] = (1ULL << 63) | 0x3007;
	assert_int_equal(emu_bytes("0f 22 d8"), -1); /* MOV CR3, RAX */
	assert_int_equal(cpu->cr3, 0x3007);
	uint64_t desc[2] = { 7, 0x400000 };
	memcpy(env->mem.host + GUEST_MEM_ADDR, desc, 16);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	for (uint64_t type = 0; type <= 4; type++) {
		cpu->gpr[X86_RAX] = type;
		assert_int_equal(emu_bytes("66 0f 38 82 06"), type <= 3 ? -1 : EXC_GP); /* INVPCID RAX, [RSI] */
	}
	desc[1] = 1ULL << 60; /* non-canonical */
	memcpy(env->mem.host + GUEST_MEM_ADDR, desc, 16);
	cpu->gpr[X86_RAX] = 0;
	assert_int_equal(emu_bytes("66 0f 38 82 06"), EXC_GP);
	desc[0] = 1ULL << 12; /* reserved bits above the PCID */
	memcpy(env->mem.host + GUEST_MEM_ADDR, desc, 16);
	cpu->gpr[X86_RAX] = 2;
	assert_int_equal(emu_bytes("66 0f 38 82 06"), EXC_GP);
	cpu->cpl = 3;
	assert_int_equal(emu_bytes("66 0f 38 82 06"), EXC_GP);
	cpu->cpl = 0;
	assert_int_equal(emu_bytes("0f 38 82 06"), EXC_UD);    /* needs 66 */
	assert_int_equal(emu_bytes("66 0f 38 82 c0"), EXC_UD); /* and memory */
	cpu->cr4 = cr4, cpu->cr3 = cr3;
	/* RDPKRU/WRPKRU: #UD without CR4.PKE, #GP with ECX (or EDX) set */
	assert_int_equal(emu_bytes("0f 01 ee"), EXC_UD);
	cpu->cr4 |= CR4_PKE;
	cpu->cpl = 3;
	cpu->gpr[X86_RAX] = 0x55555554, cpu->gpr[X86_RCX] = 0, cpu->gpr[X86_RDX] = 0;
	assert_int_equal(emu_bytes("0f 01 ef"), -1); /* WRPKRU */
	assert_int_equal(cpu->pkru, 0x55555554);
	cpu->gpr[X86_RDX] = 1;
	assert_int_equal(emu_bytes("0f 01 ef"), EXC_GP);
	cpu->gpr[X86_RAX] = ~0ULL;
	assert_int_equal(emu_bytes("0f 01 ee"), -1); /* RDPKRU */
	assert_int_equal(cpu->gpr[X86_RAX], 0x55555554);
	assert_int_equal(cpu->gpr[X86_RDX], 0);
	cpu->gpr[X86_RCX] = 1;
	assert_int_equal(emu_bytes("0f 01 ee"), EXC_GP);
	cpu->gpr[X86_RCX] = 0;
	cpu->cpl = 0;
	cpu->cr4 = cr4;
}

static void test_xsave(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	uint8_t *g = env->mem.host + GUEST_MEM_ADDR;
	static uint8_t img[576] __attribute__((aligned(64))), host_out[576] __attribute__((aligned(64)));

	/* Without CR4.OSXSAVE: #UD for all of them */
	cpu->cr4 &= ~CR4_OSXSAVE;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	assert_int_equal(emu_bytes("0f ae 26"), EXC_UD);
	assert_int_equal(emu_bytes("0f ae 2e"), EXC_UD);
	assert_int_equal(emu_bytes("0f 01 d0"), EXC_UD);
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_UD);
	cpu->cr4 |= CR4_OSXSAVE;
	/* XSETBV: x87 must stay, AVX (bit 2) needs SSE, XCR1 does not exist */
	cpu->gpr[X86_RCX] = 0, cpu->gpr[X86_RDX] = 0;
	cpu->gpr[X86_RAX] = 2;
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_GP);
	cpu->gpr[X86_RAX] = 5;
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_GP);
	cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 1;
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_GP);
	cpu->gpr[X86_RDX] = 0, cpu->gpr[X86_RCX] = 1;
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_GP);
	cpu->gpr[X86_RCX] = 0;
	cpu->cpl = 3;
	assert_int_equal(emu_bytes("0f 01 d1"), EXC_GP);
	cpu->cpl = 0;
	assert_int_equal(emu_bytes("0f 01 d1"), -1);
	cpu->gpr[X86_RAX] = cpu->gpr[X86_RDX] = ~0ULL;
	assert_int_equal(emu_bytes("0f 01 d0"), -1); /* XGETBV */
	assert_int_equal(cpu->gpr[X86_RAX], 3);
	assert_int_equal(cpu->gpr[X86_RDX], 0);
	cpu->gpr[X86_RCX] = 1;
	assert_int_equal(emu_bytes("0f 01 d0"), EXC_GP); /* XINUSE read: not offered */
	cpu->gpr[X86_RCX] = 0;

	if (!host_has_xsave()) {
		printf("skip: XSAVE beside the host: the host has no XSAVE enabled\n");
	} else {
		for (int round = 0; round < 200; round++) {
			random_fx_image(img);
			uint64_t bv = 3;
			memcpy(img + 512, &bv, 8);
			memcpy(g, img, 576);
			memset(g + 1024, 0, 576);
			memset(host_out, 0, 576);
			cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 0;
			cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
			assert_int_equal(emu_bytes("48 0f ae 2e"), -1); /* XRSTOR64 [rsi] */
			cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 1024;
			assert_int_equal(emu_bytes(round & 1 ? "48 0f ae 36" : "48 0f ae 26"),
			                 -1); /* XSAVEOPT64 / XSAVE64 */
			{
				extern void xs_native(const void *in, void *out);
				xs_native(img, host_out);
			}
			assert_same_regs(g + 1024, host_out);
			assert_memory_equal(g + 1024 + 512, host_out + 512, 8); /* XSTATE_BV: both in use */
		}
		/* XSTATE_BV = 1: SSE initialized (XMM zero) but MXCSR loaded;
		 * XSTATE_BV = 2: x87 initialized (FCW 0x37F, empty) */
		for (uint64_t bv = 1; bv <= 2; bv++) {
			random_fx_image(img);
			memcpy(img + 512, &bv, 8);
			memcpy(g, img, 576);
			cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 0;
			cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
			assert_int_equal(emu_bytes("48 0f ae 2e"), -1);
			static uint8_t e_fx[512] __attribute__((aligned(16))), h_fx[512] __attribute__((aligned(16)));
			emu_fpu_save(cpu, e_fx);
			{
				extern void xs_native(const void *in, void *out);
				xs_native(img, host_out);
			}
			memcpy(h_fx, host_out, 512);
			if (bv == 2) /* an x87 component the host did not save: its initial state */
				assert_int_equal(e_fx[0] | e_fx[1] << 8, 0x37f);
			else
				assert_same_regs(e_fx, h_fx);
			uint32_t mx;
			memcpy(&mx, e_fx + 24, 4);
			assert_memory_equal(&mx, img + 24, 4);
			for (int i = 0; i < 16 && bv == 1; i++)
				assert_true(cpu->xmm[i].q[0] == 0 && cpu->xmm[i].q[1] == 0);
		}
	}
	/* XSAVEC and the compacted format beside the host: a random image
	 * through XRSTOR64 then XSAVEC64 (RFBM 3): the same registers, XCOMP_BV
	 * 0x8000000000000003; a compacted image through XRSTOR64 then XSAVE64,
	 * with XSTATE_BV 3 (the same registers) and 1 (SSE initialized: XMM
	 * zero and, unlike the standard format, MXCSR 0x1F80). */
	if (!host_has_xsave() || !host_has_xsavec()) {
		printf("skip: XSAVEC beside the host: the host has no XSAVEC\n");
	} else {
		extern void xs_native(const void *in, void *out);
		extern void xsc_native(const void *in, void *out);
		for (int round = 0; round < 100; round++) {
			uint64_t bv = 3, comp = 1ULL << 63 | 3;
			random_fx_image(img);
			memcpy(img + 512, &bv, 8);
			memcpy(g, img, 576);
			memset(g + 1024, 0, 576);
			memset(host_out, 0, 576);
			cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 0;
			cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
			assert_int_equal(emu_bytes("48 0f ae 2e"), -1); /* XRSTOR64 [rsi] */
			cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 1024;
			assert_int_equal(emu_bytes("48 0f c7 26"), -1); /* XSAVEC64 [rsi] */
			xsc_native(img, host_out);
			assert_same_regs(g + 1024, host_out);
			assert_memory_equal(g + 1024 + 512, host_out + 512, 16); /* XSTATE_BV, XCOMP_BV */
			assert_memory_equal(g + 1024 + 520, &comp, 8);
			/* and back: the compacted image through XRSTOR64, then XSAVE64 */
			for (uint64_t cbv = 1; cbv <= 3; cbv += 2) {
				memcpy(img, host_out, 576);
				memcpy(img + 512, &cbv, 8);
				memcpy(g, img, 576);
				cpu->mxcsr = 0x7f80; /* not what the image holds */
				cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
				assert_int_equal(emu_bytes("48 0f ae 2e"), -1);
				cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 1024;
				assert_int_equal(emu_bytes("48 0f ae 26"), -1);
				xs_native(img, host_out);
				assert_same_regs(g + 1024, host_out);
				if (cbv == 1)
					assert_int_equal(cpu->mxcsr, 0x1f80);
			}
		}
	}
	/* XSAVEC's header: only XSTATE_BV and XCOMP_BV are written */
	cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 0;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	memset(g, 0xaa, 1024);
	assert_int_equal(emu_bytes("0f c7 26"), -1);
	assert_int_equal(g[528], 0xaa);
	assert_int_equal(g[575], 0xaa);
	assert_int_equal(emu_bytes("66 0f c7 26"), EXC_UD); /* prefixes make it another (absent) instruction */
	assert_int_equal(emu_bytes("f3 0f c7 26"), EXC_UD);
	/* Compacted offsets: AVX first at 576, PKRU after it or at 576 alone */
	cpu->gpr[X86_RAX] = 0x207, cpu->gpr[X86_RCX] = 0;
	assert_int_equal(emu_bytes("0f 01 d1"), -1); /* XSETBV */
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			cpu->ymmh[i].b[j] = (uint8_t)(16 * i + j + 1);
	cpu->pkru = 0x30;
	memset(g, 0, 4096);
	cpu->gpr[X86_RAX] = 0x207;
	assert_int_equal(emu_bytes("48 0f c7 26"), -1);
	assert_memory_equal(g + 576, cpu->ymmh, 256);
	assert_int_equal(g[832], 0x30);
	uint64_t cv;
	memcpy(&cv, g + 520, 8);
	assert_true(cv == (1ULL << 63 | 0x207));
	memset(cpu->ymmh, 0, sizeof(cpu->ymmh));
	cpu->pkru = 0;
	assert_int_equal(emu_bytes("48 0f ae 2e"), -1); /* compacted XRSTOR64 brings both back */
	assert_memory_equal(g + 576, cpu->ymmh, 256);
	assert_int_equal(cpu->pkru, 0x30);
	memset(g, 0, 4096);
	cpu->gpr[X86_RAX] = 0x201;
	assert_int_equal(emu_bytes("48 0f c7 26"), -1);
	assert_int_equal(g[576], 0x30);
	/* Compacted faults: an XSTATE_BV bit XCOMP_BV lacks, an XCOMP_BV bit
	 * XCR0 lacks, a non-zero byte in the rest of the header */
	cpu->gpr[X86_RAX] = 0x207;
	assert_int_equal(emu_bytes("48 0f c7 26"), -1);
	g[512] |= 8;
	assert_int_equal(emu_bytes("48 0f ae 2e"), EXC_GP);
	g[512] &= ~8;
	g[520] |= 8;
	assert_int_equal(emu_bytes("48 0f ae 2e"), EXC_GP);
	g[520] &= ~8;
	g[560] = 1;
	assert_int_equal(emu_bytes("48 0f ae 2e"), EXC_GP);
	g[560] = 0;
	assert_int_equal(emu_bytes("48 0f ae 2e"), -1);
	/* The standard format's MXCSR goes with AVX too: RFBM 4 alone saves
	 * and loads it (as the host does) */
	cpu->mxcsr = 0x1fc0;
	memset(g, 0, 4096);
	cpu->gpr[X86_RAX] = 4;
	assert_int_equal(emu_bytes("0f ae 26"), -1);
	assert_int_equal(g[24] | g[25] << 8, 0x1fc0);
	cpu->mxcsr = 0x1f80;
	assert_int_equal(emu_bytes("0f ae 2e"), -1);
	assert_int_equal(cpu->mxcsr, 0x1fc0);
	cpu->mxcsr = 0x1f80;
	memset(cpu->ymmh, 0, sizeof(cpu->ymmh));
	cpu->gpr[X86_RAX] = 3;
	assert_int_equal(emu_bytes("0f 01 d1"), -1); /* XCR0 back to x87+SSE */
	/* Faults: misalignment, a compacted image whose XCOMP_BV has a bit
	 * XCR0 lacks, an XSTATE_BV bit XCR0 lacks, reserved MXCSR bits, CR0.TS */
	cpu->gpr[X86_RAX] = 3, cpu->gpr[X86_RDX] = 0;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR + 16;
	assert_int_equal(emu_bytes("0f ae 26"), EXC_GP);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	memset(g, 0, 1024);
	assert_int_equal(emu_bytes("0f ae 26"), -1);
	uint64_t v = 1ULL << 63 | 3;
	memcpy(g + 520, &v, 8);
	assert_int_equal(emu_bytes("0f ae 2e"), -1); /* compacted, valid */
	v = 1ULL << 63 | 7;
	memcpy(g + 520, &v, 8);
	assert_int_equal(emu_bytes("0f ae 2e"), EXC_GP);
	memset(g + 520, 0, 8);
	v = 4 | 3;
	memcpy(g + 512, &v, 8);
	assert_int_equal(emu_bytes("0f ae 2e"), EXC_GP);
	v = 3;
	memcpy(g + 512, &v, 8);
	uint32_t bad = 0x80000;
	memcpy(g + 24, &bad, 4);
	assert_int_equal(emu_bytes("0f ae 2e"), EXC_GP);
	cpu->cr0 |= CR0_TS;
	assert_int_equal(emu_bytes("0f ae 26"), EXC_NM);
	cpu->cr0 &= ~CR0_TS;
	/* The PKRU component: saved at 2688 with XSTATE_BV[9]; an XRSTOR
	 * without that bit gives PKRU its initial 0 */
	cpu->gpr[X86_RAX] = 0x203, cpu->gpr[X86_RDX] = 0;
	assert_int_equal(emu_bytes("0f 01 d1"), -1);
	cpu->pkru = 0xc;
	memset(g, 0, 4096);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	assert_int_equal(emu_bytes("0f ae 26"), -1);
	uint32_t pk;
	memcpy(&pk, g + 2688, 4);
	assert_int_equal(pk, 0xc);
	assert_int_equal(g[512] | g[513] << 8, 0x203);
	g[513] = 0; /* XSTATE_BV[9] clear */
	assert_int_equal(emu_bytes("0f ae 2e"), -1);
	assert_int_equal(cpu->pkru, 0);
	g[513] = 2;
	assert_int_equal(emu_bytes("0f ae 2e"), -1);
	assert_int_equal(cpu->pkru, 0xc);
	cpu->pkru = 0;
	cpu->gpr[X86_RAX] = 1; /* XSETBV back to x87 only, as the other tests expect */
	assert_int_equal(emu_bytes("0f 01 d1"), -1);
	cpu->cr4 &= ~CR4_OSXSAVE;
	cpu->mxcsr = 0x1f80;
}

/* MASKMOVDQU/MASKMOVQ store through DS:RDI, so they stay out of the
 * harness: compare with the host instruction directly. */
static void test_maskmov(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	for (int it = 0; it < 500; it++) {
		uint8_t v[16], m[16], host[32], init[32];
		gen_vec(v);
		gen_vec(m);
		for (int i = 0; i < 32; i++)
			init[i] = (uint8_t)rnd();
		memcpy(host, init, 32);
		unsigned off = (unsigned)rnd() % 16;
		__asm__ volatile("movdqu %0, %%xmm0\n\tmovdqu %1, %%xmm1\n\tmaskmovdqu %%xmm1, %%xmm0"
		                 :
		                 : "m"(v), "m"(m), "D"(host + off)
		                 : "xmm0", "xmm1", "memory");
		memcpy(env->mem.host + GUEST_MEM_ADDR, init, 32);
		memcpy(&cpu->xmm[0], v, 16);
		memcpy(&cpu->xmm[1], m, 16);
		cpu->gpr[X86_RDI] = GUEST_MEM_ADDR + off;
		static const uint8_t maskmovdqu[] = { 0x66, 0x0f, 0xf7, 0xc1 };
		assert_int_equal(emu_run1(cpu, maskmovdqu, 4), -1);
		assert_memory_equal(env->mem.host + GUEST_MEM_ADDR, host, 32);

		/* MASKMOVQ mm0, mm1 on the low halves */
		memcpy(host, init, 32);
		__asm__ volatile("movq %0, %%mm0\n\tmovq %1, %%mm1\n\tmaskmovq %%mm1, %%mm0\n\temms"
		                 :
		                 : "m"(v), "m"(m), "D"(host + off)
		                 : "mm0", "mm1", "memory");
		memcpy(env->mem.host + GUEST_MEM_ADDR, init, 32);
		cpu->fpu.sw = 0, cpu->fpu.tw = 0;
		uint64_t v0, m0;
		memcpy(&v0, v, 8);
		memcpy(&m0, m, 8);
		mmx_set(cpu, 0, v0);
		mmx_set(cpu, 1, m0);
		static const uint8_t maskmovq[] = { 0x0f, 0xf7, 0xc1 };
		assert_int_equal(emu_run1(cpu, maskmovq, 3), -1);
		assert_memory_equal(env->mem.host + GUEST_MEM_ADDR, host, 32);
	}
}

/* CRC32 (F2 0F 38 F0/F1) in every operand size against the host. */
__attribute__((target("sse4.2"))) static void test_crc32(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	if (!emu_sse4_host_ok()) { /* the reference is the host's CRC32 */
		printf("crc32 not tested: the host CPU lacks SSE4.2\n");
		skip();
	}
	static const uint8_t b8[] = { 0xf2, 0x0f, 0x38, 0xf0, 0xc1 }, w16[] = { 0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xc1 },
	                     d32[] = { 0xf2, 0x0f, 0x38, 0xf1, 0xc1 }, q64[] = { 0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1 },
	                     b8h[] = { 0xf2, 0x0f, 0x38, 0xf0, 0xc5 }; /* CRC32 eax, ch */
	for (int it = 0; it < 2000; it++) {
		uint64_t acc = rnd(), v = rnd(), want;
		cpu->gpr[X86_RCX] = v;
		cpu->gpr[X86_RAX] = acc;
		assert_int_equal(emu_run1(cpu, b8, 5), -1);
		want = __builtin_ia32_crc32qi((uint32_t)acc, (uint8_t)v);
		assert_int_equal(cpu->gpr[X86_RAX], want);
		cpu->gpr[X86_RAX] = acc;
		assert_int_equal(emu_run1(cpu, b8h, 5), -1);
		want = __builtin_ia32_crc32qi((uint32_t)acc, (uint8_t)(v >> 8));
		assert_int_equal(cpu->gpr[X86_RAX], want);
		cpu->gpr[X86_RAX] = acc;
		assert_int_equal(emu_run1(cpu, w16, 6), -1);
		want = __builtin_ia32_crc32hi((uint32_t)acc, (uint16_t)v);
		assert_int_equal(cpu->gpr[X86_RAX], want);
		cpu->gpr[X86_RAX] = acc;
		assert_int_equal(emu_run1(cpu, d32, 5), -1);
		want = __builtin_ia32_crc32si((uint32_t)acc, (uint32_t)v);
		assert_int_equal(cpu->gpr[X86_RAX], want);
		cpu->gpr[X86_RAX] = acc;
		assert_int_equal(emu_run1(cpu, q64, 6), -1);
		want = __builtin_ia32_crc32di(acc, v);
		assert_int_equal(cpu->gpr[X86_RAX], want);
	}
}

/* REX.R/REX.B reach XMM8-15; MMX ignores them. */
static void test_high_regs(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 4; j++)
			cpu->xmm[i].d[j] = (uint32_t)(i * 0x01010101u + j);
	static const uint8_t pxor_x8_x9[] = { 0x66, 0x45, 0x0f, 0xef, 0xc1 };    /* PXOR xmm8, xmm9 */
	static const uint8_t movdqa_x15_x3[] = { 0x66, 0x44, 0x0f, 0x6f, 0xfb }; /* MOVDQA xmm15, xmm3 */
	static const uint8_t movd_r9_x10[] = { 0x66, 0x45, 0x0f, 0x7e, 0xd1 };   /* MOVD r9d, xmm10 */
	assert_int_equal(emu_run1(cpu, pxor_x8_x9, 5), -1);
	for (int j = 0; j < 4; j++)
		assert_int_equal(cpu->xmm[8].d[j], (8 * 0x01010101u + j) ^ (9 * 0x01010101u + j));
	assert_int_equal(emu_run1(cpu, movdqa_x15_x3, 5), -1);
	assert_memory_equal(&cpu->xmm[15], &cpu->xmm[3], 16);
	cpu->gpr[9] = ~0ULL;
	assert_int_equal(emu_run1(cpu, movd_r9_x10, 5), -1);
	assert_int_equal(cpu->gpr[9], 10 * 0x01010101u);
	/* 32-bit mode: no REX, 8 registers; the same PXOR is DEC/INC-free 66 0F EF */
	cpu->code_mode = EMU_MODE32;
	static const uint8_t pxor_x1_x2[] = { 0x66, 0x0f, 0xef, 0xca };
	uint32_t want = cpu->xmm[1].d[0] ^ cpu->xmm[2].d[0];
	assert_int_equal(emu_run1(cpu, pxor_x1_x2, 4), -1);
	assert_int_equal(cpu->xmm[1].d[0], want);
	cpu->code_mode = EMU_MODE64;
}

static int setup(void **state)
{
	(void)state;
	env = emu_env_new();
	harness = jit_harness(sse_harness_start, sse_harness_end, sse_harness_slot, &slot);
	host_signals();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(harness, 4096);
	emu_env_free(env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_forms), cmocka_unit_test(test_faults),     cmocka_unit_test(test_fxsave),
		cmocka_unit_test(test_xsave),     cmocka_unit_test(test_vex_faults), cmocka_unit_test(test_umip_stac),
		cmocka_unit_test(test_maskmov),   cmocka_unit_test(test_high_regs),  cmocka_unit_test(test_crc32),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
