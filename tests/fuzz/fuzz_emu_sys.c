/* libFuzzer target: the emu engine's system side on arbitrary code and
 * descriptor tables.
 *
 * The input is both the code (at CODE) and the GDT/IDT/TSS/page-table area
 * (at TABLES, pointed to by GDTR, IDTR, TR and, in the paging modes, CR3),
 * so far transfers, segment loads, IRET, interrupt delivery, MSR and
 * control-register writes and page walks all read fuzzer-chosen data.  The
 * first byte picks the start mode: real, 32-bit flat, 64-bit kernel or
 * 64-bit user.  Up to STEPS instructions run with emu_step(); raised
 * exceptions are delivered (a fault during delivery is delivered in turn,
 * up to the triple fault).  Whatever happens, nothing may crash, touch
 * memory outside guest RAM, or leave the CPU in an impossible mode. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/emu.h"

#define MEM_SIZE (16ULL << 20)
#define CODE     0x10000ULL
#define TABLES   0x20000ULL
#define PML4     0x30000ULL
#define STEPS    64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Identity map of the first 1 GiB with 2 MiB pages, plus the fuzzer's
 * tables as a second PML4 entry's world. */
static void page_tables(struct guest_mem *m)
{
	uint64_t *pml4 = (uint64_t *)(m->host + PML4), *pdpt = pml4 + 512, *pd = pml4 + 1024;
	memset(pml4, 0, 3 * 4096);
	pml4[0] = (PML4 + 0x1000) | 7;
	pml4[1] = TABLES | 7; /* walks through fuzzer data */
	pdpt[0] = (PML4 + 0x2000) | 7;
	for (int i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x87;
}

static void deliver(struct emu_cpu *cpu)
{
	for (int i = 0; i < 4; i++) {
		if (setjmp(cpu->exc_jmp) == 0) {
			emu_deliver_exception(cpu);
			return;
		}
		/* A fault while delivering: it was recorded, deliver that. */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct emu_cpu *cpu;
	struct x86_seg code = { 0 }, dat = { 0 };
	unsigned mode;

	if (!mem.host && guest_mem_init(&mem, MEM_SIZE)) {
		perror("guest_mem_init");
		abort();
	}
	if (!cpu && !(cpu = calloc(1, sizeof(*cpu))))
		abort();
	if (size < 1)
		return 0;
	mode = data[0] & 3;
	data++;
	size--;
	if (size > 0x10000)
		size = 0x10000;

	memset(mem.host + CODE, 0xf4, 0x10000); /* HLT after the input */
	memcpy(mem.host + CODE, data, size);
	memset(mem.host + TABLES, 0, 0x10000);
	memcpy(mem.host + TABLES, data, size);
	page_tables(&mem);

	memset(cpu, 0, sizeof(*cpu));
	cpu->mem = &mem;
	emu_fpu_reset(cpu);
	emu_tlb_flush(cpu, true);
	cpu->gdt.base = TABLES;
	cpu->gdt.limit = 0xffff;
	cpu->idt.base = TABLES + 0x800;
	cpu->idt.limit = 0xfff;
	cpu->tr = (struct x86_seg){ .base = TABLES + 0x1000, .limit = 0x2067, .type = 0xb, .present = 1 };
	cpu->ldt = (struct x86_seg){ .base = TABLES + 0x3000, .limit = 0xfff, .type = 2, .present = 1 };
	cpu->gpr[4] = 0x8000; /* RSP */
	for (int i = 0; i < 16; i++)
		if (i != 4)
			cpu->gpr[i] = TABLES + (uint64_t)i * 0x100;
	cpu->rflags = 2;
	code.present = dat.present = 1;
	code.s = dat.s = 1;
	code.type = 0xb;
	dat.type = 3;
	switch (mode) {
	case 0: /* real mode at 1000:0000 */
		code.limit = dat.limit = 0xffff;
		code.base = CODE;
		code.sel = CODE >> 4;
		cpu->rip = 0;
		break;
	case 1: /* flat 32-bit */
		code.limit = dat.limit = 0xffffffff;
		code.db = dat.db = code.g = dat.g = 1;
		code.sel = 8;
		dat.sel = 0x10;
		cpu->cr0 = CR0_PE | CR0_ET;
		cpu->rip = CODE;
		break;
	default: /* 64-bit, CPL0 or CPL3 */
		code.limit = dat.limit = 0xffffffff;
		code.l = 1;
		code.g = dat.g = 1;
		code.dpl = dat.dpl = mode == 3 ? 3 : 0;
		code.sel = mode == 3 ? 0x33 : 0x10;
		dat.sel = mode == 3 ? 0x2b : 0x18;
		cpu->cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_WP;
		cpu->cr4 = CR4_PAE | CR4_PGE;
		cpu->efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
		cpu->cr3 = PML4;
		cpu->rip = CODE;
		cpu->rflags = 2 | (3 << 12);
		break;
	}
	for (int s = 0; s < SEG_COUNT; s++)
		cpu->seg[s] = s == SEG_CS ? code : dat;
	if (mode == 0)
		for (int s = 0; s < SEG_COUNT; s++)
			if (s != SEG_CS)
				cpu->seg[s].base = 0;
	emu_update_mode(cpu);

	for (int i = 0; i < STEPS && !cpu->halted; i++) {
		if (emu_step(cpu) >= 0)
			deliver(cpu);
		if (cpu->cpl < 0 || cpu->cpl > 3 || cpu->code_mode > EMU_MODE64)
			abort();
		if (cpu->code_mode == EMU_MODE64 && !(cpu->efer & EFER_LMA))
			abort();
	}
	return 0;
}
