/* The small guest the CPU fuzz targets run their input in (fuzz_exec.c,
 * fuzz_translate.c): the input starts with a register file (16 GPRs and
 * RFLAGS, 136 bytes), then one byte of choices and the code.  4 MiB of RAM
 * with 4-level paging: 0-2 MiB the tables (supervisor), 2-4 MiB code at
 * FUZZ_CODE and data at FUZZ_DATA (user); flat segments, 64-bit code (or,
 * by the choices' bit 0, compat mode); the GPRs point into the data page
 * when bit 1 is set. */
#ifndef FUZZ_CPU_H
#define FUZZ_CPU_H

#include <stdint.h>
#include <string.h>

#include "cpu/emu/ops.h"

#define FUZZ_MEM  (4ULL << 20)
#define FUZZ_CODE 0x200000ULL
#define FUZZ_DATA 0x300000ULL

/* Fills mem (FUZZ_MEM bytes) and cpu from the input; false when it is too
 * short.  xcr0: what XCR0 enables.  The code is at FUZZ_CODE + 1. */
static inline bool fuzz_cpu_setup(struct emu_cpu *cpu, struct guest_mem *mem, const uint8_t *data, size_t size,
                                  uint64_t xcr0)
{
	struct x86_seg code = { .sel = 0x08, .limit = 0xffffffff, .type = 0xb, .s = 1, .present = 1, .l = 1, .g = 1 };
	struct x86_seg ds = { .sel = 0x10, .limit = 0xffffffff, .type = 0x3, .s = 1, .present = 1, .db = 1, .g = 1 };
	uint64_t *pml4, *pdpt, *pd, regs[17];

	if (size < sizeof(regs) + 1)
		return false;
	memcpy(regs, data, sizeof(regs));
	data += sizeof(regs), size -= sizeof(regs);
	if (size > 4096)
		size = 4096;

	memset(mem->host, 0, FUZZ_MEM);
	pml4 = (uint64_t *)(mem->host + 0x1000);
	pdpt = (uint64_t *)(mem->host + 0x2000);
	pd = (uint64_t *)(mem->host + 0x3000);
	pml4[0] = 0x2000 | 7;
	pdpt[0] = 0x3000 | 7;
	pd[0] = 0x83;            /* 0-2 MiB: tables, supervisor */
	pd[1] = 0x200000 | 0x87; /* 2-4 MiB: code and data */
	memcpy(mem->host + FUZZ_CODE + 1, data + 1, size - 1);

	memset(cpu, 0, sizeof(*cpu));
	cpu->mem = mem;
	for (int i = 0; i < SEG_COUNT; i++)
		cpu->seg[i] = ds;
	if (data[0] & 1)
		code.l = 0, code.db = 1; /* compat mode */
	cpu->seg[SEG_CS] = code;
	cpu->cr0 = CR0_PE | CR0_PG | CR0_NE | CR0_ET | CR0_WP | CR0_MP;
	cpu->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
	cpu->xcr0 = xcr0;
	cpu->efer = EFER_LME | EFER_LMA | EFER_NXE;
	cpu->cr3 = 0x1000;
	emu_fpu_reset(cpu);
	emu_update_mode(cpu);
	emu_tlb_flush(cpu, true);
	for (int i = 0; i < 16; i++)
		cpu->gpr[i] = (data[0] & 2) ? FUZZ_DATA + (regs[i] & 0xfff8) : regs[i]; /* often pointers into RAM */
	emu_set_rflags(cpu, (regs[16] & 0xcd5) | 2);
	cpu->rip = FUZZ_CODE + 1;
	return true;
}

#endif
