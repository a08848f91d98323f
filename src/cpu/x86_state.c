/* The two architectural starting points every loader builds on: the state
 * after RESET and the flat 32-bit protected mode of the multiboot and
 * 32-bit Linux entry protocols.  Both engines accept exactly these. */
#include <string.h>

#include "symbiont/x86.h"

static void seg_real(struct x86_seg *g, uint8_t type)
{
	memset(g, 0, sizeof(*g));
	g->limit = 0xffff;
	g->type = type;
	g->s = 1;
	g->present = 1;
}

static void seg_flat(struct x86_seg *g, uint16_t sel, uint8_t type)
{
	memset(g, 0, sizeof(*g));
	g->sel = sel;
	g->limit = 0xffffffff;
	g->type = type;
	g->s = 1;
	g->present = 1;
	g->db = 1;
	g->g = 1;
}

void x86_state_reset(struct x86_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < SEG_COUNT; i++)
		seg_real(&s->seg[i], 3); /* read/write data, accessed */
	seg_real(&s->seg[SEG_CS], 0xb);  /* execute/read code, accessed */
	s->seg[SEG_CS].sel = 0xf000;
	s->seg[SEG_CS].base = 0xffff0000;
	s->rip = 0xfff0;
	s->rflags = RFLAGS_FIXED;
	s->cr0 = CR0_CD | CR0_NW | CR0_ET;
	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;
	/* TR and LDTR are system segments (s=0): busy 32-bit TSS, LDT. */
	s->tr.limit = 0xffff;
	s->tr.type = 0xb;
	s->tr.present = 1;
	s->ldt.limit = 0xffff;
	s->ldt.type = 2;
	s->ldt.present = 1;
	/* The hardware reset value: x2APIC off, xAPIC enabled, BSP flag set.
	 * Engines clear BSP for application processors. */
	s->apic_base = APIC_BASE_DEFAULT | APIC_BASE_EN | APIC_BASE_BSP;
	s->gpr[X86_RDX] = 0x600; /* processor signature: family 6 */
	s->xcr0 = 1;             /* x87 only */
}

void x86_state_flat32(struct x86_state *s)
{
	x86_state_reset(s);
	s->gpr[X86_RDX] = 0;
	seg_flat(&s->seg[SEG_CS], 0x08, 0xb);
	for (int i = 0; i < SEG_COUNT; i++)
		if (i != SEG_CS)
			seg_flat(&s->seg[i], 0x10, 3);
	s->rip = 0;
	s->rflags = RFLAGS_FIXED;
	s->cr0 = CR0_PE | CR0_ET;
	/* GDTR/IDTR keep their reset values: multiboot kernels load their own
	 * before reloading a segment register or enabling interrupts. */
}
