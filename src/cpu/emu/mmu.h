/* Softmmu fast paths: inline segment + TLB lookups for emu_read/emu_write.
 *
 * A TLB tag is the page-aligned linear address plus flag bits in the low 12
 * bits, so a plain compare against the page address hits only when every
 * flag is clear:
 *   TLB_SUPER  the permission holds for supervisor accesses only (U/S=0, or a
 *              CR0.WP=0 write to a read-only page).  Supervisor lookups mask
 *              this bit out, user lookups do not: one TLB serves both
 *              privileges and a CPL change needs no flush.
 *   TLB_IO     the page is not RAM (MMIO, LAPIC, beyond RAM): the fast path
 *              always misses and the slow path uses gpa_page.
 *   TLB_USER   the page is user-accessible.  User lookups mask it out;
 *              supervisor lookups too unless SMAP (data) or SMEP (fetch)
 *              forbid the access (cpu->smap_bits / smep_bits), when they
 *              miss and the walk raises the #PF.
 * An empty tag is all ones, which matches no page.
 *
 * emu.h declares emu_read/emu_write/emu_linear as ordinary functions; the
 * macros at the end of this file send direct calls to inline versions and
 * mmu.c holds the out-of-line copies, so callers need not know which they
 * get. */
#ifndef SYMBIONT_EMU_MMU_H
#define SYMBIONT_EMU_MMU_H

#include <string.h>

#include "cpu/emu/emu.h"

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* The fast paths must really be inlined: a call per memory access costs
 * more than the lookup itself. */
#define EMU_INLINE static inline __attribute__((always_inline))

#define TLB_SUPER     1ULL
#define TLB_IO        2ULL
#define TLB_USER      8ULL
#define TLB_EMPTY     (~0ULL)
#define EMU_PAGE_MASK (~0xfffULL)

enum { ACC_READ, ACC_WRITE, ACC_EXEC };

/* Page-fault error code bits. */
#define PFERR_P    (1u << 0)
#define PFERR_W    (1u << 1)
#define PFERR_U    (1u << 2)
#define PFERR_RSVD (1u << 3)
#define PFERR_ID   (1u << 4)
#define PFERR_PK   (1u << 5)

#define EMU_PHYS_BITS 40 /* CPUID 0x80000008: what the walker treats as reserved above */
#define EMU_VIRT_BITS 48

/* Result of a page walk. */
struct emu_walk {
	uint64_t gpa;                 /* translated address (full, not page aligned) */
	uint64_t page_size;           /* 4K, 2M, 4M or 1G */
	bool user, write, nx, global; /* accumulated permissions of the leaf */
	bool dirty;                   /* the leaf's D bit is set (after this walk) */
	uint8_t pkey;                 /* the leaf's protection key (4-level paging), else 0 */
};

/* Walks the guest page tables for linear address la as access acc by a user
 * (CPL3) or supervisor access.  Sets A bits (and D on a write).  Returns 0, or
 * a page-fault error code with bit 31 set (the fault is not raised). */
#define EMU_WALK_FAULT (1u << 31)
uint32_t emu_walk(struct emu_cpu *cpu, uint64_t la, int acc, bool user, struct emu_walk *w);

/* Slow paths (mmu.c). */
uint64_t emu_read_slow(struct emu_cpu *cpu, uint64_t la, unsigned size, bool user);
void emu_write_slow(struct emu_cpu *cpu, uint64_t la, uint64_t val, unsigned size, bool user);
uint64_t emu_linear_slow(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size, bool write);

/* Physical-address device access used by the slow path (LAPIC page of this
 * vCPU, else the VM's MMIO bus). */
uint64_t emu_phys_io_read(struct emu_cpu *cpu, uint64_t gpa, unsigned size);
void emu_phys_io_write(struct emu_cpu *cpu, uint64_t gpa, uint64_t val, unsigned size);

EMU_INLINE bool emu_user_access(const struct emu_cpu *cpu)
{
	return cpu->cpl == 3;
}

/* What a lookup ignores in a tag: data accesses, and instruction fetches. */
EMU_INLINE uint64_t emu_tlb_mask(const struct emu_cpu *cpu, bool user)
{
	return user ? ~TLB_USER : ~(TLB_SUPER | TLB_USER) | cpu->smap_bits;
}

EMU_INLINE uint64_t emu_tlb_xmask(const struct emu_cpu *cpu, bool user)
{
	return user ? ~TLB_USER : ~(TLB_SUPER | TLB_USER) | cpu->smep_bits;
}

EMU_INLINE struct emu_tlb_entry *emu_tlb_entry_of(struct emu_cpu *cpu, uint64_t la)
{
	return &cpu->tlb[(la >> 12) & (EMU_TLB_SIZE - 1)];
}

EMU_INLINE uint64_t emu_load_host(const void *p, unsigned size)
{
	switch (size) {
	case 1: return *(const uint8_t *)p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

EMU_INLINE void emu_store_host(void *p, uint64_t val, unsigned size)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)val; break;
	case 2: {
		uint16_t v = (uint16_t)val;
		memcpy(p, &v, 2);
		break;
	}
	case 4: {
		uint32_t v = (uint32_t)val;
		memcpy(p, &v, 4);
		break;
	}
	default: memcpy(p, &val, 8); break;
	}
}

/* 64-bit code: only FS/GS have a base, the address must be canonical. */
EMU_INLINE uint64_t emu_linear_fast(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size, bool write)
{
	if (likely(cpu->code_mode == EMU_MODE64)) {
		uint64_t la = off + (seg >= SEG_FS ? cpu->seg[seg].base : 0);
		if (likely((uint64_t)((int64_t)(la << 16) >> 16) == la))
			return la;
	}
	return emu_linear_slow(cpu, seg, off, size, write);
}

EMU_INLINE uint64_t emu_read_la(struct emu_cpu *cpu, uint64_t la, unsigned size, bool user)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	if (likely((e->tag_read & emu_tlb_mask(cpu, user)) == (la & EMU_PAGE_MASK) && (la & 0xfff) <= 0x1000 - size))
		return emu_load_host((const void *)(uintptr_t)(la + e->addend), size);
	return emu_read_slow(cpu, la, size, user);
}

EMU_INLINE void emu_write_la(struct emu_cpu *cpu, uint64_t la, uint64_t val, unsigned size, bool user)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	if (likely((e->tag_write & emu_tlb_mask(cpu, user)) == (la & EMU_PAGE_MASK) && (la & 0xfff) <= 0x1000 - size)) {
		emu_store_host((void *)(uintptr_t)(la + e->addend), val, size);
		return;
	}
	emu_write_slow(cpu, la, val, size, user);
}

/* Function-like macros route calls to the inline versions; the real
 * functions (for function pointers and -O0 builds) are in mmu.c. */
EMU_INLINE uint64_t emu_read_inline(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size)
{
	return emu_read_la(cpu, emu_linear_fast(cpu, seg, off, size, false), size, emu_user_access(cpu));
}

EMU_INLINE void emu_write_inline(struct emu_cpu *cpu, int seg, uint64_t off, uint64_t val, unsigned size)
{
	emu_write_la(cpu, emu_linear_fast(cpu, seg, off, size, true), val, size, emu_user_access(cpu));
}

/* Instruction fetch: the TLB hit is a compare; misses go to mmu.c. */
uint64_t emu_fetch_gpa_slow(struct emu_cpu *cpu, uint64_t la);
EMU_INLINE uint64_t emu_fetch_gpa_inline(struct emu_cpu *cpu, uint64_t la)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	if (likely((e->tag_exec & emu_tlb_xmask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK)))
		return e->gpa_page | (la & 0xfff);
	return emu_fetch_gpa_slow(cpu, la);
}

#define emu_linear(cpu, seg, off, size, write) emu_linear_fast(cpu, seg, off, size, write)
#define emu_fetch_gpa(cpu, la)                 emu_fetch_gpa_inline(cpu, la)
#define emu_read(cpu, seg, off, size)          emu_read_inline(cpu, seg, off, size)
#define emu_write(cpu, seg, off, val, size)    emu_write_inline(cpu, seg, off, val, size)

#endif
