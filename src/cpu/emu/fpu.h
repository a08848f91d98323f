/* Internal helpers shared by fpu.c (x87), sse.c (MMX/SSE/SSE2) and
 * fxsave.c.  Not a contract: only the x87/SSE part includes this. */
#ifndef SYMBIONT_EMU_FPU_H
#define SYMBIONT_EMU_FPU_H

#include <string.h>

#include "cpu/emu/emu.h"

#define FSW_IE  0x0001
#define FSW_SF  0x0040
#define FSW_ES  0x0080
#define FSW_C1  0x0200
#define FSW_TOP 0x3800
#define FSW_B   0x8000

#define MXCSR_FLAGS          0x003f
#define MXCSR_MASKS          0x1f80
#define MXCSR_MASK_SUPPORTED 0xffffu /* FXSAVE's MXCSR_MASK: FZ and DAZ work */

static inline unsigned fpu_top(const struct emu_cpu *cpu)
{
	return (cpu->fpu.sw >> 11) & 7;
}

/* Tag of an 80-bit register by its contents: 0 valid, 1 zero, 2 special. */
static inline unsigned fpu_classify(const uint8_t r[10])
{
	uint64_t m;
	memcpy(&m, r, 8);
	unsigned e = (r[8] | r[9] << 8) & 0x7fff;
	if (e == 0)
		return m ? 2 : 1;
	if (e == 0x7fff || !(m >> 63))
		return 2;
	return 0;
}

/* Full tag word as FNSTENV stores it: empty stays empty, the others are
 * derived from the register contents. */
uint16_t fpu_full_tags(const struct emu_cpu *cpu);
/* FXSAVE's abridged tag byte and back. */
uint8_t fpu_abridged_tags(const struct emu_cpu *cpu);
/* ES and B from the flags and masks (after CW or SW were loaded). */
void fpu_update_es(struct emu_cpu *cpu);
void fpu_set_abridged_tags(struct emu_cpu *cpu, uint8_t ftw);

/* An unmasked exception is pending.  Besides ES, any unmasked flag counts:
 * the host FPU, given such a state by FRSTOR, would trap at the next
 * waiting instruction — in the VMM — so it must never get there. */
static inline bool fpu_pending(const struct emu_cpu *cpu)
{
	return (cpu->fpu.sw & FSW_ES) || (cpu->fpu.sw & ~cpu->fpu.cw & 0x3f);
}

/* MMX: every MMX instruction first needs CR0.EM=0 (#UD), CR0.TS=0 (#NM)
 * and no pending x87 exception (#MF); then TOP=0 and all tags valid. */
void mmx_enter_slow(struct emu_cpu *cpu);
static inline void mmx_enter(struct emu_cpu *cpu)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		emu_raise(cpu, (cpu->cr0 & CR0_EM) ? EXC_UD : EXC_NM);
	if (fpu_pending(cpu))
		emu_raise(cpu, EXC_MF);
	if ((cpu->fpu.sw & FSW_TOP) || cpu->fpu.tw)
		mmx_enter_slow(cpu);
}
/* After mmx_enter, MMi is st[i]. */
static inline uint64_t mmx_get(const struct emu_cpu *cpu, unsigned i)
{
	uint64_t v;
	memcpy(&v, cpu->fpu.st[i & 7], 8);
	return v;
}
static inline void mmx_set(struct emu_cpu *cpu, unsigned i, uint64_t v)
{
	memcpy(cpu->fpu.st[i & 7], &v, 8);
	cpu->fpu.st[i & 7][8] = 0xff;
	cpu->fpu.st[i & 7][9] = 0xff;
}

/* SSE availability: CR0.EM or !CR4.OSFXSR → #UD, CR0.TS → #NM. */
static inline void sse_check(struct emu_cpu *cpu)
{
	if ((cpu->cr0 & CR0_EM) || !(cpu->cr4 & CR4_OSFXSR))
		emu_raise(cpu, EXC_UD);
	if (cpu->cr0 & CR0_TS)
		emu_raise(cpu, EXC_NM);
}

/* x87 fast paths (fpu_fast.c): false means nothing changed, take the
 * exact FRSTOR/FNSAVE path. */
bool x87_fast_arith(struct emu_cpu *cpu, const struct emu_insn *in);
bool x87_fast_move(struct emu_cpu *cpu, const struct emu_insn *in);
bool x87_fast_fcomi(struct emu_cpu *cpu, const struct emu_insn *in);
bool x87_fast_mload(struct emu_cpu *cpu, const struct emu_insn *in, const uint8_t *buf);
bool x87_fast_mstore(const struct emu_cpu *cpu, const struct emu_insn *in, uint8_t *buf, uint16_t *sw);
void x87_fast_store_done(struct emu_cpu *cpu, const struct emu_insn *in, uint16_t sw);

void emu_fxsave(struct emu_cpu *cpu, const struct emu_insn *in);
void emu_fxrstor(struct emu_cpu *cpu, const struct emu_insn *in);
/* The FXSAVE image's pieces, for XSAVE (xsave.c): the first 160 + 16 *
 * nxmm bytes of the image of the current state; the x87 part of an image
 * (bytes 0-23 and 32-159) loaded. */
void emu_fx_build(const struct emu_cpu *cpu, uint8_t *b, bool w64, unsigned nxmm);
void emu_fx_load_x87(struct emu_cpu *cpu, const uint8_t *b, bool w64);
/* XSAVE, XSAVEOPT, XRSTOR (0F AE /4 /6 /5; xsave.c). */
void emu_xsave(struct emu_cpu *cpu, const struct emu_insn *in);
void emu_xrstor(struct emu_cpu *cpu, const struct emu_insn *in);
/* XSAVEC (0F C7 /4; xsave.c): the compacted format. */
void emu_xsavec(struct emu_cpu *cpu, const struct emu_insn *in);

#endif
