/* The replay log parser (rr_log_parse, src/vm/replay_log.c): whatever the
 * file holds, it accepts events that a cursor then reads back with an end
 * record last and counts that never go backwards, or returns -1 with one
 * line; never a crash, a read past the input or a leak.
 *
 * An input whose first byte is odd is the whole file.  An even first byte
 * makes the rest the decompressed events: the target wraps them in a valid
 * header and a checksummed zstd frame, so that the event decoder is reached
 * past the checksums a mutated file would almost never pass.  Device
 * writes (RR_DMA) carry their bytes inside the events: every one must lie
 * within them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "vm/replay_log.h"

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* magic, version, header length, kernel "k", memory, vCPUs, kernel hash, header hash */
static size_t wrap(const uint8_t *events, size_t len, uint8_t *out, size_t cap)
{
	static ZSTD_CCtx *z;
	size_t n = 16, zn;

	memcpy(out, RR_MAGIC, 8);
	put_le(out + 8, RR_VERSION, 4);
	out[n++] = 1, put_le(out + n, 1, 2), n += 2, out[n++] = 'k';
	out[n++] = 4, put_le(out + n, 8, 2), n += 2, put_le(out + n, 64ULL << 20, 8), n += 8;
	out[n++] = 5, put_le(out + n, 4, 2), n += 2, put_le(out + n, 1, 4), n += 4;
	out[n++] = 6, put_le(out + n, 8, 2), n += 2, put_le(out + n, 7, 8), n += 8;
	put_le(out + 12, n - 16, 4);
	put_le(out + n, rr_hash(RR_HASH_INIT, out, n), 8);
	n += 8;
	if (!z && !(z = ZSTD_createCCtx()))
		abort();
	ZSTD_CCtx_reset(z, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(z, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 1);
	zn = ZSTD_compress2(z, out + n, cap - n, events, len);
	if (ZSTD_isError(zn))
		abort();
	return n + zn;
}

/* the DMA bytes' sum: a global, so that reading them is not optimised away */
volatile unsigned fuzz_dma_sum;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rr_log log;
	char err[256] = "";
	uint8_t *file = NULL;
	int rc;

	if (!size)
		return 0;
	if (data[0] & 1) {
		rc = rr_log_parse(data + 1, size - 1, &log, err, sizeof(err));
	} else {
		size_t cap = 128 + ZSTD_compressBound(size);
		if (!(file = malloc(cap)))
			return 0;
		rc = rr_log_parse(file, wrap(data + 1, size - 1, file, cap), &log, err, sizeof(err));
	}
	if (rc == 0) {
		/* what the replay then reads: n events, counts never going
		 * back, the end record last and only there */
		struct rr_cursor c;
		struct rr_event e, prev = { 0 };
		size_t n = 0;
		if (!log.hdr.kernel)
			abort();
		rr_cursor_init(&log, &c);
		while (rr_next(&c, &e)) {
			if ((n && (e.count < prev.count || prev.type == RR_END)))
				abort();
			/* a device write's bytes lie inside the events (read
			 * them all: the sanitizer sees any overrun) */
			if (e.type == RR_DMA) {
				uint8_t sum = 0;
				if (!e.len || e.len > RR_DMA_MAX || e.data < log.body ||
				    e.data + e.len > log.body + log.body_len || e.addr + e.len < e.addr)
					abort();
				for (uint32_t i = 0; i < e.len; i++)
					sum ^= e.data[i];
				fuzz_dma_sum += sum;
			}
			prev = e;
			n++;
		}
		if (n != log.n || prev.type != RR_END || prev.count != log.end.count)
			abort();
		rr_log_free(&log);
	} else if (!err[0] || !memchr(err, 0, sizeof(err)) || strchr(err, '\n')) {
		abort();
	}
	free(file);
	return 0;
}
