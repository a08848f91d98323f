/* Differential test of the x87 part against the host FPU.
 *
 * Every D8..DF encoding the engine accepts — the 512 register forms
 * (ModRM C0..FF, undocumented aliases included) and the 64 memory forms
 * with the operand at [rsi], plus the 16-bit (66) environment formats — is
 * run natively between FRSTOR and FNSAVE of a random x87 state (random TOP,
 * tags, precision and rounding control, sometimes unmasked exceptions,
 * registers full of NaNs, infinities, denormals, pseudo-denormals,
 * unnormals and ordinary numbers) and through the engine, and the results
 * are compared bit for bit: control/status/tag words, all eight registers,
 * memory written, EFLAGS (FCOMI) and AX (FNSTSW AX).  The instruction and
 * data pointers are excluded: the host's are host addresses. */
#include "fputest.h"

struct xstate {
	uint8_t img[108]; /* 0: FNSAVE image */
	uint8_t pad[4];
	uint64_t flags; /* 112 */
	uint64_t rax;   /* 120 */
	uint64_t rsi;   /* 128 */
	uint64_t pad2;
	uint8_t mem[128] __attribute__((aligned(16))); /* 144 */
};
_Static_assert(offsetof(struct xstate, mem) == 144, "harness offsets");

__asm__(".text\n"
        "x87_harness_start:\n"
        "mov 120(%rdi), %rax\n"
        "mov 128(%rdi), %rsi\n"
        "pushq 112(%rdi)\n"
        "popfq\n"
        "frstor (%rdi)\n"
        "x87_harness_slot:\n"
        ".fill 16, 1, 0x90\n"
        "pushfq\n"
        "popq 112(%rdi)\n"
        "fnsave (%rdi)\n"
        "mov %rax, 120(%rdi)\n"
        "ret\n"
        "x87_harness_end:\n");
extern const uint8_t x87_harness_start[], x87_harness_slot[], x87_harness_end[];

static uint8_t *harness, *slot;
static struct emu_env *env;

#define ARITH 0x8d5ULL

/* ---- inputs ------------------------------------------------------------- */

static void gen_f80(uint8_t *r)
{
	uint64_t m;
	uint16_t e;
	unsigned k = rnd() % 16;
	switch (k) {
	case 0: m = 0, e = 0; break;                                                        /* ±0 */
	case 1: m = 1ULL << 63, e = 0x7fff; break;                                          /* ±inf */
	case 2: m = 3ULL << 62 | (rnd() % 2 ? 0 : rnd() >> 2), e = 0x7fff; break;           /* QNaN */
	case 3: m = 1ULL << 63 | (rnd() >> 2 | 1), e = 0x7fff; break;                       /* SNaN */
	case 4: m = rnd() >> (1 + rnd() % 63), e = 0; break;                                /* denormal */
	case 5: m = 1ULL << 63 | rnd() >> 1, e = 0; break;                                  /* pseudo-denormal */
	case 6: m = rnd() >> 1, e = (uint16_t)(1 + rnd() % 0x7ffe); break;                  /* unnormal */
	case 7: m = 1ULL << 63 | rnd() >> 1, e = (uint16_t)(rnd() % 2 ? 1 : 0x7ffe); break; /* extremes */
	case 8: /* small integers, exact in every format */
		m = (rnd() % 1000 + 1) << 53, e = 0x3fff + 10;
		m |= 1ULL << 63;
		break;
	default: /* ordinary numbers of moderate magnitude */
		m = 1ULL << 63 | rnd() >> 1, e = (uint16_t)(0x3fff - 70 + rnd() % 140);
		break;
	}
	if (rnd() % 2)
		e |= 0x8000;
	memcpy(r, &m, 8);
	memcpy(r + 8, &e, 2);
}

static void gen_state(struct xstate *s)
{
	memset(s, 0, sizeof(*s));
	uint16_t cw = 0x037f;
	cw = (uint16_t)((cw & ~0x0f00) | (rnd() & 0x0f00)); /* PC, RC */
	if (rnd() % 6 == 0)
		cw &= (uint16_t) ~(rnd() & 0x3f); /* some exceptions unmasked */
	uint16_t sw = (uint16_t)(rnd() & 0x4700); /* C0-C3 */
	sw |= (uint16_t)((rnd() % 8) << 11);      /* TOP */
	sw |= (uint16_t)(rnd() & cw & 0x3f);      /* masked sticky flags only */
	uint16_t tw = 0;
	for (int i = 0; i < 8; i++)
		tw |= (uint16_t)((rnd() % 3 == 0 ? 3 : 0) << (2 * i));
	if (rnd() % 8 == 0)
		tw = 0xffff;
	for (int i = 0; i < 8; i++)
		gen_f80(s->img + 28 + 10 * i);
	/* Tags of non-empty registers follow their contents, as every load path
	 * of the engine (FRSTOR, FLDENV, FXRSTOR) makes them; a FRSTOR image
	 * with, say, a "valid" tag on a zero makes the hardware compute
	 * garbage, which the engine does not reproduce. */
	unsigned top = (sw >> 11) & 7;
	for (unsigned p = 0; p < 8; p++)
		if (((tw >> (2 * p)) & 3) != 3)
			tw |= (uint16_t)(fpu_classify(s->img + 28 + 10 * ((p - top) & 7)) << (2 * p));
	memcpy(s->img, &cw, 2);
	memcpy(s->img + 4, &sw, 2);
	memcpy(s->img + 8, &tw, 2);
	s->flags = (rnd() & ARITH) | 2;
	s->rax = rnd();
	for (int i = 0; i < 128; i += 16) {
		switch (rnd() % 4) {
		case 0: gen_vec(s->mem + i); break;
		case 1: gen_f80(s->mem + i); break;
		case 2: { /* packed BCD */
			for (int j = 0; j < 9; j++)
				s->mem[i + j] = (uint8_t)((rnd() % 10) << 4 | rnd() % 10);
			s->mem[i + 9] = rnd() % 2 ? 0x80 : 0;
			break;
		}
		default: {
			uint64_t v = rnd() % 2 ? gen_f64() : int_special[rnd() % 16];
			uint32_t f = gen_f32();
			if (rnd() % 2)
				memcpy(s->mem + i, &v, 8);
			else
				memcpy(s->mem + i, &f, 4);
			break;
		}
		}
	}
	if (rnd() % 4 == 0) { /* a plausible environment for FLDENV/FRSTOR */
		memcpy(s->mem, s->img, 28);
		memcpy(s->mem + 28, s->img + 28, 80);
	}
}

/* ---- the two runs ------------------------------------------------------- */

static void run_native(const uint8_t *b, unsigned len, struct xstate *s, int *vec)
{
	jit_patch(slot, b, len);
	host_sig = 0;
	*vec = -1;
	if (sigsetjmp(host_jmp, 1)) {
		__asm__ volatile("fninit");
		*vec = sig_vector(host_sig);
		return;
	}
	((void (*)(struct xstate *))harness)(s);
}

static void run_emu(const uint8_t *b, unsigned len, struct xstate *s, int *vec)
{
	struct emu_cpu *cpu = env->cpu;
	memcpy(&cpu->fpu, s->img, 108);
	cpu->fpu.fop = cpu->fpu.fcs = cpu->fpu.fds = 0;
	cpu->fpu.fip = cpu->fpu.fdp = 0;
	cpu->gpr[X86_RAX] = s->rax;
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	emu_set_rflags(cpu, s->flags);
	memcpy(env->mem.host + GUEST_MEM_ADDR, s->mem, 128);
	*vec = emu_run1(cpu, b, len);
	if (*vec >= 0)
		return;
	memcpy(s->img, &cpu->fpu, 108);
	uint16_t tw = fpu_full_tags(cpu);
	memcpy(s->img + 8, &tw, 2);
	s->rax = cpu->gpr[X86_RAX];
	s->flags = emu_get_rflags(cpu);
	memcpy(s->mem, env->mem.host + GUEST_MEM_ADDR, 128);
}

/* Bytes of the environment image in memory holding instruction/data
 * pointers, which differ by design. */
static void mask_env_ptrs(uint8_t *mem, bool o16)
{
	if (o16)
		memset(mem + 6, 0, 8);
	else
		memset(mem + 12, 0, 16);
}

static bool same(struct xstate *a, struct xstate *b, int va, int vb, int env_store, bool o16)
{
	if (va != vb)
		return false;
	if (va >= 0)
		return true;
	if (env_store) {
		mask_env_ptrs(a->mem, o16);
		mask_env_ptrs(b->mem, o16);
	}
	return !memcmp(a->img, b->img, 2) && !memcmp(a->img + 4, b->img + 4, 2) && !memcmp(a->img + 8, b->img + 8, 2) &&
	       !memcmp(a->img + 28, b->img + 28, 80) && (a->flags & ARITH) == (b->flags & ARITH) && a->rax == b->rax &&
	       !memcmp(a->mem, b->mem, 128);
}

static void show(const char *who, const struct xstate *s, int vec)
{
	uint16_t cw, sw, tw;
	memcpy(&cw, s->img, 2);
	memcpy(&sw, s->img + 4, 2);
	memcpy(&tw, s->img + 8, 2);
	printf(" %s: vec %d cw %04x sw %04x tw %04x flags %03llx rax %016llx\n", who, vec, cw, sw, tw,
	       (unsigned long long)(s->flags & ARITH), (unsigned long long)s->rax);
	for (int i = 0; i < 8; i++) {
		char n[8];
		snprintf(n, sizeof(n), "st%d", i);
		hexdump(n, s->img + 28 + 10 * i, 10);
	}
	hexdump("mem0", s->mem, 16);
	hexdump("mem1", s->mem + 16, 16);
}

static int forms, runs, failures;
static char covered[8][72][2];

static void test_form(unsigned op, unsigned modrm, bool o16, unsigned iters)
{
	uint8_t b[4];
	unsigned n = 0;
	if (o16)
		b[n++] = 0x66;
	b[n++] = (uint8_t)op;
	b[n++] = (uint8_t)modrm;
	struct emu_insn in;
	memset(&in, 0, sizeof(in));
	if (emu_decode_bytes(b, n, EMU_MODE64, &in) != (int)n || !emu_x87_select(&in))
		return;
	bool mem = modrm < 0xc0;
	unsigned reg = (modrm >> 3) & 7;
	int env_store = mem && (op == 0xd9 || op == 0xdd) && reg == 6;
	covered[op & 7][mem ? 64 + reg : modrm & 63][o16] = 1;
	forms++;
	for (unsigned it = 0; it < iters; it++) {
		struct xstate s0, sn, se;
		gen_state(&s0);
		sn = s0, se = s0;
		sn.rsi = (uint64_t)(uintptr_t)sn.mem;
		int vn, ve;
		run_native(b, n, &sn, &vn);
		run_emu(b, n, &se, &ve);
		runs++;
		if (!same(&sn, &se, vn, ve, env_store, o16) && failures++ < 10) {
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

static void test_all_forms(void **state)
{
	(void)state;
	host_signals();
	for (unsigned op = 0xd8; op <= 0xdf; op++) {
		for (unsigned m = 0xc0; m <= 0xff; m++)
			test_form(op, m, false, 300);
		for (unsigned r = 0; r < 8; r++)
			test_form(op, 0x06 | r << 3, false, 300);
	}
	/* 16-bit environment formats */
	test_form(0xd9, 0x26, true, 300); /* FLDENV m14 */
	test_form(0xd9, 0x36, true, 300); /* FNSTENV m14 */
	test_form(0xdd, 0x26, true, 300); /* FRSTOR m94 */
	test_form(0xdd, 0x36, true, 300); /* FNSAVE m94 */
	printf("x87: %d forms, %d runs, %d mismatches\n", forms, runs, failures);
	FILE *f = getenv("FPU_COVERAGE") ? fopen(getenv("FPU_COVERAGE"), "w") : NULL;
	if (f) {
		for (unsigned op = 0; op < 8; op++) {
			fprintf(f, "%02X reg:", 0xd8 + op);
			for (unsigned m = 0; m < 64; m++)
				if (covered[op][m][0])
					fprintf(f, " %02X", 0xc0 + m);
			fprintf(f, "\n%02X mem /r:", 0xd8 + op);
			for (unsigned r = 0; r < 8; r++)
				if (covered[op][64 + r][0])
					fprintf(f, " /%u%s", r, covered[op][64 + r][1] ? "(+o16)" : "");
			fprintf(f, "\n");
		}
		fclose(f);
	}
	assert_true(forms > 400);
	assert_int_equal(failures, 0);
}

/* Sequences of eight instructions run back to back natively (one harness
 * call) and one by one through the engine: catches state carried between
 * instructions (TOP and tag bookkeeping across the fast and exact paths,
 * host exception flags left over from a previous fast-path instruction).
 * All exceptions stay masked and nothing loads a control word, so no #MF
 * can interrupt the native run. */
static void test_sequences(void **state)
{
	(void)state;
	host_signals();
	struct emu_cpu *cpu = env->cpu;
	int bad = 0, seqs = 0;
	for (int it = 0; it < 20000; it++) {
		uint8_t code[16];
		unsigned n = 0;
		while (n < 16) {
			if (n == 15) {
				code[n++] = 0x9b; /* FWAIT fills the last byte */
				break;
			}
			if (rnd() % 6 == 0) { /* an MMX instruction: x87 → MMX transitions */
				static const uint8_t mmx[][4] = {
					{ 3, 0x0f, 0xfc, 0xc1 }, { 3, 0x0f, 0x6f, 0xd0 }, { 3, 0x0f, 0xef, 0xff },
					{ 3, 0x0f, 0x6f, 0x06 }, { 3, 0x0f, 0x7f, 0x1e }, { 2, 0x0f, 0x77 },
					{ 3, 0x0f, 0xd5, 0xe5 }, { 3, 0x0f, 0x62, 0x36 },
				};
				const uint8_t *e = mmx[rnd() % 8];
				if (n + e[0] > 16)
					continue;
				memcpy(code + n, e + 1, e[0]);
				n += e[0];
				continue;
			}
			unsigned op = 0xd8 + (unsigned)(rnd() % 8), m;
			if (rnd() % 3 == 0) {
				m = (unsigned)(rnd() % 8) << 3 | 6;
				if ((op == 0xd9 && (m >> 3) >= 4) || (op == 0xdd && (m >> 3) >= 4))
					continue; /* env/control words: separate tests */
			} else {
				m = 0xc0 | (unsigned)(rnd() % 64);
			}
			struct emu_insn in;
			uint8_t b[2] = { (uint8_t)op, (uint8_t)m };
			memset(&in, 0, sizeof(in));
			if (emu_decode_bytes(b, 2, EMU_MODE64, &in) != 2 || !emu_x87_select(&in))
				continue;
			if (op == 0xdb && m == 0xe3)
				continue; /* FNINIT would unmask nothing but resets CW: fine, yet keep CW random */
			code[n++] = (uint8_t)op;
			code[n++] = (uint8_t)m;
		}
		struct xstate s0, sn, se;
		gen_state(&s0);
		s0.img[0] |= 0x3f; /* all exceptions masked */
		uint16_t sw;
		memcpy(&sw, s0.img + 4, 2);
		sw &= (uint16_t)~0x8080;
		memcpy(s0.img + 4, &sw, 2);
		sn = s0, se = s0;
		sn.rsi = (uint64_t)(uintptr_t)sn.mem;
		int vn, ve = -1;
		run_native(code, 16, &sn, &vn);
		/* engine: one instruction at a time on the same memory */
		memcpy(&cpu->fpu, se.img, 108);
		cpu->gpr[X86_RAX] = se.rax;
		cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
		emu_set_rflags(cpu, se.flags);
		memcpy(env->mem.host + GUEST_MEM_ADDR, se.mem, 128);
		for (unsigned i = 0; i < 16 && ve < 0;) {
			unsigned len = code[i] == 0x9b ? 1 : code[i] != 0x0f ? 2 : code[i + 1] == 0x77 ? 2 : 3;
			ve = emu_run1(cpu, code + i, len);
			i += len;
		}
		memcpy(se.img, &cpu->fpu, 108);
		uint16_t tw = fpu_full_tags(cpu);
		memcpy(se.img + 8, &tw, 2);
		se.rax = cpu->gpr[X86_RAX];
		se.flags = emu_get_rflags(cpu);
		memcpy(se.mem, env->mem.host + GUEST_MEM_ADDR, 128);
		seqs++;
		if (!same(&sn, &se, vn, ve, 0, false) && bad++ < 5) {
			printf("SEQUENCE MISMATCH:");
			for (unsigned i = 0; i < 16; i++)
				printf(" %02x", code[i]);
			printf("\n");
			show("input ", &s0, -1);
			show("native", &sn, vn);
			show("emu   ", &se, ve);
		}
	}
	printf("x87 sequences: %d of 16 code bytes (x87, MMX, FWAIT), %d mismatches\n", seqs, bad);
	assert_int_equal(bad, 0);
}

/* FWAIT and #MF: a pending unmasked exception faults at the next waiting
 * instruction, not at non-waiting ones. */
static void test_pending(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	static const uint8_t fninit[] = { 0xdb, 0xe3 }, fldz[] = { 0xd9, 0xee }, fdiv0[] = { 0xdc, 0xf9 },
	                     fwait[] = { 0x9b }, fnclex[] = { 0xdb, 0xe2 }, fnstsw_ax[] = { 0xdf, 0xe0 },
	                     fld1[] = { 0xd9, 0xe8 };
	assert_int_equal(emu_run1(cpu, fninit, 2), -1);
	assert_int_equal(cpu->fpu.cw, 0x037f);
	assert_int_equal(cpu->fpu.tw, 0xffff);
	cpu->fpu.cw &= ~0x0004; /* unmask ZE */
	assert_int_equal(emu_run1(cpu, fldz, 2), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), -1);
	/* FDIVR ST(1)=0 / ST(0)... DC F9 is FDIV ST(1), ST(0): 0/1 = 0, no fault;
	 * then divide 1 by 0 with FDIV ST(0), ST(1): D8 F1 */
	assert_int_equal(emu_run1(cpu, fdiv0, 2), -1);
	static const uint8_t fdiv_st0_st1[] = { 0xd8, 0xf1 };
	assert_int_equal(emu_run1(cpu, fdiv_st0_st1, 2), -1); /* 1/0: unmasked ZE, pending */
	assert_true(cpu->fpu.sw & FSW_ES);
	assert_true(cpu->fpu.sw & 0x0004);
	assert_int_equal(emu_run1(cpu, fnstsw_ax, 2), -1); /* non-waiting */
	assert_true(cpu->gpr[X86_RAX] & 0x80);
	assert_int_equal(emu_run1(cpu, fwait, 1), EXC_MF);
	assert_int_equal(emu_run1(cpu, fld1, 2), EXC_MF);
	assert_int_equal(emu_run1(cpu, fnclex, 2), -1);
	assert_int_equal(emu_run1(cpu, fwait, 1), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), -1);
	/* FXRSTOR of an image with an unmasked flag but ES clear: pending, the
	 * next waiting instruction takes #MF (the host would trap itself). */
	static const uint8_t fxsave[] = { 0x0f, 0xae, 0x06 }, fxrstor[] = { 0x0f, 0xae, 0x0e };
	assert_int_equal(emu_run1(cpu, fninit, 2), -1);
	cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
	assert_int_equal(emu_run1(cpu, fxsave, 3), -1);
	uint16_t fcw = 0x037e, fsw = 0x0001; /* IM clear, IE set, ES clear */
	memcpy(env->mem.host + GUEST_MEM_ADDR, &fcw, 2);
	memcpy(env->mem.host + GUEST_MEM_ADDR + 2, &fsw, 2);
	assert_int_equal(emu_run1(cpu, fxrstor, 3), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), EXC_MF);
	assert_int_equal(emu_run1(cpu, fnclex, 2), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), -1);
	assert_int_equal(emu_run1(cpu, fninit, 2), -1);
	/* FWAIT: #NM only with TS and MP both set */
	cpu->cr0 |= CR0_TS;
	cpu->cr0 &= ~CR0_MP;
	assert_int_equal(emu_run1(cpu, fwait, 1), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), EXC_NM);
	cpu->cr0 |= CR0_MP;
	assert_int_equal(emu_run1(cpu, fwait, 1), EXC_NM);
	cpu->cr0 &= ~CR0_TS;
	/* MMX after x87: TOP goes to 0, all tags valid, exponent all ones; EMMS empties */
	assert_int_equal(emu_run1(cpu, fninit, 2), -1);
	assert_int_equal(emu_run1(cpu, fld1, 2), -1);
	static const uint8_t movq_mm0_mm0[] = { 0x0f, 0x6f, 0xc0 }, emms[] = { 0x0f, 0x77 };
	assert_int_equal(emu_run1(cpu, movq_mm0_mm0, 3), -1);
	assert_int_equal((cpu->fpu.sw >> 11) & 7, 0);
	assert_int_equal(cpu->fpu.tw, 0);
	assert_int_equal(cpu->fpu.st[0][9], 0xff); /* mm0 written: exponent all ones */
	assert_int_equal(cpu->fpu.st[7][9], 0x3f); /* physical 7 still holds 1.0 (was ST(0)) */
	assert_int_equal(emu_run1(cpu, emms, 2), -1);
	assert_int_equal(cpu->fpu.tw, 0xffff);
}

/* Environment layouts the host cannot run in 64-bit mode: 32-bit code with
 * 16/32-bit operand size, protected and real mode.  FNSTENV then FLDENV
 * must give the state back (FNSTENV masks all exceptions in between), and
 * the real-mode image holds the 20/32-bit linear instruction pointer split
 * around the opcode. */
static void test_env_modes(void **state)
{
	(void)state;
	struct emu_cpu *cpu = env->cpu;
	static const uint8_t fnstenv32[] = { 0xd9, 0x36 }, fldenv32[] = { 0xd9, 0x26 };
	static const uint8_t fnstenv16[] = { 0x66, 0xd9, 0x36 }, fldenv16[] = { 0x66, 0xd9, 0x26 };
	static const uint8_t fnsave32[] = { 0xdd, 0x36 }, frstor32[] = { 0xdd, 0x26 };
	cpu->code_mode = EMU_MODE32;
	for (int real = 0; real < 2; real++) {
		if (real)
			cpu->cr0 &= ~CR0_PE;
		for (int o16 = 0; o16 < 2; o16++) {
			for (int it = 0; it < 50; it++) {
				struct xstate s;
				gen_state(&s);
				memcpy(&cpu->fpu, s.img, 108);
				cpu->fpu.fop = (uint16_t)(rnd() & 0x7ff);
				cpu->fpu.fip = rnd() & (o16 ? 0xffff : 0xffffffff);
				cpu->fpu.fdp = rnd() & (o16 ? 0xffff : 0xffffffff);
				cpu->fpu.fcs = real ? 0 : (uint16_t)rnd();
				cpu->fpu.fds = real ? 0 : (uint16_t)rnd();
				struct emu_fpu before = cpu->fpu;
				cpu->gpr[X86_RSI] = GUEST_MEM_ADDR;
				assert_int_equal(emu_run1(cpu, o16 ? fnstenv16 : fnstenv32, o16 ? 3 : 2), -1);
				assert_int_equal(cpu->fpu.cw, before.cw | 0x3f);
				uint8_t *m = env->mem.host + GUEST_MEM_ADDR;
				uint16_t w;
				memcpy(&w, m + (o16 ? 6 : 12), 2);
				assert_int_equal(w, (uint16_t)before.fip);
				if (real) {
					uint32_t hi;
					memcpy(&hi, m + (o16 ? 8 : 16), o16 ? 2 : 4);
					assert_int_equal(hi & 0x7ff, before.fop);
					assert_int_equal(o16 ? (hi >> 12) & 0xf : hi >> 12,
					                 (before.fip >> 16) & (o16 ? 0xf : 0xffff));
				}
				static const uint8_t fninit[] = { 0xdb, 0xe3 };
				assert_int_equal(emu_run1(cpu, fninit, 2), -1);
				assert_int_equal(emu_run1(cpu, o16 ? fldenv16 : fldenv32, o16 ? 3 : 2), -1);
				assert_int_equal(cpu->fpu.cw, before.cw);
				assert_int_equal(cpu->fpu.sw & 0x7fff, before.sw & 0x7fff);
				assert_int_equal(fpu_full_tags(cpu), (uint16_t)({
					                 struct emu_cpu *c = cpu;
					                 struct emu_fpu now = c->fpu;
					                 c->fpu = before;
					                 uint16_t t = fpu_full_tags(c);
					                 c->fpu = now;
					                 t;
				                 }));
				assert_int_equal(cpu->fpu.fip, before.fip);
				assert_int_equal(cpu->fpu.fdp, before.fdp);
				if (real || !o16) /* the 14-byte protected-mode image has no opcode */
					assert_int_equal(cpu->fpu.fop, before.fop);
				if (!real)
					assert_int_equal(cpu->fpu.fcs, before.fcs);
				/* FNSAVE/FRSTOR (32-bit operand size) keep the registers too */
				cpu->fpu = before;
				assert_int_equal(emu_run1(cpu, fnsave32, 2), -1);
				assert_int_equal(cpu->fpu.tw, 0xffff);
				assert_int_equal(emu_run1(cpu, frstor32, 2), -1);
				assert_memory_equal(cpu->fpu.st, before.st, 80);
				assert_int_equal(cpu->fpu.cw, before.cw);
			}
		}
	}
	cpu->cr0 |= CR0_PE;
	cpu->code_mode = EMU_MODE64;
}

static int setup(void **state)
{
	(void)state;
	env = emu_env_new();
	harness = jit_harness(x87_harness_start, x87_harness_end, x87_harness_slot, &slot);
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
		cmocka_unit_test(test_all_forms),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_env_modes),
		cmocka_unit_test(test_sequences),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
