/* Reuse distances over a ghost list of evicted blocks (wss.h). */
#include <stdlib.h>
#include <string.h>

#include "services/geiger/wss.h"

#define MAX_PROBE 32

int wss_init(struct wss *w, uint64_t capacity, uint64_t npages)
{
	memset(w, 0, sizeof(*w));
	if (capacity < 64)
		capacity = 64;
	w->capacity = capacity;
	w->size = 1;
	while (w->size < 2 * capacity)
		w->size <<= 1;
	w->bucket_pages = (capacity + WSS_BUCKETS - 1) / WSS_BUCKETS;
	w->table = calloc(w->size, sizeof(*w->table));
	w->npages = npages;
	w->page_inserted = calloc(npages ? npages : 1, sizeof(*w->page_inserted));
	if (!w->table || !w->page_inserted) {
		wss_free(w);
		return -1;
	}
	return 0;
}

void wss_free(struct wss *w)
{
	free(w->table);
	free(w->page_inserted);
	w->table = NULL;
	w->page_inserted = NULL;
}

void wss_inserted(struct wss *w, uint64_t page)
{
	w->insertions++;
	if (page < w->npages)
		w->page_inserted[page] = w->insertions;
}

static uint64_t key_of(uint8_t dev, uint64_t sector)
{
	return (((uint64_t)dev << 56) | (sector & ((1ULL << 56) - 1))) + 1;
}

static uint64_t hash(uint64_t k)
{
	k ^= k >> 31;
	k *= 0x9e3779b97f4a7c15ULL;
	return k ^ (k >> 29);
}

/* A ghost is live while fewer than capacity evictions followed it. */
static int live(const struct wss *w, const struct wss_slot *s)
{
	return s->key && s->seq && w->evictions - s->seq < w->capacity;
}

void wss_evicted(struct wss *w, uint8_t dev, uint64_t sector, uint64_t page)
{
	uint64_t k = key_of(dev, sector), h = hash(k);
	struct wss_slot *victim = NULL;

	w->evictions++;
	for (unsigned i = 0; i < MAX_PROBE; i++) {
		struct wss_slot *s = &w->table[(h + i) & (w->size - 1)];
		if (s->key == k) { /* evicted again: the distance counts from now */
			victim = s;
			break;
		}
		if (!victim && !live(w, s))
			victim = s;
		if (!s->key)
			break;
	}
	if (!victim) /* every probed slot holds a live ghost: the oldest goes */
		for (unsigned i = 0; i < MAX_PROBE; i++) {
			struct wss_slot *s = &w->table[(h + i) & (w->size - 1)];
			if (!victim || s->seq < victim->seq)
				victim = s;
		}
	/* A stale copy of k further along would be found first otherwise. */
	for (unsigned i = 0; i < MAX_PROBE; i++) {
		struct wss_slot *s = &w->table[(h + i) & (w->size - 1)];
		if (s != victim && s->key == k)
			s->seq = 0;
	}
	victim->key = k;
	victim->seq = w->evictions;
	victim->inserted = page < w->npages ? w->page_inserted[page] : 0;
}

static void count(struct wss *w, enum wss_model m, uint64_t extra)
{
	uint64_t b = extra ? (extra - 1) / w->bucket_pages : 0;
	w->hist[m][b < WSS_BUCKETS ? b : WSS_BUCKETS - 1]++;
}

void wss_missed(struct wss *w, uint8_t dev, uint64_t sector, uint64_t cache_pages)
{
	uint64_t k = key_of(dev, sector), h = hash(k);

	w->misses++;
	for (unsigned i = 0; i < MAX_PROBE; i++) {
		struct wss_slot *s = &w->table[(h + i) & (w->size - 1)];
		if (!s->key)
			return;
		if (s->key == k && live(w, s)) {
			/* it and the evictions after it: the pages it needed */
			count(w, WSS_BY_EVICTIONS, w->evictions - s->seq + 1);
			/* it and the blocks inserted after it: the LRU cache that
			 * would still hold it, beyond the cache there is.  Its
			 * insertion unknown (before tracking): the evictions. */
			uint64_t need =
			        s->inserted ? w->insertions - s->inserted + 1 : cache_pages + w->evictions - s->seq + 1;
			count(w, WSS_BY_INSERTIONS, need > cache_pages ? need - cache_pages : 0);
			w->ghost_hits++;
			s->seq = 0; /* back in the cache: no longer a ghost */
			return;
		}
	}
}

uint64_t wss_misses_with(const struct wss *w, enum wss_model m, uint64_t extra)
{
	uint64_t avoided = 0;
	/* bucket b holds distances [b, b+1) x bucket_pages: avoided when it fits whole */
	for (uint64_t b = 0; b < WSS_BUCKETS && (b + 1) * w->bucket_pages <= extra; b++)
		avoided += w->hist[m][b];
	return w->misses - avoided;
}

uint64_t wss_extra_for(const struct wss *w, enum wss_model m, unsigned share)
{
	uint64_t want = (w->ghost_hits * share + 99) / 100, got = 0;
	if (!w->ghost_hits)
		return 0;
	for (uint64_t b = 0; b < WSS_BUCKETS; b++) {
		got += w->hist[m][b];
		if (got >= want)
			return (b + 1) * w->bucket_pages;
	}
	return WSS_BUCKETS * w->bucket_pages;
}
