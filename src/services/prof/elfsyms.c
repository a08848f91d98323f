/* ELF function symbols (elfsyms.h).  The file is whatever the user pointed
 * --guest-root at, so every offset and size is checked before use. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "services/prof/elfsyms.h"

#define ELF_FILE_MAX (256 << 20)
#define NAME_MAX_LEN 256

struct func {
	uint64_t addr, size;
	uint32_t name; /* offset into names */
};

struct elfsyms {
	struct func *f; /* sorted by address */
	size_t n;
	char *names;
	size_t names_cap;
	bool fixed;
};

static bool in_file(uint64_t off, uint64_t len, size_t total)
{
	return off <= total && len <= total - off;
}

static int by_addr(const void *a, const void *b)
{
	const struct func *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct elfsyms *fail(struct elfsyms *s, char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	if (s) {
		free(s->f);
		free(s->names);
		free(s);
	}
	return NULL;
}

/* Adds the STT_FUNC symbols of the symbol table sh (its strings in the
 * section it links to). */
static int add_table(struct elfsyms *s, const uint8_t *elf, size_t len, const Elf64_Shdr *shdrs, uint16_t nsh,
                     const Elf64_Shdr *sh, size_t *names_len)
{
	if (sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_link >= nsh || !in_file(sh->sh_offset, sh->sh_size, len))
		return -1;
	const Elf64_Shdr *str = &shdrs[sh->sh_link];
	if (!in_file(str->sh_offset, str->sh_size, len))
		return -1;
	size_t count = sh->sh_size / sizeof(Elf64_Sym);
	if (!count)
		return 0; /* (a realloc to 0 bytes would free the array) */
	struct func *nf = realloc(s->f, (s->n + count) * sizeof(*nf));
	if (!nf)
		return -1;
	s->f = nf;
	for (size_t i = 0; i < count; i++) {
		Elf64_Sym y;
		memcpy(&y, elf + sh->sh_offset + i * sizeof(y), sizeof(y));
		if (ELF64_ST_TYPE(y.st_info) != STT_FUNC || y.st_shndx == SHN_UNDEF || y.st_name >= str->sh_size)
			continue;
		const char *name = (const char *)elf + str->sh_offset + y.st_name;
		size_t nlen = strnlen(name, str->sh_size - y.st_name);
		if (!nlen || nlen >= NAME_MAX_LEN || nlen == str->sh_size - y.st_name)
			continue;
		if (*names_len + nlen + 1 > s->names_cap) { /* symbols may share strings: grow as copied */
			size_t cap = (s->names_cap + nlen + 1) * 2;
			char *nn = cap > UINT32_MAX ? NULL : realloc(s->names, cap);
			if (!nn)
				return -1;
			s->names = nn;
			s->names_cap = cap;
		}
		memcpy(s->names + *names_len, name, nlen + 1);
		s->f[s->n++] = (struct func){ y.st_value, y.st_size, (uint32_t)*names_len };
		*names_len += nlen + 1;
	}
	return 0;
}

struct elfsyms *elfsyms_parse(const uint8_t *elf, size_t len, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	struct elfsyms *s;
	size_t names_len = 0;

	if (len < sizeof(eh) || len > ELF_FILE_MAX)
		return fail(NULL, err, errlen, "not an ELF file");
	memcpy(&eh, elf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
		return fail(NULL, err, errlen, "not an x86-64 ELF64 program");
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || !eh.e_shnum ||
	    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), len) || eh.e_shoff % 8)
		return fail(NULL, err, errlen, "its section headers are outside the file");
	Elf64_Shdr *shdrs = malloc((size_t)eh.e_shnum * sizeof(*shdrs));
	s = calloc(1, sizeof(*s));
	if (!shdrs || !s) {
		free(shdrs);
		return fail(s, err, errlen, "out of memory");
	}
	memcpy(shdrs, elf + eh.e_shoff, (size_t)eh.e_shnum * sizeof(*shdrs));
	s->fixed = eh.e_type == ET_EXEC;
	/* .symtab has every function; .dynsym only the exported ones. */
	for (int pass = 0; pass < 2 && !s->n; pass++)
		for (uint16_t i = 0; i < eh.e_shnum; i++)
			if (shdrs[i].sh_type == (pass ? SHT_DYNSYM : SHT_SYMTAB) &&
			    add_table(s, elf, len, shdrs, eh.e_shnum, &shdrs[i], &names_len)) {
				free(shdrs);
				return fail(s, err, errlen, "a symbol table is malformed or too large");
			}
	free(shdrs);
	if (!s->n)
		return fail(s, err, errlen, "no function symbols (stripped)");
	qsort(s->f, s->n, sizeof(*s->f), by_addr);
	return s;
}

struct elfsyms *elfsyms_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	struct elfsyms *s;
	char why[160];

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > ELF_FILE_MAX) {
		fclose(f);
		snprintf(err, errlen, "%s: not a regular file of at most %d MiB", path, ELF_FILE_MAX >> 20);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		snprintf(err, errlen, "%s: short read", path);
		return NULL;
	}
	fclose(f);
	s = elfsyms_parse(buf, (size_t)st.st_size, why, sizeof(why));
	free(buf);
	if (!s)
		snprintf(err, errlen, "%s: %s", path, why);
	return s;
}

void elfsyms_free(struct elfsyms *s)
{
	if (!s)
		return;
	free(s->f);
	free(s->names);
	free(s);
}

bool elfsyms_fixed(const struct elfsyms *s)
{
	return s->fixed;
}

const char *elfsyms_at(const struct elfsyms *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) { /* first function above addr */
		size_t mid = lo + (hi - lo) / 2;
		if (s->f[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Inside the function at or below addr (a size 0 symbol: at it). */
	for (size_t i = lo; i-- > 0 && s->f[i].addr == s->f[lo - 1].addr;)
		if (addr - s->f[i].addr < (s->f[i].size ? s->f[i].size : 1))
			return s->names + s->f[i].name;
	return NULL;
}
