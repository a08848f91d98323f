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
	if ((tag & emu_tlb_mask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK) && (la & 0xfff) <= 0xff0)
		return (void *)(uintptr_t)(la + e->addend);
	return NULL;
}

/* Loads size (4, 8 or 16) bytes into v, zero-filling the rest. */
SSE_INLINE void sse_load(struct emu_cpu *cpu, const struct emu_insn *in, union emu_xmm *v, unsigned size, bool aligned)
{
	uint64_t ea = emu_ea(cpu, in);
	aligned &= !in->vex; /* (VEX forms run through here only where unaligned is allowed) */
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
SSE_INLINE void sse_store(struct emu_cpu *cpu, const struct emu_insn *in, const union emu_xmm *v, unsigned size,
                          bool aligned)
{
	uint64_t ea = emu_ea(cpu, in);
	aligned &= !in->vex;
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

/* ---- floating point on the host ----------------------------------------
 * An SSE FP instruction runs as written on the host, with the guest's
 * MXCSR controls loaded and every exception masked; the flags come back
 * through STMXCSR. */

typedef union emu_xmm X;
typedef long long v2di __attribute__((vector_size(16)));

/* MXCSR for the host: the guest's controls, all exceptions masked, no flags. */
static inline uint32_t host_mxcsr(const struct emu_cpu *cpu)
{
	return (cpu->mxcsr & ~MXCSR_FLAGS) | MXCSR_MASKS;
}

#define HOST_PRE  "stmxcsr %[sv]\n\tldmxcsr %[mx]\n\t"
#define HOST_POST "\n\tstmxcsr %[mx]\n\tldmxcsr %[sv]"

typedef uint32_t (*host_fn)(X *d, const X *s, uint32_t mx);

/* d = d OP s for an instruction written "insn src, dst". */
#define HOST2(name, insn)                                                    \
	static inline uint32_t host_##name(X *d, const X *s, uint32_t mx)    \
	{                                                                    \
		v2di a, b;                                                   \
		uint32_t sv;                                                 \
		__builtin_memcpy(&a, d, 16);                                 \
		__builtin_memcpy(&b, s, 16);                                 \
		__asm__ volatile(HOST_PRE insn " %[b], %[a]" HOST_POST       \
		                 : [a] "+x"(a), [mx] "+m"(mx), [sv] "=m"(sv) \
		                 : [b] "x"(b));                              \
		__builtin_memcpy(d, &a, 16);                                 \
		return mx;                                                   \
	}

SSE_INLINE void fp_op(struct emu_cpu *cpu, const struct emu_insn *in, unsigned msz, host_fn f)
{
	sse_check(cpu);
	X t, d = cpu->xmm[in->reg];
	const X *s = sse_src(cpu, in, &t, msz, msz == 16);
	uint32_t fl = f(&d, s, host_mxcsr(cpu));
	/* Masked underflow needs tiny and inexact, unmasked only tiny: a run
	 * with FZ tells whether an exact result was tiny. */
	if (__builtin_expect(!(cpu->mxcsr & 0x0800) && !(fl & 0x10), 0)) {
		X d2 = cpu->xmm[in->reg];
		fl |= f(&d2, s, host_mxcsr(cpu) | 0x8000) & 0x10;
	}
	sse_fp_flags(cpu, fl);
	cpu->xmm[in->reg] = d;
}

#define FP(name, insn, msz)                                              \
	HOST2(name, insn)                                                \
	static void name(struct emu_cpu *cpu, const struct emu_insn *in) \
	{                                                                \
		fp_op(cpu, in, msz, host_##name);                        \
	}

/* Selectors of the sub-files: NULL means "not mine / #UD". */
emu_exec_fn sse_int_select(const struct emu_insn *in, unsigned pfx);
emu_exec_fn sse_fp_select(const struct emu_insn *in, unsigned pfx);
emu_exec_fn sse_ssse3_select(const struct emu_insn *in, unsigned pfx);
emu_exec_fn sse4_select(const struct emu_insn *in, unsigned pfx);

#endif
