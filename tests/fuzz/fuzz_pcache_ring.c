/* libFuzzer target: the page-cache ring reader (services/symbiotic/
 * pcache_ring.c) on rings a hostile guest wrote.  The input is a ring size
 * (1 to 64 records), three values of head, and the ring's bytes; the reader
 * drains it three times, head changing between drains as the guest may
 * change it.  It must stay inside the ring, never loop past its size per
 * drain, and count every record it takes or loses. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/symbiotic/pcache_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct pcache_reader r = { 0 };
	uint64_t heads[3];
	uint32_t nrec;

	if (size < 1 + sizeof(heads))
		return 0;
	if (!sink && !(sink = fopen("/dev/null", "w")))
		abort();
	nrec = 1 + data[0] % 64;
	memcpy(heads, data + 1, sizeof(heads));
	data += 1 + sizeof(heads);
	size -= 1 + sizeof(heads);

	uint64_t bytes = pcache_ring_bytes(nrec);
	uint8_t *ring = calloc(1, bytes); /* exactly the ring: ASan sees any read past it */
	if (!ring)
		abort();
	memcpy(ring, data, size < bytes ? size : bytes);
	for (int i = 0; i < 3; i++) {
		uint64_t before = r.records + r.lost, tail = r.tail;
		memcpy(ring + offsetof(struct sym_pcache_ring, head), &heads[i], sizeof(heads[i]));
		pcache_ring_drain(&r, ring, nrec, sink);
		/* one drain takes or loses at most what it could see */
		if (r.tail_set && heads[i] >= tail && r.records + r.lost - before > heads[i] - tail)
			abort();
	}
	free(ring);
	return 0;
}
