/* Kernel loaders.  boot_load() recognises the kernel format (bzImage,
 * ELF vmlinux, multiboot v1), places kernel, initrd, command line and boot
 * information in guest memory and fills the boot vCPU's entry state.
 * Bad input gets a one-line reason in err and -1; nothing is written outside
 * guest RAM whatever the file contains. */
#ifndef SYMBIONT_BOOT_H
#define SYMBIONT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "symbiont/memory.h"
#include "symbiont/x86.h"

struct boot_info {
	const char *cmdline; /* may be NULL */
	uint64_t acpi_rsdp;  /* 0 if none */
	int ncpus;
};

/* Kernel and initrd from memory buffers (what the fuzzers call). */
int boot_load_image(struct guest_mem *mem, const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen,
                    const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen);
/* Reads the files, then boot_load_image(). */
int boot_load_files(struct guest_mem *mem, const char *kernel, const char *initrd, const struct boot_info *bi,
                    struct x86_state *bsp, char *err, size_t errlen);

#endif
