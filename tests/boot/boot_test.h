/* Helpers for the loader tests: synthetic ELF images, a guest page-table
 * walker and message checks.  Images are built field by field here rather
 * than with a toolchain, so every test can say exactly what is malformed. */
#ifndef BOOT_TEST_H
#define BOOT_TEST_H

#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "boot/boot_int.h" /* le16..le64, put16..put64 */
#include "symbiont/memory.h"
#include "symbiont/x86.h"

#define MiB (1ULL << 20)

struct tseg {
	uint64_t vaddr, paddr;
	const void *data;
	uint64_t filesz, memsz;
	uint32_t type; /* 0: PT_LOAD */
};

/* An ELF image of n segments; data follows the program headers, each
 * segment's bytes 16-aligned.  Returns a malloc'd buffer and its size. */
static inline uint8_t *build_elf(int bits, uint64_t entry, const struct tseg *s, int n, size_t *len)
{
	size_t ehsz = bits == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsz = bits == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t off = ehsz + n * phsz, total;
	uint64_t offs[16];

	assert_true(n <= 16);
	total = off;
	for (int i = 0; i < n; i++) {
		total = (total + 15) & ~(size_t)15;
		offs[i] = total;
		total += s[i].filesz;
	}
	uint8_t *b = calloc(1, total);
	assert_non_null(b);
	if (bits == 64) {
		Elf64_Ehdr eh = { 0 };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_entry = entry;
		eh.e_phoff = ehsz;
		eh.e_ehsize = ehsz;
		eh.e_phentsize = phsz;
		eh.e_phnum = n;
		memcpy(b, &eh, sizeof(eh));
		for (int i = 0; i < n; i++) {
			Elf64_Phdr ph = { .p_type = s[i].type ? s[i].type : PT_LOAD,
				          .p_flags = PF_R | PF_X,
				          .p_offset = offs[i],
				          .p_vaddr = s[i].vaddr,
				          .p_paddr = s[i].paddr,
				          .p_filesz = s[i].filesz,
				          .p_memsz = s[i].memsz,
				          .p_align = 16 };
			memcpy(b + ehsz + i * phsz, &ph, sizeof(ph));
		}
	} else {
		Elf32_Ehdr eh = { 0 };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_386;
		eh.e_version = EV_CURRENT;
		eh.e_entry = entry;
		eh.e_phoff = ehsz;
		eh.e_ehsize = ehsz;
		eh.e_phentsize = phsz;
		eh.e_phnum = n;
		memcpy(b, &eh, sizeof(eh));
		for (int i = 0; i < n; i++) {
			Elf32_Phdr ph = { .p_type = s[i].type ? s[i].type : PT_LOAD,
				          .p_flags = PF_R | PF_X,
				          .p_offset = offs[i],
				          .p_vaddr = s[i].vaddr,
				          .p_paddr = s[i].paddr,
				          .p_filesz = s[i].filesz,
				          .p_memsz = s[i].memsz,
				          .p_align = 16 };
			memcpy(b + ehsz + i * phsz, &ph, sizeof(ph));
		}
	}
	for (int i = 0; i < n; i++)
		if (s[i].filesz)
			memcpy(b + offs[i], s[i].data, s[i].filesz);
	*len = total;
	return b;
}

/* Offset of program header i's fields, for tests that corrupt them. */
static inline size_t elf64_ph(int i)
{
	return sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr);
}
static inline size_t elf32_ph(int i)
{
	return sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr);
}

/* Guest-physical pointer that must be RAM. */
static inline uint8_t *gp(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *p = gpa_to_host(m, gpa, len);
	assert_non_null(p);
	return p;
}

/* Walks 4-level page tables in guest memory: the physical address va maps
 * to, or UINT64_MAX if it is not mapped. */
static inline uint64_t walk(struct guest_mem *m, uint64_t cr3, uint64_t va)
{
	uint64_t table = cr3 & ~0xfffULL;
	for (int level = 3; level >= 0; level--) {
		unsigned idx = (va >> (12 + 9 * level)) & 511;
		uint64_t e = le64(gp(m, table + idx * 8, 8));
		if (!(e & 1))
			return UINT64_MAX;
		uint64_t addr = e & 0x000ffffffffff000ULL;
		if (level == 2 && (e & 0x80)) /* 1 GiB page */
			return (addr & ~((1ULL << 30) - 1)) | (va & ((1ULL << 30) - 1));
		if (level == 1 && (e & 0x80)) /* 2 MiB page */
			return (addr & ~((1ULL << 21) - 1)) | (va & ((1ULL << 21) - 1));
		table = addr;
	}
	return (table & ~0xfffULL) | (va & 0xfff);
}

/* A loader failure: -1, and one non-empty line that contains want. */
#define assert_boot_fails(call, errbuf, want)                                      \
	do {                                                                       \
		(errbuf)[0] = 0;                                                   \
		assert_int_equal((call), -1);                                      \
		assert_true((errbuf)[0] != 0);                                     \
		assert_null(strchr((errbuf), '\n'));                               \
		if (!strstr((errbuf), (want)))                                     \
			fail_msg("message \"%s\" lacks \"%s\"", (errbuf), (want)); \
	} while (0)

#endif
