/* Shared CPUID pieces: hypervisor identification and core topology. */
#include <string.h>

#include "cpu/cpuid.h"
#include "symbiont/abi/cpuid.h"

bool cpuid_hypervisor_leaf(uint32_t leaf, const struct cpuid_hv_info *hv, struct cpuid_regs *r)
{
	memset(r, 0, sizeof(*r));
	if ((leaf & 0xffffff00u) != SYM_CPUID_LEAF_SIGNATURE)
		return false;
	switch (leaf) {
	case SYM_CPUID_LEAF_SIGNATURE:
		r->eax = SYM_CPUID_LEAF_MAX;
		r->ebx = SYM_CPUID_SIG_EBX;
		r->ecx = SYM_CPUID_SIG_ECX;
		r->edx = SYM_CPUID_SIG_EDX;
		break;
	case SYM_CPUID_LEAF_INFO:
		r->eax = SYM_ABI_VERSION;
		r->ebx = hv->engine;
		r->ecx = hv->features;
		break;
	case SYM_CPUID_LEAF_TIMING:
		r->eax = hv->tsc_khz;
		r->ebx = hv->apic_khz;
		break;
	}
	return true;
}

unsigned cpuid_core_bits(int ncpus)
{
	unsigned bits = 0;
	while ((1 << bits) < ncpus)
		bits++;
	return bits;
}

void cpuid_topology_leaf(uint32_t subleaf, int ncpus, uint32_t apic_id, struct cpuid_regs *r)
{
	memset(r, 0, sizeof(*r));
	r->edx = apic_id;
	switch (subleaf) {
	case 0: /* SMT level: one thread per core */
		r->eax = 0;
		r->ebx = 1;
		r->ecx = (1u << 8) | subleaf;
		break;
	case 1: /* core level: ncpus cores in the package */
		r->eax = cpuid_core_bits(ncpus);
		r->ebx = (uint32_t)ncpus;
		r->ecx = (2u << 8) | subleaf;
		break;
	default: /* invalid level ends the enumeration */ r->ecx = subleaf & 0xff; break;
	}
}
