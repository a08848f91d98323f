/* libFuzzer target: executing arbitrary instructions must never hurt the
 * host.
 *
 * The input is a register file (16 GPRs and RFLAGS, 136 bytes) followed by
 * code, placed in a small 64-bit (or, by the first byte, compat-mode)
 * guest with paging.  Up to 64 instructions are single-stepped with
 * emu_step(); a guest exception ends the run.  System instructions (which
 * need a whole VM with devices) end it before they execute; integer, x87 and
 * SSE instructions (with XSAVE/XRSTOR and the VEX-encoded BMI1/BMI2, AVX, AVX2, FMA
 * and F16C: XCR0 enables AVX unless the first byte's bit 2 is set) all run.  Any host crash, sanitizer report or trap
 * (a host division overflow, say) is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/ops.h"

#define MEM  (4ULL << 20)
#define CODE 0x200000ULL
#define DATA 0x300000ULL

__attribute__((weak)) void emu_check_interrupts(struct emu_cpu *cpu)
{
	(void)cpu;
}

static struct guest_mem gmem;
static struct emu_cpu *cpu;

static void init(void)
{
	gmem.host = aligned_alloc(4096, MEM);
	gmem.size = gmem.low_size = MEM;
	cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x86_seg code = { .sel = 0x08, .limit = 0xffffffff, .type = 0xb, .s = 1, .present = 1, .l = 1, .g = 1 };
	struct x86_seg ds = { .sel = 0x10, .limit = 0xffffffff, .type = 0x3, .s = 1, .present = 1, .db = 1, .g = 1 };
	uint64_t *pml4, *pdpt, *pd, regs[17];

	if (!cpu)
		init();
	if (size < sizeof(regs) + 1)
		return 0;
	memcpy(regs, data, sizeof(regs));
	data += sizeof(regs), size -= sizeof(regs);
	if (size > 4096)
		size = 4096;

	memset(gmem.host, 0, MEM);
	pml4 = (uint64_t *)(gmem.host + 0x1000);
	pdpt = (uint64_t *)(gmem.host + 0x2000);
	pd = (uint64_t *)(gmem.host + 0x3000);
	pml4[0] = 0x2000 | 7;
	pdpt[0] = 0x3000 | 7;
	pd[0] = 0x83;            /* 0-2 MiB: tables, supervisor */
	pd[1] = 0x200000 | 0x87; /* 2-4 MiB: code and data */
	memcpy(gmem.host + CODE + 1, data + 1, size - 1);

	memset(cpu, 0, sizeof(*cpu));
	cpu->mem = &gmem;
	for (int i = 0; i < SEG_COUNT; i++)
		cpu->seg[i] = ds;
	if (data[0] & 1)
		code.l = 0, code.db = 1; /* compat mode */
	cpu->seg[SEG_CS] = code;
	cpu->cr0 = CR0_PE | CR0_PG | CR0_NE | CR0_ET | CR0_WP | CR0_MP;
	cpu->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
	cpu->xcr0 = (data[0] & 4) ? 3 : 7; /* x87, SSE (and AVX): XSAVE/XRSTOR run on guest-chosen images */
	cpu->efer = EFER_LME | EFER_LMA | EFER_NXE;
	cpu->cr3 = 0x1000;
	emu_fpu_reset(cpu);
	emu_update_mode(cpu);
	emu_tlb_flush(cpu, true);
	for (int i = 0; i < 16; i++)
		cpu->gpr[i] = (data[0] & 2) ? DATA + (regs[i] & 0xfff8) : regs[i]; /* often pointers into RAM */
	emu_set_rflags(cpu, (regs[16] & 0xcd5) | 2);
	cpu->rip = CODE + 1;

	for (int n = 0; n < 64; n++) {
		struct emu_insn in;
		uint64_t off = cpu->rip - CODE;
		if (off >= 0x1000 - 15)
			break;
		emu_decode_bytes(gmem.host + CODE + off, 15, cpu->code_mode, &in);
		if (in.ends_block == 2 && in.exec != op_ud)
			break; /* a system instruction: needs the whole VM */
		if (emu_step(cpu) >= 0)
			break;
	}
	return 0;
}
