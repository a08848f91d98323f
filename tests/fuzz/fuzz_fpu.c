/* libFuzzer target: x87/MMX/SSE and VEX-encoded AVX/AVX2/FMA/F16C
 * instructions on arbitrary state.
 *
 * Input: one byte of mode bits (32/64-bit code, CR0.TS/EM, CR4.OSFXSR,
 * CR4.OSXMMEXCPT, CR4.OSXSAVE with XCR0 = x87|SSE|AVX, or XCR0 without
 * AVX), a 108-byte x87 image, two XMM registers (also YMM0-1's upper
 * halves), MXCSR, then the instruction bytes.  The x87 image is made one the guest could reach (tags
 * follow contents, ES follows the flags, as every load path of the engine
 * makes them); MXCSR gets only its defined bits.  Only instructions handled
 * by the x87/SSE part run, and only with memory operands inside guest RAM.
 * The engine must not crash and must leave the host FPU as it found it:
 * MXCSR 0x1F80, x87 control word 0x37F, an empty stack and no pending
 * exception — a host trap or leftover here would hit the VMM itself. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/fpu.h"
#include "cpu/emu/ops.h"
#include "symbiont/memory.h"

static struct emu_cpu *cpu;
static struct guest_mem mem;

static void setup(void)
{
	cpu = calloc(1, sizeof(*cpu));
	if (!cpu || guest_mem_init(&mem, MEM_MIN_SIZE) < 0)
		abort();
	cpu->mem = &mem;
	for (int s = 0; s < SEG_COUNT; s++) {
		cpu->seg[s].limit = 0xffffffff;
		cpu->seg[s].present = 1;
		cpu->seg[s].s = 1;
		cpu->seg[s].type = s == SEG_CS ? 0xb : 0x3;
		cpu->seg[s].db = 1;
		cpu->seg[s].g = 1;
	}
	emu_tlb_flush(cpu, true);
}

static void host_fpu_check(void)
{
	uint32_t mx;
	uint8_t envb[28];
	__asm__ volatile("stmxcsr %0" : "=m"(mx));
	__asm__ volatile("fnstenv %0\n\tfldenv %0" : "+m"(envb));
	uint16_t cw, sw, tw;
	memcpy(&cw, envb, 2);
	memcpy(&sw, envb + 4, 2);
	memcpy(&tw, envb + 8, 2);
	if ((mx & ~0x3fu) != 0x1f80 || cw != 0x037f || (sw & 0x3880) || tw != 0xffff)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { HDR = 1 + 108 + 32 + 4 };
	uint8_t h[HDR];
	struct emu_insn in;

	if (!cpu)
		setup();
	if (size <= HDR)
		return 0;
	memcpy(h, data, HDR);
	unsigned n = size - HDR > 15 ? 15 : (unsigned)(size - HDR);
	const uint8_t *code = data + HDR;

	cpu->code_mode = (h[0] & 1) ? EMU_MODE64 : EMU_MODE32;
	cpu->long_mode = cpu->code_mode == EMU_MODE64;
	cpu->seg[SEG_CS].l = cpu->long_mode;
	cpu->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | ((h[0] & 2) ? CR0_TS : 0) | ((h[0] & 4) ? CR0_EM : 0);
	cpu->cr4 = ((h[0] & 8) ? 0 : CR4_OSFXSR) | ((h[0] & 16) ? 0 : CR4_OSXMMEXCPT) | ((h[0] & 32) ? 0 : CR4_OSXSAVE);
	cpu->xcr0 = (h[0] & 64) ? 3 : 7;
	memcpy(&cpu->fpu, h + 1, 108);
	cpu->fpu.tw = fpu_full_tags(cpu);
	fpu_update_es(cpu);
	memcpy(&cpu->xmm[0], h + 109, 32);
	memcpy(&cpu->ymmh[0], h + 109, 32);
	uint32_t mx;
	memcpy(&mx, h + 141, 4);
	cpu->mxcsr = mx & MXCSR_MASK_SUPPORTED;
	for (int r = 0; r < 16; r++)
		cpu->gpr[r] = 0x10000 + 0x100 * (uint64_t)r;

	memset(&in, 0, sizeof(in));
	int len = emu_decode_bytes(code, n, cpu->code_mode, &in);
	if (len <= 0)
		return 0;
	bool x87 = !in.vex && in.map == 0 && ((in.opcode >= 0xd8 && in.opcode <= 0xdf) || in.opcode == 0x9b);
	if (in.vex) {
		/* (the decoder chose the handler; gathers address through a
		 * vector of indices, which the RAM check below cannot bound) */
		if (in.exec == op_ud || (in.map == 2 && in.opcode >= 0x90 && in.opcode <= 0x93))
			return 0;
	} else if (!x87 && !emu_sse_select(&in)) {
		return 0;
	}
	if (x87 && !emu_x87_select(&in))
		return 0;
	if (in.has_mem) {
		uint64_t ea = emu_ea(cpu, &in);
		if (cpu->code_mode == EMU_MODE32)
			ea = (uint32_t)ea;
		if (ea < 0x1000 || ea + 512 > MEM_MIN_SIZE)
			return 0;
	}
	/* MASKMOVQ/MASKMOVDQU store at RDI: inside RAM by the setup above. */
	cpu->rip = 0x1000;
	cpu->next_rip = 0x1000 + (unsigned)len;
	cpu->exc_vector = -1;
	if (!setjmp(cpu->exc_jmp))
		in.exec(cpu, &in);
	host_fpu_check();
	return 0;
}
