/* libFuzzer target: the ELF images GEARS injects into guest processes
 * (src/services/gears/elfimage.c), from files a user hands to
 * `symbiont ctl NAME inject`.  The input is the file.
 *
 * Loading must return, and an image it accepts must hold together: a span
 * within the bound and a multiple of a page, the entry inside it, every
 * relocation a whole word inside it; relocating at a base then writes only
 * within the span (ASan checks the buffer, allocated to exactly span). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/elfimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gears_elf_image im;
	char err[256];

	if (gears_elf_load(data, size, &im, err, sizeof(err))) {
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			abort(); /* every refusal says why, in one line */
		return 0;
	}
	if (!im.span || im.span % 4096 || im.span > GEARS_ELF_MAX_IMAGE || im.entry >= im.span ||
	    im.nrelocs > GEARS_ELF_MAX_RELOCS)
		abort();
	for (size_t i = 0; i < im.nrelocs; i++)
		if (im.reloc_off[i] > im.span - 8)
			abort();
	uint8_t *out = malloc(im.span);
	if (out) {
		gears_elf_relocate(&im, 0x7f0000000000ULL, out);
		free(out);
	}
	gears_elf_free(&im);
	return 0;
}
