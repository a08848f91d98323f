/* CPUID hypervisor leaves a guest uses to discover symbiont (docs/abi.md).
 * Both engines report the same values; this header is also included by
 * code that runs in the guest, so it holds only numbers. */
#ifndef SYMBIONT_ABI_CPUID_H
#define SYMBIONT_ABI_CPUID_H

/* CPUID.1:ECX bit 31: "running under a hypervisor". */
#define SYM_CPUID_1_ECX_HYPERVISOR (1u << 31)

/* Leaf 0x40000000: EAX = highest hypervisor leaf, EBX:ECX:EDX = signature
 * "SymbiontVMM\0" (little-endian bytes in register order EBX, ECX, EDX). */
#define SYM_CPUID_LEAF_SIGNATURE 0x40000000u
#define SYM_CPUID_SIG_EBX        0x626d7953u /* "Symb" */
#define SYM_CPUID_SIG_ECX        0x746e6f69u /* "iont" */
#define SYM_CPUID_SIG_EDX        0x004d4d56u /* "VMM\0" */

/* Leaf 0x40000001: EAX = ABI version, EBX = engine (SYM_ENGINE_*),
 * ECX = feature bits (SYM_FEAT_*), EDX = 0 (reserved). */
#define SYM_CPUID_LEAF_INFO 0x40000001u
#define SYM_ABI_VERSION     1u
#define SYM_ENGINE_EMU      1u
#define SYM_ENGINE_KVM      2u

/* Leaf 0x40000001 ECX feature bits. */
#define SYM_FEAT_SYMSPY  (1u << 0) /* SymSpy shared pages (abi/symspy.h) */
#define SYM_FEAT_SYMCALL (1u << 1) /* SymCall upcalls (abi/symcall.h) */

/* Leaf 0x40000010 (the VMware-style timing leaf, which Linux reads):
 * EAX = TSC frequency in kHz, EBX = local APIC timer (bus) frequency in kHz,
 * so the guest need not calibrate either against the PIT. */
#define SYM_CPUID_LEAF_TIMING 0x40000010u

/* Leaves between 0x40000001 and 0x40000010 read as zero. */
#define SYM_CPUID_LEAF_MAX SYM_CPUID_LEAF_TIMING

#endif
