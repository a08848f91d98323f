/* MMX, SSE and SSE2 for the software engine, plus 0F 77 EMMS and the 0F AE
 * group (FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/fences/CLFLUSH).
 *
 * CPUID feature bits this part fully implements (the CPUID policy in
 * cpuid.c advertises from this list):
 *   CPUID.1:EDX  FPU (bit 0, fpu.c), MMX (23), FXSR (24), SSE (25), SSE2 (26)
 *   CPUID.1:EDX  CLFSH (19): CLFLUSH is accepted (a no-op: no caches)
 *   CPUID.1:ECX  SSE3 (bit 0): ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD, MOVSHDUP,
 *                MOVSLDUP, MOVDDUP, LDDQU here, FISTTP in fpu.c (MONITOR/
 *                MWAIT have their own bit 3 and are not part of this)
 *   CPUID.1:ECX  SSSE3 (bit 9): PSHUFB, PHADD/PHSUB W/D/SW, PMADDUBSW,
 *                PMULHRSW, PSIGN B/W/D, PABS B/W/D, PALIGNR (MMX and XMM)
 *   CPUID.1:ECX  SSE4.1 (bit 19), SSE4.2 (bit 20; PCMPxSTRx, PCMPGTQ, CRC32;
 *                POPCNT is the integer part's) in sse4.c, both only when
 *                emu_sse4_host_ok() (they use the host's SSE4 for some ops)
 * Not implemented, do not advertise: AES, PCLMULQDQ, SHA, GFNI, AVX,
 * FXSR_OPT/FFXSR, MMXEXT/3DNow! (the SSE integer MMX forms such as PMINUB
 * mm, PSHUFW, PMOVMSKB mm, MASKMOVQ are present because SSE requires them),
 * XSAVE, CLFLUSHOPT/CLWB, FSGSBASE, SSE4a.  Other 0F38/0F3A opcodes are #UD.
 *
 * Files: sse.c selection and the 0F AE group, sse_int.c MMX/SSE2/SSSE3 integer,
 * sse_fp.c SSE/SSE2/SSE3 floating point and moves, sse4.c SSE4.1/4.2,
 * fxsave.c FXSAVE/FXRSTOR. */
#include "cpu/emu/sse.h"

/* ---- 0F AE group --------------------------------------------------------- */

static void ldmxcsr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	uint32_t v = (uint32_t)emu_read(cpu, in->seg, emu_ea(cpu, in), 4);
	if (v & ~MXCSR_MASK_SUPPORTED)
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->mxcsr = v;
}

static void stmxcsr(struct emu_cpu *cpu, const struct emu_insn *in)
{
	sse_check(cpu);
	emu_write(cpu, in->seg, emu_ea(cpu, in), cpu->mxcsr, 4);
}

/* One host thread runs each vCPU, but other vCPUs' threads share guest
 * memory: MFENCE keeps the full barrier, LFENCE/SFENCE order nothing more
 * than x86-TSO already does. */
static void mfence(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)cpu, (void)in;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void lsfence(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)cpu, (void)in;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* CLFLUSH: no caches to flush; only the segment checks of a byte access. */
static void clflush(struct emu_cpu *cpu, const struct emu_insn *in)
{
	emu_linear(cpu, in->seg, emu_ea(cpu, in), 1, false);
}

static emu_exec_fn grp15_select(const struct emu_insn *in, unsigned pfx)
{
	unsigned r = (in->modrm >> 3) & 7;
	if (pfx != PF_NONE)
		return NULL;
	if (in->has_mem) {
		static const emu_exec_fn mem[8] = { emu_fxsave, emu_fxrstor, ldmxcsr,   stmxcsr,
			                            emu_xsave,  emu_xrstor,  emu_xsave, clflush }; /* /6: XSAVEOPT */
		return mem[r];
	}
	static const emu_exec_fn reg[8] = { [5] = lsfence, [6] = mfence, [7] = lsfence };
	return reg[r];
}

/* ---- selection ----------------------------------------------------------- */

emu_exec_fn emu_sse_select(const struct emu_insn *in)
{
	unsigned pfx = sse_pfx(in), op = in->opcode;
	if (in->map == 2 || in->map == 3) {
		emu_exec_fn fn = sse_ssse3_select(in, pfx);
		return fn ? fn : sse4_select(in, pfx);
	}
	if (in->map != 1)
		return NULL;
	if (op == 0xae)
		return grp15_select(in, pfx);
	if ((op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) || (op >= 0x50 && op <= 0x5f) || op == 0xc2 ||
	    op == 0xc6 || op == 0xe6 || op == 0xd0 || ((op == 0x7c || op == 0x7d) && pfx))
		return sse_fp_select(in, pfx);
	if ((op >= 0x60 && op <= 0x7f) || (op >= 0xc3 && op <= 0xc5) || op >= 0xd0)
		return sse_int_select(in, pfx);
	return NULL;
}
