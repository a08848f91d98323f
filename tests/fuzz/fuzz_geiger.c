/* libFuzzer target: Geiger's inference (src/services/geiger/infer.c) fed
 * arbitrary sequences of block requests, CPU and device writes and clock
 * ticks, as a hostile guest can make them (pieces off the page, past the
 * RAM, sectors near the end of the 64-bit range, time going backwards),
 * with or without a journal known from the file system, and blocks the
 * file system freed.
 * After every step the books must balance: cache_pages is inserted minus
 * evicted and the number of pages not FREE, each page is watched at most
 * once and exactly when the inference says so, and the suspect queue stays
 * within its bound; the working-set ghost list fed the records never counts
 * more avoided misses than misses.  No crash, hang or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/geiger/infer.h"
#include "services/geiger/wss.h"

#define NPAGES 32

static int watches[NPAGES];
static struct wss ghosts;

static void on_watch(void *opaque, uint64_t page, bool on)
{
	(void)opaque;
	if (page >= NPAGES)
		abort();
	watches[page] += on ? 1 : -1;
	if (watches[page] < 0 || watches[page] > 1)
		abort();
}

static void on_emit(void *opaque, const struct gi_record *r)
{
	const struct gi *g = opaque;
	if (r->page >= NPAGES || r->since > r->t)
		abort();
	if (r->kind == GI_EVICT)
		wss_evicted(&ghosts, r->dev, r->sector, r->page);
	else {
		if (r->reason == GI_R_READ)
			wss_missed(&ghosts, r->dev, r->sector, g->st.cache_pages);
		wss_inserted(&ghosts, r->page);
	}
	for (int m = 0; m < WSS_MODELS; m++)
		if (ghosts.ghost_hits > ghosts.misses ||
		    wss_misses_with(&ghosts, (enum wss_model)m, UINT64_MAX / 2) + ghosts.ghost_hits != ghosts.misses ||
		    wss_extra_for(&ghosts, (enum wss_model)m, 100) > WSS_BUCKETS * ghosts.bucket_pages)
			abort();
}

/* The file system's word (fsmap.h), made up: sectors 1024-2047 of disk 0
 * are the journal; a freed mask picks which blocks a bitmap re-read freed. */
static bool in_journal(void *opaque, uint8_t dev, uint64_t sector)
{
	(void)opaque;
	return dev == 0 && sector >= 1024 && sector < 2048;
}

static bool freed_by_mask(void *arg, uint64_t sector)
{
	return (*(const uint8_t *)arg >> (sector / 8 % 8)) & 1;
}

static uint64_t take(const uint8_t **p, const uint8_t *end, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes && *p < end; i++)
		v |= (uint64_t) * (*p)++ << (8 * i);
	return v;
}

static void check(const struct gi *g)
{
	uint64_t live = 0;
	if (g->st.cache_pages != g->st.inserted - g->st.evicted || g->qlen > g->npages)
		abort();
	for (uint64_t i = 0; i < g->npages; i++) {
		live += g->pages[i].state != GI_FREE;
		if (watches[i] != (int)g->pages[i].watched)
			abort();
		if (g->pages[i].state == GI_FREE && g->pages[i].watched)
			abort();
	}
	if (live != g->st.cache_pages)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct gi g;
	uint64_t now = 0;

	memset(watches, 0, sizeof(watches));
	if (wss_init(&ghosts, 64, NPAGES) < 0)
		return 0;
	if (gi_init(&g, NPAGES, 500, on_emit, on_watch, &g) < 0) {
		wss_free(&ghosts);
		return 0;
	}
	g.is_journal = size % 2 ? in_journal : NULL;
	while (p < end) {
		uint8_t op = *p++;
		switch (op % 4) {
		case 0:
		case 1: { /* a block request of up to 8 pieces */
			struct gi_piece pc[8];
			unsigned n = 1 + (op >> 2) % 8;
			uint64_t sector = (op & 0x80) ? take(&p, end, 8) : take(&p, end, 1) * 8;
			for (unsigned i = 0; i < n; i++) {
				uint8_t b = (uint8_t)take(&p, end, 1);
				pc[i].page = b % (NPAGES + 2);
				pc[i].off = (b & 0x80) ? (uint32_t)take(&p, end, 2) : 0;
				pc[i].len = (b & 0x40) ? (uint32_t)take(&p, end, 2) : 4096;
			}
			gi_block(&g, op % 4 == 0, (uint8_t)(op >> 6), sector, pc, n, now);
			break;
		}
		case 2: { /* a write to a page */
			uint8_t b = (uint8_t)take(&p, end, 1);
			uint32_t off = (uint32_t)take(&p, end, 2), len = (uint32_t)take(&p, end, 2);
			if (b & 0x20) /* mostly well-formed zeroing, so that clears happen */
				off &= 0xff8, len = 8;
			gi_page_write(&g, b % (NPAGES + 2), off, len, b & 0x80, b & 0x40, now);
			break;
		}
		default: /* time passes (or goes back), or blocks are freed */
			if ((op & 0x70) == 0x70) {
				uint8_t mask = (uint8_t)take(&p, end, 1);
				gi_freed(&g, (uint8_t)(op >> 7), freed_by_mask, &mask, now);
				break;
			}
			now = (op & 0x80) ? take(&p, end, 8) : now + take(&p, end, 2);
			gi_tick(&g, now);
			break;
		}
		check(&g);
	}
	gi_free(&g);
	wss_free(&ghosts);
	return 0;
}
