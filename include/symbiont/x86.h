/* Architectural x86-64 vCPU state exchanged between the engines, the
 * loaders and services.  Both engines convert to and from this. */
#ifndef SYMBIONT_X86_H
#define SYMBIONT_X86_H

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

struct x86_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct x86_seg seg[SEG_COUNT];
	struct x86_seg tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint64_t apic_base;
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
#define EFER_SCE       (1ULL << 0)
#define EFER_LME       (1ULL << 8)
#define EFER_LMA       (1ULL << 10)
#define EFER_NXE       (1ULL << 11)
#define RFLAGS_FIXED   (1ULL << 1)
#define RFLAGS_IF      (1ULL << 9)

/* IA32_APIC_BASE after reset.  Also the architectural MSI window: a message
 * for the local APICs is a write to 0xFEExxxxx. */
#define APIC_BASE_DEFAULT 0xFEE00000ULL

/* Fills *s with the state of a CPU just after RESET (real mode at
 * F000:FFF0).  Loaders start from this and change what their entry
 * protocol needs. */
void x86_state_reset(struct x86_state *s);
/* A flat 32-bit protected-mode state (CS/DS/ES/SS base 0 limit 4G), as the
 * multiboot spec and the 32-bit Linux entry require. */
void x86_state_flat32(struct x86_state *s);

#endif
