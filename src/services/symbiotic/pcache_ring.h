/* Reading the guest's page-cache ring (abi/pcache.h), apart from the
 * service so that it can be fuzzed with hostile rings. */
#ifndef SYMBIONT_PCACHE_RING_H
#define SYMBIONT_PCACHE_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "symbiont/abi/pcache.h"

struct pcache_reader {
	uint64_t tail; /* the next record to read */
	bool tail_set; /* the first drain starts at head: only new records */
	uint64_t records, lost;
};

static inline uint64_t pcache_ring_bytes(uint32_t nrec)
{
	return sizeof(struct sym_pcache_ring) + (uint64_t)nrec * sizeof(struct sym_pcache_rec);
}

/* Every record of the ring at base (pcache_ring_bytes(nrec) bytes the guest
 * may be writing meanwhile) since r's last drain, as text lines into out
 * ("TSC OP PFN MAJOR:MINOR INO INDEX ORDER").  nrec is the size the header
 * had when the ring was handed over, never re-read from it. */
void pcache_ring_drain(struct pcache_reader *r, const uint8_t *base, uint32_t nrec, FILE *out);

#endif
