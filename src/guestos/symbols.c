/* The kernel image's symbol table from its System.map ("ADDR TYPE NAME" per
 * line): sorted once by address for address-to-symbol, and an index sorted
 * by name for the reverse.  Addresses are link-time; the caller adds the
 * KASLR slide to those inside _text.._end (per-CPU symbols are offsets into
 * each CPU's area and never move). */
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define SYMBOL_NAME_MAX 512     /* KSYM_NAME_LEN */
#define SYMBOLS_MAX     4000000 /* far above any kernel; bounds a hostile file */
#define SYSTEM_MAP_MAX  (256 << 20)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses one line [p, end); 0 and the fields, or -1 if it is not a symbol. */
static int parse_line(const char *p, const char *end, uint64_t *addr, char *type, const char **name, size_t *nlen)
{
	uint64_t a = 0;
	int digits = 0;

	for (; p < end && hexval(*p) >= 0; p++, digits++)
		a = a << 4 | (uint64_t)hexval(*p);
	if (digits == 0 || digits > 16 || end - p < 4 || p[0] != ' ' || p[2] != ' ')
		return -1;
	*type = p[1];
	p += 3;
	*name = p;
	*nlen = (size_t)(end - p);
	while (*nlen && (p[*nlen - 1] == '\r' || p[*nlen - 1] == ' ' || p[*nlen - 1] == '\t'))
		(*nlen)--;
	if (*nlen == 0 || *nlen >= SYMBOL_NAME_MAX || memchr(p, ' ', *nlen) || memchr(p, 0, *nlen))
		return -1;
	*addr = a;
	return 0;
}

static int by_addr_cmp(const void *a, const void *b)
{
	const struct gos_sym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* qsort_r comparison of two by_addr indices by name. */
static int by_name_cmp(const void *a, const void *b, void *ctx)
{
	const struct gos_symtab *s = ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = strcmp(s->names + s->by_addr[i].name, s->names + s->by_addr[j].name);
	return c ? c : (i > j) - (i < j);
}

int gos_symtab_parse(struct gos_symtab *s, const char *text, size_t len, char *err, size_t errlen)
{
	size_t cap = 0, names_len = 0, names_cap = 0;
	const char *p = text, *end = text + len;
	uint64_t addr;

	memset(s, 0, sizeof(*s));
	if (len > SYSTEM_MAP_MAX) /* keeps every name offset within 32 bits */
		return gos_err(err, errlen, "guestos: System.map is larger than %d MiB", SYSTEM_MAP_MAX >> 20);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *name;
		size_t nlen;
		char type;

		if (!eol)
			eol = end;
		if (!parse_line(p, eol, &addr, &type, &name, &nlen)) {
			if (s->n == SYMBOLS_MAX)
				goto fail_msg;
			if (s->n == cap) {
				cap = cap ? cap * 2 : 4096;
				struct gos_sym *nb = realloc(s->by_addr, cap * sizeof(*nb));
				if (!nb)
					goto oom;
				s->by_addr = nb;
			}
			if (names_len + nlen + 1 > names_cap) {
				names_cap = (names_cap + nlen + 1) * 2;
				char *nn = realloc(s->names, names_cap);
				if (!nn)
					goto oom;
				s->names = nn;
			}
			memcpy(s->names + names_len, name, nlen);
			s->names[names_len + nlen] = 0;
			s->by_addr[s->n++] =
			        (struct gos_sym){ .addr = addr, .name = (uint32_t)names_len, .type = type };
			names_len += nlen + 1;
		}
		p = eol + 1;
	}
	if (s->n == 0) {
		gos_symtab_free(s);
		return gos_err(err, errlen, "guestos: System.map has no symbols");
	}
	qsort(s->by_addr, s->n, sizeof(*s->by_addr), by_addr_cmp);
	s->by_name = malloc(s->n * sizeof(*s->by_name));
	if (!s->by_name)
		goto oom;
	for (size_t i = 0; i < s->n; i++)
		s->by_name[i] = (uint32_t)i;
	qsort_r(s->by_name, s->n, sizeof(*s->by_name), by_name_cmp, s);
	if (gos_symtab_find(s, "_text", &s->text_start) || gos_symtab_find(s, "_end", &s->text_end) ||
	    s->text_end <= s->text_start) {
		gos_symtab_free(s);
		return gos_err(err, errlen, "guestos: System.map has no _text.._end");
	}
	return 0;
fail_msg:
	gos_symtab_free(s);
	return gos_err(err, errlen, "guestos: System.map has more than %d symbols", SYMBOLS_MAX);
oom:
	gos_symtab_free(s);
	return gos_err(err, errlen, "guestos: out of memory reading System.map");
}

void gos_symtab_free(struct gos_symtab *s)
{
	free(s->by_addr);
	free(s->by_name);
	free(s->names);
	memset(s, 0, sizeof(*s));
}

int gos_symtab_find(const struct gos_symtab *s, const char *name, uint64_t *addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) { /* first index whose name is >= name */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->names + s->by_addr[s->by_name[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || strcmp(s->names + s->by_addr[s->by_name[lo]].name, name))
		return -1;
	*addr = s->by_addr[s->by_name[lo]].addr;
	return 0;
}

const struct gos_sym *gos_symtab_at(const struct gos_symtab *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	if (addr < s->text_start || addr >= s->text_end)
		return NULL;
	while (lo < hi) { /* first index whose address is > addr */
		size_t mid = lo + (hi - lo) / 2;
		if (s->by_addr[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &s->by_addr[lo - 1] : NULL;
}
