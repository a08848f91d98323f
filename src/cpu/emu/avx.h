/* Internal to the AVX part (avx.c, avx_fma.c): VEX fields, the per-form
 * flags emu_avx_select leaves in the instruction, and shared helpers. */
#ifndef SYMBIONT_EMU_AVX_H
#define SYMBIONT_EMU_AVX_H

#include "cpu/emu/flags.h"
#include "cpu/emu/sse.h"

#define VL(in)  (((in)->vex >> 1) & 1u)
#define VPP(in) (((in)->vex >> 2) & 3u) /* PP_* */
enum { PP_NONE, PP_66, PP_F3, PP_F2 };
#define ANYW 2u /* own(): VEX.W ignored */

/* The scratch XMM slots a legacy handler runs on (emu.h: xmm[16 + 2]). */
#define AVX_SCR_SRC 16
#define AVX_SCR_DST 17

/* in->vflags */
enum {
	AVXF_NDS = 1 << 0,   /* VEX.vvvv is the first source (else it must be 1111b) */
	AVXF_L1 = 1 << 1,    /* VEX.256 exists: the legacy handler runs once per lane */
	AVXF_LIG = 1 << 2,   /* VEX.L is ignored (scalar forms) */
	AVXF_CNT = 1 << 3,   /* the r/m operand is 128 bits for both lanes (shift counts) */
	AVXF_RMGPR = 1 << 4, /* r/m names a general register or memory of its own size */
	AVXF_ZX0 = 1 << 5,   /* the handler wrote XMM0 (VPCMPxSTRM): zero YMM0's upper half */
};

void avx_check(struct emu_cpu *cpu);
void avx_load(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea, void *dst, unsigned n, bool aligned);
void avx_store(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea, const void *src, unsigned n, bool aligned);
void avx_src(struct emu_cpu *cpu, const struct emu_insn *in, X v[2], bool aligned);

/* avx_fma.c: 0F38 96-9F, A6-AF, B6-BF (FMA3); 0F38 13 and 0F3A 1D (F16C). */
emu_exec_fn avx_fma_select(struct emu_insn *in);
emu_exec_fn avx_f16c_select(struct emu_insn *in);

#endif
