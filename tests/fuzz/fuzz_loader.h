/* The body shared by the loader fuzz targets (fuzz_bzimage, fuzz_elf,
 * fuzz_multiboot): boot_load_image() on arbitrary bytes.  The targets differ
 * in their seed corpora, which steer libFuzzer into each format's parser.
 * Whatever the input, the loader must return 0 or -1 with a one-line
 * message, and never touch memory outside the guest's RAM. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem; /* 64 MiB, allocated once */
	static const uint8_t initrd[] = "initrd contents";
	struct boot_info bi = { .cmdline = "console=ttyS0", .acpi_rsdp = 0xe0000, .ncpus = 1 };
	struct x86_state s;
	char err[256];

	if (!mem.host && guest_mem_init(&mem, 64 << 20)) {
		perror("guest_mem_init");
		abort();
	}
	err[0] = 0;
	if (boot_load_image(&mem, data, size, initrd, sizeof(initrd), &bi, &s, err, sizeof(err)) == 0)
		return 0;
	if (!err[0] || strchr(err, '\n'))
		abort();
	return 0;
}
