/* Architectural x86-64 vCPU state exchanged between the engines, the
 * loaders and services, and the architectural names (control-register,
 * RFLAGS and APIC-base bits, MSR numbers) every engine shares: each is
 * defined here once.  Both engines convert to and from struct x86_state. */
#ifndef SYMBIONT_X86_H
#define SYMBIONT_X86_H

#include <stdbool.h>
#include <stdint.h>

/* GPR indices (not REG_*: glibc's <sys/ucontext.h> owns those names). */
enum {
	X86_RAX,
	X86_RCX,
	X86_RDX,
	X86_RBX,
	X86_RSP,
	X86_RBP,
	X86_RSI,
	X86_RDI,
	X86_R8,
	X86_R9,
	X86_R10,
	X86_R11,
	X86_R12,
	X86_R13,
	X86_R14,
	X86_R15,
};

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_COUNT };

/* A segment register with its hidden descriptor cache, as KVM's
 * kvm_segment lays it out. */
struct x86_seg {
	uint64_t base;
	uint32_t limit; /* byte granular (already scaled by G) */
	uint16_t sel;
	uint8_t type, s, dpl, present, db, l, g, avl, unusable;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

/* The parts of struct x86_state beyond the registers, each valid only when
 * its bit is set in x86_state.parts.  A loader's entry state has none: the
 * engine keeps its own power-on MSRs, FPU, debug registers and local APIC.
 * An engine's get_state fills them all (X86_STATE_ALL); set_state applies
 * what is marked, so a state taken from one engine or process continues on
 * another. */
enum {
	X86_STATE_MSRS = 1 << 0,
	X86_STATE_FPU = 1 << 1,
	X86_STATE_DEBUG = 1 << 2,
	X86_STATE_EVENTS = 1 << 3,
	X86_STATE_LAPIC = 1 << 4,
	X86_STATE_ALL = (1 << 5) - 1,
	/* Not a part: a hint to set_state that guest memory is what it was
	 * when the engine last ran this vCPU (a state swapped in and out, as a
	 * SymCall does, not one restored with new RAM), so code the engine
	 * decoded from it may be kept. */
	X86_STATE_SAME_MEMORY = 1 << 8,
};

/* The MSRs Linux uses beyond those in the registers (EFER, FS/GS base in
 * the segments, APIC base below). */
struct x86_msrs {
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc, tsc_adjust, tsc_aux, tsc_deadline;
	uint64_t pat, misc_enable;
	uint64_t mtrr_def_type, mtrr_fixed[11], mtrr_var[16]; /* fixed: 0x250, 0x258-9, 0x268-f; var: 0x200-f */
};

enum { X86_MP_RUNNABLE, X86_MP_HALTED, X86_MP_WAIT_SIPI };

/* What is between instructions: blocking, NMIs, and an event chosen for
 * delivery but not yet delivered (KVM can stop there; the emu engine
 * delivers at once and never reports one). */
struct x86_events {
	bool interrupt_shadow; /* after STI / MOV SS: the next instruction runs with interrupts blocked */
	bool nmi_pending, nmi_masked;
	bool exception_injected, exception_has_error;
	uint8_t exception_nr;
	uint32_t exception_error;
	bool interrupt_injected, interrupt_soft;
	uint8_t interrupt_nr;
	uint8_t mp_state; /* X86_MP_* */
};

struct x86_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct x86_seg seg[SEG_COUNT];
	struct x86_seg tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t apic_base;

	uint32_t parts; /* X86_STATE_* */
	struct x86_msrs msr;
	/* x87/MMX/SSE as a 512-byte FXSAVE image in its 64-bit layout (64-bit
	 * FIP/FDP, XMM0-15), the format KVM's struct kvm_fpu mirrors. */
	uint8_t fxsave[512] __attribute__((aligned(16)));
	/* XCR0 (XSETBV's extended-state enables), with the FPU part; 0 is
	 * taken as its power-on value 1 (a state built without it). */
	uint64_t xcr0;
	uint32_t pkru; /* protection-key rights (the XSAVE PKRU component), with the FPU part */
	/* Bits 255:128 of YMM0-15 (the XSAVE AVX component), with the FPU part. */
	uint8_t ymmh[256];
	uint64_t dr[4], dr6, dr7;
	struct x86_events ev;
	/* The local APIC's registers as its 1 KiB xAPIC page (ID at 0x20, TPR
	 * 0x80, ISR/TMR/IRR 0x100/0x180/0x200, LVTs 0x320-0x370, timer counts
	 * 0x380/0x390, divide 0x3e0), as KVM_GET_LAPIC lays it out. */
	uint8_t lapic[1024];
};

/* Control-register and EFER bits both engines and the loaders use. */
#define CR0_PE         (1ULL << 0)
#define CR0_MP         (1ULL << 1)
#define CR0_EM         (1ULL << 2)
#define CR0_TS         (1ULL << 3)
#define CR0_ET         (1ULL << 4)
#define CR0_NE         (1ULL << 5)
#define CR0_WP         (1ULL << 16)
#define CR0_AM         (1ULL << 18)
#define CR0_NW         (1ULL << 29)
#define CR0_CD         (1ULL << 30)
#define CR0_PG         (1ULL << 31)
#define CR4_PSE        (1ULL << 4)
#define CR4_PAE        (1ULL << 5)
#define CR4_PGE        (1ULL << 7)
#define CR4_OSFXSR     (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_UMIP       (1ULL << 11)
#define CR4_LA57       (1ULL << 12)
#define CR4_PCIDE      (1ULL << 17)
#define CR4_OSXSAVE    (1ULL << 18)
#define CR4_SMEP       (1ULL << 20)
#define CR4_SMAP       (1ULL << 21)
#define CR4_PKE        (1ULL << 22)
#define EFER_SCE       (1ULL << 0)
#define EFER_LME       (1ULL << 8)
#define EFER_LMA       (1ULL << 10)
#define EFER_NXE       (1ULL << 11)

/* RFLAGS. */
#define RFLAGS_CF    (1ULL << 0)
#define RFLAGS_FIXED (1ULL << 1)
#define RFLAGS_PF    (1ULL << 2)
#define RFLAGS_AF    (1ULL << 4)
#define RFLAGS_ZF    (1ULL << 6)
#define RFLAGS_SF    (1ULL << 7)
#define RFLAGS_TF    (1ULL << 8)
#define RFLAGS_IF    (1ULL << 9)
#define RFLAGS_DF    (1ULL << 10)
#define RFLAGS_OF    (1ULL << 11)
#define RFLAGS_IOPL  (3ULL << 12)
#define RFLAGS_NT    (1ULL << 14)
#define RFLAGS_RF    (1ULL << 16)
#define RFLAGS_VM    (1ULL << 17)
#define RFLAGS_AC    (1ULL << 18)
#define RFLAGS_VIF   (1ULL << 19)
#define RFLAGS_VIP   (1ULL << 20)
#define RFLAGS_ID    (1ULL << 21)
/* The six arithmetic flags (the emu engine computes them lazily). */
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

/* IA32_APIC_BASE: its value after reset, which is also the architectural
 * MSI window (a message for the local APICs is a write to 0xFEExxxxx), and
 * its flag bits. */
#define APIC_BASE_DEFAULT 0xFEE00000ULL
#define APIC_BASE_BSP     (1ULL << 8)
#define APIC_BASE_EXTD    (1ULL << 10)
#define APIC_BASE_EN      (1ULL << 11)

/* MSR numbers. */
#define MSR_TSC               0x10
#define MSR_PLATFORM_ID       0x17
#define MSR_APIC_BASE         0x1b
#define MSR_FEATURE_CONTROL   0x3a
#define MSR_TSC_ADJUST        0x3b
#define MSR_SPEC_CTRL         0x48
#define MSR_PRED_CMD          0x49
#define MSR_BIOS_SIGN_ID      0x8b
#define MSR_PLATFORM_INFO     0xce
#define MSR_MTRRCAP           0xfe
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_SYSENTER_CS       0x174
#define MSR_SYSENTER_ESP      0x175
#define MSR_SYSENTER_EIP      0x176
#define MSR_MCG_CAP           0x179
#define MSR_MCG_STATUS        0x17a
#define MSR_MISC_ENABLE       0x1a0
#define MSR_MTRR_PHYS_BASE0   0x200
#define MSR_MTRR_FIX64K       0x250
#define MSR_MTRR_FIX16K_80000 0x258
#define MSR_MTRR_FIX16K_A0000 0x259
#define MSR_MTRR_FIX4K_C0000  0x268
#define MSR_PAT               0x277
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_TSC_DEADLINE      0x6e0
#define MSR_X2APIC_FIRST      0x800 /* x2APIC mode's registers: 0x800 + xAPIC offset / 16 */
#define MSR_X2APIC_LAST       0x8ff
#define MSR_EFER              0xc0000080
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SFMASK            0xc0000084
#define MSR_FS_BASE           0xc0000100
#define MSR_GS_BASE           0xc0000101
#define MSR_KERNEL_GS_BASE    0xc0000102
#define MSR_TSC_AUX           0xc0000103

#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MISC_ENABLE_LIMIT_CPUID (1ULL << 22) /* CPUID leaf 0 reports at most 2 */
#define MISC_ENABLE_XD_DISABLE  (1ULL << 34) /* no NX: CPUID and EFER.NXE */
/* IA32_MISC_ENABLE's read/write bits (SDM vol. 4, table 2-2: fast strings,
 * automatic thermal control, SpeedStep, MONITOR FSM, limit CPUID, xTPR
 * disable, XD disable) and read-only ones (performance monitoring
 * available, BTS and PEBS unavailable). */
#define MISC_ENABLE_RW                                                                                   \
	(MISC_ENABLE_FAST_STRING | (1ULL << 3) | (1ULL << 16) | (1ULL << 18) | MISC_ENABLE_LIMIT_CPUID | \
	 (1ULL << 23) | MISC_ENABLE_XD_DISABLE)
#define MISC_ENABLE_RO ((1ULL << 7) | (1ULL << 11) | (1ULL << 12))

/* Fills *s with the state of a CPU just after RESET (real mode at
 * F000:FFF0).  Loaders start from this and change what their entry
 * protocol needs. */
void x86_state_reset(struct x86_state *s);
/* A flat 32-bit protected-mode state (CS/DS/ES/SS base 0 limit 4G), as the
 * multiboot spec and the 32-bit Linux entry require. */
void x86_state_flat32(struct x86_state *s);

#endif
