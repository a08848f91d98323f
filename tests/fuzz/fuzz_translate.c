/* libFuzzer target: translated code must do exactly what the interpreter
 * does.
 *
 * Input as fuzz_exec.c's: a register file (16 GPRs and RFLAGS, 136 bytes)
 * then code, in a small 64-bit (or, by the first byte, compat-mode) guest
 * with paging.  The code is decoded into one block (up to 64 instructions,
 * stopping before a system instruction, after a control transfer), which
 * runs twice from the same state: through exec.c's loop as the interpreter
 * runs it, and as translate.c's host code.  Registers, RIP, the
 * instruction count, the flags, the fault raised (if any) and guest memory
 * must agree; any difference aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/block.h"
#include "fuzz_cpu.h"

#define MEM   FUZZ_MEM
#define NINSN 64

__attribute__((weak)) void emu_check_interrupts(struct emu_cpu *cpu)
{
	(void)cpu;
}

static struct guest_mem gmem;
static uint8_t *mem0, *mem_interp;
static struct emu_cpu *cpu, *cpu0;
static struct emu_code_buf code_buf;
static struct emu_insn insns[NINSN];

struct outcome {
	uint64_t gpr[16], rip, count, rflags;
	int vector; /* -1: no fault */
};

static void init(void)
{
	gmem.host = aligned_alloc(4096, MEM);
	gmem.size = gmem.low_size = MEM;
	mem0 = malloc(MEM);
	mem_interp = malloc(MEM);
	cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
	cpu0 = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
	if (!gmem.host || !mem0 || !mem_interp || !cpu || !cpu0 || emu_code_buf_init(&code_buf, 1u << 20) < 0)
		abort();
}

static void interpret(unsigned n, uint64_t mask)
{
	for (unsigned i = 0; i < n; i++) {
		cpu->next_rip = (cpu->rip + insns[i].len) & mask;
		insns[i].exec(cpu, &insns[i]);
		cpu->rip = cpu->next_rip;
		cpu->insn_count++;
		if (cpu->exit_block)
			break;
	}
}

/* One run from the saved state: the interpreter's loop, or the code. */
static void run(struct outcome *o, unsigned n, uint64_t mask, emu_code_fn code)
{
	memcpy(cpu, cpu0, sizeof(*cpu));
	memcpy(gmem.host, mem0, MEM);
	memset(o, 0, sizeof(*o));
	o->vector = -1;
	if (setjmp(cpu->exc_jmp)) {
		o->vector = cpu->exc_vector;
	} else if (code) {
		code(cpu);
	} else {
		interpret(n, mask);
	}
	memcpy(o->gpr, cpu->gpr, sizeof(o->gpr));
	o->rip = cpu->rip;
	o->count = cpu->insn_count;
	o->rflags = emu_get_rflags(cpu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t off = 1, mask;
	struct outcome a, b;
	emu_code_fn fn;
	unsigned n = 0;

	if (!cpu)
		init();
	if (!fuzz_cpu_setup(cpu, &gmem, data, size, 3))
		return 0;
	cpu->cpl = (data[136] & 4) ? 3 : 0; /* user: the inline TLB mask's other half */

	/* The block, decoded as block.c would (system instructions left out:
	 * they need the whole VM). */
	while (n < NINSN && off < 0x1000 - 15) {
		struct emu_insn *in = &insns[n];
		int len = emu_decode_bytes(gmem.host + FUZZ_CODE + off, 15, cpu->code_mode, in);
		if (!len || (in->ends_block == 2 && in->exec != op_ud))
			break;
		n++;
		off += (unsigned)len;
		if (in->ends_block)
			break;
	}
	if (!n)
		return 0;
	mask = cpu->code_mode == EMU_MODE64 ? ~0ULL : 0xffffffffULL;
	code_buf.used = 0;
	fn = emu_translate(&code_buf, insns, n, cpu->code_mode);
	if (!fn)
		abort();

	memcpy(cpu0, cpu, sizeof(*cpu));
	memcpy(mem0, gmem.host, MEM);
	run(&a, n, mask, NULL);
	memcpy(mem_interp, gmem.host, MEM);
	run(&b, n, mask, fn);
	if (memcmp(&a, &b, sizeof(a)) || memcmp(mem_interp, gmem.host, MEM))
		abort();
	return 0;
}
