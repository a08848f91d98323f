/* The live migration stream reader (src/machine/migrate_stream.c): whatever
 * a sender writes, mig_read_stream returns 0 or -1 with one line, never
 * crashes, writes guest RAM only inside the size it announced and leaks
 * nothing; the machine state it accepts then goes through the snapshot
 * decoder as the receiver does.
 *
 * Input: byte 0 picks the mode; odd: the rest is a stream whose record
 * checksums are made right first (walking the records by their own
 * lengths), so mutations reach the checks behind the CRCs; even: the rest
 * as it is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "machine/migrate_stream.h"
#include "fix_section_crcs.h"
#include "machine/snapshot_format.h"

struct src {
	const uint8_t *p;
	size_t len, off;
};

static int rd(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	if (n > s->len - s->off)
		return -1;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		fix_section_crcs(copy, size - 1);
	struct src s = { copy, size - 1, 0 };
	/* 32 MiB at most: the memfd is sparse, only written pages cost. */
	struct mig_reader r = { .read = rd, .ctx = &s, .max_mem = 32u << 20 };
	char err[256] = "";
	if (mig_read_stream(&r, err, sizeof(err)) == 0) {
		struct snapshot *snap = calloc(1, sizeof(*snap));
		if (snap && snapshot_decode(r.state, r.state_len, snap, err, sizeof(err)) == 0)
			snapshot_free(snap);
		free(snap);
		mig_reader_release(&r);
	} else if (r.mem_fd >= 0 || r.state) {
		abort(); /* a refused stream keeps nothing */
	}
	if (!memchr(err, 0, sizeof(err)))
		abort();
	free(copy);
	return 0;
}
