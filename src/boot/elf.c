/* ELF loading for the vmlinux (ELF64) and multiboot (ELF32, or ELF64) paths.
 * Only PT_LOAD segments matter: each is placed at its physical address
 * p_paddr, file bytes first and zeros up to p_memsz.  Every header field is
 * checked before anything is written, so a refused file leaves guest memory
 * as it was. */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>

#include "boot/boot_int.h"

#define ELF_MAX_PHNUM 512
#define ELF_MAX_LOAD  64

/* The fields we use, independent of the class. */
struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

int elf_bits(const uint8_t *buf, size_t len)
{
	if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG))
		return 0;
	return buf[EI_CLASS] == ELFCLASS64 ? 64 : buf[EI_CLASS] == ELFCLASS32 ? 32 : 0;
}

static void read_phdr(const uint8_t *p, int bits, struct phdr *ph)
{
	if (bits == 64) {
		Elf64_Phdr h;
		memcpy(&h, p, sizeof(h));
		*ph = (struct phdr){ h.p_type, h.p_offset, h.p_vaddr, h.p_paddr, h.p_filesz, h.p_memsz };
	} else {
		Elf32_Phdr h;
		memcpy(&h, p, sizeof(h));
		*ph = (struct phdr){ h.p_type, h.p_offset, h.p_vaddr, h.p_paddr, h.p_filesz, h.p_memsz };
	}
}

int elf_load(struct guest_mem *m, const uint8_t *buf, size_t len, int bits, uint64_t low, struct elf_image *img,
             char *err, size_t errlen)
{
	struct phdr load[ELF_MAX_LOAD];
	uint64_t phoff, entry;
	unsigned phentsize, phnum, machine, type, minent;
	int cls = elf_bits(buf, len), n = 0;

	memset(img, 0, sizeof(*img));
	if (!cls)
		return boot_err(err, errlen, "kernel: not an ELF file");
	if (bits && cls != bits)
		return boot_err(err, errlen, "kernel: ELF%d file where ELF%d was expected", cls, bits);
	if (buf[EI_DATA] != ELFDATA2LSB)
		return boot_err(err, errlen, "kernel: ELF file is not little-endian");
	if (cls == 64) {
		Elf64_Ehdr eh;
		if (len < sizeof(eh))
			return boot_err(err, errlen, "kernel: ELF header is truncated");
		memcpy(&eh, buf, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, entry = eh.e_entry;
		phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
		minent = sizeof(Elf64_Phdr);
	} else {
		Elf32_Ehdr eh;
		if (len < sizeof(eh))
			return boot_err(err, errlen, "kernel: ELF header is truncated");
		memcpy(&eh, buf, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, entry = eh.e_entry;
		phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
		minent = sizeof(Elf32_Phdr);
	}
	if (type != ET_EXEC && type != ET_DYN)
		return boot_err(err, errlen, "kernel: ELF type %u is not an executable", type);
	if (machine != (cls == 64 ? EM_X86_64 : EM_386))
		return boot_err(err, errlen, "kernel: ELF machine %u is not %s", machine,
		                cls == 64 ? "x86-64" : "i386");
	if (phnum == 0 || phnum > ELF_MAX_PHNUM)
		return boot_err(err, errlen, "kernel: ELF has %u program headers (1 to %d supported)", phnum,
		                ELF_MAX_PHNUM);
	if (phentsize < minent)
		return boot_err(err, errlen, "kernel: ELF program header size %u is too small", phentsize);
	if (!in_buf(phoff, (uint64_t)phnum * phentsize, len))
		return boot_err(err, errlen, "kernel: ELF program header table lies outside the file");

	for (unsigned i = 0; i < phnum; i++) {
		struct phdr ph;
		read_phdr(buf + phoff + (uint64_t)i * phentsize, cls, &ph);
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		if (ph.filesz > ph.memsz)
			return boot_err(err, errlen, "kernel: ELF program header %u has file size > memory size", i);
		if (!in_buf(ph.offset, ph.filesz, len))
			return boot_err(err, errlen, "kernel: ELF program header %u lies outside the file", i);
		if (ph.paddr + ph.memsz < ph.paddr)
			return boot_err(err, errlen, "kernel: ELF program header %u wraps around the address space", i);
		char what[48];
		snprintf(what, sizeof(what), "ELF segment %u", i);
		if (boot_check_kernel_range(m, ph.paddr, ph.paddr + ph.memsz, low, what, err, errlen))
			return -1;
		for (int j = 0; j < n; j++)
			if (ph.paddr < load[j].paddr + load[j].memsz && load[j].paddr < ph.paddr + ph.memsz)
				return boot_err(err, errlen, "kernel: ELF program header %u overlaps another segment",
				                i);
		if (n == ELF_MAX_LOAD)
			return boot_err(err, errlen, "kernel: more than %d loadable ELF segments", ELF_MAX_LOAD);
		load[n++] = ph;
	}
	if (!n)
		return boot_err(err, errlen, "kernel: ELF has no loadable segments");

	/* The entry is physical if it falls inside a segment's physical range
	 * (vmlinux's e_entry is phys_startup_64); otherwise translate a virtual
	 * entry through the segment that contains it. */
	img->entry = UINT64_MAX;
	for (int j = 0; j < n && img->entry == UINT64_MAX; j++)
		if (entry - load[j].paddr < load[j].memsz)
			img->entry = entry;
	for (int j = 0; j < n && img->entry == UINT64_MAX; j++)
		if (entry - load[j].vaddr < load[j].memsz)
			img->entry = load[j].paddr + (entry - load[j].vaddr);
	if (img->entry == UINT64_MAX)
		return boot_err(err, errlen, "kernel: ELF entry point 0x%" PRIx64 " is in no loadable segment", entry);

	img->bits = cls;
	img->nload = n;
	img->start = UINT64_MAX;
	for (int j = 0; j < n; j++) {
		uint8_t *dst = gpa_to_host(m, load[j].paddr, load[j].memsz); /* checked above */
		memcpy(dst, buf + load[j].offset, load[j].filesz);
		memset(dst + load[j].filesz, 0, load[j].memsz - load[j].filesz);
		if (load[j].paddr < img->start)
			img->start = load[j].paddr;
		if (load[j].paddr + load[j].memsz > img->end)
			img->end = load[j].paddr + load[j].memsz;
	}
	return 0;
}
