/* The second-level block cache backend (host/block.h): 4 KiB blocks in a
 * hash table with an LRU list, in front of another backend.  A block is
 * any 4 KiB at a sector boundary, keyed by its first sector: the guest's
 * pages need not fall on the disk's 4 KiB grid (a file system of 1 KiB
 * blocks puts them anywhere), and a read is cut into 4 KiB pieces from its
 * own start, as the guest's pages are.  Reads and
 * writes come from the disk's worker thread; evicted() hints come from
 * whoever infers the guest's cache (Geiger), on another thread: one mutex
 * covers the table, and a write holds it from the inner write to the
 * dropping of its blocks, so a fill can never read the old data and insert
 * it after the write dropped the block. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/block.h"

#define BLK     4096u
#define SECTOR  512u
#define NIL     UINT32_MAX
#define MAX_RUN (1u << 20) /* bytes of misses read from inner at once */

struct slot {
	uint64_t block;      /* its first sector (offset / 512) */
	uint32_t prev, next; /* LRU list: head most recent */
	uint32_t hnext;      /* hash chain */
	bool used;
};

struct cache {
	struct block_backend be;
	struct block_backend *inner;
	enum block_cache_mode mode;
	pthread_mutex_t lock;
	uint32_t nslots, nbuckets, used, head, tail, free_list;
	struct slot *slots;
	uint32_t *buckets;
	uint8_t *data; /* nslots * BLK */
	uint8_t *bounce;
	uint64_t hits, misses, fills, fill_errors, invalidations, dropped_on_hit, replaced;
};

static uint32_t bucket_of(const struct cache *c, uint64_t block)
{
	return (uint32_t)((block * 0x9e3779b97f4a7c15ULL) >> 32) % c->nbuckets;
}

static uint32_t find(const struct cache *c, uint64_t block)
{
	for (uint32_t i = c->buckets[bucket_of(c, block)]; i != NIL; i = c->slots[i].hnext)
		if (c->slots[i].block == block)
			return i;
	return NIL;
}

static void lru_unlink(struct cache *c, uint32_t i)
{
	struct slot *s = &c->slots[i];
	if (s->prev != NIL)
		c->slots[s->prev].next = s->next;
	else
		c->head = s->next;
	if (s->next != NIL)
		c->slots[s->next].prev = s->prev;
	else
		c->tail = s->prev;
}

static void lru_push_front(struct cache *c, uint32_t i)
{
	struct slot *s = &c->slots[i];
	s->prev = NIL;
	s->next = c->head;
	if (c->head != NIL)
		c->slots[c->head].prev = i;
	c->head = i;
	if (c->tail == NIL)
		c->tail = i;
}

static void drop(struct cache *c, uint32_t i)
{
	struct slot *s = &c->slots[i];
	uint32_t *p = &c->buckets[bucket_of(c, s->block)];
	while (*p != i)
		p = &c->slots[*p].hnext;
	*p = s->hnext;
	lru_unlink(c, i);
	s->used = false;
	s->next = c->free_list;
	c->free_list = i;
	c->used--;
}

/* Lock held: a slot for block (not cached), the least recently used one
 * if none is free; its data is the caller's to fill. */
static uint32_t take(struct cache *c, uint64_t block)
{
	uint32_t i;
	if (c->free_list == NIL) {
		c->replaced++;
		drop(c, c->tail);
	}
	i = c->free_list;
	c->free_list = c->slots[i].next;
	c->slots[i] = (struct slot){ .block = block, .used = true, .hnext = c->buckets[bucket_of(c, block)] };
	c->buckets[bucket_of(c, block)] = i;
	lru_push_front(c, i);
	c->used++;
	return i;
}

/* Copies len bytes between buf and the iovec at byte offset off in it. */
static void iov_copy(struct iovec *iov, int n, uint64_t off, uint8_t *buf, uint64_t len, bool to_iov)
{
	for (int k = 0; k < n && len; k++) {
		if (off >= iov[k].iov_len) {
			off -= iov[k].iov_len;
			continue;
		}
		uint64_t m = iov[k].iov_len - off < len ? iov[k].iov_len - off : len;
		if (to_iov)
			memcpy((uint8_t *)iov[k].iov_base + off, buf, m);
		else
			memcpy(buf, (uint8_t *)iov[k].iov_base + off, m);
		buf += m, len -= m, off = 0;
	}
}

static int inner_read(struct cache *c, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct iovec v = { buf, len };
	return c->inner->ops->readv(c->inner, &v, 1, off);
}

/* Reads [off, off+len) from inner into the request's iov at pos; an LRU
 * cache keeps the whole blocks. */
static int read_run(struct cache *c, struct iovec *iov, int n, uint64_t pos, uint64_t off, uint64_t len)
{
	while (len) {
		uint64_t m = len < MAX_RUN ? len : MAX_RUN;
		if (inner_read(c, c->bounce, m, off))
			return -1;
		iov_copy(iov, n, pos, c->bounce, m, true);
		if (c->mode == BLOCK_CACHE_LRU) {
			pthread_mutex_lock(&c->lock);
			for (uint64_t o = off; o + BLK <= off + m; o += BLK)
				if (o % SECTOR == 0 && find(c, o / SECTOR) == NIL)
					memcpy(c->data + (uint64_t)take(c, o / SECTOR) * BLK, c->bounce + (o - off),
					       BLK);
			pthread_mutex_unlock(&c->lock);
		}
		pos += m, off += m, len -= m;
	}
	return 0;
}

static int cache_readv(struct block_backend *be, struct iovec *iov, int n, uint64_t off)
{
	struct cache *c = (struct cache *)be;
	uint64_t total = 0, pos = 0, run_start = 0, run_len = 0;
	for (int k = 0; k < n; k++)
		total += iov[k].iov_len;
	/* 4 KiB pieces from the request's start found in the cache are copied
	 * out; everything else (misses, a short tail) is read in runs from
	 * inner. */
	while (pos < total) {
		uint64_t o = off + pos, len = BLK;
		uint32_t i = NIL;
		if (len > total - pos)
			len = total - pos;
		if (len == BLK && o % SECTOR == 0) {
			pthread_mutex_lock(&c->lock);
			if ((i = find(c, o / SECTOR)) != NIL) {
				iov_copy(iov, n, pos, c->data + (uint64_t)i * BLK, BLK, true);
				c->hits++;
				if (c->mode == BLOCK_CACHE_EXCLUSIVE) {
					drop(c, i);
					c->dropped_on_hit++;
				} else {
					lru_unlink(c, i);
					lru_push_front(c, i);
				}
			} else {
				c->misses++;
			}
			pthread_mutex_unlock(&c->lock);
		}
		if (i == NIL) {
			if (!run_len)
				run_start = pos;
			run_len += len;
		} else if (run_len) {
			if (read_run(c, iov, n, run_start, off + run_start, run_len))
				return -1;
			run_len = 0;
		}
		pos += len;
	}
	return run_len ? read_run(c, iov, n, run_start, off + run_start, run_len) : 0;
}

/* Lock held: drops every cached block [off, off+len) touches: those that
 * start in it or up to 4 KiB before it. */
static void invalidate(struct cache *c, uint64_t off, uint64_t len)
{
	uint64_t first = off / SECTOR, back = BLK / SECTOR - 1;
	if (!len || !c->used)
		return;
	for (uint64_t b = first > back ? first - back : 0; b <= (off + len - 1) / SECTOR; b++) {
		uint32_t i = find(c, b);
		if (i != NIL) {
			drop(c, i);
			c->invalidations++;
		}
	}
}

static int cache_writev(struct block_backend *be, struct iovec *iov, int n, uint64_t off)
{
	struct cache *c = (struct cache *)be;
	uint64_t len = 0;
	int r;
	for (int k = 0; k < n; k++)
		len += iov[k].iov_len;
	pthread_mutex_lock(&c->lock);
	r = c->inner->ops->writev(c->inner, iov, n, off);
	invalidate(c, off, len); /* also on failure: what inner holds is unknown */
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int cache_flush(struct block_backend *be)
{
	struct cache *c = (struct cache *)be;
	return c->inner->ops->flush(c->inner);
}

static int cache_discard(struct block_backend *be, uint64_t off, uint64_t len)
{
	struct cache *c = (struct cache *)be;
	pthread_mutex_lock(&c->lock);
	int r = c->inner->ops->discard(c->inner, off, len);
	invalidate(c, off, len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int cache_write_zeroes(struct block_backend *be, uint64_t off, uint64_t len, bool unmap)
{
	struct cache *c = (struct cache *)be;
	pthread_mutex_lock(&c->lock);
	int r = c->inner->ops->write_zeroes(c->inner, off, len, unmap);
	invalidate(c, off, len);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* The guest dropped these blocks: an exclusive cache keeps them, read from
 * inner under the lock (no write can slip between the read and the insert). */
static void cache_evicted(struct block_backend *be, uint64_t off, uint64_t len)
{
	struct cache *c = (struct cache *)be;
	if (c->mode != BLOCK_CACHE_EXCLUSIVE || len > MAX_RUN || off > be->size || len > be->size - off)
		return;
	pthread_mutex_lock(&c->lock);
	for (uint64_t o = off; off % SECTOR == 0 && o + BLK <= off + len; o += BLK) {
		uint8_t tmp[BLK];
		if (find(c, o / SECTOR) != NIL)
			continue;
		if (inner_read(c, tmp, BLK, o)) {
			c->fill_errors++;
			continue;
		}
		memcpy(c->data + (uint64_t)take(c, o / SECTOR) * BLK, tmp, BLK);
		c->fills++;
	}
	pthread_mutex_unlock(&c->lock);
}

static void cache_stats(struct block_backend *be, void (*emit)(void *ctx, const char *key, uint64_t v), void *ctx)
{
	struct cache *c = (struct cache *)be;
	pthread_mutex_lock(&c->lock);
	uint64_t v[] = { c->nslots,      c->used,          c->hits,           c->misses,  c->fills,
		         c->fill_errors, c->invalidations, c->dropped_on_hit, c->replaced };
	pthread_mutex_unlock(&c->lock);
	static const char *const keys[] = { "cache_capacity_blocks", "cache_blocks",         "cache_hits",
		                            "cache_misses",          "cache_fills",          "cache_fill_errors",
		                            "cache_invalidations",   "cache_dropped_on_hit", "cache_replaced" };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		emit(ctx, keys[i], v[i]);
}

static void cache_destroy(struct block_backend *be)
{
	struct cache *c = (struct cache *)be;
	block_backend_destroy(c->inner);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c->buckets);
	free(c->data);
	free(c->bounce);
	free(c);
}

static const struct block_backend_ops cache_ops = {
	.readv = cache_readv,
	.writev = cache_writev,
	.flush = cache_flush,
	.discard = cache_discard,
	.write_zeroes = cache_write_zeroes,
	.destroy = cache_destroy,
	.evicted = cache_evicted,
	.stats = cache_stats,
};

struct block_backend *block_cache_wrap(struct block_backend *inner, enum block_cache_mode mode, uint64_t bytes,
                                       char *err, size_t errlen)
{
	struct cache *c;
	uint64_t nslots = bytes / BLK;
	if (nslots < 1 || nslots >= NIL) {
		snprintf(err, errlen, "cache size must be 4 KiB to 16 TiB");
		block_backend_destroy(inner);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->slots = calloc(nslots, sizeof(*c->slots))) ||
	    !(c->buckets = malloc(nslots * sizeof(*c->buckets))) || !(c->data = malloc(nslots * BLK)) ||
	    !(c->bounce = malloc(MAX_RUN))) {
		snprintf(err, errlen, "cannot allocate a %llu-byte cache", (unsigned long long)bytes);
		if (c) {
			free(c->slots);
			free(c->buckets);
			free(c->data);
			free(c);
		}
		block_backend_destroy(inner);
		return NULL;
	}
	c->be = (struct block_backend){ .ops = &cache_ops, .size = inner->size, .ro = inner->ro };
	c->inner = inner;
	c->mode = mode;
	c->nslots = c->nbuckets = (uint32_t)nslots;
	c->head = c->tail = NIL;
	for (uint32_t i = 0; i < c->nbuckets; i++)
		c->buckets[i] = NIL;
	for (uint32_t i = 0; i < c->nslots; i++)
		c->slots[i].next = i + 1 < c->nslots ? i + 1 : NIL;
	c->free_list = 0;
	pthread_mutex_init(&c->lock, NULL);
	return &c->be;
}
