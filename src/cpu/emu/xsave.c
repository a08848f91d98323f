/* XSAVE, XSAVEOPT, XSAVEC, XRSTOR, XGETBV, XSETBV: the extended-state save
 * area for the state components emu has, x87 (0), SSE (1), AVX (2: the
 * upper halves of YMM0-15) and PKRU (9).  The standard format: the 512-byte
 * FXSAVE layout, then the 64-byte header (XSTATE_BV at 512, XCOMP_BV at
 * 520), the YMM upper halves at 576 (256 bytes), PKRU at 2688.  The
 * compacted format (XSAVEC writes it, XRSTOR reads it when XCOMP_BV bit 63
 * is set): the same legacy region and header, then the components of
 * XCOMP_BV from 2 up, each right after the one before (none of emu's asks
 * for 64-byte alignment: CPUID.(0xD,i).ECX[1] is 0).  XCR0 takes bits 0, 1,
 * 2 and 9 (2 only with 1), and CPUID leaf 0xD says so.
 *
 * MXCSR, as the hardware does it (checked beside the host in test_sse):
 * in the standard format it goes with SSE or AVX (RFBM[1] or RFBM[2]),
 * loaded whatever XSTATE_BV says; in the compacted format it is part of
 * SSE alone, and an XRSTOR with XSTATE_BV[1] clear gives it 0x1F80.
 *
 * Choices the SDM leaves to the implementation: every component counts as
 * in use (XINUSE = XCR0), so XSAVE and XSAVEC set the XSTATE_BV bits of all
 * they save and save all RFBM asks for; XSAVEOPT is XSAVE (its init and
 * modified optimizations are allowed, not required).  No XSAVES (no
 * supervisor state components) and no XGETBV(1). */
#include "cpu/emu/flags.h"
#include "cpu/emu/sse.h"

#define XSTATE_X87     1u
#define XSTATE_SSE     2u
#define XSTATE_YMM     4u
#define XSTATE_PKRU    (1u << 9)
#define XCR0_SUPPORTED (XSTATE_X87 | XSTATE_SSE | XSTATE_YMM | XSTATE_PKRU)
#define XSAVE_HEADER   512
#define XSAVE_YMM      576
#define XSAVE_PKRU     2688
#define XCOMP_COMPACT  (1ULL << 63)
#define MXCSR_DEFAULT  0x1f80u

bool emu_xcr0_valid(uint64_t xcr0)
{
	return (xcr0 & XSTATE_X87) && !(xcr0 & ~(uint64_t)XCR0_SUPPORTED) &&
	       (!(xcr0 & XSTATE_YMM) || (xcr0 & XSTATE_SSE));
}

/* #UD without CR4.OSXSAVE, #NM with CR0.TS, #GP unless 64-byte aligned;
 * the requested-feature bitmap EDX:EAX & XCR0. */
static uint64_t xs_begin(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea)
{
	if (!(cpu->cr4 & CR4_OSXSAVE))
		emu_raise(cpu, EXC_UD);
	if (cpu->cr0 & CR0_TS)
		emu_raise(cpu, EXC_NM);
	if (emu_linear(cpu, in->seg, ea, 64, false) & 63)
		emu_raise_err(cpu, EXC_GP, 0);
	return ((cpu->gpr[X86_RDX] << 32) | (uint32_t)cpu->gpr[X86_RAX]) & cpu->xcr0;
}

static unsigned nxmm_of(const struct emu_cpu *cpu)
{
	return cpu->code_mode == EMU_MODE64 ? 16 : 8;
}

static uint64_t at(const struct emu_insn *in, uint64_t ea, unsigned off)
{
	return (ea + off) & sz_mask(in->addrsize);
}

void emu_xsave(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = emu_ea(cpu, in), rfbm = xs_begin(cpu, in, ea);
	unsigned nxmm = nxmm_of(cpu);
	uint8_t b[416];

	/* XSTATE_BV first: it is read as well as written, and a fault on it
	 * leaves the area untouched */
	uint64_t bv = emu_read(cpu, in->seg, at(in, ea, XSAVE_HEADER), 8);
	bv = (bv & ~rfbm) | (rfbm & cpu->xcr0);
	emu_write(cpu, in->seg, at(in, ea, XSAVE_HEADER), bv, 8);
	emu_fx_build(cpu, b, in->rex & 8, nxmm);
	if (rfbm & XSTATE_X87) {
		emu_write_bytes(cpu, in->seg, ea, b, 24);
		emu_write_bytes(cpu, in->seg, at(in, ea, 32), b + 32, 128);
	}
	if (rfbm & (XSTATE_SSE | XSTATE_YMM))
		emu_write_bytes(cpu, in->seg, at(in, ea, 24), b + 24, 8); /* MXCSR, MXCSR_MASK */
	if (rfbm & XSTATE_SSE)
		emu_write_bytes(cpu, in->seg, at(in, ea, 160), b + 160, 16 * nxmm);
	if (rfbm & XSTATE_YMM)
		emu_write_bytes(cpu, in->seg, at(in, ea, XSAVE_YMM), cpu->ymmh, 16 * nxmm);
	if (rfbm & XSTATE_PKRU)
		emu_write(cpu, in->seg, at(in, ea, XSAVE_PKRU), cpu->pkru, 8);
}

/* Where component i (2 or 9) lies in a compacted area with this XCOMP_BV:
 * after the components of lower numbers it holds. */
static unsigned compact_offset(uint64_t comp, unsigned i)
{
	unsigned off = XSAVE_YMM;
	if (i > 2 && (comp & XSTATE_YMM))
		off += 256;
	return off;
}

void emu_xsavec(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = emu_ea(cpu, in), rfbm = xs_begin(cpu, in, ea);
	unsigned nxmm = nxmm_of(cpu);
	uint8_t b[416], hdr[16];

	/* Only XSTATE_BV and XCOMP_BV of the header are written (the rest of
	 * it keeps what it held). */
	uint64_t bv = rfbm, comp = rfbm | XCOMP_COMPACT;
	memcpy(hdr, &bv, 8);
	memcpy(hdr + 8, &comp, 8);
	emu_write_bytes(cpu, in->seg, at(in, ea, XSAVE_HEADER), hdr, sizeof(hdr));
	emu_fx_build(cpu, b, in->rex & 8, nxmm);
	if (rfbm & XSTATE_X87) {
		emu_write_bytes(cpu, in->seg, ea, b, 24);
		emu_write_bytes(cpu, in->seg, at(in, ea, 32), b + 32, 128);
	}
	if (rfbm & XSTATE_SSE) {
		emu_write_bytes(cpu, in->seg, at(in, ea, 24), b + 24, 8);
		emu_write_bytes(cpu, in->seg, at(in, ea, 160), b + 160, 16 * nxmm);
	}
	if (rfbm & XSTATE_YMM)
		emu_write_bytes(cpu, in->seg, at(in, ea, compact_offset(comp, 2)), cpu->ymmh, 16 * nxmm);
	if (rfbm & XSTATE_PKRU)
		emu_write(cpu, in->seg, at(in, ea, compact_offset(comp, 9)), cpu->pkru, 8);
}

void emu_xrstor(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = emu_ea(cpu, in), rfbm = xs_begin(cpu, in, ea);
	unsigned nxmm = nxmm_of(cpu);
	uint8_t hdr[64], b[416], ymmh[256];
	uint64_t bv, comp, rsvd;
	uint32_t mxcsr = MXCSR_DEFAULT;
	bool compact, mxcsr_loads;

	/* Everything is read and checked before anything is loaded. */
	emu_read_bytes(cpu, in->seg, at(in, ea, XSAVE_HEADER), hdr, sizeof(hdr));
	memcpy(&bv, hdr, 8);
	memcpy(&comp, hdr + 8, 8);
	memcpy(&rsvd, hdr + 16, 8);
	compact = comp & XCOMP_COMPACT;
	if (bv & ~cpu->xcr0)
		emu_raise_err(cpu, EXC_GP, 0);
	if (compact) {
		/* XCOMP_BV within XCR0, XSTATE_BV within XCOMP_BV, and the rest
		 * of the header zero */
		bool rest_zero = true;
		for (unsigned i = 16; i < sizeof(hdr); i++)
			rest_zero &= !hdr[i];
		if ((comp & ~XCOMP_COMPACT & ~cpu->xcr0) || (bv & ~comp) || !rest_zero)
			emu_raise_err(cpu, EXC_GP, 0);
	} else if (comp || rsvd) { /* standard: XCOMP_BV and the next 8 bytes zero */
		emu_raise_err(cpu, EXC_GP, 0);
	}
	emu_read_bytes(cpu, in->seg, ea, b, 160 + 16 * nxmm);
	mxcsr_loads = compact ? (rfbm & bv & XSTATE_SSE) : (rfbm & (XSTATE_SSE | XSTATE_YMM));
	if (mxcsr_loads) {
		memcpy(&mxcsr, b + 24, 4);
		if (mxcsr & ~MXCSR_MASK_SUPPORTED)
			emu_raise_err(cpu, EXC_GP, 0);
	}
	if (rfbm & bv & XSTATE_YMM)
		emu_read_bytes(cpu, in->seg, at(in, ea, compact ? compact_offset(comp, 2) : XSAVE_YMM), ymmh,
		               16 * nxmm);
	uint32_t pkru = rfbm & bv & XSTATE_PKRU
	                        ? (uint32_t)emu_read(cpu, in->seg,
	                                             at(in, ea, compact ? compact_offset(comp, 9) : XSAVE_PKRU), 4)
	                        : 0;
	if (rfbm & XSTATE_X87) {
		if (!(bv & XSTATE_X87)) { /* the initial configuration */
			memset(b, 0, 160);
			b[0] = 0x7f, b[1] = 0x03; /* FCW 0x037F */
		}
		emu_fx_load_x87(cpu, b, in->rex & 8);
	}
	if (mxcsr_loads || (compact && (rfbm & XSTATE_SSE)))
		cpu->mxcsr = mxcsr; /* (compacted, XSTATE_BV[1] clear: 0x1F80) */
	if (rfbm & XSTATE_SSE) {
		if (bv & XSTATE_SSE)
			memcpy(cpu->xmm, b + 160, 16 * nxmm);
		else
			memset(cpu->xmm, 0, 16 * nxmm);
	}
	if (rfbm & XSTATE_YMM) {
		if (bv & XSTATE_YMM)
			memcpy(cpu->ymmh, ymmh, 16 * nxmm);
		else
			memset(cpu->ymmh, 0, 16 * nxmm);
	}
	if (rfbm & XSTATE_PKRU)
		emu_set_pkru(cpu, pkru); /* (0, all rights, when XSTATE_BV[9] is clear) */
}

void emu_xgetbv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	(void)in;
	if (!(cpu->cr4 & CR4_OSXSAVE))
		emu_raise(cpu, EXC_UD);
	if ((uint32_t)cpu->gpr[X86_RCX] != 0) /* XCR0 only (no XINUSE read: CPUID.(0xD,1):EAX[2] is 0) */
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->gpr[X86_RAX] = (uint32_t)cpu->xcr0;
	cpu->gpr[X86_RDX] = cpu->xcr0 >> 32;
}

void emu_xsetbv(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t v = (cpu->gpr[X86_RDX] << 32) | (uint32_t)cpu->gpr[X86_RAX];
	(void)in;
	if (!(cpu->cr4 & CR4_OSXSAVE))
		emu_raise(cpu, EXC_UD);
	if (cpu->cpl != 0 || (uint32_t)cpu->gpr[X86_RCX] != 0 || !emu_xcr0_valid(v))
		emu_raise_err(cpu, EXC_GP, 0);
	cpu->xcr0 = v;
}
