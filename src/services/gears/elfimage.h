/* A position-independent x86-64 ELF (static-pie or shared object, no
 * libc) made ready on the host for injection into a guest process: its
 * loadable segments laid out as they will be in memory, and the
 * R_X86_64_RELATIVE relocations to apply once the load address is known.
 *
 * The file comes from the user and the result goes into a guest, so the
 * parser checks every offset, size and count against the file and the
 * image, refuses what it does not support (symbol relocations, which need
 * a dynamic linker) with one line, and never reads outside the buffer. */
#ifndef SYMBIONT_GEARS_ELFIMAGE_H
#define SYMBIONT_GEARS_ELFIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define GEARS_ELF_MAX_IMAGE  (16u << 20) /* bytes from the lowest to the highest loaded address */
#define GEARS_ELF_MAX_RELOCS (1u << 20)

struct gears_elf_image {
	uint8_t *bytes; /* span bytes: the segments at their offsets, zeros between and after */
	size_t span;    /* a multiple of 4096 */
	uint64_t entry; /* offset of the entry point in bytes */
	/* R_X86_64_RELATIVE: at bytes + off[i], the load address + addend[i] */
	uint64_t *reloc_off;
	int64_t *reloc_addend;
	size_t nrelocs;
};

/* 0, or -1 with one line in err.  image is freed with gears_elf_free. */
int gears_elf_load(const uint8_t *file, size_t len, struct gears_elf_image *image, char *err, size_t errlen);
/* The bytes to copy to guest address base, relocated, into out (span bytes). */
void gears_elf_relocate(const struct gears_elf_image *image, uint64_t base, uint8_t *out);
void gears_elf_free(struct gears_elf_image *image);

#endif
