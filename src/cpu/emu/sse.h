/* Internal to the MMX/SSE part (sse.c, sse_int.c, sse_fp.c): operand
 * fetch/store helpers and the per-file selectors. */
#ifndef SYMBIONT_EMU_SSE_H
#define SYMBIONT_EMU_SSE_H

#include "cpu/emu/emu.h"
#include "cpu/emu/fpu.h"
#include "cpu/emu/mmu.h"

#define SSE_INLINE static inline __attribute__((always_inline))

/* Mandatory prefix of an SSE opcode: 0 none, 1 66, 2 F3, 3 F2. */
enum { PF_NONE, PF_66, PF_F3, PF_F2 };
static inline unsigned sse_pfx(const struct emu_insn *in)
{
	if (in->prefix & PFX_REP)
		return PF_F3;
	if (in->prefix & PFX_REPNE)
		return PF_F2;
	return (in->prefix & PFX_OPSIZE) ? PF_66 : PF_NONE;
}

/* 16-byte legacy-SSE memory operands must be aligned (#GP(0)) except for
 * the explicitly unaligned forms. */
SSE_INLINE void sse_check_align(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea)
{
	if (emu_linear(cpu, in->seg, ea, 16, false) & 15)
		emu_raise_err(cpu, EXC_GP, 0);
}

/* Host address of a 16-byte access that hits the TLB within one page, or
 * NULL (then the byte-wise slow path decides, faulting as it must). */
SSE_INLINE void *sse_tlb16(struct emu_cpu *cpu, uint64_t la, bool write)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	uint64_t tag = write ? e->tag_write : e->tag_read;
	if ((tag & emu_tlb_mask(emu_user_access(cpu))) == (la & EMU_PAGE_MASK) && (la & 0xfff) <= 0xff0)
		return (void *)(uintptr_t)(la + e->addend);
	return NULL;
}

/* Loads size (4, 8 or 16) bytes into v, zero-filling the rest. */
SSE_INLINE void sse_load(struct emu_cpu *cpu, const struct emu_insn *in, union emu_xmm *v, unsigned size, bool aligned)
{
	uint64_t ea = emu_ea(cpu, in);
	if (size == 16) {
		uint64_t la = emu_linear(cpu, in->seg, ea, 16, false);
		if (aligned && (la & 15))
			emu_raise_err(cpu, EXC_GP, 0);
		const void *p = sse_tlb16(cpu, la, false);
		if (__builtin_expect(p != NULL, 1))
			memcpy(v, p, 16);
		else
			emu_read_bytes(cpu, in->seg, ea, v, 16);
	} else {
		v->q[0] = emu_read(cpu, in->seg, ea, size);
		v->q[1] = 0;
	}
}

/* Stores the low size bytes of v; a 16-byte store never half-happens. */
SSE_INLINE void sse_store(struct emu_cpu *cpu, const struct emu_insn *in, const union emu_xmm *v, unsigned size, bool aligned)
{
	uint64_t ea = emu_ea(cpu, in);
	if (size == 16) {
		uint64_t la = emu_linear(cpu, in->seg, ea, 16, true);
		if (aligned && (la & 15))
			emu_raise_err(cpu, EXC_GP, 0);
		void *p = sse_tlb16(cpu, la, true);
		if (__builtin_expect(p != NULL, 1))
			memcpy(p, v, 16);
		else
			emu_write_bytes(cpu, in->seg, ea, v->b, 16);
	} else {
		emu_write(cpu, in->seg, ea, v->q[0], size);
	}
}

/* The r/m operand of an XMM instruction: the register itself, or memory
 * loaded into *tmp. */
SSE_INLINE const union emu_xmm *sse_src(struct emu_cpu *cpu, const struct emu_insn *in, union emu_xmm *tmp,
					unsigned size, bool aligned)
{
	if (!in->has_mem)
		return &cpu->xmm[in->rm];
	sse_load(cpu, in, tmp, size, aligned);
	return tmp;
}

/* The r/m operand of an MMX instruction (64 bits). */
SSE_INLINE uint64_t mmx_src(struct emu_cpu *cpu, const struct emu_insn *in)
{
	return in->has_mem ? emu_read(cpu, in->seg, emu_ea(cpu, in), 8) : mmx_get(cpu, in->rm & 7);
}

/* Raises the SIMD floating-point exception for flags that are unmasked. */
_Noreturn void sse_fp_fault(struct emu_cpu *cpu, uint32_t flags);
SSE_INLINE void sse_fp_flags(struct emu_cpu *cpu, uint32_t flags)
{
	flags &= MXCSR_FLAGS;
	if (__builtin_expect(flags & ~(cpu->mxcsr >> 7), 0))
		sse_fp_fault(cpu, flags);
	cpu->mxcsr |= flags;
}

/* Selectors of the sub-files: NULL means "not mine / #UD". */
emu_exec_fn sse_int_select(const struct emu_insn *in, unsigned pfx);
emu_exec_fn sse_fp_select(const struct emu_insn *in, unsigned pfx);
emu_exec_fn sse_ssse3_select(const struct emu_insn *in, unsigned pfx);

#endif
