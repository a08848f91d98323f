/* Guest physical memory: one host mapping, PC layout with an MMIO hole.
 *
 * RAM occupies [0, low_size) and, when the guest has more than fits below
 * the hole, [4 GiB, 4 GiB + size - low_size).  The hole [MEM_HOLE_START,
 * 4 GiB) holds the PCI window, IOAPIC, HPET and local APIC.
 *
 * Every guest-physical address that comes from the guest must go through
 * gpa_to_host()/gpa_read()/gpa_write(): a range that is not entirely RAM is
 * refused, so a guest can never make the VMM touch host memory outside it. */
#ifndef SYMBIONT_MEMORY_H
#define SYMBIONT_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/layout.h"

#define MEM_MIN_SIZE (16ULL << 20) /* smallest guest we accept */
#define MEM_MAX_SIZE (1ULL << 40)  /* 1 TiB: anything larger is a typo */

struct guest_mem {
	uint8_t *host;     /* low RAM, then high RAM, contiguous */
	uint64_t size;     /* total RAM bytes */
	uint64_t low_size; /* RAM below MEM_HOLE_START */
};

/* 0, or -1 with errno: EINVAL outside [MEM_MIN_SIZE, MEM_MAX_SIZE] or not a
 * multiple of 4K, ENOMEM above the host's physical memory. */
int guest_mem_init(struct guest_mem *m, uint64_t size);
/* The host's physical memory in bytes (0 if it cannot be told): the
 * largest guest RAM accepted. */
uint64_t host_ram_size(void);
void guest_mem_free(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len), or NULL unless the whole range is RAM in
 * one region.  len == 0 is treated as 1. */
static inline void *gpa_to_host(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t end;
	if (len == 0)
		len = 1;
	end = gpa + len;
	if (end < gpa) /* wrapped */
		return NULL;
	if (end <= m->low_size)
		return m->host + gpa;
	if (gpa >= MEM_4G && end - MEM_4G <= m->size - m->low_size)
		return m->host + m->low_size + (gpa - MEM_4G);
	return NULL;
}

/* Copy helpers that may cross the hole boundary only if both sides are RAM
 * (they never are on a PC layout, so in practice: the range must be RAM).
 * Return 0, or -1 if any byte is not RAM (nothing is copied then). */
int gpa_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);
int gpa_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);

/* True if gpa is backed by RAM. */
static inline int gpa_is_ram(const struct guest_mem *m, uint64_t gpa)
{
	return gpa_to_host(m, gpa, 1) != NULL;
}

/* The guest-physical address of host pointer p inside guest RAM (the
 * inverse of gpa_to_host), or UINT64_MAX if p is not in it. */
static inline uint64_t host_to_gpa(const struct guest_mem *m, const void *p)
{
	const uint8_t *b = p;
	if (b < m->host || b >= m->host + m->size)
		return UINT64_MAX;
	uint64_t off = (uint64_t)(b - m->host);
	return off < m->low_size ? off : MEM_4G + (off - m->low_size);
}

/* Guest-virtual access through the guest's own page tables (pagewalk.c):
 * root is a CR3 value (PCID and flag bits are masked off), la57 CR4.LA57.
 * No permission checks and no accessed/dirty updates.  0, or -1 if any
 * byte is not mapped or not RAM; gva_write writes at most one page's worth
 * (4 KiB, possibly across two pages) and nothing if it cannot write it
 * all. */
uint64_t gva_cr3_root(uint64_t cr3);
int gva_translate(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, uint64_t *gpa);
int gva_read(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, void *buf, size_t len);
int gva_write(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, const void *buf, size_t len);

#endif
