/* Reading the page-cache ring (pcache_ring.h).  The guest writes it while
 * it is read: a record counts only if its sequence number is its index + 1
 * before and after the copy.  One not yet written near head is left for the
 * next drain; one the guest overwrote before it was read is lost, never
 * waited for.  head is the guest's: one that goes backwards starts the
 * reading again from there, one too far ahead counts what the ring could
 * not hold as lost.  Every read stays inside the ring. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "services/symbiotic/pcache_ring.h"

#define FRESH_WINDOW 256 /* records this close to head may still be being written */

void pcache_ring_drain(struct pcache_reader *r, const uint8_t *base, uint32_t nrec, FILE *out)
{
	const _Atomic uint64_t *headp = (const _Atomic uint64_t *)(base + offsetof(struct sym_pcache_ring, head));
	const struct sym_pcache_rec *recs = (const void *)(base + sizeof(struct sym_pcache_ring));
	uint64_t head = atomic_load_explicit(headp, memory_order_acquire);

	if (!nrec)
		return;
	if (!r->tail_set || head < r->tail) { /* the first drain, or a ring begun again */
		r->tail = head;
		r->tail_set = true;
		return;
	}
	if (head - r->tail > nrec) {
		r->lost += head - r->tail - nrec;
		r->tail = head - nrec;
	}
	for (; r->tail < head; r->tail++) {
		const struct sym_pcache_rec *g = &recs[r->tail % nrec];
		struct sym_pcache_rec rec;
		uint64_t want = r->tail + 1;
		uint64_t s1 = atomic_load_explicit((const _Atomic uint64_t *)&g->seq, memory_order_acquire);
		memcpy(&rec, g, sizeof(rec));
		atomic_thread_fence(memory_order_acquire);
		uint64_t s2 = atomic_load_explicit((const _Atomic uint64_t *)&g->seq, memory_order_relaxed);
		if (s1 != want || s2 != want) {
			if (head - r->tail <= FRESH_WINDOW && s1 < want)
				break; /* still being written: the next drain */
			r->lost++;
			continue;
		}
		fprintf(out, "%" PRIu64 " %s %" PRIu64 " %u:%u %" PRIu64 " %" PRIu64 " %u\n", (uint64_t)rec.tsc,
		        rec.op == SYM_PCACHE_ADD      ? "add"
		        : rec.op == SYM_PCACHE_DELETE ? "delete"
		                                      : "other",
		        (uint64_t)rec.pfn, rec.dev >> 20, rec.dev & 0xfffff, (uint64_t)rec.ino, (uint64_t)rec.index,
		        (unsigned)rec.order);
		r->records++;
	}
}
