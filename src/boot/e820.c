/* The e820 memory map both Linux (boot_params) and multiboot (mmap) get.
 * It mirrors guest_mem: conventional RAM below the EBDA, the legacy area up
 * to 1 MiB reserved (the board's ACPI tables live at 0xE0000 in it), RAM up
 * to the MMIO hole, and the rest of RAM above 4 GiB. */
#include "boot/boot_int.h"

static int add(struct boot_e820 *e, int n, int max, uint64_t start, uint64_t end, uint32_t type)
{
	if (end <= start || n >= max)
		return n;
	e[n].addr = start;
	e[n].size = end - start;
	e[n].type = type;
	return n + 1;
}

int boot_e820(const struct guest_mem *m, struct boot_e820 *e, int max)
{
	uint64_t low = m->low_size;
	int n = 0;

	n = add(e, n, max, 0, low < BOOT_EBDA ? low : BOOT_EBDA, E820_RAM);
	n = add(e, n, max, BOOT_EBDA, BOOT_HIGH, E820_RESERVED);
	n = add(e, n, max, BOOT_HIGH, low, E820_RAM);
	if (m->size > low)
		n = add(e, n, max, MEM_4G, MEM_4G + (m->size - low), E820_RAM);
	return n;
}
