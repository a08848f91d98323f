/* FXSAVE / FXRSTOR: the 512-byte x87+SSE state image.
 *
 * Layout: FCW(0) FSW(2) abridged FTW(4) FOP(6) FIP(8) [FCS(12)] FDP(16)
 * [FDS(20)] MXCSR(24) MXCSR_MASK(28) ST0..ST7 (32, 16 bytes apart)
 * XMM0..XMM15 (160).  With REX.W FIP and FDP are 64-bit and there are no
 * selectors.  Outside 64-bit mode only XMM0-7 exist.  Bytes 416-511 are
 * reserved or for software, and are neither written nor read.
 *
 * The same image is the engine's x87/SSE state exchange format
 * (emu_fpu_save/emu_fpu_load, 64-bit layout with all 16 XMM registers), as
 * KVM's struct kvm_fpu and snapshots would use it. */
#include "cpu/emu/sse.h"

/* Builds the first 160 + 16 * nxmm bytes of the image. */
void emu_fx_build(const struct emu_cpu *cpu, uint8_t *b, bool w64, unsigned nxmm)
{
	const struct emu_fpu *f = &cpu->fpu;
	memset(b, 0, 160);
	memcpy(b + 0, &f->cw, 2);
	memcpy(b + 2, &f->sw, 2);
	b[4] = fpu_abridged_tags(cpu);
	uint16_t fop = f->fop & 0x7ff;
	memcpy(b + 6, &fop, 2);
	if (w64) {
		memcpy(b + 8, &f->fip, 8);
		memcpy(b + 16, &f->fdp, 8);
	} else {
		uint32_t ip = (uint32_t)f->fip, dp = (uint32_t)f->fdp;
		memcpy(b + 8, &ip, 4);
		memcpy(b + 12, &f->fcs, 2);
		memcpy(b + 16, &dp, 4);
		memcpy(b + 20, &f->fds, 2);
	}
	uint32_t mask = MXCSR_MASK_SUPPORTED;
	memcpy(b + 24, &cpu->mxcsr, 4);
	memcpy(b + 28, &mask, 4);
	for (unsigned i = 0; i < 8; i++)
		memcpy(b + 32 + 16 * i, f->st[i], 10);
	memcpy(b + 160, cpu->xmm, 16 * nxmm);
}

void emu_fx_load_x87(struct emu_cpu *cpu, const uint8_t *b, bool w64)
{
	struct emu_fpu *f = &cpu->fpu;
	memcpy(&f->cw, b + 0, 2);
	memcpy(&f->sw, b + 2, 2);
	memcpy(&f->fop, b + 6, 2);
	f->fop &= 0x7ff;
	if (w64) {
		memcpy(&f->fip, b + 8, 8);
		memcpy(&f->fdp, b + 16, 8);
	} else {
		uint32_t ip, dp;
		memcpy(&ip, b + 8, 4);
		memcpy(&f->fcs, b + 12, 2);
		memcpy(&dp, b + 16, 4);
		memcpy(&f->fds, b + 20, 2);
		f->fip = ip, f->fdp = dp;
	}
	for (unsigned i = 0; i < 8; i++)
		memcpy(f->st[i], b + 32 + 16 * i, 10);
	fpu_set_abridged_tags(cpu, b[4]);
	fpu_update_es(cpu); /* an unmasked flag in the image is pending, as on hardware */
}

/* Loads an image whose MXCSR was checked. */
static void fx_load(struct emu_cpu *cpu, const uint8_t *b, bool w64, unsigned nxmm)
{
	emu_fx_load_x87(cpu, b, w64);
	memcpy(&cpu->mxcsr, b + 24, 4);
	memcpy(cpu->xmm, b + 160, 16 * nxmm);
}

static void fx_check(struct emu_cpu *cpu, const struct emu_insn *in, uint64_t ea)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		emu_raise(cpu, EXC_NM);
	if (emu_linear(cpu, in->seg, ea, 16, false) & 15)
		emu_raise_err(cpu, EXC_GP, 0);
}

static unsigned fx_nxmm(const struct emu_cpu *cpu)
{
	return cpu->code_mode == EMU_MODE64 ? 16 : 8;
}

void emu_fxsave(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = emu_ea(cpu, in);
	fx_check(cpu, in, ea);
	uint8_t b[416];
	unsigned nxmm = fx_nxmm(cpu);
	emu_fx_build(cpu, b, in->rex & 8, nxmm);
	emu_write_bytes(cpu, in->seg, ea, b, 160 + 16 * nxmm);
}

void emu_fxrstor(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ea = emu_ea(cpu, in);
	fx_check(cpu, in, ea);
	uint8_t b[416];
	unsigned nxmm = fx_nxmm(cpu);
	emu_read_bytes(cpu, in->seg, ea, b, 160 + 16 * nxmm);
	uint32_t mx;
	memcpy(&mx, b + 24, 4);
	if (mx & ~MXCSR_MASK_SUPPORTED)
		emu_raise_err(cpu, EXC_GP, 0);
	fx_load(cpu, b, in->rex & 8, nxmm);
}

void emu_fpu_save(struct emu_cpu *cpu, void *img)
{
	uint8_t *b = img;
	emu_fx_build(cpu, b, true, 16);
	memset(b + 416, 0, 96);
}

int emu_fpu_load(struct emu_cpu *cpu, const void *img)
{
	const uint8_t *b = img;
	uint32_t mx;
	memcpy(&mx, b + 24, 4);
	if (mx & ~MXCSR_MASK_SUPPORTED)
		return -1;
	fx_load(cpu, b, true, 16);
	return 0;
}
