/* A kallsyms table laid out as a 6.1 kernel writes it (offsets, relative
 * base, count, names, markers, token table, token index; each 8-byte
 * aligned), for tests of src/guestos/kallsyms.c.  The names are not
 * compressed: every printable byte is its own token, the others two-byte
 * tokens "~N".  Symbol i is "sym_<i>" of type 't' at base + 16 i, with a
 * few named ones first: "T_text" at base, a per-CPU "Dcurrent_task" at
 * 0x1000, "Tentry_SYSCALL_64" at base + 0x200000, "B_end" at base + 16 MiB. */
#ifndef SYMBIONT_TEST_KALLSYMS_SYNTH_H
#define SYMBIONT_TEST_KALLSYMS_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ksynth {
	uint8_t *buf; /* the blob, mapped at va */
	size_t len;
	uint64_t va;
	uint64_t token_table_off;
};

static inline size_t ks_align8(size_t x)
{
	return (x + 7) & ~(size_t)7;
}

static inline void ks_put(struct ksynth *k, size_t *at, const void *p, size_t n)
{
	memcpy(k->buf + *at, p, n);
	*at += n;
}

/* n symbols (at least 5) in a blob that starts at virtual address va,
 * preceded by 64 bytes of zeros. */
static inline int ksynth_build(struct ksynth *k, uint64_t va, uint32_t n, uint64_t base)
{
	char(*names)[32] = calloc(n, sizeof(*names));
	uint64_t *addrs = calloc(n, sizeof(*addrs));
	size_t at = 64, names_start, names_len = 0;
	uint32_t nmarkers = (n + 255) / 256;
	uint16_t idx[256];
	char tokens[256 * 4];
	size_t tlen = 0;

	if (!names || !addrs || n < 5)
		return -1;
	snprintf(names[0], 32, "T_text");
	addrs[0] = base;
	snprintf(names[1], 32, "Dcurrent_task");
	addrs[1] = 0x1000;
	snprintf(names[2], 32, "Tentry_SYSCALL_64");
	addrs[2] = base + 0x200000;
	snprintf(names[3], 32, "B_end");
	addrs[3] = base + 0x1000000;
	for (uint32_t i = 4; i < n; i++) {
		snprintf(names[i], 32, "tsym_%u", i);
		addrs[i] = base + 16ULL * i;
	}
	for (int c = 0; c < 256; c++) {
		idx[c] = (uint16_t)tlen;
		if (c >= 0x20 && c < 0x7f)
			tlen += (size_t)sprintf(tokens + tlen, "%c", c) + 1;
		else
			tlen += (size_t)sprintf(tokens + tlen, "~%d", c & 7) + 1;
	}
	for (uint32_t i = 0; i < n; i++)
		names_len += 1 + strlen(names[i]);
	k->len = 64 + ks_align8(4 * n) + 8 + 8 + ks_align8(names_len) + ks_align8(4 * nmarkers) + ks_align8(tlen) +
	         512 + 64;
	k->len = (k->len + 4095) & ~(size_t)4095; /* whole pages, as guest memory comes */
	k->buf = calloc(1, k->len);
	k->va = va;
	if (!k->buf)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		int32_t off = addrs[i] < base ? (int32_t)addrs[i] : (int32_t)(-1 - (int64_t)(addrs[i] - base));
		ks_put(k, &at, &off, 4);
	}
	at = ks_align8(at);
	ks_put(k, &at, &base, 8);
	ks_put(k, &at, &n, 4);
	at = ks_align8(at);
	names_start = at;
	uint32_t *markers = calloc(nmarkers, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t len = (uint8_t)strlen(names[i]);
		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(at - names_start);
		ks_put(k, &at, &len, 1);
		ks_put(k, &at, names[i], len);
	}
	at = ks_align8(at);
	ks_put(k, &at, markers, 4 * nmarkers);
	at = ks_align8(at);
	k->token_table_off = at;
	ks_put(k, &at, tokens, tlen);
	at = ks_align8(at);
	ks_put(k, &at, idx, sizeof(idx));
	free(markers);
	free(names);
	free(addrs);
	return 0;
}

static inline int ksynth_read(void *ctx, uint64_t va, void *buf, size_t len)
{
	const struct ksynth *k = ctx;
	if (va < k->va || va - k->va > k->len || len > k->len - (va - k->va))
		return -1;
	memcpy(buf, k->buf + (va - k->va), len);
	return 0;
}

#endif
