/* Geiger's inference state machine (infer.h has the rules). */
#include <stdlib.h>
#include <string.h>

#include "services/geiger/infer.h"

#define PAGE_SIZE 4096u

int gi_init(struct gi *g, uint64_t npages, uint64_t suspect_timeout_ns, gi_emit_fn emit, gi_watch_fn watch,
            void *opaque)
{
	memset(g, 0, sizeof(*g));
	g->npages = npages;
	g->suspect_timeout_ns = suspect_timeout_ns;
	g->emit = emit;
	g->watch = watch;
	g->opaque = opaque;
	g->pages = calloc(npages ? npages : 1, sizeof(*g->pages));
	g->queue = calloc(npages ? npages : 1, sizeof(*g->queue));
	if (!g->pages || !g->queue) {
		gi_free(g);
		return -1;
	}
	return 0;
}

void gi_free(struct gi *g)
{
	free(g->pages);
	free(g->queue);
	g->pages = NULL;
	g->queue = NULL;
	g->npages = 0;
}

static void set_watch(struct gi *g, uint64_t page, bool on)
{
	struct gi_page *p = &g->pages[page];
	if (p->watched == on)
		return;
	p->watched = on;
	if (g->watch)
		g->watch(g->opaque, page, on);
}

static void emit(struct gi *g, enum gi_kind kind, enum gi_reason reason, uint64_t page, uint64_t now)
{
	struct gi_page *p = &g->pages[page];
	struct gi_record r = {
		.kind = kind,
		.reason = reason,
		.page = page,
		.dev = p->dev,
		.sector = p->sector,
		.t = now,
		.since = kind == GI_EVICT && p->state == GI_SUSPECT && p->since <= now ? p->since : now,
	};
	g->st.by_reason[kind][reason]++;
	if (g->emit)
		g->emit(g->opaque, &r);
}

static void evict(struct gi *g, uint64_t page, enum gi_reason reason, uint64_t now)
{
	struct gi_page *p = &g->pages[page];
	if (p->state == GI_FREE)
		return;
	emit(g, GI_EVICT, reason, page, now);
	g->st.evicted++;
	g->st.cache_pages--;
	p->state = GI_FREE;
	p->alt = 0;
	p->zero_run = 0;
	p->dma_expected = 0;
	set_watch(g, page, false);
}

static void insert(struct gi *g, uint64_t page, uint8_t dev, uint64_t sector, enum gi_reason reason, uint64_t now)
{
	struct gi_page *p = &g->pages[page];
	p->state = GI_CACHED;
	p->dev = dev;
	p->sector = sector;
	p->alt = 0;
	p->zero_run = 0;
	emit(g, GI_INSERT, reason, page, now);
	g->st.inserted++;
	g->st.cache_pages++;
	set_watch(g, page, true);
}

static void make_suspect(struct gi *g, uint64_t page, uint64_t now)
{
	struct gi_page *p = &g->pages[page];
	p->state = GI_SUSPECT;
	p->since = now;
	p->alt = 0;
	p->zero_run = 0;
	g->st.suspects++;
	if (!p->queued && g->qlen < g->npages) {
		g->queue[(g->qhead + g->qlen++) % g->npages] = page;
		p->queued = true;
	}
}

static void on_piece(struct gi *g, bool read, uint8_t dev, uint64_t sector, uint64_t page, bool whole, uint64_t now)
{
	struct gi_page *p = &g->pages[page];
	bool same = p->state != GI_FREE && p->dev == dev && p->sector == sector;

	if (!read && g->is_journal && g->is_journal(g->opaque, dev, sector)) {
		g->st.journal_writes++;
		/* From a page the cache holds for another block: jbd2's copy of
		 * that buffer, never its new home.  From any other page: jbd2's
		 * own descriptor, commit or revoke block, which it builds in the
		 * block device's cache (its buffer for that journal block). */
		if (p->state == GI_FREE)
			insert(g, page, dev, sector, GI_R_WRITE, now);
		return;
	}
	if (read) {
		if (same && !whole) { /* another piece of the block this page holds */
			if (p->dma_expected < UINT8_MAX)
				p->dma_expected++;
			return;
		}
		/* The kernel reads only into pages it has just taken for the
		 * cache: whatever the page held before has left it. */
		evict(g, page, GI_R_READ, now);
		insert(g, page, dev, sector, GI_R_READ, now);
		p->dma_expected = 1;
		return;
	}
	/* A page first seen written to the journal (so taken for jbd2's own
	 * block) that is now written elsewhere was a metadata buffer the file
	 * system made without reading it: this is its home. */
	if (p->state != GI_FREE && !same && g->is_journal && g->is_journal(g->opaque, p->dev, p->sector)) {
		p->dev = dev;
		p->sector = sector;
		p->state = GI_CACHED;
		p->alt = 0;
		set_watch(g, page, true);
		g->st.writebacks++;
		return;
	}
	switch (p->state) {
	case GI_FREE: insert(g, page, dev, sector, GI_R_WRITE, now); break;
	case GI_CACHED:
		if (same)
			g->st.writebacks++;
		else
			g->st.copies++; /* unchanged since it was X: a copy of X's data (the journal) */
		break;
	case GI_SUSPECT:
		if (same) { /* the CPU's writes were the file's: written back home */
			g->st.writebacks++;
			g->st.confirmed++;
			p->state = GI_CACHED;
			p->alt = 0;
			set_watch(g, page, true);
		} else {
			p->alt = sector + 1;
			p->alt_dev = dev;
		}
		break;
	}
}

void gi_block(struct gi *g, bool read, uint8_t dev, uint64_t sector, const struct gi_piece *pc, unsigned n,
              uint64_t now)
{
	uint64_t pos = sector * 512; /* disk byte of the current piece */

	if (sector > (UINT64_MAX / 512) - (1ULL << 40)) {
		g->st.ignored++;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct gi_piece *x = &pc[i];
		uint64_t start; /* disk byte at the page's offset 0 */
		if (x->page >= g->npages || x->off >= PAGE_SIZE || x->len > PAGE_SIZE - x->off || x->len == 0 ||
		    pos < x->off || (x->off | x->len) % 512) {
			g->st.ignored++;
			pos += x->len;
			continue;
		}
		start = pos - x->off;
		on_piece(g, read, dev, start / 512, x->page, x->off == 0 && x->len == PAGE_SIZE, now);
		pos += x->len;
	}
	gi_tick(g, now);
}

void gi_page_write(struct gi *g, uint64_t page, uint32_t off, uint32_t len, bool dma, bool zero, uint64_t now)
{
	struct gi_page *p;

	if (page >= g->npages || off >= PAGE_SIZE || len > PAGE_SIZE - off) {
		g->st.ignored++;
		return;
	}
	p = &g->pages[page];
	if (p->state == GI_FREE) {
		set_watch(g, page, false);
		return;
	}
	if (dma) {
		if (p->dma_expected) { /* the read that filled it */
			p->dma_expected--;
			return;
		}
		evict(g, page, GI_R_DMA, now);
		return;
	}
	if (p->state == GI_CACHED)
		make_suspect(g, page, now);
	if (zero && off == p->zero_run)
		p->zero_run = (uint16_t)(p->zero_run + len);
	else if (zero && off == 0)
		p->zero_run = (uint16_t)len;
	else
		set_watch(g, page, false); /* not being cleared: the timeout or a write-back decides */
	if (p->zero_run >= PAGE_SIZE)
		evict(g, page, GI_R_CLEARED, now);
	gi_tick(g, now);
}

void gi_freed(struct gi *g, uint8_t dev, bool (*freed)(void *arg, uint64_t sector), void *arg, uint64_t now)
{
	for (uint64_t i = 0; i < g->npages; i++) {
		struct gi_page *p = &g->pages[i];
		if (p->state != GI_FREE && p->dev == dev && freed(arg, p->sector))
			evict(g, i, GI_R_FREED, now);
	}
}

void gi_tick(struct gi *g, uint64_t now)
{
	while (g->qlen) {
		uint64_t page = g->queue[g->qhead];
		struct gi_page *p = &g->pages[page];
		if (p->state == GI_SUSPECT && (now < p->since || now - p->since < g->suspect_timeout_ns))
			break; /* the oldest is not due yet */
		g->qhead = (g->qhead + 1) % g->npages;
		g->qlen--;
		p->queued = false;
		if (p->state != GI_SUSPECT)
			continue;
		uint64_t alt = p->alt;
		uint8_t alt_dev = p->alt_dev;
		evict(g, page, GI_R_TIMEOUT, now);
		if (alt)
			insert(g, page, alt_dev, alt - 1, GI_R_WRITE, now);
	}
}
