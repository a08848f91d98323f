/* The kernel's own symbol table, kallsyms, decoded from its bytes: what
 * /proc/kallsyms prints, read from outside without System.map.
 *
 * The tables sit in .rodata in the order the 6.1 build writes them, each
 * 8-byte aligned: kallsyms_offsets (one s32 per symbol),
 * kallsyms_relative_base (the running address of _text: KASLR relocates
 * it), kallsyms_num_syms, kallsyms_names (per symbol a length and that many
 * token indices; the first character expanded is the symbol's type),
 * kallsyms_markers (the names offset of every 256th symbol), where the
 * kernel has it kallsyms_seqs_of_names (3 bytes a symbol: the name order;
 * 6.2, and 6.1 stable), kallsyms_token_table (256 NUL-terminated strings) and
 * kallsyms_token_index (256 u16 offsets into it).  None of their addresses
 * is needed: the token table is found by its signature (the tokens of the
 * digits, "0" to "9", which every kernel's names use and the compressor
 * therefore leaves as themselves, stand one after another), its index
 * right after it must point at exactly its strings, the markers run back
 * from it to a zero, and kallsyms_num_syms is the 8-aligned word before
 * the names whose decoding lands on every marker and ends at the markers.
 * Each step checks the previous, so random rodata that happens to contain
 * the signature is rejected, and every read is bounded: the bytes may be a
 * hostile guest's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define PAGE            4096ULL
#define SIGNATURE       "0\0001\0002\0003\0004\0005\0006\0007\0008\0009"
#define SIGNATURE_LEN   (sizeof(SIGNATURE)) /* with the 9's NUL */
#define TOKEN_TABLE_MAX (64 << 10)          /* 256 tokens; the kernel's is about 1 KiB */
#define WINDOW          (24 << 20)          /* markers, names, seqs: 6.1 Debian's take 2.1 MiB */
#define SYMS_MAX        1000000
#define MARKERS_MAX     (SYMS_MAX / 256 + 1)
#define CANDIDATES_MAX  64 /* signature hits tried before giving up */
#define KSYM_NAME_LEN   512
#define KERNEL_VA_MIN   0xffff800000000000ULL

struct reader {
	gos_read_fn read;
	void *ctx;
};

static int rd(const struct reader *r, uint64_t va, void *buf, size_t len)
{
	if (va + len < va)
		return -1;
	return r->read(r->ctx, va, buf, len);
}

/* The token table ending just before its index at x, given that token '0'
 * starts at p: 0 and the table's start and bytes (malloc'd), or -1. */
static int check_token_index(const struct reader *r, uint64_t p, uint64_t x, uint64_t *start, char **table,
                             uint16_t idx[256])
{
	uint64_t t;
	char *tab;

	if (rd(r, x, idx, 256 * sizeof(uint16_t)) || idx[0] != 0 || idx['0'] > p)
		return -1;
	t = p - idx['0'];
	if (t % 8 || x <= t || x - t > TOKEN_TABLE_MAX)
		return -1;
	for (int i = 1; i < 256; i++)
		if (idx[i] <= idx[i - 1] + 1) /* every token has at least one byte and its NUL */
			return -1;
	if (t + idx[255] >= x)
		return -1;
	tab = malloc(x - t);
	if (!tab)
		return -1;
	if (rd(r, t, tab, x - t))
		goto bad;
	for (int i = 0; i < 256; i++) {
		size_t end = i < 255 ? idx[i + 1] : (size_t)(x - t);
		const char *nul = memchr(tab + idx[i], 0, end - idx[i]);
		/* Each token's NUL is its last byte; after the last, at most
		 * the padding to the index's 8-byte alignment. */
		if (!nul || (i < 255 && (size_t)(nul - tab) != end - 1) || (i == 255 && end - (size_t)(nul - tab) > 8))
			goto bad;
	}
	*start = t;
	*table = tab;
	return 0;
bad:
	free(tab);
	return -1;
}

/* The bytes below the token table, as far as they are readable and at
 * most WINDOW: the markers, the names and num_syms all lie in them. */
struct window {
	uint8_t *b;
	uint64_t lo, hi; /* b[0] is at lo; hi is the token table */
};

static uint32_t w_u32(const struct window *w, uint64_t va)
{
	uint32_t v;
	memcpy(&v, w->b + (va - w->lo), 4);
	return v;
}

static int read_window(const struct reader *r, uint64_t t, struct window *w)
{
	uint64_t lo = t > WINDOW ? t - WINDOW : 0, got = t;

	w->b = malloc(WINDOW);
	if (!w->b)
		return -1;
	while (got > lo) {
		uint64_t from = (got - 1) & ~(PAGE - 1);
		if (from < lo)
			from = lo;
		if (rd(r, from, w->b + (from - lo), got - from))
			break;
		got = from;
	}
	/* Keep b[0] at the lowest readable byte. */
	memmove(w->b, w->b + (got - lo), (size_t)(t - got));
	w->lo = got;
	w->hi = t;
	return 0;
}

/* kallsyms_markers at m: starts with 0, rises strictly, count entries
 * ending at end (8-aligned start). */
static bool markers_at(const struct window *w, uint64_t m, uint32_t count)
{
	uint32_t prev = 0;

	if (m % 8 || m < w->lo || m + (uint64_t)count * 4 > w->hi || w_u32(w, m) != 0)
		return false;
	for (uint32_t i = 1; i < count; i++) {
		uint32_t v = w_u32(w, m + (uint64_t)i * 4);
		if (v <= prev)
			return false;
		prev = v;
	}
	return true;
}

/* One symbol's length in the names stream (6.1 allows two bytes, LEB128,
 * for names of 128 tokens or more) and where its tokens start. */
static int entry_len(const uint8_t *names, size_t size, size_t pos, size_t *len, size_t *data)
{
	if (pos >= size)
		return -1;
	*len = names[pos];
	*data = pos + 1;
	if (*len & 0x80) {
		if (pos + 1 >= size)
			return -1;
		*len = (*len & 0x7f) | (size_t)names[pos + 1] << 7;
		*data = pos + 2;
	}
	return *len && *len <= size - *data ? 0 : -1;
}

/* Does a stream of n names starting at names[0] hit every marker and end
 * in the padding before the markers (names + size)? */
static bool names_fit(const uint8_t *names, size_t size, uint32_t n, const struct window *w, uint64_t m)
{
	size_t pos = 0, len, data;

	for (uint32_t i = 0; i < n; i++) {
		if (i % 256 == 0 && w_u32(w, m + (uint64_t)(i / 256) * 4) != pos)
			return false;
		if (entry_len(names, size, pos, &len, &data))
			return false;
		pos = data + len;
	}
	return size - pos < 8;
}

struct found {
	uint64_t names_va, num_syms_va;
	uint32_t n;
	const uint8_t *names;
	size_t names_size;
};

/* kallsyms_num_syms: the 8-aligned word below the markers at m whose value
 * fits the marker count and whose names, right after it, fit the markers. */
static int find_names(const struct window *w, uint64_t m, uint32_t nmarkers, uint32_t want_n, struct found *f)
{
	for (uint64_t s = (m - 16) & ~7ULL; s >= w->lo && s + 8 <= m; s -= 8) {
		uint32_t n = w_u32(w, s), pad = w_u32(w, s + 4);
		if (pad || n <= (nmarkers - 1) * 256U || n > nmarkers * 256U || (want_n && n != want_n))
			continue;
		const uint8_t *names = w->b + (s + 8 - w->lo);
		size_t size = (size_t)(m - (s + 8));
		if (!names_fit(names, size, n, w, m))
			continue;
		f->names = names;
		f->names_size = size;
		f->names_va = s + 8;
		f->num_syms_va = s;
		f->n = n;
		return 0;
	}
	return -1;
}

/* The markers and names below the token table at t: right below it (the
 * 6.1 layout), or below kallsyms_seqs_of_names (three bytes a symbol,
 * which 6.2 added and stable kernels took). */
static int find_tables(const struct window *w, uint64_t t, struct found *f)
{
	/* Without seqs_of_names: the markers end at t or one padding word
	 * before; walk back to their leading 0. */
	uint64_t end = t - (w_u32(w, t - 4) == 0 ? 4 : 0);
	for (uint64_t at = end - 4; at >= w->lo && end - at <= (uint64_t)MARKERS_MAX * 4; at -= 4) {
		if (w_u32(w, at) != 0)
			continue;
		uint32_t count = (uint32_t)((end - at) / 4);
		if (count >= 2 && markers_at(w, at, count) && !find_names(w, at, count, 0, f))
			return 0;
		break;
	}
	/* With it: n symbols' 3n bytes end within 8 bytes of t, the
	 * markers (n + 255) / 256 words right before them. */
	for (uint64_t s2 = (t - 3) & ~7ULL; s2 >= w->lo && t - s2 <= 3ULL * SYMS_MAX + 8; s2 -= 8) {
		for (uint32_t n = (uint32_t)((t - s2) / 3); n > 256 && 3ULL * n + 8 > t - s2; n--) {
			uint32_t count = (n + 255) / 256;
			uint64_t m = s2 - ((uint64_t)count * 4 + 7) / 8 * 8;
			if (s2 < w->lo + (uint64_t)count * 4 + 8 || !markers_at(w, m, count))
				continue;
			if (!find_names(w, m, count, n, f))
				return 0;
		}
	}
	return -1;
}

struct out {
	char *text;
	size_t len, cap;
};

static int out_line(struct out *o, uint64_t addr, char type, const char *name)
{
	if (o->cap - o->len < KSYM_NAME_LEN + 32) {
		size_t cap = o->cap ? o->cap * 2 : 1 << 20;
		char *t = realloc(o->text, cap);
		if (!t)
			return -1;
		o->text = t;
		o->cap = cap;
	}
	o->len += (size_t)snprintf(o->text + o->len, o->cap - o->len, "%016" PRIx64 " %c %s\n", addr, type, name);
	return 0;
}

/* Expands symbol i's tokens into name (type first); -1 if too long. */
static int expand(const struct found *f, size_t *pos, const char *tab, const uint16_t *idx, size_t tablen, char *name)
{
	size_t len, data, n = 0;

	if (entry_len(f->names, f->names_size, *pos, &len, &data))
		return -1;
	for (size_t j = 0; j < len; j++) {
		const char *tok = tab + idx[f->names[data + j]];
		size_t tl = strnlen(tok, tablen - idx[f->names[data + j]]);
		if (n + tl >= KSYM_NAME_LEN)
			return -1;
		memcpy(name + n, tok, tl);
		n += tl;
	}
	name[n] = 0;
	*pos = data + len;
	return n >= 2 ? 0 : -1;
}

/* Writes every symbol as a System.map line.  Image symbols are at
 * relative_base minus one minus a negative offset (the kernel's
 * CONFIG_KALLSYMS_ABSOLUTE_PERCPU encoding), moved to link_text's frame;
 * per-CPU ones are non-negative offsets, absolute. */
static int write_map(const struct reader *r, const struct found *f, const char *tab, const uint16_t *idx, size_t tablen,
                     uint64_t link_text, struct gos_kallsyms *ks, char *err, size_t errlen)
{
	uint64_t base, offsets_va = f->num_syms_va - 8 - (((uint64_t)f->n * 4 + 7) & ~7ULL);
	int32_t *offsets = malloc((size_t)f->n * 4);
	struct out o = { 0 };
	char name[KSYM_NAME_LEN];
	size_t pos = 0;

	if (!offsets)
		return gos_err(err, errlen, "guestos: out of memory decoding kallsyms");
	if (rd(r, f->num_syms_va - 8, &base, 8) || base < KERNEL_VA_MIN || base % PAGE ||
	    rd(r, offsets_va, offsets, (size_t)f->n * 4)) {
		free(offsets);
		return gos_err(err, errlen,
		               "guestos: kallsyms found but its offsets or relative base are unreadable (not the 6.1 "
		               "layout)");
	}
	for (uint32_t i = 0; i < f->n; i++) {
		if (expand(f, &pos, tab, idx, tablen, name))
			continue; /* a name too long or too short: skipped, as the parser would */
		uint64_t a = offsets[i] >= 0 ? (uint64_t)offsets[i] : base - 1 - (uint64_t)(int64_t)offsets[i];
		if (offsets[i] < 0)
			a = a - base + (link_text ? link_text : base);
		if (out_line(&o, a, name[0], name + 1)) {
			free(o.text);
			free(offsets);
			return gos_err(err, errlen, "guestos: out of memory decoding kallsyms");
		}
	}
	free(offsets);
	ks->map = o.text;
	ks->map_len = o.len;
	ks->relative_base = base;
	ks->count = f->n;
	ks->table_va = f->num_syms_va;
	return 0;
}

/* Tries the signature hit at p: 0 with ks filled, -1 if it is not kallsyms. */
static int try_hit(const struct reader *r, uint64_t p, uint64_t link_text, struct gos_kallsyms *ks, char *err,
                   size_t errlen)
{
	uint16_t idx[256];
	uint64_t t = 0;
	char *tab = NULL;
	struct window w = { 0 };
	struct found f = { 0 };
	int ret = -1;

	for (uint64_t x = (p + SIGNATURE_LEN + 7) & ~7ULL; x < p + TOKEN_TABLE_MAX; x += 8)
		if (!check_token_index(r, p, x, &t, &tab, idx))
			break;
	if (!tab || read_window(r, t, &w) || t - w.lo < 16 || find_tables(&w, t, &f))
		goto out;
	ret = write_map(r, &f, tab, idx, (size_t)(idx[255] + strlen(tab + idx[255]) + 1), link_text, ks, err, errlen);
out:
	free(w.b);
	free(tab);
	return ret;
}

int gos_kallsyms_find(gos_read_fn read, void *ctx, uint64_t lo, uint64_t hi, uint64_t link_text,
                      struct gos_kallsyms *ks, char *err, size_t errlen)
{
	const struct reader r = { read, ctx };
	uint8_t buf[PAGE + SIGNATURE_LEN];
	size_t carry = 0;
	int tries = 0;

	memset(ks, 0, sizeof(*ks));
	gos_err(err, errlen, "guestos: no kallsyms tables in 0x%" PRIx64 "-0x%" PRIx64, lo, hi);
	for (uint64_t va = lo & ~(PAGE - 1); va < hi && va >= (lo & ~(PAGE - 1)); va += PAGE) {
		if (rd(&r, va, buf + carry, PAGE)) {
			carry = 0;
			continue;
		}
		const uint8_t *at = buf, *end = buf + carry + PAGE;
		while ((at = memmem(at, (size_t)(end - at), SIGNATURE, SIGNATURE_LEN))) {
			uint64_t p = va - carry + (uint64_t)(at - buf);
			if (++tries > CANDIDATES_MAX)
				return -1;
			if (!try_hit(&r, p, link_text, ks, err, errlen))
				return 0;
			at++;
		}
		memmove(buf, end - (SIGNATURE_LEN - 1), SIGNATURE_LEN - 1);
		carry = SIGNATURE_LEN - 1;
	}
	return -1;
}

void gos_kallsyms_free(struct gos_kallsyms *ks)
{
	free(ks->map);
	memset(ks, 0, sizeof(*ks));
}
