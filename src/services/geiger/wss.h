/* Working-set size from Geiger's eviction stream (the paper's second
 * service): evicted blocks go to a ghost list; a block read again from the
 * disk while still there is a miss that more memory would have turned into a
 * hit.  How much more memory, two ways, each a histogram (a miss curve):
 *
 *  - by evictions: the evictions since it left.  Exact for a guest whose
 *    cache is one LRU list, but Linux keeps an active list the streaming
 *    pages never reach, so for them the evictions measure only the inactive
 *    list and the figure overshoots by the active list's size.
 *  - by insertions (the default): the blocks the guest inserted since this
 *    block's own last insertion, i.e. the cache a single LRU list would need
 *    to still hold it, minus the cache the guest has now (Geiger's
 *    inferred size).  It counts what came in, not how the guest chose what to
 *    put out, so the guest's split into lists does not enter; hits between
 *    are invisible to the VMM, so it can fall short where re-reads hit.
 *
 * The ghost list remembers the last `capacity` evictions (an open-addressed
 * table of twice that, probes bounded), so distances beyond it count as
 * misses no memory in reach avoids.  Not thread-safe: the caller serialises. */
#ifndef SYMBIONT_GEIGER_WSS_H
#define SYMBIONT_GEIGER_WSS_H

#include <stdint.h>

#define WSS_BUCKETS 64

struct wss_slot {
	uint64_t key;      /* (disk << 56) | sector, + 1; 0: never used */
	uint64_t seq;      /* the eviction's number */
	uint64_t inserted; /* the insertion number of the block's last insertion (0: unknown) */
};

enum wss_model { WSS_BY_EVICTIONS, WSS_BY_INSERTIONS, WSS_MODELS };

struct wss {
	struct wss_slot *table;
	uint64_t capacity, size; /* ghosts kept; table slots (2 x capacity, a power of two) */
	uint64_t evictions;      /* so far: the clock of eviction distances */
	uint64_t insertions;     /* so far: the clock of insertion distances */
	uint64_t *page_inserted; /* per guest page: the insertion number of the block it holds */
	uint64_t npages;
	uint64_t misses;       /* blocks read from the disk (inserted by a read) */
	uint64_t ghost_hits;   /* of those, found in the ghost list */
	uint64_t bucket_pages; /* width of a histogram bucket */
	uint64_t hist[WSS_MODELS][WSS_BUCKETS];
};

/* 0, or -1 (out of memory).  capacity: the evictions remembered (>= 64);
 * npages: guest pages (the page numbers of insertions and evictions). */
int wss_init(struct wss *w, uint64_t capacity, uint64_t npages);
void wss_free(struct wss *w);
/* A block entered the cache in guest page `page` (by a read or a write). */
void wss_inserted(struct wss *w, uint64_t page);
void wss_evicted(struct wss *w, uint8_t dev, uint64_t sector, uint64_t page);
/* A read from the disk; cache_pages: the guest's cache now (inferred).
 * Call before wss_inserted for the page the read fills. */
void wss_missed(struct wss *w, uint8_t dev, uint64_t sector, uint64_t cache_pages);
/* The misses left with extra pages of memory (read misses minus the ghost
 * hits whose distance fits, counted by whole buckets). */
uint64_t wss_misses_with(const struct wss *w, enum wss_model m, uint64_t extra);
/* The fewest extra pages (a bucket edge) that avoid at least `share`
 * percent of the avoidable misses (the ghost hits); 0 when there are none. */
uint64_t wss_extra_for(const struct wss *w, enum wss_model m, unsigned share);

#endif
