/* Position-independent ELF images for injection (elfimage.h).
 *
 * Every value that comes from the file is checked before use: offsets and
 * sizes against the file, addresses against the image, counts against
 * fixed bounds, sums for overflow.  The dynamic section and relocation
 * tables are read from the laid-out image (where the loaded program would
 * find them), not from the file's section headers, which a loader never
 * needs. */
#include <elf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/elfimage.h"

#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#define DT_RELR   36
#endif

struct dyn_info {
	uint64_t rela, relasz, relaent, relr, relrsz, relrent;
	bool has_rela, has_relr;
};

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* [va, va+len) inside the image: its offset in *off. */
static bool in_image(const struct gears_elf_image *im, uint64_t min, uint64_t va, uint64_t len, uint64_t *off)
{
	if (va < min || va - min > im->span || len > im->span - (va - min))
		return false;
	*off = va - min;
	return true;
}

static int add_reloc(struct gears_elf_image *im, uint64_t off, int64_t addend, char *err, size_t errlen)
{
	if (im->nrelocs == GEARS_ELF_MAX_RELOCS)
		return fail(err, errlen, "more relocations than an injected image may have");
	if (!(im->nrelocs & (im->nrelocs + 1))) { /* grow at 0, 1, 3, 7...: doubling */
		size_t n = (im->nrelocs + 1) * 2;
		uint64_t *o = realloc(im->reloc_off, n * sizeof(*o));
		if (o)
			im->reloc_off = o;
		int64_t *a = o ? realloc(im->reloc_addend, n * sizeof(*a)) : NULL;
		if (!a)
			return fail(err, errlen, "out of memory");
		im->reloc_addend = a;
	}
	im->reloc_off[im->nrelocs] = off;
	im->reloc_addend[im->nrelocs] = addend;
	im->nrelocs++;
	return 0;
}

static int read_dynamic(const struct gears_elf_image *im, uint64_t min, uint64_t va, uint64_t size, struct dyn_info *d,
                        char *err, size_t errlen)
{
	uint64_t off;
	if (!in_image(im, min, va, size, &off))
		return fail(err, errlen, "the dynamic section lies outside the loaded segments");
	for (uint64_t i = 0; i + sizeof(Elf64_Dyn) <= size; i += sizeof(Elf64_Dyn)) {
		Elf64_Dyn dyn;
		memcpy(&dyn, im->bytes + off + i, sizeof(dyn));
		switch (dyn.d_tag) {
		case DT_NULL: return 0;
		case DT_NEEDED:
			return fail(err, errlen, "it needs shared libraries (DT_NEEDED): link it -static-pie, no libc");
		case DT_RELA: d->rela = dyn.d_un.d_ptr, d->has_rela = true; break;
		case DT_RELASZ: d->relasz = dyn.d_un.d_val; break;
		case DT_RELAENT: d->relaent = dyn.d_un.d_val; break;
		case DT_RELR: d->relr = dyn.d_un.d_ptr, d->has_relr = true; break;
		case DT_RELRSZ: d->relrsz = dyn.d_un.d_val; break;
		case DT_RELRENT: d->relrent = dyn.d_un.d_val; break;
		case DT_RELSZ:
			if (dyn.d_un.d_val)
				return fail(err, errlen, "it has REL relocations (x86-64 uses RELA): not supported");
			break;
		case DT_PLTRELSZ:
			if (dyn.d_un.d_val)
				return fail(err, errlen,
				            "it has PLT relocations, which need a dynamic linker: not supported");
			break;
		default: break;
		}
	}
	return 0;
}

static int load_rela(struct gears_elf_image *im, uint64_t min, const struct dyn_info *d, char *err, size_t errlen)
{
	uint64_t off;
	if (d->relaent && d->relaent != sizeof(Elf64_Rela))
		return fail(err, errlen, "DT_RELAENT is not the size of an Elf64_Rela");
	if (d->relasz % sizeof(Elf64_Rela) || !in_image(im, min, d->rela, d->relasz, &off))
		return fail(err, errlen, "the RELA table lies outside the loaded segments");
	for (uint64_t i = 0; i < d->relasz; i += sizeof(Elf64_Rela)) {
		Elf64_Rela r;
		uint64_t at;
		memcpy(&r, im->bytes + off + i, sizeof(r));
		uint32_t type = (uint32_t)ELF64_R_TYPE(r.r_info);
		if (type == R_X86_64_NONE)
			continue;
		if (type != R_X86_64_RELATIVE || ELF64_R_SYM(r.r_info)) {
			snprintf(err, errlen,
			         "relocation type %" PRIu32 " at 0x%" PRIx64
			         " needs symbol resolution (only R_X86_64_RELATIVE is applied)",
			         type, (uint64_t)r.r_offset);
			return -1;
		}
		if (!in_image(im, min, r.r_offset, 8, &at))
			return fail(err, errlen, "a relocation lies outside the loaded segments");
		if (add_reloc(im, at, (int64_t)((uint64_t)r.r_addend - min), err, errlen))
			return -1;
	}
	return 0;
}

/* RELR: an address entry relocates one word and moves the cursor past it;
 * a bitmap entry relocates the next 63 words whose bits are set.  The
 * addend is the word already there. */
static int load_relr(struct gears_elf_image *im, uint64_t min, const struct dyn_info *d, char *err, size_t errlen)
{
	uint64_t off, where = 0;
	bool have_where = false;
	if (d->relrent && d->relrent != 8)
		return fail(err, errlen, "DT_RELRENT is not 8");
	if (d->relrsz % 8 || !in_image(im, min, d->relr, d->relrsz, &off))
		return fail(err, errlen, "the RELR table lies outside the loaded segments");
	for (uint64_t i = 0; i < d->relrsz; i += 8) {
		uint64_t e;
		memcpy(&e, im->bytes + off + i, 8);
		for (int bit = 0; bit < 64; bit++) {
			uint64_t va, at, word;
			if (!(e & 1)) {
				if (bit)
					break;
				va = e;
			} else {
				if (!bit || !(e >> bit & 1))
					continue;
				if (!have_where)
					return fail(err, errlen, "a RELR bitmap comes before any address");
				va = where + (uint64_t)(bit - 1) * 8;
			}
			if (!in_image(im, min, va, 8, &at))
				return fail(err, errlen, "a relocation lies outside the loaded segments");
			memcpy(&word, im->bytes + at, 8);
			if (add_reloc(im, at, (int64_t)(word - min), err, errlen))
				return -1;
		}
		if (!(e & 1))
			where = e + 8;
		else
			where += 63 * 8;
		have_where = true;
	}
	return 0;
}

int gears_elf_load(const uint8_t *file, size_t len, struct gears_elf_image *im, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	uint64_t min = UINT64_MAX, max = 0, dyn_va = 0, dyn_size = 0;
	bool entry_ok = false, has_dyn = false;

	memset(im, 0, sizeof(*im));
	if (len < sizeof(eh) || memcmp(file, ELFMAG, SELFMAG))
		return fail(err, errlen, "not an ELF file");
	memcpy(&eh, file, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return fail(err, errlen, "not a 64-bit little-endian x86-64 ELF");
	if (eh.e_type != ET_DYN)
		return fail(err, errlen, "not position-independent (want ET_DYN: -static-pie or -shared)");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum || eh.e_phoff > len ||
	    (len - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)
		return fail(err, errlen, "its program headers lie outside the file");

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			memcpy(&ph, file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type == PT_INTERP)
				return fail(err, errlen,
				            "it asks for a program interpreter (PT_INTERP): link it -static-pie");
			if (ph.p_type == PT_TLS)
				return fail(err, errlen,
				            "it uses thread-local storage, which an injection has none of");
			if (ph.p_type == PT_DYNAMIC)
				has_dyn = true, dyn_va = ph.p_vaddr, dyn_size = ph.p_memsz;
			if (ph.p_type != PT_LOAD || !ph.p_memsz)
				continue;
			if (pass == 0) {
				if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset ||
				    ph.p_vaddr > UINT64_MAX - ph.p_memsz || ph.p_memsz > GEARS_ELF_MAX_IMAGE)
					return fail(err, errlen,
					            "a loadable segment lies outside the file or the address space");
				if ((ph.p_vaddr & ~4095ULL) < min)
					min = ph.p_vaddr & ~4095ULL;
				if (ph.p_vaddr + ph.p_memsz > max)
					max = ph.p_vaddr + ph.p_memsz;
				if (max - min > GEARS_ELF_MAX_IMAGE)
					return fail(err, errlen, "its loadable segments span more than 16 MiB");
				if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_vaddr &&
				    eh.e_entry - ph.p_vaddr < ph.p_memsz)
					entry_ok = true;
			} else {
				memcpy(im->bytes + (ph.p_vaddr - min), file + ph.p_offset, ph.p_filesz);
			}
		}
		if (pass == 0) {
			if (min == UINT64_MAX)
				return fail(err, errlen, "it has no loadable segment");
			if (!entry_ok)
				return fail(err, errlen, "its entry point is not in an executable segment");
			im->span = (size_t)((max - min + 4095) & ~4095ULL);
			im->entry = eh.e_entry - min;
			if (!(im->bytes = calloc(1, im->span)))
				return fail(err, errlen, "out of memory");
		}
	}
	if (has_dyn) {
		struct dyn_info d = { 0 };
		if (read_dynamic(im, min, dyn_va, dyn_size, &d, err, errlen) ||
		    (d.has_rela && load_rela(im, min, &d, err, errlen)) ||
		    (d.has_relr && load_relr(im, min, &d, err, errlen))) {
			gears_elf_free(im);
			return -1;
		}
	}
	return 0;
}

void gears_elf_relocate(const struct gears_elf_image *im, uint64_t base, uint8_t *out)
{
	memcpy(out, im->bytes, im->span);
	for (size_t i = 0; i < im->nrelocs; i++) {
		uint64_t v = base + (uint64_t)im->reloc_addend[i];
		memcpy(out + im->reloc_off[i], &v, 8);
	}
}

void gears_elf_free(struct gears_elf_image *im)
{
	free(im->bytes);
	free(im->reloc_off);
	free(im->reloc_addend);
	memset(im, 0, sizeof(*im));
}
