/* The emu engine's model-specific registers: what RDMSR/WRMSR see, with the
 * checks that make a bad WRMSR #GP as on hardware, and the power-on values.
 * The numbers are in symbiont/x86.h, shared with the KVM engine. */
#include <string.h>

#include "cpu/emu/sys.h"
#include "symbiont/replay.h"

/* ARCH_CAPABILITIES: the bugs this CPU does not have (it has no
 * speculation at all), so Linux skips PTI, VERW buffers clearing and
 * similar mitigations that only cost time here. */
#define ARCH_CAP_VALUE                                                                                \
	((1ULL << 0) /* RDCL_NO */ | (1ULL << 3) /* SKIP_L1DFL */ | (1ULL << 4) /* SSB_NO */ |        \
	 (1ULL << 5) /* MDS_NO */ | (1ULL << 6) /* PSCHANGE_MC_NO */ | (1ULL << 8) /* TAA_NO */ |     \
	 (1ULL << 13) /* SBDR_SSDP_NO */ | (1ULL << 14) /* FBSDP_NO */ | (1ULL << 15) /* PSDP_NO */ | \
	 (1ULL << 20) /* BHI_NO */ | (1ULL << 24) /* PBRSB_NO */ | (1ULL << 26) /* GDS_NO */ |        \
	 (1ULL << 27) /* RFDS_NO */ | (1ULL << 62) /* ITS_NO */)

void emu_msr_get_state(struct emu_cpu *cpu, struct x86_msrs *m)
{
	m->star = cpu->star;
	m->lstar = cpu->lstar;
	m->cstar = cpu->cstar;
	m->sfmask = cpu->sfmask;
	m->kernel_gs_base = cpu->kernel_gs_base;
	m->sysenter_cs = cpu->sysenter_cs;
	m->sysenter_esp = cpu->sysenter_esp;
	m->sysenter_eip = cpu->sysenter_eip;
	m->tsc = emu_rdtsc(cpu);
	m->tsc_adjust = cpu->tsc_adjust;
	m->tsc_aux = cpu->tsc_aux;
	m->tsc_deadline = cpu->lapic ? lapic_get_tsc_deadline(cpu->lapic) : 0;
	m->pat = cpu->pat;
	m->misc_enable = cpu->misc_enable;
	m->mtrr_def_type = cpu->mtrr_def_type;
	memcpy(m->mtrr_fixed, cpu->mtrr_fixed, sizeof(m->mtrr_fixed));
	memcpy(m->mtrr_var, cpu->mtrr_var, sizeof(m->mtrr_var));
}

/* As a restore, not as WRMSR: the TSC takes the value without moving
 * TSC_ADJUST, which comes back as saved.  The TSC deadline needs the
 * local APIC's timer mode, so the caller sets it after the APIC. */
void emu_msr_set_state(struct emu_cpu *cpu, const struct x86_msrs *m)
{
	cpu->star = m->star;
	cpu->lstar = m->lstar;
	cpu->cstar = m->cstar;
	cpu->sfmask = m->sfmask;
	cpu->kernel_gs_base = m->kernel_gs_base;
	cpu->sysenter_cs = m->sysenter_cs;
	cpu->sysenter_esp = m->sysenter_esp;
	cpu->sysenter_eip = m->sysenter_eip;
	cpu->tsc_offset += m->tsc - emu_rdtsc(cpu);
	cpu->tsc_adjust = m->tsc_adjust;
	cpu->tsc_aux = m->tsc_aux;
	cpu->pat = m->pat;
	cpu->misc_enable = m->misc_enable;
	cpu->mtrr_def_type = m->mtrr_def_type;
	memcpy(cpu->mtrr_fixed, m->mtrr_fixed, sizeof(m->mtrr_fixed));
	memcpy(cpu->mtrr_var, m->mtrr_var, sizeof(m->mtrr_var));
}

void emu_msr_reset(struct emu_cpu *cpu)
{
	cpu->pat = 0x0007040600070406ULL;
	cpu->misc_enable = 1 | (1ULL << 11) | (1ULL << 12); /* fast strings; no BTS/PEBS */
	cpu->mtrr_def_type = 0xc06;                         /* MTRRs on, fixed on, default WB */
	for (int i = 0; i < 11; i++)
		cpu->mtrr_fixed[i] = 0x0606060606060606ULL;
	memset(cpu->mtrr_var, 0, sizeof(cpu->mtrr_var));
	cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
	cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
	cpu->tsc_aux = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr[6] = 0xffff0ff0;
	cpu->dr[7] = 0x400;
	cpu->dr_exec = cpu->dr_data = cpu->dr_io = cpu->dr_hit = cpu->dbg_slow = 0;
	cpu->dr6_deferred = 0;
	cpu->rep_yield_at = 0;
	cpu->xcr0 = 1; /* x87 only, at power-on and INIT */
}

static int mtrr_fixed_index(uint32_t msr)
{
	if (msr == MSR_MTRR_FIX64K)
		return 0;
	if (msr == MSR_MTRR_FIX16K_80000 || msr == MSR_MTRR_FIX16K_A0000)
		return 1 + (int)(msr - MSR_MTRR_FIX16K_80000);
	if (msr >= MSR_MTRR_FIX4K_C0000 && msr <= MSR_MTRR_FIX4K_C0000 + 7)
		return 3 + (int)(msr - MSR_MTRR_FIX4K_C0000);
	return -1;
}

bool emu_msr_read(struct emu_cpu *cpu, uint32_t msr, uint64_t *val)
{
	int i;

	switch (msr) {
	case MSR_TSC: *val = emu_rdtsc_guest(cpu); return true;
	case MSR_TSC_ADJUST: *val = cpu->tsc_adjust; return true;
	case MSR_PLATFORM_ID: *val = 0; return true;
	case MSR_APIC_BASE: *val = cpu->apic_base; return true;
	case MSR_FEATURE_CONTROL: *val = 1; return true; /* locked, nothing enabled */
	case MSR_BIOS_SIGN_ID: *val = 0; return true;
	case MSR_PLATFORM_INFO: *val = (EMU_TSC_HZ / 100000000ULL) << 8; return true;
	case MSR_MTRRCAP: *val = 0x508; return true; /* 8 variable, fixed, WC */
	case MSR_ARCH_CAPABILITIES: *val = ARCH_CAP_VALUE; return true;
	case MSR_SYSENTER_CS: *val = cpu->sysenter_cs; return true;
	case MSR_SYSENTER_ESP: *val = cpu->sysenter_esp; return true;
	case MSR_SYSENTER_EIP: *val = cpu->sysenter_eip; return true;
	case MSR_MCG_CAP: *val = 0; return true;
	case MSR_MCG_STATUS: *val = 0; return true;
	case MSR_MISC_ENABLE: *val = cpu->misc_enable; return true;
	case MSR_PAT: *val = cpu->pat; return true;
	case MSR_MTRR_DEF_TYPE: *val = cpu->mtrr_def_type; return true;
	case MSR_TSC_DEADLINE: /* cleared when the timer fires: host time */
		*val = cpu->lapic ? lapic_get_tsc_deadline(cpu->lapic) : 0;
		if (cpu->vm && cpu->vm->replay && !replay_take_read(cpu->vm, RR_MSR, MSR_TSC_DEADLINE, 8, val))
			replay_note_read(cpu->vm, RR_MSR, MSR_TSC_DEADLINE, 8, *val);
		return true;
	case MSR_EFER: *val = cpu->efer; return true;
	case MSR_STAR: *val = cpu->star; return true;
	case MSR_LSTAR: *val = cpu->lstar; return true;
	case MSR_CSTAR: *val = cpu->cstar; return true;
	case MSR_SFMASK: *val = cpu->sfmask; return true;
	case MSR_FS_BASE: *val = cpu->seg[SEG_FS].base; return true;
	case MSR_GS_BASE: *val = cpu->seg[SEG_GS].base; return true;
	case MSR_KERNEL_GS_BASE: *val = cpu->kernel_gs_base; return true;
	case MSR_TSC_AUX: *val = cpu->tsc_aux; return true;
	}
	if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
		*val = cpu->mtrr_var[msr - MSR_MTRR_PHYS_BASE0];
		return true;
	}
	if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
		return cpu->lapic && lapic_msr_read(cpu->lapic, msr, val);
	i = mtrr_fixed_index(msr);
	if (i >= 0) {
		*val = cpu->mtrr_fixed[i];
		return true;
	}
	return false;
}

static bool mtrr_type_ok(uint64_t t)
{
	return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

bool emu_msr_write(struct emu_cpu *cpu, uint32_t msr, uint64_t v)
{
	int i;

	switch (msr) {
	case MSR_TSC: {
		uint64_t d = v - emu_rdtsc(cpu);
		cpu->tsc_offset += d;
		cpu->tsc_adjust += d;
		return true;
	}
	case MSR_TSC_ADJUST:
		cpu->tsc_offset += v - cpu->tsc_adjust;
		cpu->tsc_adjust = v;
		return true;
	case MSR_APIC_BASE: {
		/* The BSP flag is read-only.  The modes (SDM 10.12.5): disabled,
		 * xAPIC (EN), x2APIC (EN|EXTD); EXTD without EN is invalid, and
		 * x2APIC is entered only from xAPIC and left only by disabling. */
		const uint64_t mode = APIC_BASE_EN | APIC_BASE_EXTD;
		uint64_t from = cpu->apic_base & mode, to = v & mode;
		if (v & (0x2ff | ~((1ULL << EMU_PHYS_BITS) - 1)))
			return false;
		if (to == APIC_BASE_EXTD || (from == mode && to == APIC_BASE_EN) || (from == 0 && to == mode))
			return false;
		cpu->apic_base = (v & ~APIC_BASE_BSP) | (cpu->apic_base & APIC_BASE_BSP);
		emu_tlb_flush(cpu, true); /* the LAPIC page moved, appeared or went */
		return true;
	}
	case MSR_BIOS_SIGN_ID: return true;
	case MSR_FEATURE_CONTROL: return false; /* locked */
	case MSR_SYSENTER_CS: cpu->sysenter_cs = v & 0xffff; return true;
	case MSR_SYSENTER_ESP:
		if (!emu_canonical(v))
			return false;
		cpu->sysenter_esp = v;
		return true;
	case MSR_SYSENTER_EIP:
		if (!emu_canonical(v))
			return false;
		cpu->sysenter_eip = v;
		return true;
	case MSR_MCG_STATUS: return v == 0;
	case MSR_MISC_ENABLE:
		/* The SDM's read/write bits stick (fast strings, automatic
		 * thermal control, SpeedStep, MONITOR FSM, limit CPUID maxval,
		 * xTPR disable, XD disable); the read-only ones keep their
		 * value whatever is written; anything else is reserved. */
		if (v & ~(MISC_ENABLE_RW | MISC_ENABLE_RO))
			return false;
		cpu->misc_enable = (v & MISC_ENABLE_RW) | (cpu->misc_enable & MISC_ENABLE_RO);
		if (cpu->misc_enable & MISC_ENABLE_XD_DISABLE) {
			cpu->efer &= ~EFER_NXE; /* as the hardware: NX is gone with it */
			emu_tlb_flush(cpu, true);
		}
		return true;
	case MSR_PAT:
		for (int b = 0; b < 8; b++)
			if (!mtrr_type_ok((v >> (b * 8)) & 0xff) && ((v >> (b * 8)) & 0xff) != 7)
				return false;
		cpu->pat = v;
		return true;
	case MSR_MTRR_DEF_TYPE:
		if ((v & ~0xcffULL) || !mtrr_type_ok(v & 0xff))
			return false;
		cpu->mtrr_def_type = v;
		return true;
	case MSR_TSC_DEADLINE:
		if (cpu->lapic)
			lapic_set_tsc_deadline(cpu->lapic, v);
		return true;
	case MSR_EFER: {
		uint64_t allowed = EFER_SCE | EFER_LME | EFER_LMA;
		if (!(cpu->misc_enable & MISC_ENABLE_XD_DISABLE))
			allowed |= EFER_NXE;
		if (v & ~allowed)
			return false;
		if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
			return false;
		v = (v & ~EFER_LMA) | (cpu->efer & EFER_LMA);
		if ((v ^ cpu->efer) & EFER_NXE)
			emu_tlb_flush(cpu, true);
		cpu->efer = v;
		return true;
	}
	case MSR_STAR: cpu->star = v; return true;
	case MSR_LSTAR:
		if (!emu_canonical(v))
			return false;
		cpu->lstar = v;
		return true;
	case MSR_CSTAR:
		if (!emu_canonical(v))
			return false;
		cpu->cstar = v;
		return true;
	case MSR_SFMASK: cpu->sfmask = (uint32_t)v; return true;
	case MSR_FS_BASE:
		if (!emu_canonical(v))
			return false;
		cpu->seg[SEG_FS].base = v;
		return true;
	case MSR_GS_BASE:
		if (!emu_canonical(v))
			return false;
		cpu->seg[SEG_GS].base = v;
		return true;
	case MSR_KERNEL_GS_BASE:
		if (!emu_canonical(v))
			return false;
		cpu->kernel_gs_base = v;
		return true;
	case MSR_TSC_AUX:
		if (v >> 32)
			return false;
		cpu->tsc_aux = v;
		return true;
	}
	if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
		if ((msr & 1) == 0 && !mtrr_type_ok(v & 0xff))
			return false;
		cpu->mtrr_var[msr - MSR_MTRR_PHYS_BASE0] = v;
		return true;
	}
	i = mtrr_fixed_index(msr);
	if (i >= 0) {
		for (int b = 0; b < 8; b++)
			if (!mtrr_type_ok((v >> (b * 8)) & 0xff))
				return false;
		cpu->mtrr_fixed[i] = v;
		return true;
	}
	if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
		return cpu->lapic && lapic_msr_write(cpu->lapic, msr, v);
	return false;
}
