/* libFuzzer target: the kernel call chain unwinder fed a guest's ORC tables
 * and kernel stack, both of which a hostile guest writes as it likes.  The
 * input is a small table (entry count, then relative addresses and 6-byte
 * entries), the starting registers, and the stack bytes.  The unwinder must
 * end within its frame bound and read only inside the stack copy (ASan
 * checks that); no crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/orc.h"

#define BASE_IP 0xffffffff81000000ull
#define BASE_SP 0xffffc90000000000ull

static uint64_t take_u64(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	for (int i = 0; i < 8 && *p < end; i++)
		v |= (uint64_t) * (*p)++ << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct orc_table t;
	uint64_t frames[ORC_MAX_FRAMES];

	if (size < 2)
		return 0;
	size_t n = 1 + (*p++ % 32);
	enum orc_layout layout = *p++ & 1 ? ORC_LAYOUT_V2 : ORC_LAYOUT_V1;
	if ((size_t)(end - p) < n * 10)
		return 0;
	int32_t rel[32];
	uint8_t entries[32 * 6];
	for (size_t i = 0; i < n; i++) {
		/* mostly ascending, so that most tables are accepted */
		rel[i] = (int32_t)(0x100 * (int32_t)i + (int8_t)p[0] - 4 * (int32_t)i);
		p += 4;
	}
	memcpy(entries, p, n * 6);
	p += n * 6;
	struct orc_regs r = { .ip = BASE_IP + (take_u64(&p, end) & 0xffff),
		              .sp = BASE_SP + (take_u64(&p, end) & 0xff) };
	r.bp = BASE_SP + (take_u64(&p, end) & 0xfff);
	r.dx = take_u64(&p, end);
	size_t len = (size_t)(end - p);
	uint8_t *stack = malloc(len ? len : 1); /* exactly the bytes given: ASan sees any read past them */
	if (!stack)
		return 0;
	memcpy(stack, p, len);
	struct orc_stack st = { .base = BASE_SP, .bytes = stack, .len = len };
	if (orc_table_init(&t, BASE_IP, rel, entries, n, layout) == 0) {
		int got = orc_unwind(&t, &st, &r, frames, ORC_MAX_FRAMES);
		if (got < 1 || got > ORC_MAX_FRAMES)
			abort();
		orc_table_free(&t);
	}
	free(stack);
	return 0;
}
