/* CPUID policy of the emu engine: it advertises exactly what the engine
 * implements (see the feature lists at the top of decode.c and sse.c), so a
 * guest never picks an instruction that would #UD.
 *
 * The CPU is a plain family-6 Intel part with a model number no kernel has
 * quirks for.  Time sources are announced so Linux never calibrates against
 * the PIT: leaf 0x15/0x16 (crystal and TSC frequency; Linux derives the
 * LAPIC timer period from the crystal), invariant TSC, TSC-deadline timer
 * and the hypervisor timing leaf 0x40000010.  ARCH_CAPABILITIES declares
 * the speculation bugs absent (an interpreter has no speculation), which
 * spares the guest PTI and buffer-clearing mitigations. */
#include <string.h>

#include "cpu/cpuid.h"
#include "cpu/emu/sys.h"
#include "symbiont/abi/cpuid.h"
#include "symbiont/vm.h"

#define MAX_BASIC 0x16
#define MAX_EXT   0x80000008u

#define FAMILY   6
#define MODEL    0x6f
#define STEPPING 1

static const char brand[48] = "Symbiont emu CPU @ 2.00GHz";

static int ncpus_of(const struct emu_cpu *cpu)
{
	return cpu->vm && cpu->vm->ncpus > 0 ? cpu->vm->ncpus : 1;
}

static uint32_t apic_id_of(struct emu_cpu *cpu)
{
	return cpu->lapic ? lapic_get_id(cpu->lapic) : (cpu->vcpu ? (uint32_t)cpu->vcpu->id : 0);
}

void emu_cpuid(struct emu_cpu *cpu, uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	static const struct cpuid_hv_info hv = {
		.engine = SYM_ENGINE_EMU,
		.tsc_khz = (uint32_t)(EMU_TSC_HZ / 1000),
		.apic_khz = (uint32_t)(EMU_CRYSTAL_HZ / 1000),
		/* the symbiotic MSR writes reach services through the event
		 * hub, and vCPU state can be saved and set while paused */
		.features = SYM_FEAT_SYMSPY | SYM_FEAT_SYMCALL,
	};
	int n = ncpus_of(cpu);
	struct cpuid_regs cr;

	if (cpuid_hypervisor_leaf(leaf, &hv, &cr)) {
		r[0] = cr.eax, r[1] = cr.ebx, r[2] = cr.ecx, r[3] = cr.edx;
		return;
	}
	memset(r, 0, 4 * sizeof(r[0]));
	uint32_t max_basic = cpu->misc_enable & MISC_ENABLE_LIMIT_CPUID ? 2 : MAX_BASIC;
	if (leaf > max_basic && leaf < 0x40000000u)
		leaf = max_basic;
	if (leaf > MAX_EXT)
		leaf = MAX_BASIC;
	switch (leaf) {
	case 0:
		r[0] = max_basic;
		memcpy(&r[1], "Genu", 4);
		memcpy(&r[3], "ineI", 4);
		memcpy(&r[2], "ntel", 4);
		break;
	case 1:
		r[0] = STEPPING | ((MODEL & 0xf) << 4) | (FAMILY << 8) | ((MODEL >> 4) << 16);
		r[1] = (8 << 8) | ((uint32_t)(n > 1 ? n : 1) << 16) | (apic_id_of(cpu) << 24);
		r[2] = (1u << 0)                                            /* SSE3 (sse_fp.c, FISTTP in fpu.c) */
		       | (1u << 9)                                          /* SSSE3 (sse_int.c) */
		       | (emu_avx_ok() ? 1u << 12 : 0)                      /* FMA (avx_fma.c) */
		       | (1u << 13)                                         /* CX16 */
		       | (1u << 17)                                         /* PCID (system.c: CR3 writes flush) */
		       | (emu_sse4_host_ok() ? (1u << 19) | (1u << 20) : 0) /* SSE4.1/4.2 (sse4.c, via the host's) */
		       | (1u << 21)                                         /* x2APIC (lapic.c) */
		       | (1u << 22)                                         /* MOVBE (bitops.c) */
		       | (1u << 23)                                         /* POPCNT */
		       | (1u << 24)                                         /* TSC-deadline */
		       | (1u << 26)                                         /* XSAVE (xsave.c) */
		       | (cpu->cr4 & CR4_OSXSAVE ? 1u << 27 : 0)            /* OSXSAVE: CR4's bit */
		       | (emu_avx_ok() ? (1u << 28) | (1u << 29) : 0)       /* AVX (avx.c), F16C (avx_fma.c) */
		       | SYM_CPUID_1_ECX_HYPERVISOR;
		r[3] = (1u << 0)                                       /* FPU */
		       | (1u << 3)                                     /* PSE */
		       | (1u << 4)                                     /* TSC */
		       | (1u << 5)                                     /* MSR */
		       | (1u << 6)                                     /* PAE */
		       | (1u << 8)                                     /* CX8 */
		       | (cpu->apic_base & APIC_BASE_EN ? 1u << 9 : 0) /* APIC: gone while globally disabled */
		       | (1u << 11)                                    /* SEP */
		       | (1u << 12)                                    /* MTRR */
		       | (1u << 13)                                    /* PGE */
		       | (1u << 15)                                    /* CMOV */
		       | (1u << 16)                                    /* PAT */
		       | (1u << 19)                                    /* CLFSH */
		       | (1u << 23)                                    /* MMX */
		       | (1u << 24)                                    /* FXSR */
		       | (1u << 25)                                    /* SSE */
		       | (1u << 26)                                    /* SSE2 */
		       | (n > 1 ? 1u << 28 : 0);                       /* HTT: more than one logical CPU */
		break;
	case 4:
		/* No cache descriptions; bits 31:26 = cores per package - 1. */
		if (sub == 0 && n > 1)
			r[0] = (uint32_t)(n - 1) << 26;
		break;
	case 6:
		r[0] = 1u << 2; /* ARAT: the APIC timer runs in every C-state */
		break;
	case 7:
		if (sub == 0) {
			r[1] = (1u << 1)                            /* TSC_ADJUST: with invariant TSC, Linux trusts the
			                                             * TSC without a watchdog that slow emulation would trip */
			       | (1u << 3)                          /* BMI1 (bmi.c; TZCNT in bitops.c) */
			       | (emu_avx_ok() ? 1u << 5 : 0)       /* AVX2 (avx.c) */
			       | (1u << 7)                          /* SMEP (mmu.c) */
			       | (1u << 8)                          /* BMI2 (bmi.c) */
			       | (1u << 9)                          /* ERMS: REP MOVSB/STOSB are the fast way */
			       | (1u << 10)                         /* INVPCID (system.c) */
			       | (1u << 20);                        /* SMAP (mmu.c, STAC/CLAC in system.c) */
			r[2] = (1u << 2)                            /* UMIP (seg.c, system.c) */
			       | (1u << 3)                          /* PKU (mmu.c, RDPKRU/WRPKRU in system.c) */
			       | (cpu->cr4 & CR4_PKE ? 1u << 4 : 0) /* OSPKE: CR4's bit */
			       | (1u << 22);                        /* RDPID (system.c) */
			r[3] = (1u << 4) | (1u << 29);              /* FSRM, ARCH_CAPABILITIES */
		}
		break;
	case 0xd: /* extended state: x87, SSE, AVX and PKRU, standard and compacted */
		if (sub == 0) {
			r[0] = 0x207; /* the components XCR0 may enable */
			/* the area's size for XCR0, and at most */
			r[1] = cpu->xcr0 & (1u << 9) ? 2688 + 8 : cpu->xcr0 & 4 ? 576 + 256 : 512 + 64;
			r[2] = 2688 + 8;
		} else if (sub == 1) {
			r[0] = 1 | 2; /* XSAVEOPT, XSAVEC; no XGETBV(1), XSAVES */
			/* the compacted area's size for XCR0 (no IA32_XSS): Linux
			 * sizes its XSAVEC buffers by it and checks it */
			r[1] = 576 + (cpu->xcr0 & 4 ? 256 : 0) + (cpu->xcr0 & (1u << 9) ? 8 : 0);
		} else if (sub == 2) {
			r[0] = 256, r[1] = 576; /* AVX (YMM upper halves): size and offset */
		} else if (sub == 9) {
			r[0] = 8, r[1] = 2688; /* PKRU: size and offset */
		}
		break;
	case 0xb:
		cpuid_topology_leaf(sub, n, apic_id_of(cpu), &cr);
		r[0] = cr.eax, r[1] = cr.ebx, r[2] = cr.ecx, r[3] = cr.edx;
		break;
	case 0x15:
		r[0] = 1;
		r[1] = (uint32_t)EMU_TSC_RATIO;
		r[2] = (uint32_t)EMU_CRYSTAL_HZ;
		break;
	case 0x16:
		r[0] = (uint32_t)(EMU_TSC_HZ / 1000000);
		r[1] = (uint32_t)(EMU_TSC_HZ / 1000000);
		r[2] = 100;
		break;
	case 0x80000000: r[0] = MAX_EXT; break;
	case 0x80000001:
		r[2] = (1u << 0)                                                    /* LAHF/SAHF in 64-bit mode */
		       | (1u << 5);                                                 /* ABM: LZCNT */
		r[3] = (1u << 11)                                                   /* SYSCALL */
		       | (cpu->misc_enable & MISC_ENABLE_XD_DISABLE ? 0 : 1u << 20) /* NX */
		       | (1u << 26)                                                 /* 1 GiB pages */
		       | (1u << 27)                                                 /* RDTSCP */
		       | (1u << 29);                                                /* LM */
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004: memcpy(r, brand + (leaf - 0x80000002) * 16, 16); break;
	case 0x80000006:
		r[2] = (256u << 16) | (6u << 12) | 64; /* 256 KiB L2, 8-way, 64-byte lines */
		break;
	case 0x80000007:
		r[3] = 1u << 8; /* invariant TSC */
		break;
	case 0x80000008: r[0] = EMU_PHYS_BITS | (EMU_VIRT_BITS << 8); break;
	default: break;
	}
}
