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

/* The portable model's feature bits, by leaf: what the emu engine offers
 * (its cpuid.c, which a unit test holds equal to this table) and so what a
 * kvm guest may see when it must be able to move to emu.  Bits that
 * describe state rather than features (hypervisor, HTT) pass through. */
static const struct {
	uint32_t leaf, sub;
	struct cpuid_regs keep;
} portable[] = {
	{ 1,
	  0,
	  { .eax = ~0u,
	    .ebx = ~0u,
	    .ecx = (1u << 0) | (1u << 9) | (1u << 12) | (1u << 13) | (1u << 17) | (1u << 19) | (1u << 20) | (1u << 21) |
	           (1u << 22) | (1u << 23) | (1u << 24) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29) |
	           (1u << 31),
	    .edx = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) | (1u << 11) |
	           (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 19) | (1u << 23) | (1u << 24) |
	           (1u << 25) | (1u << 26) | (1u << 28) } },
	{ 6, 0, { .eax = 1u << 2 } },
	/* extended state: x87, SSE, AVX and PKRU (the sizes pass: KVM computes them), XSAVEOPT */
	{ 0xd, 0, { .eax = 0x207, .ebx = ~0u, .ecx = ~0u } },
	{ 0xd, 1, { .eax = 1 | 2, .ebx = ~0u } }, /* XSAVEOPT, XSAVEC; the compacted size passes */
	{ 0xd, 2, { .eax = ~0u, .ebx = ~0u } },
	{ 0xd, 9, { .eax = ~0u, .ebx = ~0u } },
	{ 7,
	  0,
	  { .ebx = (1u << 1) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 20),
	    .ecx = (1u << 2) | (1u << 3) | (1u << 4) | (1u << 22),
	    .edx = (1u << 4) | (1u << 29) } },
	{ 0x80000001,
	  0,
	  { .ecx = (1u << 0) | (1u << 5), .edx = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29) } },
};

/* Leaves the portable model has nothing in: extended-state components
 * but x87, SSE, AVX and PKRU, leaf 7's other subleaves, trace, SGX and the like. */
static bool portable_empty(uint32_t leaf, uint32_t sub)
{
	return (leaf == 0xd && sub > 2 && sub != 9) || (leaf == 7 && sub > 0) || leaf == 0x12 || leaf == 0x14 ||
	       leaf == 0x19 || leaf == 0x1d || leaf == 0x1e || leaf == 0x24;
}

void cpuid_portable_filter(uint32_t leaf, uint32_t sub, struct cpuid_regs *r)
{
	if (portable_empty(leaf, sub)) {
		memset(r, 0, sizeof(*r));
		return;
	}
	for (size_t i = 0; i < sizeof(portable) / sizeof(portable[0]); i++) {
		if (portable[i].leaf != leaf || portable[i].sub != sub)
			continue;
		r->eax &= portable[i].keep.eax;
		r->ebx &= portable[i].keep.ebx;
		r->ecx &= portable[i].keep.ecx;
		r->edx &= portable[i].keep.edx;
	}
	/* the largest area is the one x87, SSE, AVX and PKRU need, not the host's */
	if (leaf == 0xd && sub == 0 && r->eax)
		r->ecx = r->eax & (1u << 9) ? 2688 + 8 : r->eax & 4 ? 576 + 256 : 512 + 64;
}
