/* CPUID policy pieces both engines share: the hypervisor leaves
 * (include/symbiont/abi/cpuid.h) and the topology the guest is told about.
 * Each engine keeps its own feature policy. */
#ifndef SYMBIONT_CPU_CPUID_H
#define SYMBIONT_CPU_CPUID_H

#include <stdbool.h>
#include <stdint.h>

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

/* What the hypervisor leaves report; each engine fills in its own. */
struct cpuid_hv_info {
	uint32_t engine;   /* SYM_ENGINE_* */
	uint32_t tsc_khz;  /* guest TSC frequency */
	uint32_t apic_khz; /* local APIC timer input frequency */
	uint32_t features; /* SYM_FEAT_* the engine can carry (leaf 0x40000001 ECX) */
};

/* Fills r for a leaf in 0x40000000..0x400000ff and returns true; unused
 * leaves read as zero (still true).  False for any other leaf. */
bool cpuid_hypervisor_leaf(uint32_t leaf, const struct cpuid_hv_info *hv, struct cpuid_regs *r);

/* Leaf 0xB/0x1F (extended topology) for one package of ncpus cores with
 * one thread each, as seen by the CPU whose APIC id is apic_id. */
void cpuid_topology_leaf(uint32_t subleaf, int ncpus, uint32_t apic_id, struct cpuid_regs *r);

/* The portable CPU model (--cpu-model portable; docs/snapshot.md): the
 * features both engines can offer, so a guest may move between them.
 * Clears in r, the host's or an engine's leaf, every feature bit the model
 * does not have; emu's own model is exactly this one. */
#define CPUID_PORTABLE_TSC_KHZ 2000000u /* the TSC frequency it pins */
void cpuid_portable_filter(uint32_t leaf, uint32_t sub, struct cpuid_regs *r);

/* Bits needed to number ncpus cores (0 for one). */
unsigned cpuid_core_bits(int ncpus);

#endif
