/* Shared parts of the x87/SSE differential tests: a vCPU with a little
 * flat guest memory, a copy of an assembled harness into an executable page
 * with one instruction patched into its slot, signal capture for the host
 * side (#UD → SIGILL, #XM → SIGFPE, #GP → SIGSEGV) and input generators
 * biased towards the interesting values (±0, ±∞, NaNs, denormals, integer
 * limits). */
#ifndef FPUTEST_H
#define FPUTEST_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cmocka.h>

#include "cpu/emu/emu.h"
#include "cpu/emu/fpu.h"
#include "cpu/emu/ops.h"
#include "symbiont/memory.h"

#define GUEST_MEM_ADDR 0x1000 /* guest-physical = linear address of the memory operand */

/* ---- random ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static inline uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return rng_state = x;
}

static const uint32_t f32_special[] = {
	0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345,
	0x7fffffff, 0x00000001, 0x807fffff, 0x00400000, 0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff,
	0x3f800000, 0xbf800000, 0x3fc00000, 0x40400000, 0x3f000000, 0x4f000000, 0xcf000000, 0x4effffff,
	0xcf000001, 0x5f000000, 0xdf000000, 0x477fe000, 0x46fffe00, 0x3eaaaaab, 0x4b400000, 0x4b3fffff,
};
static const uint64_t f64_special[] = {
	0,
	0x8000000000000000ULL,
	0x7ff0000000000000ULL,
	0xfff0000000000000ULL,
	0x7ff8000000000000ULL,
	0xfff8000000000001ULL,
	0x7ff0000000000001ULL,
	0x7ff4000000000000ULL,
	1,
	0x800fffffffffffffULL,
	0x0010000000000000ULL,
	0x7fefffffffffffffULL,
	0x3ff0000000000000ULL,
	0xbff0000000000000ULL,
	0x3ff8000000000000ULL,
	0x41e0000000000000ULL,
	0xc1e0000000000000ULL,
	0x41dfffffffc00000ULL,
	0xc1e0000000200000ULL,
	0x43e0000000000000ULL,
	0xc3e0000000000000ULL,
	0x3fd5555555555555ULL,
	0x36a0000000000000ULL,
	0x380fffffe0000000ULL,
	0x47efffffe0000000ULL,
	0x47f0000000000000ULL,
	0x3e70000000000000ULL,
	0x4330000000000000ULL,
	0x432fffffffffffffULL,
	0x3fe0000000000001ULL,
};
static const uint64_t int_special[] = {
	0,
	1,
	0xff,
	0x7f,
	0x80,
	0x7fff,
	0x8000,
	0xffff,
	0x7fffffff,
	0x80000000,
	0xffffffff,
	0x7fffffffffffffffULL,
	0x8000000000000000ULL,
	~0ULL,
	0x0101010101010101ULL,
	0x8080808080808080ULL,
};

static inline uint32_t gen_f32(void)
{
	switch (rnd() % 4) {
	case 0: return f32_special[rnd() % (sizeof(f32_special) / 4)];
	case 1: return (uint32_t)rnd();
	default: /* moderate magnitudes, so arithmetic is mostly inexact but finite */
		return (uint32_t)(rnd() & 0x807fffff) | (uint32_t)(0x60 + rnd() % 0x40) << 23;
	}
}

static inline uint64_t gen_f64(void)
{
	switch (rnd() % 4) {
	case 0: return f64_special[rnd() % (sizeof(f64_special) / 8)];
	case 1: return rnd();
	default: return (rnd() & 0x800fffffffffffffULL) | (0x3c0 + rnd() % 0x80) << 52;
	}
}

/* 16 bytes of one flavour: random, f32 lanes, f64 lanes, integer limits. */
static inline void gen_vec(uint8_t *v)
{
	unsigned k = rnd() % 5;
	for (int i = 0; i < 4; i++) {
		uint32_t x;
		if (k == 0) {
			x = (uint32_t)rnd();
		} else if (k == 1 || k == 4) {
			x = gen_f32();
		} else if (k == 2) {
			uint64_t d = gen_f64();
			memcpy(v + 8 * (i / 2), &d, 8);
			i++;
			continue;
		} else {
			x = (uint32_t)(int_special[rnd() % (sizeof(int_special) / 8)] >> (rnd() % 2 * 32));
			if (rnd() % 2)
				x = (uint32_t)(int32_t)(int16_t)(rnd() % 2 ? 0x8000 + rnd() % 8 : rnd() % 300);
		}
		memcpy(v + 4 * i, &x, 4);
	}
}

/* ---- the vCPU ----------------------------------------------------------- */

struct emu_env {
	struct emu_cpu *cpu;
	struct guest_mem mem;
};

static inline struct emu_env *emu_env_new(void)
{
	struct emu_env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->cpu = aligned_alloc(64, (sizeof(struct emu_cpu) + 63) & ~63UL);
	assert_non_null(e->cpu);
	memset(e->cpu, 0, sizeof(*e->cpu));
	assert_int_equal(guest_mem_init(&e->mem, MEM_MIN_SIZE), 0);
	struct emu_cpu *cpu = e->cpu;
	cpu->mem = &e->mem;
	cpu->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
	cpu->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
	cpu->efer = EFER_LME | EFER_LMA;
	cpu->long_mode = true;
	cpu->code_mode = EMU_MODE64;
	for (int s = 0; s < SEG_COUNT; s++) {
		cpu->seg[s].limit = 0xffffffff;
		cpu->seg[s].present = 1;
		cpu->seg[s].s = 1;
		cpu->seg[s].type = s == SEG_CS ? 0xb : 0x3;
		cpu->seg[s].g = 1;
	}
	cpu->seg[SEG_CS].l = 1;
	emu_tlb_flush(cpu, true);
	emu_fpu_reset(cpu);
	return e;
}

static inline void emu_env_free(struct emu_env *e)
{
	guest_mem_free(&e->mem);
	free(e->cpu);
	free(e);
}

/* Decodes b as code of the CPU's mode and runs it; returns -1 or the
 * exception vector. */
static inline int emu_run1(struct emu_cpu *cpu, const uint8_t *b, unsigned len)
{
	static struct emu_insn in;
	memset(&in, 0, sizeof(in));
	int n = emu_decode_bytes(b, len, cpu->code_mode, &in);
	assert_int_equal(n, (int)len);
	cpu->exc_vector = -1;
	cpu->rip = 0x10000;
	cpu->next_rip = cpu->rip + len;
	if (setjmp(cpu->exc_jmp))
		return cpu->exc_vector;
	in.exec(cpu, &in);
	return -1;
}

/* emu_run1 of the bytes written in hex ("0f ae 26"). */
static inline int emu_run_hex(struct emu_cpu *cpu, const char *hex)
{
	uint8_t b[16];
	unsigned n = 0;
	for (const char *p = hex; *p && n < sizeof(b);) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		sscanf(p, "%2x", &v);
		b[n++] = (uint8_t)v;
		p += 2;
	}
	return emu_run1(cpu, b, n);
}

/* ---- host side ---------------------------------------------------------- */

/* Copies the harness [start, end) into an executable page and returns it;
 * *slot is where the instruction goes (16 bytes of NOPs). */
static inline uint8_t *jit_harness(const uint8_t *start, const uint8_t *end, const uint8_t *slotp, uint8_t **slot)
{
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memcpy(p, start, (size_t)(end - start));
	*slot = p + (slotp - start);
	return p;
}

static inline void jit_patch(uint8_t *slot, const uint8_t *b, unsigned len)
{
	memset(slot, 0x90, 16);
	memcpy(slot, b, len);
	__builtin___clear_cache((char *)slot, (char *)slot + 16);
}

static sigjmp_buf host_jmp;
static volatile int host_sig;
static volatile uint32_t host_sig_mxcsr;

static void host_sig_handler(int sig, siginfo_t *si, void *uc_)
{
	(void)si;
	ucontext_t *uc = uc_;
	host_sig = sig;
	host_sig_mxcsr = uc->uc_mcontext.fpregs ? uc->uc_mcontext.fpregs->mxcsr : 0;
	siglongjmp(host_jmp, 1);
}

static inline void host_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = host_sig_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* Vector the host signal stands for. */
static inline int sig_vector(int sig)
{
	switch (sig) {
	case SIGILL: return EXC_UD;
	case SIGFPE: return EXC_XM;
	case SIGSEGV:
	case SIGBUS: return EXC_GP;
	default: return -1;
	}
}

static inline void hexdump(const char *what, const void *p, unsigned n)
{
	const uint8_t *b = p;
	printf("  %s:", what);
	for (unsigned i = 0; i < n; i++)
		printf("%s%02x", i && !(i % 8) ? " " : "", b[n - 1 - i]);
	printf("\n");
}

#endif
