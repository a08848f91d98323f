/* Differential tests of the emu engine's integer instructions against the
 * host CPU.
 *
 * Each form (an opcode with an operand shape, at every operand size it
 * has, with register and memory operands) is built with random registers,
 * random operands (mixed with edge values) and random arithmetic flags, then
 * run natively (the bytes copied to an executable page at a fixed address,
 * entered through a trampoline that loads all sixteen registers and RFLAGS
 * from a struct and stores them back) and in the engine (a 64-bit CPL3
 * guest with an identity-like page mapping the same linear addresses, one
 * emu_step()).  Registers, the defined flags, the data area and where
 * control went must agree; a #DE must happen on both sides.
 *
 * Only what the Intel SDM and the AMD APM both define is compared, so that
 * the result does not depend on which x86-64 CPU runs the test: undefined
 * flags are masked per instruction (shifts: OF when count > 1, AF; MUL:
 * SZAP; ...), and so are the few register results the manuals leave to the
 * implementation (BSF/BSR's destination for a zero source, the upper halves
 * of rCX/rSI/rDI after a 32-bit-address REP that runs no iteration, upper
 * halves of every register across compat mode).  tests/cpu/COVERAGE.md lists
 * each exclusion with its reason.  Forms the host CPU cannot run (a missing
 * CPUID feature) and compat mode on a host kernel that refuses 32-bit code
 * are skipped with a line saying so, counted by tests/run.sh. */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "cpu/emu/emu.h"

/* ---- fixed addresses, identical on both sides ---------------------------- */

#define CODE_LA        0x60000000ULL
#define DATA_LA        0x60100000ULL
#define DATA_SIZE      0x4000
#define STACK_TOP      (DATA_LA + 0x3000)
#define PTR_BASE       (DATA_LA + 0x1000)
#define TARGET_OFF     0x40 /* where taken branches land */
#define GUEST_CODE_GPA 0x400000ULL
#define GUEST_MEM      (16ULL << 20)

/* Links without the engine glue: the loop's interrupt hook is not used by
 * emu_step. */
__attribute__((weak)) void emu_check_interrupts(struct emu_cpu *cpu)
{
	(void)cpu;
}

struct st {
	uint64_t r[16];
	uint64_t fl;
};

/* ---- native side ----------------------------------------------------------- */

void diff_run(struct st *s, uint64_t entry);
void diff_run32(struct st *s, uint64_t entry);
void diff_back_a(void);
void diff_back_b(void);
extern volatile uint32_t g_landing;

__asm__(".bss\n"
        ".align 8\n"
        "g_host_rsp: .quad 0\n"
        "g_st: .quad 0\n"
        "g_entry: .quad 0\n"
        "g_tmp: .quad 0\n"
        ".globl g_landing\n"
        "g_landing: .long 0\n"
        ".data\n"
        "g_far32: .long 0x60000000\n"
        "  .word 0x23\n" /* Linux's 32-bit user code segment */
        ".text\n"
        ".globl diff_run32\n"
        "diff_run32:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov $0x2b, %eax\n" /* compat mode needs usable DS/ES (64-bit code runs with null ones) */
        "  mov %eax, %ds\n"
        "  mov %eax, %es\n"
        "  mov %rsp, g_host_rsp(%rip)\n"
        "  mov %rdi, g_st(%rip)\n"
        "  movl $0, g_landing(%rip)\n"
        "  mov 128(%rdi), %rax\n"
        "  push %rax\n"
        "  popfq\n"
        "  mov 0(%rdi), %rax\n  mov 8(%rdi), %rcx\n  mov 16(%rdi), %rdx\n  mov 24(%rdi), %rbx\n"
        "  mov 32(%rdi), %rsp\n  mov 40(%rdi), %rbp\n  mov 48(%rdi), %rsi\n"
        "  mov 64(%rdi), %r8\n  mov 72(%rdi), %r9\n  mov 80(%rdi), %r10\n  mov 88(%rdi), %r11\n"
        "  mov 96(%rdi), %r12\n  mov 104(%rdi), %r13\n  mov 112(%rdi), %r14\n  mov 120(%rdi), %r15\n"
        "  mov 56(%rdi), %rdi\n"
        "  ljmpl *g_far32(%rip)\n"
        ".globl diff_run\n"
        "diff_run:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, g_host_rsp(%rip)\n"
        "  mov %rdi, g_st(%rip)\n"
        "  mov %rsi, g_entry(%rip)\n"
        "  movl $0, g_landing(%rip)\n"
        "  mov 128(%rdi), %rax\n"
        "  push %rax\n"
        "  popfq\n"
        "  mov 0(%rdi), %rax\n  mov 8(%rdi), %rcx\n  mov 16(%rdi), %rdx\n  mov 24(%rdi), %rbx\n"
        "  mov 32(%rdi), %rsp\n  mov 40(%rdi), %rbp\n  mov 48(%rdi), %rsi\n"
        "  mov 64(%rdi), %r8\n  mov 72(%rdi), %r9\n  mov 80(%rdi), %r10\n  mov 88(%rdi), %r11\n"
        "  mov 96(%rdi), %r12\n  mov 104(%rdi), %r13\n  mov 112(%rdi), %r14\n  mov 120(%rdi), %r15\n"
        "  mov 56(%rdi), %rdi\n"
        "  jmp *g_entry(%rip)\n"
        ".globl diff_back_a\n"
        "diff_back_a: movl $1, g_landing(%rip); jmp diff_back\n"
        ".globl diff_back_b\n"
        "diff_back_b: movl $2, g_landing(%rip); jmp diff_back\n"
        "diff_back:\n"
        "  mov %rdi, g_tmp(%rip)\n"
        "  mov g_st(%rip), %rdi\n"
        "  mov %rax, 0(%rdi)\n  mov %rcx, 8(%rdi)\n  mov %rdx, 16(%rdi)\n  mov %rbx, 24(%rdi)\n"
        "  mov %rsp, 32(%rdi)\n  mov %rbp, 40(%rdi)\n  mov %rsi, 48(%rdi)\n"
        "  mov %r8, 64(%rdi)\n  mov %r9, 72(%rdi)\n  mov %r10, 80(%rdi)\n  mov %r11, 88(%rdi)\n"
        "  mov %r12, 96(%rdi)\n  mov %r13, 104(%rdi)\n  mov %r14, 112(%rdi)\n  mov %r15, 120(%rdi)\n"
        "  mov g_tmp(%rip), %rax\n  mov %rax, 56(%rdi)\n"
        "  mov g_host_rsp(%rip), %rsp\n"
        "  pushfq\n"
        "  pop %rax\n"
        "  mov %rax, 128(%rdi)\n"
        "  cld\n"
        "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
        "  ret\n");

static uint8_t *native_code, *native_data;
static bool mode32; /* testing compat mode (32-bit code segment) */
static sigjmp_buf fault_jmp;
static volatile int fault_sig;

static void on_fault(int sig)
{
	fault_sig = sig;
	siglongjmp(fault_jmp, 1);
}

/* Writes "jmp *0(%rip); .quad target" at p. */
static void put_jmp_abs(uint8_t *p, void (*target)(void))
{
	uint64_t t = (uint64_t)(uintptr_t)target;
	p[0] = 0xff, p[1] = 0x25;
	memset(p + 2, 0, 4);
	memcpy(p + 6, &t, 8);
}

/* Runs the instruction natively: returns the signal (0 if none). */
static int run_native(const uint8_t *insn, int len, struct st *s)
{
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_ONSTACK | SA_NODEFER };
	memset(native_code, 0xcc, 0x100);
	memcpy(native_code, insn, len);
	if (mode32) {
		/* 32-bit stubs far-jump to 64-bit stubs below 4 GiB, which
		 * jump on to the back paths. */
		static const uint8_t lj[2][7] = { { 0xea, 0x80, 0, 0, 0x60, 0x33, 0 },
			                          { 0xea, 0xa0, 0, 0, 0x60, 0x33, 0 } };
		memcpy(native_code + len, lj[0], 7);
		memcpy(native_code + TARGET_OFF, lj[1], 7);
		put_jmp_abs(native_code + 0x80, diff_back_a);
		put_jmp_abs(native_code + 0xa0, diff_back_b);
	} else {
		put_jmp_abs(native_code + len, diff_back_a);
		put_jmp_abs(native_code + TARGET_OFF, diff_back_b);
	}
	__builtin___clear_cache((char *)native_code, (char *)native_code + 0x100);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	fault_sig = 0;
	if (sigsetjmp(fault_jmp, 1) == 0) {
		if (mode32)
			diff_run32(s, CODE_LA);
		else
			diff_run(s, CODE_LA);
	}
	signal(SIGFPE, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	return fault_sig;
}

/* ---- emulated side --------------------------------------------------------- */

static struct guest_mem gmem;
static struct emu_cpu *cpu;

static void guest_init(void)
{
	uint64_t *pml4, *pdpt, *pd;

	gmem.host = aligned_alloc(4096, GUEST_MEM);
	assert_non_null(gmem.host);
	memset(gmem.host, 0, GUEST_MEM);
	gmem.size = gmem.low_size = GUEST_MEM;
	pml4 = (uint64_t *)(gmem.host + 0x1000);
	pdpt = (uint64_t *)(gmem.host + 0x2000);
	pd = (uint64_t *)(gmem.host + 0x3000);
	pml4[0] = 0x2000 | 7;
	pdpt[(CODE_LA >> 30) & 511] = 0x3000 | 7;
	pd[(CODE_LA >> 21) & 511] = GUEST_CODE_GPA | 0x87; /* 2 MiB page, user, writable */

	cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
	assert_non_null(cpu);
}

static void guest_reset(void)
{
	struct x86_seg code = {
		.sel = 0x33, .limit = 0xffffffff, .type = 0xb, .s = 1, .dpl = 3, .present = 1, .l = 1, .g = 1
	};
	struct x86_seg data = {
		.sel = 0x2b, .limit = 0xffffffff, .type = 0x3, .s = 1, .dpl = 3, .present = 1, .db = 1, .g = 1
	};

	memset(cpu, 0, sizeof(*cpu));
	cpu->mem = &gmem;
	for (int i = 0; i < SEG_COUNT; i++)
		cpu->seg[i] = data;
	if (mode32)
		code.sel = 0x23, code.l = 0, code.db = 1;
	cpu->seg[SEG_CS] = code;
	cpu->cr0 = CR0_PE | CR0_PG | CR0_NE | CR0_ET | CR0_WP | CR0_MP;
	cpu->cr4 = CR4_PAE | CR4_OSFXSR;
	cpu->efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
	cpu->cr3 = 0x1000;
	cpu->rflags = RFLAGS_FIXED;
	emu_update_mode(cpu);
	emu_tlb_flush(cpu, true);
	assert_int_equal(cpu->code_mode, mode32 ? EMU_MODE32 : EMU_MODE64);
}

static uint8_t *guest_ptr(uint64_t la)
{
	return gmem.host + GUEST_CODE_GPA + (la - CODE_LA);
}

/* Returns the exception vector, or -1. */
static int run_emu(const uint8_t *insn, int len, struct st *s)
{
	int v;
	memcpy(guest_ptr(CODE_LA), insn, len);
	memcpy(cpu->gpr, s->r, sizeof(s->r));
	cpu->rip = CODE_LA;
	emu_set_rflags(cpu, s->fl);
	v = emu_step(cpu);
	memcpy(s->r, cpu->gpr, sizeof(s->r));
	s->fl = emu_get_rflags(cpu);
	return v;
}

/* ---- random inputs --------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return rng_state = x;
}

static const uint64_t edges[] = {
	0,
	1,
	2,
	~0ULL,
	~1ULL,
	0x7f,
	0x80,
	0xff,
	0x100,
	0x7fff,
	0x8000,
	0xffff,
	0x10000,
	0x7fffffff,
	0x80000000,
	0xffffffff,
	0x100000000ULL,
	0x7fffffffffffffffULL,
	0x8000000000000000ULL,
	0x8000000000000001ULL,
	0xffffffff80000000ULL,
	0xffffffffffff8000ULL,
	0xffffffffffffff80ULL,
	0x5555555555555555ULL,
	0xaaaaaaaaaaaaaaaaULL,
};

static uint64_t rv(void)
{
	switch (rnd() % 8) {
	case 0:
	case 1: return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
	case 2: return rnd() % 70;
	case 3: return -(rnd() % 70);
	case 4: return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))] ^ (1ULL << (rnd() % 64));
	case 5: return rnd() & 0xffffffff;
	default: return rnd();
	}
}

/* ---- forms ------------------------------------------------------------------ */

#define FL_CF  0x1u
#define FL_PF  0x4u
#define FL_AF  0x10u
#define FL_ZF  0x40u
#define FL_SF  0x80u
#define FL_OF  0x800u
#define FL_DF  0x400u
#define FL_ALL (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)
#define SZAP   (FL_SF | FL_ZF | FL_AF | FL_PF)

enum kind {
	K_MODRM,   /* [66][REX] op modrm [imm] */
	K_ACC,     /* [66][REX.W] op imm */
	K_OPREG,   /* [66][REX] op+reg [imm] */
	K_PLAIN,   /* [pfx][66][REX.W] op */
	K_JREL,    /* op rel8/rel32 to TARGET_OFF */
	K_MOFFS,   /* [66][REX.W] op moffs64 */
	K_MODRM16, /* 67 [66] op modrm with 16-bit addressing (LEA only: no access) */
};

enum imm { I0, I8, IZ, I16, IV, I8_16 /* ENTER */ };

enum setup {
	S_NONE,
	S_SHIFT,    /* CL small; undefined flags by count */
	S_SHXD,     /* SHLD/SHRD */
	S_ROT,      /* rotates: only CF/OF, OF for count 1 */
	S_DIV,      /* dividend made to fit often */
	S_CMPXCHG,  /* accumulator equal to the operand half the time */
	S_BTREG,    /* bit offset register small */
	S_STRING,   /* RSI/RDI pointers, RCX small, DF random, REP prefixes */
	S_INDIRECT, /* r/m holds the branch target */
	S_LOOP,     /* RCX small */
	S_CX8,      /* CMPXCHG8B/16B: aligned, equal half the time */
	S_BITSCAN,  /* zero source now and then */
	S_ENTER,
	S_VEXCTL, /* BEXTR/BZHI: start and length in VEX.vvvv mostly in range */
};

struct form {
	const char *name;
	uint8_t op8[3], opv[3]; /* opcode bytes for byte and wider sizes (op8[0]==0: none) */
	uint8_t oplen;
	uint8_t sizes; /* bit mask: 1, 2, 4, 8 */
	enum kind kind;
	int8_t ext;  /* ModRM.reg for group opcodes, -1: random register */
	uint8_t mem; /* 0 register only, 1 memory only, 2 both */
	enum imm imm;
	uint32_t undef;
	enum setup setup;
	uint8_t pfx;   /* mandatory prefix (F3) or 0 */
	uint8_t modes; /* 0: 64-bit and compat mode, M64: 64-bit only, M32: compat only; VEXF */
};

/* VEX-encoded (C4) forms: modes has VEXF, pfx holds VEX_PFX(map, pp),
 * opv[0] is the opcode; W comes from the size. */
#define VEXF             4
#define VEX_PFX(map, pp) ((map) << 2 | (pp)) /* pp: 0 none, 1 66, 2 F3, 3 F2 */
#define IS_VEX(f)        ((f)->modes & VEXF)

#define M64 1
#define M32 2

#define SZ_BWDQ 0xf
#define SZ_WDQ  0xe
#define SZ_DQ   0xc
#define SZ_WQ   0xa
#define SZ_B    0x1

/* clang-format off */
static const struct form forms[] = {
#define ALU(n, o, u)                                                                                         \
	{ n " E,G", { o }, { o + 1 }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, u, S_NONE, 0, 0 },                          \
	{ n " G,E", { o + 2 }, { o + 3 }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, u, S_NONE, 0, 0 },                      \
	{ n " acc,imm", { o + 4 }, { o + 5 }, 1, SZ_BWDQ, K_ACC, 0, 0, IZ, u, S_NONE, 0, 0 },                     \
	{ n " E,Iz (80/81)", { 0x80 }, { 0x81 }, 1, SZ_BWDQ, K_MODRM, o / 8, 2, IZ, u, S_NONE, 0, 0 },            \
	{ n " E,Ib (83)", { 0 }, { 0x83 }, 1, SZ_WDQ, K_MODRM, o / 8, 2, I8, u, S_NONE, 0, 0 }
	ALU("add", 0x00, 0), ALU("or", 0x08, FL_AF), ALU("adc", 0x10, 0), ALU("sbb", 0x18, 0),
	ALU("and", 0x20, FL_AF), ALU("sub", 0x28, 0), ALU("xor", 0x30, FL_AF), ALU("cmp", 0x38, 0),
#undef ALU
	{ "test E,G", { 0x84 }, { 0x85 }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, FL_AF, S_NONE, 0, 0 },
	{ "test acc,imm", { 0xa8 }, { 0xa9 }, 1, SZ_BWDQ, K_ACC, 0, 0, IZ, FL_AF, S_NONE, 0, 0 },
	{ "test E,I (F6/F7 /0)", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 0, 2, IZ, FL_AF, S_NONE, 0, 0 },
	{ "not", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 2, 2, I0, 0, S_NONE, 0, 0 },
	{ "neg", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 3, 2, I0, 0, S_NONE, 0, 0 },
	{ "mul", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 4, 2, I0, SZAP, S_NONE, 0, 0 },
	{ "imul (one operand)", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 5, 2, I0, SZAP, S_NONE, 0, 0 },
	{ "div", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 6, 2, I0, FL_ALL, S_DIV, 0, 0 },
	{ "idiv", { 0xf6 }, { 0xf7 }, 1, SZ_BWDQ, K_MODRM, 7, 2, I0, FL_ALL, S_DIV, 0, 0 },
	{ "inc", { 0xfe }, { 0xff }, 1, SZ_BWDQ, K_MODRM, 0, 2, I0, 0, S_NONE, 0, 0 },
	{ "dec", { 0xfe }, { 0xff }, 1, SZ_BWDQ, K_MODRM, 1, 2, I0, 0, S_NONE, 0, 0 },
	{ "imul G,E (0F AF)", { 0 }, { 0x0f, 0xaf }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, SZAP, S_NONE, 0, 0 },
	{ "imul G,E,Iz (69)", { 0 }, { 0x69 }, 1, SZ_WDQ, K_MODRM, -1, 2, IZ, SZAP, S_NONE, 0, 0 },
	{ "imul G,E,Ib (6B)", { 0 }, { 0x6b }, 1, SZ_WDQ, K_MODRM, -1, 2, I8, SZAP, S_NONE, 0, 0 },
#define SH(n, e)                                                                                              \
	{ n " E,Ib (C0/C1)", { 0xc0 }, { 0xc1 }, 1, SZ_BWDQ, K_MODRM, e, 2, I8, 0, e < 4 ? S_ROT : S_SHIFT, 0, 0 }, \
	{ n " E,1 (D0/D1)", { 0xd0 }, { 0xd1 }, 1, SZ_BWDQ, K_MODRM, e, 2, I0, 0, e < 4 ? S_ROT : S_SHIFT, 0, 0 }, \
	{ n " E,CL (D2/D3)", { 0xd2 }, { 0xd3 }, 1, SZ_BWDQ, K_MODRM, e, 2, I0, 0, e < 4 ? S_ROT : S_SHIFT, 0, 0 }
	SH("rol", 0), SH("ror", 1), SH("rcl", 2), SH("rcr", 3), SH("shl", 4), SH("shr", 5), SH("sal", 6), SH("sar", 7),
#undef SH
	{ "shld E,G,Ib", { 0 }, { 0x0f, 0xa4 }, 2, SZ_WDQ, K_MODRM, -1, 2, I8, 0, S_SHXD, 0, 0 },
	{ "shld E,G,CL", { 0 }, { 0x0f, 0xa5 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_SHXD, 0, 0 },
	{ "shrd E,G,Ib", { 0 }, { 0x0f, 0xac }, 2, SZ_WDQ, K_MODRM, -1, 2, I8, 0, S_SHXD, 0, 0 },
	{ "shrd E,G,CL", { 0 }, { 0x0f, 0xad }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_SHXD, 0, 0 },
	{ "bt E,G", { 0 }, { 0x0f, 0xa3 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BTREG, 0, 0 },
	{ "bts E,G", { 0 }, { 0x0f, 0xab }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BTREG, 0, 0 },
	{ "btr E,G", { 0 }, { 0x0f, 0xb3 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BTREG, 0, 0 },
	{ "btc E,G", { 0 }, { 0x0f, 0xbb }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BTREG, 0, 0 },
	{ "bt E,Ib", { 0 }, { 0x0f, 0xba }, 2, SZ_WDQ, K_MODRM, 4, 2, I8, FL_OF | FL_SF | FL_AF | FL_PF, S_NONE, 0, 0 },
	{ "bts E,Ib", { 0 }, { 0x0f, 0xba }, 2, SZ_WDQ, K_MODRM, 5, 2, I8, FL_OF | FL_SF | FL_AF | FL_PF, S_NONE, 0, 0 },
	{ "btr E,Ib", { 0 }, { 0x0f, 0xba }, 2, SZ_WDQ, K_MODRM, 6, 2, I8, FL_OF | FL_SF | FL_AF | FL_PF, S_NONE, 0, 0 },
	{ "btc E,Ib", { 0 }, { 0x0f, 0xba }, 2, SZ_WDQ, K_MODRM, 7, 2, I8, FL_OF | FL_SF | FL_AF | FL_PF, S_NONE, 0, 0 },
	{ "bsf", { 0 }, { 0x0f, 0xbc }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_ALL & ~FL_ZF, S_BITSCAN, 0, 0 },
	{ "bsr", { 0 }, { 0x0f, 0xbd }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_ALL & ~FL_ZF, S_BITSCAN, 0, 0 },
	{ "tzcnt", { 0 }, { 0x0f, 0xbc }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BITSCAN, 0xf3, 0 },
	{ "lzcnt", { 0 }, { 0x0f, 0xbd }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, FL_OF | FL_SF | FL_AF | FL_PF, S_BITSCAN, 0xf3, 0 },
	{ "popcnt", { 0 }, { 0x0f, 0xb8 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_BITSCAN, 0xf3, 0 },
	{ "bswap", { 0 }, { 0x0f, 0xc8 }, 2, SZ_DQ, K_OPREG, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "movbe G,M", { 0 }, { 0x0f, 0x38, 0xf0 }, 3, SZ_WDQ, K_MODRM, -1, 1, I0, 0, S_NONE, 0, 0 },
	{ "movbe M,G", { 0 }, { 0x0f, 0x38, 0xf1 }, 3, SZ_WDQ, K_MODRM, -1, 1, I0, 0, S_NONE, 0, 0 },
	{ "xchg E,G", { 0x86 }, { 0x87 }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "xchg rAX,r (90+r)", { 0 }, { 0x90 }, 1, SZ_WDQ, K_OPREG, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "xadd", { 0x0f, 0xc0 }, { 0x0f, 0xc1 }, 2, SZ_BWDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "cmpxchg", { 0x0f, 0xb0 }, { 0x0f, 0xb1 }, 2, SZ_BWDQ, K_MODRM, -1, 2, I0, 0, S_CMPXCHG, 0, 0 },
	{ "cmpxchg8b/16b", { 0 }, { 0x0f, 0xc7 }, 2, 0xc, K_MODRM, 1, 1, I0, 0, S_CX8, 0, 0 },
#define VX(n, map, pp, op, ext, imm, u, setup) \
	{ n, { 0 }, { op }, 1, SZ_DQ, K_MODRM, ext, 2, imm, u, setup, VEX_PFX(map, pp), VEXF }
	VX("bmi1 andn", 2, 0, 0xf2, -1, I0, FL_AF | FL_PF, S_NONE),
	VX("bmi1 bextr", 2, 0, 0xf7, -1, I0, FL_AF | FL_SF | FL_PF, S_VEXCTL),
	VX("bmi1 blsr", 2, 0, 0xf3, 1, I0, FL_AF | FL_PF, S_NONE),
	VX("bmi1 blsmsk", 2, 0, 0xf3, 2, I0, FL_AF | FL_PF, S_NONE),
	VX("bmi1 blsi", 2, 0, 0xf3, 3, I0, FL_AF | FL_PF, S_NONE),
	VX("bmi2 bzhi", 2, 0, 0xf5, -1, I0, FL_AF | FL_PF, S_VEXCTL),
	VX("bmi2 mulx", 2, 3, 0xf6, -1, I0, 0, S_NONE),
	VX("bmi2 pdep", 2, 3, 0xf5, -1, I0, 0, S_NONE),
	VX("bmi2 pext", 2, 2, 0xf5, -1, I0, 0, S_NONE),
	VX("bmi2 rorx", 3, 3, 0xf0, -1, I8, 0, S_NONE),
	VX("bmi2 sarx", 2, 2, 0xf7, -1, I0, 0, S_NONE),
	VX("bmi2 shlx", 2, 1, 0xf7, -1, I0, 0, S_NONE),
	VX("bmi2 shrx", 2, 3, 0xf7, -1, I0, 0, S_NONE),
#undef VX
	{ "mov E,G", { 0x88 }, { 0x89 }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "mov G,E", { 0x8a }, { 0x8b }, 1, SZ_BWDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "mov E,I (C6/C7)", { 0xc6 }, { 0xc7 }, 1, SZ_BWDQ, K_MODRM, 0, 2, IZ, 0, S_NONE, 0, 0 },
	{ "mov r,I (B0/B8+r)", { 0xb0 }, { 0xb8 }, 1, SZ_BWDQ, K_OPREG, 0, 0, IV, 0, S_NONE, 0, 0 },
	{ "mov acc,moffs", { 0xa0 }, { 0xa1 }, 1, SZ_BWDQ, K_MOFFS, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "mov moffs,acc", { 0xa2 }, { 0xa3 }, 1, SZ_BWDQ, K_MOFFS, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "movzx G,Eb", { 0 }, { 0x0f, 0xb6 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "movzx G,Ew", { 0 }, { 0x0f, 0xb7 }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "movsx G,Eb", { 0 }, { 0x0f, 0xbe }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "movsx G,Ew", { 0 }, { 0x0f, 0xbf }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },
	{ "movsxd G,Ed", { 0 }, { 0x63 }, 1, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, M64 },
	{ "lea", { 0 }, { 0x8d }, 1, SZ_WDQ, K_MODRM, -1, 1, I0, 0, S_NONE, 0, 0 },
	{ "cbw/cwde/cdqe", { 0 }, { 0x98 }, 1, SZ_WDQ, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "cwd/cdq/cqo", { 0 }, { 0x99 }, 1, SZ_WDQ, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
#define CC(c)                                                                                            \
	{ "setcc " #c, { 0x0f, 0x90 + c }, { 0 }, 2, SZ_B, K_MODRM, 0, 2, I0, 0, S_NONE, 0, 0 },            \
	{ "cmovcc " #c, { 0 }, { 0x0f, 0x40 + c }, 2, SZ_WDQ, K_MODRM, -1, 2, I0, 0, S_NONE, 0, 0 },        \
	{ "jcc rel8 " #c, { 0 }, { 0x70 + c }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_NONE, 0, 0 },                 \
	{ "jcc rel32 " #c, { 0 }, { 0x0f, 0x80 + c }, 2, 0x8, K_JREL, 0, 0, IZ, 0, S_NONE, 0, 0 }
	CC(0), CC(1), CC(2), CC(3), CC(4), CC(5), CC(6), CC(7),
	CC(8), CC(9), CC(10), CC(11), CC(12), CC(13), CC(14), CC(15),
#undef CC
	{ "jmp rel8", { 0 }, { 0xeb }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_NONE, 0, 0 },
	{ "jmp rel32", { 0 }, { 0xe9 }, 1, 0x8, K_JREL, 0, 0, IZ, 0, S_NONE, 0, 0 },
	{ "call rel32", { 0 }, { 0xe8 }, 1, 0x8, K_JREL, 0, 0, IZ, 0, S_NONE, 0, 0 },
	{ "loop", { 0 }, { 0xe2 }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_LOOP, 0, 0 },
	{ "loope", { 0 }, { 0xe1 }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_LOOP, 0, 0 },
	{ "loopne", { 0 }, { 0xe0 }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_LOOP, 0, 0 },
	{ "jrcxz/jecxz", { 0 }, { 0xe3 }, 1, 0x8, K_JREL, 0, 0, I8, 0, S_LOOP, 0, 0 },
	{ "jmp E (FF /4)", { 0 }, { 0xff }, 1, 0x8, K_MODRM, 4, 2, I0, 0, S_INDIRECT, 0, 0 },
	{ "call E (FF /2)", { 0 }, { 0xff }, 1, 0x8, K_MODRM, 2, 2, I0, 0, S_INDIRECT, 0, 0 },
	{ "ret", { 0 }, { 0xc3 }, 1, 0x8, K_PLAIN, 0, 0, I0, 0, S_INDIRECT, 0, 0 },
	{ "ret imm16", { 0 }, { 0xc2 }, 1, 0x8, K_PLAIN, 0, 0, I16, 0, S_INDIRECT, 0, 0 },
	{ "push r (50+r)", { 0 }, { 0x50 }, 1, SZ_WQ, K_OPREG, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "pop r (58+r)", { 0 }, { 0x58 }, 1, SZ_WQ, K_OPREG, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "push Iz (68)", { 0 }, { 0x68 }, 1, SZ_WQ, K_PLAIN, 0, 0, IZ, 0, S_NONE, 0, 0 },
	{ "push Ib (6A)", { 0 }, { 0x6a }, 1, SZ_WQ, K_PLAIN, 0, 0, I8, 0, S_NONE, 0, 0 },
	{ "push E (FF /6)", { 0 }, { 0xff }, 1, SZ_WQ, K_MODRM, 6, 2, I0, 0, S_NONE, 0, 0 },
	{ "pop E (8F /0)", { 0 }, { 0x8f }, 1, SZ_WQ, K_MODRM, 0, 2, I0, 0, S_NONE, 0, 0 },
	{ "enter", { 0 }, { 0xc8 }, 1, SZ_WQ, K_PLAIN, 0, 0, I8_16, 0, S_ENTER, 0, 0 },
	{ "leave", { 0 }, { 0xc9 }, 1, SZ_WQ, K_PLAIN, 0, 0, I0, 0, S_ENTER, 0, 0 },
	{ "clc", { 0 }, { 0xf8 }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "stc", { 0 }, { 0xf9 }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "cmc", { 0 }, { 0xf5 }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "cld", { 0 }, { 0xfc }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "std", { 0 }, { 0xfd }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "lahf", { 0 }, { 0x9f }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "sahf", { 0 }, { 0x9e }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "nop", { 0 }, { 0x90 }, 1, 0x4, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, 0 },
	{ "nop E (0F 1F /0)", { 0 }, { 0x0f, 0x1f }, 2, SZ_WDQ, K_MODRM, 0, 2, I0, 0, S_NONE, 0, 0 },
	{ "xlat", { 0xd7 }, { 0 }, 1, SZ_B, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	{ "movs", { 0xa4 }, { 0xa5 }, 1, SZ_BWDQ, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	{ "cmps", { 0xa6 }, { 0xa7 }, 1, SZ_BWDQ, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	{ "stos", { 0xaa }, { 0xab }, 1, SZ_BWDQ, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	{ "lods", { 0xac }, { 0xad }, 1, SZ_BWDQ, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	{ "scas", { 0xae }, { 0xaf }, 1, SZ_BWDQ, K_PLAIN, 0, 0, I0, 0, S_STRING, 0, 0 },
	/* Compat mode only: encodings that are REX prefixes or invalid in 64-bit mode. */
	{ "inc r (40+r)", { 0 }, { 0x40 }, 1, 0x6, K_OPREG, 0, 0, I0, 0, S_NONE, 0, M32 },
	{ "dec r (48+r)", { 0 }, { 0x48 }, 1, 0x6, K_OPREG, 0, 0, I0, 0, S_NONE, 0, M32 },
	{ "pusha", { 0 }, { 0x60 }, 1, 0x6, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, M32 },
	{ "popa", { 0 }, { 0x61 }, 1, 0x6, K_PLAIN, 0, 0, I0, 0, S_NONE, 0, M32 },
	{ "daa", { 0 }, { 0x27 }, 1, 0x4, K_PLAIN, 0, 0, I0, FL_OF, S_NONE, 0, M32 },
	{ "das", { 0 }, { 0x2f }, 1, 0x4, K_PLAIN, 0, 0, I0, FL_OF, S_NONE, 0, M32 },
	{ "aaa", { 0 }, { 0x37 }, 1, 0x4, K_PLAIN, 0, 0, I0, FL_OF | FL_SF | FL_ZF | FL_PF, S_NONE, 0, M32 },
	{ "aas", { 0 }, { 0x3f }, 1, 0x4, K_PLAIN, 0, 0, I0, FL_OF | FL_SF | FL_ZF | FL_PF, S_NONE, 0, M32 },
	{ "aam", { 0 }, { 0xd4 }, 1, 0x4, K_PLAIN, 0, 0, I8, FL_OF | FL_AF | FL_CF, S_NONE, 0, M32 },
	{ "aad", { 0 }, { 0xd5 }, 1, 0x4, K_PLAIN, 0, 0, I8, FL_OF | FL_AF | FL_CF, S_NONE, 0, M32 },
	{ "lea 16-bit addressing", { 0 }, { 0x8d }, 1, 0x6, K_MODRM16, -1, 1, I0, 0, S_NONE, 0, M32 },
};
/* clang-format on */

#define NFORMS (sizeof(forms) / sizeof(forms[0]))

/* ---- building one instance --------------------------------------------------- */

struct inst {
	uint8_t b[32];
	int n;
	int imm_at;         /* offset of the immediate, for JREL */
	uint32_t undef;     /* undefined flags of this instance */
	uint16_t hi_undef;  /* registers whose upper 32 bits are implementation-specific */
	uint16_t reg_undef; /* registers whose whole value is undefined */
	bool skip;          /* inputs the architecture leaves undefined */
	int vreg;           /* VEX.vvvv's register */
};

static void put(struct inst *x, uint8_t v)
{
	x->b[x->n++] = v;
}

static void put_le(struct inst *x, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		put(x, (uint8_t)(v >> (8 * i)));
}

static int rand_reg_not(int a, int b)
{
	int r;
	do
		r = (int)(rnd() % 16);
	while (r == a || r == b);
	return r;
}

/* Default operand size 64 in 64-bit mode (no REX.W needed; 32 in compat). */
static bool is_d64(const struct form *f)
{
	return f->kind == K_JREL || f->setup == S_INDIRECT || f->opv[0] == 0x50 || f->opv[0] == 0x58 ||
	       f->opv[0] == 0x68 || f->opv[0] == 0x6a || f->opv[0] == 0xc8 || f->opv[0] == 0xc9 ||
	       (f->opv[0] == 0xff && f->ext == 6) || f->opv[0] == 0x8f;
}

/* Builds the instruction and its inputs; s holds random registers on entry. */
static void build(const struct form *f, int size, bool mem, struct inst *x, struct st *s, uint8_t *data)
{
	const uint8_t *op = size == 1 ? f->op8 : f->opv;
	unsigned nregs = mode32 ? 8 : 16;
	int reg = f->ext >= 0 ? f->ext : (int)(rnd() % nregs), rm = (int)(rnd() % nregs);
	int base = -1, index = -1, scale = 0;
	int32_t disp = 0;
	uint8_t rex = 0;
	bool want_rex = false;
	int a32 = 0;
	uint64_t bitscan_ea = DATA_LA;

	memset(x, 0, sizeof(*x));
	x->undef = f->undef;

	if (f->setup == S_STRING || (f->kind == K_MODRM && f->setup == S_INDIRECT))
		reg = f->ext >= 0 ? f->ext : reg;
	if (mem) {
		do
			base = (int)(rnd() % nregs);
		while (base == 4);
		if (rnd() % 3 == 0)
			do
				index = (int)(rnd() % nregs);
			while (index == 4 || index == base);
		scale = (int)(rnd() % 4);
		disp = (int32_t)(rnd() % 0x180) - 0x80;
		if (f->setup == S_CX8) {
			index = -1;
			disp = (int32_t)(rnd() % 8) * 16;
		}
	}

	/* Prefixes. */
	if (f->setup == S_STRING) {
		uint64_t p = rnd() % 4;
		if (f->op8[0] != 0xd7 && p == 1)
			put(x, 0xf3);
		else if (f->op8[0] != 0xd7 && p == 2)
			put(x, 0xf2);
		if (!mode32 && rnd() % 4 == 0) {
			put(x, 0x67);
			a32 = 1;
		}
	}
	if (f->pfx && size != 2 && !IS_VEX(f))
		put(x, f->pfx);
	if (size == 2)
		put(x, 0x66);
	if (f->pfx && size == 2)
		put(x, f->pfx);
	if (size == 8 && !is_d64(f))
		rex |= 8;
	if (f->kind == K_MODRM) {
		if (reg & 8)
			rex |= 4;
		if (!mem && (rm & 8))
			rex |= 1;
		if (mem && (base & 8))
			rex |= 1;
		if (mem && index >= 0 && (index & 8))
			rex |= 2;
		if (size == 1 || f->opv[1] == 0xb6 || f->opv[1] == 0xbe)
			want_rex = rnd() & 1; /* SPL..DIL instead of AH..BH */
	} else if (f->kind == K_OPREG) {
		if (rm & 8)
			rex |= 1;
		if (size == 1)
			want_rex = rnd() & 1;
	}
	if (f->kind == K_MODRM16)
		put(x, 0x67);
	if (IS_VEX(f)) {
		/* C4, then R X B and the map, then W vvvv L=0 pp (inverted fields) */
		x->vreg = (int)(rnd() % nregs);
		put(x, 0xc4);
		put(x, (uint8_t)((rex & 4 ? 0 : 0x80) | (rex & 2 ? 0 : 0x40) | (rex & 1 ? 0 : 0x20) | (f->pfx >> 2)));
		put(x, (uint8_t)((rex & 8 ? 0x80 : 0) | (~x->vreg & 15) << 3 | (f->pfx & 3)));
		rex = 0, want_rex = false;
	}
	if ((rex || want_rex) && !mode32)
		put(x, 0x40 | rex);
	for (int i = 0; i < f->oplen; i++)
		put(x, op[i]);

	switch (f->kind) {
	case K_MODRM:
		if (!mem) {
			put(x, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
		} else if (index < 0 && (base & 7) != 4) {
			put(x, (uint8_t)(0x80 | (reg & 7) << 3 | (base & 7)));
			put_le(x, (uint32_t)disp, 4);
		} else {
			put(x, (uint8_t)(0x80 | (reg & 7) << 3 | 4));
			put(x, (uint8_t)(scale << 6 | ((index < 0 ? 4 : index) & 7) << 3 | (base & 7)));
			put_le(x, (uint32_t)disp, 4);
		}
		break;
	case K_OPREG: x->b[x->n - 1] += rm & 7; break;
	case K_MOFFS: put_le(x, PTR_BASE + rnd() % 0x100, mode32 ? 4 : 8); break;
	case K_MODRM16: {
		unsigned mod = rnd() % 3;
		put(x, (uint8_t)(mod << 6 | (reg & 7) << 3 | (rnd() % 8)));
		if (mod == 1)
			put(x, (uint8_t)rnd());
		else if (mod == 2 || (x->b[x->n - 1] & 0xc7) == 6)
			put_le(x, rnd(), 2);
		break;
	}
	default: break;
	}

	/* Immediates. */
	switch (f->imm) {
	case I8:
		put(x, (uint8_t)(f->setup == S_SHIFT || f->setup == S_ROT || f->setup == S_SHXD ? rnd() % 72 : rnd()));
		break;
	case IZ: put_le(x, rv(), size == 1 ? 1 : size == 2 ? 2 : 4); break;
	case I16: put_le(x, rnd() % 64 * 8, 2); break;
	case IV: put_le(x, rv(), size); break;
	case I8_16:
		put_le(x, rnd() % 64, 2);
		put(x, (uint8_t)(rnd() % 4));
		break;
	default: break;
	}
	if (f->kind == K_JREL) {
		/* Displacement so that a taken branch lands at TARGET_OFF. */
		int dl = f->imm == I8 ? 1 : 4;
		x->n -= dl;
		int32_t rel = TARGET_OFF - (x->n + dl);
		put_le(x, (uint32_t)rel, dl);
	}

	/* Inputs the form needs. */
	s->r[4] = STACK_TOP - 8 * (rnd() % 16);
	switch (f->setup) {
	case S_SHIFT:
	case S_ROT:
	case S_SHXD:
		if (rnd() & 1)
			s->r[1] = rnd() % 72;
		break;
	case S_DIV:
		if (rnd() % 4)
			s->r[2] = (rnd() & 1) ? 0
			                      : (size == 1                                   ? s->r[2]
			                         : (int64_t)(s->r[0] << (64 - size * 8)) < 0 ? ~0ULL
			                                                                     : 0);
		if (rnd() % 16 == 0) {
			/* The most negative dividend by -1: #DE (and a trap for a
			 * careless host division). */
			if (size == 1)
				s->r[0] = 0x8000;
			else
				s->r[0] = 0, s->r[2] = 1ULL << (size * 8 - 1);
			for (int i = 0; i < 16; i++)
				if (i != 0 && i != 2 && i != 4)
					s->r[i] = ~0ULL;
		}
		break;
	case S_LOOP:
		s->r[1] = rnd() % 3 == 0 ? rv() : rnd() % 3;
		if (rnd() % 4 == 0) {
			/* JECXZ / LOOP with ECX: 67 prefix in front of the opcode */
			memmove(x->b + 1, x->b, x->n);
			x->b[0] = 0x67;
			x->n++;
			int32_t rel = TARGET_OFF - x->n;
			x->b[x->n - 1] = (uint8_t)rel;
		}
		break;
	case S_STRING:
		s->r[6] = PTR_BASE + rnd() % 0x200;
		s->r[7] = PTR_BASE + 0x400 + rnd() % 0x200;
		s->r[1] = rnd() % 4 == 0 ? 0 : rnd() % 20;
		if (rnd() & 1) {
			s->fl |= FL_DF;
			s->r[6] += 0x100;
			s->r[7] += 0x100;
		}
		if (a32) {
			/* The addresses are ESI/EDI: garbage above them must not
			 * matter, and a write of ESI/EDI/ECX zero-extends. */
			static const int count_and_pointers[] = { 1, 6, 7 };
			for (int i = 0; i < 3; i++)
				if (rnd() % 2)
					s->r[count_and_pointers[i]] |= 0xdead000000000000ULL;
			/* A REP form with ECX = 0 runs no iteration and writes no
			 * register architecturally; some CPUs (Intel with fast
			 * strings) still write ECX, clearing RCX[63:32].  Which
			 * registers such a CPU touches is not documented, so rCX,
			 * rSI and rDI are compared in their low halves only. */
			if ((x->b[0] == 0xf3 || x->b[0] == 0xf2) && (uint32_t)s->r[1] == 0)
				x->hi_undef |= 1u << 1 | 1u << 6 | 1u << 7;
		}
		if (f->op8[0] == 0xd7)
			s->r[3] = PTR_BASE + rnd() % 0x100;
		if (rnd() & 1) /* equal bytes make CMPS/SCAS runs longer */
			memset(data + 0x400 + rnd() % 0x800, (int)s->r[0] & 0xff, rnd() % 0x300);
		break;
	case S_BITSCAN:
		if (rnd() % 4 == 0) {
			if (!mem)
				s->r[rm] = rnd() & 1 ? 0 : s->r[rm] & ~(size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1);
		}
		break;
	case S_ENTER: s->r[5] = STACK_TOP - 0x100 + 8 * (rnd() % 8); break;
	case S_VEXCTL:
		if (rnd() % 4)
			s->r[x->vreg] = (rnd() % 80) | (rnd() % 80) << 8 | (rnd() & 1 ? rnd() << 16 : 0);
		break;
	default: break;
	}
	(void)rand_reg_not;

	/* Pointers for memory operands. */
	if (mem) {
		uint64_t ea;
		if (index >= 0)
			s->r[index] = rnd() % 0x40;
		s->r[base] = PTR_BASE + rnd() % 0x100;
		if (f->setup == S_CX8)
			s->r[base] &= ~15ULL;
		ea = s->r[base] + (int64_t)disp + (index >= 0 ? s->r[index] << scale : 0);
		bitscan_ea = ea;
		uint8_t *p = data + (ea - DATA_LA);
		if (f->setup == S_BTREG && (reg != base && reg != index))
			s->r[reg] = (uint64_t)(int64_t)((int)(rnd() % 1024) - 512);
		if (f->setup == S_CMPXCHG && (rnd() & 1))
			memcpy(p, &s->r[0], size);
		if (f->setup == S_CX8 && (rnd() & 1)) {
			memcpy(p, &s->r[0], size);
			memcpy(p + size, &s->r[2], size);
		}
		if (f->setup == S_BITSCAN && s->r[base] != 0 && rnd() % 4 == 0)
			memset(p, 0, size);
		if (f->setup == S_INDIRECT) {
			uint64_t t = CODE_LA + TARGET_OFF;
			memcpy(p, &t, 8);
		}
	} else if (f->setup == S_INDIRECT && f->kind == K_MODRM) {
		s->r[rm] = CODE_LA + TARGET_OFF;
	}
	if (f->setup == S_INDIRECT && f->kind == K_PLAIN) {
		uint64_t t = CODE_LA + TARGET_OFF;
		memcpy(data + (s->r[4] - DATA_LA), &t, 8);
	}
	if (f->setup == S_CMPXCHG && !mem && (rnd() & 1))
		s->r[0] = s->r[rm];

	/* BSF/BSR with a zero source: Intel leaves the destination undefined
	 * (AMD documents it unchanged; Intel CPUs may clear the upper half of
	 * a 32-bit destination). */
	if (f->setup == S_BITSCAN && !f->pfx && (f->opv[1] == 0xbc || f->opv[1] == 0xbd)) {
		uint64_t src = 0;
		if (mem)
			memcpy(&src, data + (bitscan_ea - DATA_LA), (size_t)size);
		else
			src = s->r[rm] & (size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1);
		if (!src)
			x->reg_undef |= (uint16_t)(1u << reg);
	}

	/* Flags left undefined by this instance. */
	if (f->setup == S_SHIFT || f->setup == S_ROT || f->setup == S_SHXD) {
		unsigned cnt = (f->imm == I8        ? x->b[x->n - 1]
		                : f->op8[0] == 0xd0 ? 1
		                                    : (unsigned)s->r[1]) &
		               (size == 8 ? 63 : 31);
		if (f->opv[1] == 0xa4 || f->opv[1] == 0xac)
			cnt = x->b[x->n - 1] & (size == 8 ? 63 : 31);
		else if (f->opv[1] == 0xa5 || f->opv[1] == 0xad)
			cnt = (unsigned)s->r[1] & (size == 8 ? 63 : 31);
		if (cnt > 1)
			x->undef |= FL_OF;
		if (cnt && f->setup != S_ROT)
			x->undef |= FL_AF;
		/* SDM: CF undefined when the count is >= the operand width
		 * (byte and word operands; the masked count cannot reach 32/64). */
		if (f->setup == S_SHIFT && cnt >= (unsigned)size * 8)
			x->undef |= FL_CF;
		if (f->setup == S_SHXD && cnt > (unsigned)size * 8)
			x->skip = true; /* result undefined */
	}
}

/* ---- running and comparing ----------------------------------------------------- */

static const char *const reg_names[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };
static uint8_t *pool, *work;
static unsigned long total_runs, total_bad;

static int sig_vector(int sig)
{
	switch (sig) {
	case SIGFPE: return 0;
	case SIGILL: return 6;
	case SIGBUS: return 17;
	default: return 14;
	}
}

static void dump(const char *what, const struct st *s)
{
	printf("  %s:", what);
	for (int i = 0; i < 16; i++)
		printf(" %s=%llx", reg_names[i], (unsigned long long)s->r[i]);
	printf(" fl=%llx\n", (unsigned long long)s->fl);
}

/* Runs one instance; returns true if both sides agree. */
static bool run_one(const struct form *f, int size, bool mem)
{
	struct st in, nat, emu;
	struct inst x;
	int sig, vec;
	bool ok = true;

	for (int i = 0; i < 16; i++)
		in.r[i] = rv();
	in.fl = (rnd() & FL_ALL) | 2;
	memcpy(work, pool + rnd() % (3 * DATA_SIZE), DATA_SIZE);
	build(f, size, mem, &x, &in, work);
	if (x.skip)
		return true;

	memcpy(native_data, work, DATA_SIZE);
	nat = in;
	sig = run_native(x.b, x.n, &nat);

	guest_reset();
	memcpy(guest_ptr(DATA_LA), work, DATA_SIZE);
	emu = in;
	vec = run_emu(x.b, x.n, &emu);
	total_runs++;

	if (sig || vec >= 0) {
		if (!sig || vec != sig_vector(sig) || (sig == SIGSEGV && vec != 13 && vec != 14)) {
			if (!(sig == SIGSEGV && (vec == 13 || vec == 14))) {
				printf("%s/%d%s: native signal %d, emu vector %d\n", f->name, size * 8,
				       mem ? "/mem" : "", sig, vec);
				ok = false;
			}
		}
	} else {
		uint64_t want_rip = g_landing == 2 ? CODE_LA + TARGET_OFF : CODE_LA + x.n;
		uint32_t flmask = (FL_ALL | FL_DF) & ~x.undef;
		if (cpu->rip != want_rip) {
			printf("%s/%d%s: rip %llx, native landed at %llx\n", f->name, size * 8, mem ? "/mem" : "",
			       (unsigned long long)cpu->rip, (unsigned long long)want_rip);
			ok = false;
		}
		/* Across compat mode the upper halves of every register are
		 * undefined (SDM vol. 1, 3.4.1.1). */
		uint16_t hi_undef = mode32 ? 0xffff : x.hi_undef;
		for (int i = 0; i < 16; i++) {
			if (x.reg_undef & (1u << i))
				nat.r[i] = emu.r[i] = 0;
			else if (hi_undef & (1u << i))
				nat.r[i] = (uint32_t)nat.r[i], emu.r[i] = (uint32_t)emu.r[i];
		}
		if (memcmp(nat.r, emu.r, sizeof(nat.r)) || ((nat.fl ^ emu.fl) & flmask)) {
			printf("%s/%d%s: registers or flags differ (flag mask %x)\n", f->name, size * 8,
			       mem ? "/mem" : "", flmask);
			ok = false;
		}
		if (memcmp(native_data, guest_ptr(DATA_LA), DATA_SIZE)) {
			for (int i = 0; i < DATA_SIZE; i++)
				if (native_data[i] != guest_ptr(DATA_LA)[i]) {
					printf("%s/%d%s: memory differs at +%#x: native %02x emu %02x\n", f->name,
					       size * 8, mem ? "/mem" : "", i, native_data[i], guest_ptr(DATA_LA)[i]);
					break;
				}
			ok = false;
		}
	}
	if (!ok) {
		printf("  bytes:");
		for (int i = 0; i < x.n; i++)
			printf(" %02x", x.b[i]);
		printf("\n");
		dump("in    ", &in);
		dump("native", &nat);
		dump("emu   ", &emu);
	}
	return ok;
}

static bool setup_native(void)
{
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	native_code = mmap((void *)CODE_LA, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	native_data = mmap((void *)DATA_LA, DATA_SIZE, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (native_code != (void *)CODE_LA || native_data != (void *)DATA_LA)
		return false;
	sigaltstack(&ss, NULL);
	return true;
}

static int iterations(void)
{
	const char *e = getenv("DIFF_ITERS");
	return e ? atoi(e) : 300;
}

/* ---- what the host can run ------------------------------------------------------ */

static struct {
	bool bmi1, bmi2, lzcnt, popcnt, cx16, lahf64, movbe;
} host;
static bool compat_ok;
static char compat_why[160];

static void probe_host(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid(1, &a, &b, &c, &d))
		host.popcnt = c >> 23 & 1, host.cx16 = c >> 13 & 1, host.movbe = c >> 22 & 1;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		host.bmi1 = b >> 3 & 1, host.bmi2 = b >> 8 & 1;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d))
		host.lzcnt = c >> 5 & 1, host.lahf64 = c & 1;
}

/* A CPU without these runs the encodings as something else (TZCNT as BSF,
 * LZCNT as BSR) or raises #UD, so the form cannot be compared there. */
static const char *host_lacks(const struct form *f, int size)
{
	if (!strcmp(f->name, "tzcnt") && !host.bmi1)
		return "BMI1 (TZCNT)";
	if (!strncmp(f->name, "bmi1 ", 5) && !host.bmi1)
		return "BMI1";
	if (!strncmp(f->name, "bmi2 ", 5) && !host.bmi2)
		return "BMI2";
	if (!strcmp(f->name, "lzcnt") && !host.lzcnt)
		return "LZCNT";
	if (!strncmp(f->name, "movbe", 5) && !host.movbe)
		return "MOVBE";
	if (!strcmp(f->name, "popcnt") && !host.popcnt)
		return "POPCNT";
	if (f->setup == S_CX8 && size == 8 && !host.cx16)
		return "CMPXCHG16B";
	if ((!strcmp(f->name, "lahf") || !strcmp(f->name, "sahf")) && !mode32 && !host.lahf64)
		return "LAHF/SAHF in 64-bit mode";
	return NULL;
}

/* Some host kernels refuse 32-bit user code (no IA32 emulation, or
 * ia32_emulation=0): the far jump to Linux's 32-bit code selector faults. */
static void probe_compat(void)
{
	static const uint8_t nop = 0x90;
	struct st s;
	int sig;

	memset(&s, 0, sizeof(s));
	s.r[4] = STACK_TOP;
	s.fl = 2;
	mode32 = true;
	sig = run_native(&nop, 1, &s);
	mode32 = false;
	compat_ok = sig == 0 && g_landing == 1;
	if (!compat_ok)
		snprintf(compat_why, sizeof(compat_why),
		         "the host kernel does not run 32-bit code (a NOP through selector 0x23 gave signal %d)", sig);
}

/* Runs the forms whose name starts with one of the prefixes. */
static void run_forms(const char *const *prefixes)
{
	int iters = iterations();
	unsigned long bad = 0, runs0 = total_runs;

	for (size_t i = 0; i < NFORMS; i++) {
		const struct form *f = &forms[i];
		bool match = false;
		for (const char *const *p = prefixes; *p; p++)
			if (!strncmp(f->name, *p, strlen(*p)))
				match = true;
		if (!match || (f->modes == M32 && !mode32) || (f->modes == M64 && mode32))
			continue;
		unsigned sizes = f->sizes;
		if (mode32)
			sizes = (sizes & 7) | (is_d64(f) && (sizes & 8) ? 4 : 0);
		for (int size = 1; size <= 8; size *= 2) {
			if (!(sizes & size))
				continue;
			const char *lacks = host_lacks(f, size);
			if (lacks) {
				/* One line per skipped form and size: tests/run.sh counts them. */
				printf("skip: %s/%d (%s): the host CPU lacks %s\n", f->name, size * 8,
				       mode32 ? "compat mode" : "64-bit mode", lacks);
				continue;
			}
			for (int mem = 0; mem <= 1; mem++) {
				int nbad = 0;
				if ((mem && f->mem == 0) || (!mem && f->mem == 1))
					continue;
				for (int it = 0; it < iters; it++)
					if (!run_one(f, size, mem) && ++nbad >= 3)
						break;
				bad += nbad;
				if (getenv("DIFF_COVERAGE"))
					printf("| %s | %d | %s | %s | %d |\n", f->name, size * 8, mem ? "mem" : "reg",
					       mode32 ? "compat" : "64-bit", iters);
			}
		}
	}
	total_bad += bad;
	printf("%s: %lu runs, %lu mismatches\n", mode32 ? "compat mode" : "64-bit mode", total_runs - runs0, bad);
	assert_int_equal(bad, 0);
}

static void run_compat(const char *const *prefixes)
{
	if (!compat_ok) {
		printf("compat mode not tested: %s\n", compat_why);
		skip();
	}
	mode32 = true;
	run_forms(prefixes);
	mode32 = false;
}

/* One test in 64-bit mode and one in compat mode per family, so that a host
 * without compat mode skips only the latter. */
#define FAMILY(fn, ...)                                                \
	static const char *const fn##_forms[] = { __VA_ARGS__, NULL }; \
	static void fn##_64(void **state)                              \
	{                                                              \
		(void)state;                                           \
		mode32 = false;                                        \
		run_forms(fn##_forms);                                 \
	}                                                              \
	static void fn##_compat(void **state)                          \
	{                                                              \
		(void)state;                                           \
		run_compat(fn##_forms);                                \
	}

FAMILY(test_alu, "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "not", "neg", "inc", "dec")
FAMILY(test_muldiv, "mul", "imul", "div", "idiv")
FAMILY(test_shift, "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar", "shld", "shrd")
FAMILY(test_bitops, "bt", "bsf", "bsr", "tzcnt", "lzcnt", "popcnt", "bswap")
FAMILY(test_xchg, "xchg", "xadd", "cmpxchg")
FAMILY(test_bmi, "bmi1 ", "bmi2 ")
FAMILY(test_mov, "mov", "lea", "cbw", "cwd", "setcc", "cmovcc", "nop", "xlat")
FAMILY(test_branch, "jcc", "jmp", "call", "loop", "jrcxz", "ret")
FAMILY(test_stack, "push", "pop", "enter", "leave")
FAMILY(test_flags, "clc", "stc", "cmc", "cld", "std", "lahf", "sahf")
FAMILY(test_string, "movs", "cmps", "stos", "lods", "scas")

/* Encodings that exist only outside 64-bit mode: compat mode alone. */
static const char *const legacy_forms[] = { "inc r", "dec r", "pusha", "popa", "daa",    "das",
	                                    "aaa",   "aas",   "aam",   "aad",  "lea 16", NULL };
static void test_legacy_compat(void **state)
{
	(void)state;
	run_compat(legacy_forms);
}

static int group_setup(void **state)
{
	(void)state;
	if (!setup_native()) {
		printf("cannot map the fixed test addresses\n");
		return -1;
	}
	probe_host();
	probe_compat();
	pool = malloc(4 * DATA_SIZE);
	work = malloc(DATA_SIZE);
	for (int i = 0; i < 4 * DATA_SIZE; i++)
		pool[i] = (uint8_t)rnd();
	guest_init();
	return 0;
}

int main(void)
{
#define BOTH(fn) cmocka_unit_test(fn##_64), cmocka_unit_test(fn##_compat)
	const struct CMUnitTest tests[] = {
		BOTH(test_alu),   BOTH(test_muldiv), BOTH(test_shift),  BOTH(test_bitops),
		BOTH(test_xchg),  BOTH(test_bmi),    BOTH(test_mov),    BOTH(test_branch),
		BOTH(test_stack), BOTH(test_flags),  BOTH(test_string), cmocka_unit_test(test_legacy_compat),
	};
#undef BOTH
	int r = cmocka_run_group_tests(tests, group_setup, NULL);
	printf("differential: %zu forms, %lu runs, %lu mismatches\n", NFORMS, total_runs, total_bad);
	return r;
}
