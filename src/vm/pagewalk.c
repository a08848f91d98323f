/* Guest-virtual access by walking the guest's own x86-64 page tables
 * (4-level, or 5-level with CR4.LA57), 2 MiB and 1 GiB pages included, for
 * the VMM's own readers (guest OS awareness, services in event callbacks):
 * both engines share it.  Every table entry and every byte of data goes
 * through gpa_read()/gpa_write(), so a table pointer outside RAM ends the
 * walk instead of reaching host memory.  The walk sets no accessed or dirty
 * bits and ignores permissions: the VMM looks (and writes) as itself. */
#include <string.h>

#include "symbiont/memory.h"

#define PTE_PRESENT   (1ULL << 0)
#define PTE_LARGE     (1ULL << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL /* bits 51:12 */
#define CR3_ADDR_MASK 0x000ffffffffff000ULL /* PCID (11:0) and bit 63 (no-flush) off */

uint64_t gva_cr3_root(uint64_t cr3)
{
	return cr3 & CR3_ADDR_MASK;
}

/* A virtual address is canonical when its top bits copy bit 47 (or 56). */
static bool canonical(uint64_t va, bool la57)
{
	int shift = la57 ? 56 : 47;
	uint64_t top = va >> shift;
	return top == 0 || top == (~0ULL >> shift);
}

int gva_translate(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, uint64_t *pa)
{
	uint64_t table = root & PTE_ADDR_MASK;
	int level = la57 ? 5 : 4;

	if (!canonical(va, la57))
		return -1;
	for (; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		uint64_t entry;

		if (gpa_read(m, table + ((va >> shift) & 511) * 8, &entry, sizeof(entry)))
			return -1;
		if (!(entry & PTE_PRESENT))
			return -1;
		/* PS in a PDPT (1 GiB) or PD (2 MiB) entry maps a page. */
		if ((level == 3 || level == 2) && (entry & PTE_LARGE)) {
			uint64_t size = 1ULL << shift;
			*pa = (entry & PTE_ADDR_MASK & ~(size - 1)) | (va & (size - 1));
			return 0;
		}
		table = entry & PTE_ADDR_MASK;
	}
	*pa = table | (va & 0xfff);
	return 0;
}

int gva_read(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, void *buf, size_t len)
{
	uint8_t *out = buf;

	if (len && va + (len - 1) < va) /* wraps past the top of the address space */
		return -1;
	while (len) {
		uint64_t pa;
		size_t chunk = 4096 - (va & 0xfff);

		if (chunk > len)
			chunk = len;
		if (gva_translate(m, root, la57, va, &pa) || gpa_read(m, pa, out, chunk))
			return -1;
		out += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}

int gva_write(const struct guest_mem *m, uint64_t root, bool la57, uint64_t va, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	uint64_t pa[2];
	size_t first = 4096 - (va & 0xfff);

	/* Translate every page before writing any, so a write is all or nothing. */
	if (!len || len > 4096 || va + (len - 1) < va)
		return -1;
	if (gva_translate(m, root, la57, va, &pa[0]) ||
	    (len > first && gva_translate(m, root, la57, va + first, &pa[1])))
		return -1;
	if (len <= first)
		return gpa_write(m, pa[0], in, len);
	if (!gpa_to_host(m, pa[0], first) || !gpa_to_host(m, pa[1], len - first))
		return -1;
	return gpa_write(m, pa[0], in, first) || gpa_write(m, pa[1], in + first, len - first) ? -1 : 0;
}
