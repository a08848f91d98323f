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
/* The vmlinux ELF64 of a Linux kernel image, for readers of its sections
 * (the guest OS layer reads .BTF): a bzImage's payload inflated on the host,
 * or a copy of a plain vmlinux.  A multiboot kernel or anything else is
 * refused with one line.  The caller frees *elf. */
int boot_vmlinux(const uint8_t *kernel, size_t klen, uint8_t **elf, size_t *elflen, char *err, size_t errlen);
/* Reads the file, then boot_vmlinux(). */
int boot_vmlinux_file(const char *kernel, uint8_t **elf, size_t *elflen, char *err, size_t errlen);
/* Reads the files, then boot_load_image(). */
int boot_load_files(struct guest_mem *mem, const char *kernel, const char *initrd, const struct boot_info *bi,
                    struct x86_state *bsp, char *err, size_t errlen);

#endif
