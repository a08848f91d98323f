/* The ELF images GEARS injects (src/services/gears/elfimage.c), on small
 * synthetic files: RELA and RELR relocations applied at a load address,
 * the layout of segments and zero-filled bss, and one refusal (with its
 * reason) for each thing a loader without a dynamic linker cannot honour,
 * and for every truncation of a good file. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/gears/elfimage.h"

#define FILE_SIZE 0x500
#define ENTRY     0x100
#define DYN_AT    0x200
#define RELA_AT   0x300
#define RELR_AT   0x380
#define WORD_AT   0x400
#define BASE      0x7f1234560000ULL

struct opts {
	uint16_t type;
	uint32_t rel_type;
	bool interp, needed, relr;
	uint64_t entry, filesz;
};

static size_t make(uint8_t *f, const struct opts *o)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
	Elf64_Dyn *d = (Elf64_Dyn *)(f + DYN_AT);
	Elf64_Rela *r = (Elf64_Rela *)(f + RELA_AT);
	uint64_t *relr = (uint64_t *)(f + RELR_AT), *w = (uint64_t *)(f + WORD_AT);
	int n = 0, nd = 0;

	memset(f, 0, FILE_SIZE);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = o->type ? o->type : ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_entry = o->entry ? o->entry : ENTRY;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	ph[n++] = (Elf64_Phdr){ .p_type = PT_LOAD,
		                .p_flags = PF_R | PF_W | PF_X,
		                .p_filesz = o->filesz ? o->filesz : FILE_SIZE,
		                .p_memsz = FILE_SIZE + 0x2000 };
	ph[n++] = (Elf64_Phdr){ .p_type = PT_DYNAMIC, .p_offset = DYN_AT, .p_vaddr = DYN_AT, .p_memsz = 0x100 };
	if (o->interp)
		ph[n++] = (Elf64_Phdr){ .p_type = PT_INTERP };
	eh->e_phnum = (uint16_t)n;
	d[nd++] = (Elf64_Dyn){ .d_tag = DT_RELA, .d_un.d_ptr = RELA_AT };
	d[nd++] = (Elf64_Dyn){ .d_tag = DT_RELASZ, .d_un.d_val = sizeof(Elf64_Rela) };
	d[nd++] = (Elf64_Dyn){ .d_tag = DT_RELAENT, .d_un.d_val = sizeof(Elf64_Rela) };
	if (o->needed)
		d[nd++] = (Elf64_Dyn){ .d_tag = DT_NEEDED, .d_un.d_val = 1 };
	if (o->relr) {
		d[nd++] = (Elf64_Dyn){ .d_tag = 36 /* DT_RELR */, .d_un.d_ptr = RELR_AT };
		d[nd++] = (Elf64_Dyn){ .d_tag = 35 /* DT_RELRSZ */, .d_un.d_val = 16 };
		relr[0] = WORD_AT + 8;       /* an address: that word */
		relr[1] = (0x5ULL << 1) | 1; /* a bitmap: the 1st and 3rd words after it */
		w[1] = 0x1000, w[2] = 0x2000, w[4] = 0x3000;
	}
	r[0] = (Elf64_Rela){ .r_offset = WORD_AT,
		             .r_info = ELF64_R_INFO(0, o->rel_type ? o->rel_type : R_X86_64_RELATIVE),
		             .r_addend = 0x123 };
	f[ENTRY] = 0xc3; /* ret */
	return FILE_SIZE;
}

static void test_rela(void **state)
{
	uint8_t f[FILE_SIZE], *out;
	struct gears_elf_image im;
	char err[256];
	uint64_t v;
	(void)state;

	make(f, &(struct opts){ 0 });
	assert_int_equal(gears_elf_load(f, sizeof(f), &im, err, sizeof(err)), 0);
	assert_int_equal(im.span, 0x3000); /* FILE_SIZE + bss, page-rounded */
	assert_int_equal(im.entry, ENTRY);
	assert_int_equal(im.nrelocs, 1);
	out = malloc(im.span);
	gears_elf_relocate(&im, BASE, out);
	memcpy(&v, out + WORD_AT, 8);
	assert_int_equal(v, BASE + 0x123);
	assert_int_equal(out[ENTRY], 0xc3);
	for (size_t i = FILE_SIZE; i < im.span; i++)
		assert_int_equal(out[i], 0); /* bss */
	free(out);
	gears_elf_free(&im);
}

static void test_relr(void **state)
{
	uint8_t f[FILE_SIZE], *out;
	struct gears_elf_image im;
	char err[256];
	uint64_t w[5];
	(void)state;

	make(f, &(struct opts){ .relr = true });
	assert_int_equal(gears_elf_load(f, sizeof(f), &im, err, sizeof(err)), 0);
	assert_int_equal(im.nrelocs, 4);
	out = malloc(im.span);
	gears_elf_relocate(&im, BASE, out);
	memcpy(w, out + WORD_AT, sizeof(w));
	assert_int_equal(w[0], BASE + 0x123);
	assert_int_equal(w[1], BASE + 0x1000);
	assert_int_equal(w[2], BASE + 0x2000);
	assert_int_equal(w[3], 0); /* its bit is clear */
	assert_int_equal(w[4], BASE + 0x3000);
	free(out);
	gears_elf_free(&im);
}

static void refused(const struct opts *o, size_t len, const char *why)
{
	uint8_t f[FILE_SIZE];
	struct gears_elf_image im;
	char err[256] = "";

	make(f, o);
	assert_int_equal(gears_elf_load(f, len, &im, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("want a refusal with '%s', got '%s'", why, err);
	assert_null(im.bytes);
}

static void test_refusals(void **state)
{
	(void)state;
	refused(&(struct opts){ .type = ET_EXEC }, FILE_SIZE, "not position-independent");
	refused(&(struct opts){ .rel_type = R_X86_64_64 }, FILE_SIZE, "needs symbol resolution");
	refused(&(struct opts){ .interp = true }, FILE_SIZE, "PT_INTERP");
	refused(&(struct opts){ .needed = true }, FILE_SIZE, "DT_NEEDED");
	refused(&(struct opts){ .entry = 0x9000 }, FILE_SIZE, "entry point");
	refused(&(struct opts){ .filesz = FILE_SIZE + 1 }, FILE_SIZE, "outside the file");
	refused(&(struct opts){ 0 }, 3, "not an ELF file");
	/* every truncation: refused or loaded, never a read past the end (ASan) */
	for (size_t len = 0; len < FILE_SIZE; len++) {
		uint8_t *f = malloc(FILE_SIZE), *copy = malloc(len ? len : 1);
		struct gears_elf_image im;
		char err[256];
		make(f, &(struct opts){ .relr = true });
		memcpy(copy, f, len);
		if (!gears_elf_load(copy, len, &im, err, sizeof(err)))
			gears_elf_free(&im);
		free(copy);
		free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rela),
		cmocka_unit_test(test_relr),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
