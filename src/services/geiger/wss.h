/* Working-set size from Geiger's eviction stream (the paper's second
 * service): evicted blocks go to a ghost list; a block read again from the
 * disk while still there is a miss that more memory would have turned into a
 * hit, and the evictions since it left (its reuse distance, in pages) say how
 * much more.  The histogram of those distances is the miss curve: with E
 * more pages, the misses whose distance is at most E are avoided.
 *
 * The ghost list remembers the last `capacity` evictions (an open-addressed
 * table of twice that, probes bounded), so distances beyond it count as
 * misses no memory in reach avoids.  Not thread-safe: the caller serialises. */
#ifndef SYMBIONT_GEIGER_WSS_H
#define SYMBIONT_GEIGER_WSS_H

#include <stdint.h>

#define WSS_BUCKETS 64

struct wss_slot {
	uint64_t key; /* (disk << 56) | sector, + 1; 0: never used */
	uint64_t seq; /* the eviction's number */
};

struct wss {
	struct wss_slot *table;
	uint64_t capacity, size; /* ghosts kept; table slots (2 x capacity, a power of two) */
	uint64_t evictions;      /* so far: the clock of reuse distances */
	uint64_t misses;         /* blocks read from the disk (inserted by a read) */
	uint64_t ghost_hits;     /* of those, found in the ghost list */
	uint64_t bucket_pages;   /* width of a histogram bucket */
	uint64_t hist[WSS_BUCKETS];
};

/* 0, or -1 (out of memory).  capacity: the evictions remembered (>= 64). */
int wss_init(struct wss *w, uint64_t capacity);
void wss_free(struct wss *w);
void wss_evicted(struct wss *w, uint8_t dev, uint64_t sector);
void wss_missed(struct wss *w, uint8_t dev, uint64_t sector);
/* The misses left with extra pages of memory (read misses minus the ghost
 * hits whose distance fits, counted by whole buckets). */
uint64_t wss_misses_with(const struct wss *w, uint64_t extra);
/* The fewest extra pages (a bucket edge) that avoid at least `share`
 * percent of the avoidable misses (the ghost hits); 0 when there are none. */
uint64_t wss_extra_for(const struct wss *w, unsigned share);

#endif
