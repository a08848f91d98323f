/* The calling process's memory (gears.h): reads through its page tables,
 * and writes only where the process itself could write, so that the VMM
 * never writes through a read-only or copy-on-write mapping (which would
 * reach every process sharing that page) or into the kernel. */
#include "services/gears/gears.h"

#define PTE_P       1ULL
#define PTE_RW      2ULL
#define PTE_US      4ULL
#define PTE_PS      0x80ULL
#define PTE_ADDR    0x000ffffffffff000ULL
#define USER_VA_END 0x0000800000000000ULL /* 4-level; 5-level user space is larger but rarely used */

static int uread(void *ctx, uint64_t va, void *buf, size_t len)
{
	struct gears_uaccess *ua = ctx;
	return gva_read(ua->mem, ua->root, ua->la57, va, buf, len);
}

/* Is the page at va present, user and writable at every level? */
static bool user_writable(const struct gears_uaccess *ua, uint64_t va)
{
	uint64_t table = ua->root, e = 0;
	int levels = ua->la57 ? 5 : 4;

	if (!ua->la57 && va >= USER_VA_END)
		return false;
	for (int l = levels - 1; l >= 0; l--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * l)) & 511;
		if (gpa_read(ua->mem, table + idx * 8, &e, 8) ||
		    (e & (PTE_P | PTE_RW | PTE_US)) != (PTE_P | PTE_RW | PTE_US))
			return false;
		if (l > 0 && l < 3 && (e & PTE_PS))
			return true; /* a 1 GiB or 2 MiB page */
		table = e & PTE_ADDR;
	}
	return true;
}

static int uwrite(void *ctx, uint64_t va, const void *buf, size_t len)
{
	struct gears_uaccess *ua = ctx;
	if (!len)
		return 0;
	if (len > 4096 || !user_writable(ua, va) || !user_writable(ua, va + len - 1))
		return -1;
	return gva_write(ua->mem, ua->root, ua->la57, va, buf, len);
}

void gears_uaccess_init(struct gears_uaccess *ua, struct gears_mem *m, const struct guest_mem *mem,
                        const struct sym_regs *regs)
{
	ua->mem = mem;
	ua->root = gva_cr3_root(regs->cr3);
	ua->la57 = regs->cr4 & CR4_LA57;
	m->read = uread;
	m->write = uwrite;
	m->ctx = ua;
}
