/* Geiger's inference (src/services/geiger/infer.c) on synthetic events:
 * reads insert, a read of another block into a cached page or a device
 * overwriting it evicts, the CPU zeroing a page evicts, a page the CPU wrote
 * that is written back home stays cached, one never written back is evicted
 * at the timeout, a cached page written to another block (the journal) is
 * a copy; with the journal known from the file system, writes there from
 * a cached page are never its new block, and from any other page insert
 * jbd2's own block; blocks the file system freed
 * evict the pages caching them; and the hub's watched pages: device writes reach PAGE_WRITE only
 * for watched pages, in the filter's range, until unwatched; an engine that
 * cannot see vCPU writes refuses the subscription. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/engine.h"
#include "services/geiger/infer.h"
#include "services/geiger/wss.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

#define NPAGES  64
#define TIMEOUT 1000

struct log {
	struct gi_record r[256];
	int n;
	int watched[NPAGES]; /* +1 per watch, -1 per unwatch */
};

static void on_emit(void *opaque, const struct gi_record *r)
{
	struct log *l = opaque;
	if (l->n < 256)
		l->r[l->n++] = *r;
}

static void on_watch(void *opaque, uint64_t page, bool on)
{
	struct log *l = opaque;
	l->watched[page] += on ? 1 : -1;
}

static void setup_gi(struct gi *g, struct log *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(gi_init(g, NPAGES, TIMEOUT, on_emit, on_watch, l), 0);
}

static void read_pages(struct gi *g, uint64_t sector, uint64_t first_page, unsigned n, uint64_t now)
{
	struct gi_piece p[16];
	for (unsigned i = 0; i < n; i++)
		p[i] = (struct gi_piece){ first_page + i, 0, 4096 };
	gi_block(g, true, 0, sector, p, n, now);
}

static void write_page(struct gi *g, uint64_t sector, uint64_t page, uint64_t now)
{
	struct gi_piece p = { page, 0, 4096 };
	gi_block(g, false, 0, sector, &p, 1, now);
}

static void test_read_inserts(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 800, 3, 4, 10);
	assert_int_equal(g.st.inserted, 4);
	assert_int_equal(g.st.cache_pages, 4);
	assert_int_equal(g.st.evicted, 0);
	assert_int_equal(l.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(l.r[i].kind, GI_INSERT);
		assert_int_equal(l.r[i].page, 3 + i);
		assert_int_equal(l.r[i].sector, 800 + 8 * i); /* each page its own 4 KiB block */
		assert_int_equal(l.watched[3 + i], 1);
	}
	/* The data's own DMA report is not an eviction; another device write is. */
	gi_page_write(&g, 3, 0, 4096, true, false, 11);
	assert_int_equal(g.st.evicted, 0);
	gi_page_write(&g, 3, 0, 100, true, false, 12);
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.st.by_reason[GI_EVICT][GI_R_DMA], 1);
	assert_int_equal(l.watched[3], 0);
	assert_int_equal(g.st.cache_pages, 3);
	gi_free(&g);
}

static void test_read_of_other_block_evicts(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 16, 5, 1, 1);
	read_pages(&g, 64, 5, 1, 2);
	assert_int_equal(g.st.inserted, 2);
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.st.cache_pages, 1);
	assert_int_equal(l.r[1].kind, GI_EVICT);
	assert_int_equal(l.r[1].sector, 16);
	assert_int_equal(l.r[1].reason, GI_R_READ);
	assert_int_equal(l.r[2].kind, GI_INSERT);
	assert_int_equal(l.r[2].sector, 64);
	assert_int_equal(l.watched[5], 1);
	gi_free(&g);
}

static void test_clear_evicts(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 0, 7, 1, 1);
	/* clear_page: 8-byte zero stores from offset 0 */
	for (uint32_t off = 0; off < 4096; off += 8) {
		assert_int_equal(g.st.evicted, 0);
		gi_page_write(&g, 7, off, 8, false, true, 5);
	}
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.st.by_reason[GI_EVICT][GI_R_CLEARED], 1);
	assert_int_equal(g.st.cache_pages, 0);
	assert_int_equal(l.watched[7], 0);
	assert_int_equal(l.r[1].since, 5);
	gi_free(&g);
}

static void test_file_write_stays_cached(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 40, 2, 1, 1);
	gi_page_write(&g, 2, 100, 5, false, false, 2); /* the file changes */
	assert_int_equal(g.pages[2].state, GI_SUSPECT);
	assert_int_equal(l.watched[2], 0); /* not being cleared: no more write events needed */
	write_page(&g, 40, 2, 3);          /* written back home */
	assert_int_equal(g.pages[2].state, GI_CACHED);
	assert_int_equal(g.st.confirmed, 1);
	assert_int_equal(l.watched[2], 1);
	gi_tick(&g, 3 + 10 * TIMEOUT);
	assert_int_equal(g.st.evicted, 0);
	assert_int_equal(g.st.cache_pages, 1);
	gi_free(&g);
}

static void test_timeout_evicts(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 40, 2, 2, 1);
	gi_page_write(&g, 2, 64, 8, false, false, 100); /* reused for something else */
	gi_tick(&g, 100 + TIMEOUT - 1);
	assert_int_equal(g.st.evicted, 0);
	gi_tick(&g, 100 + TIMEOUT);
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.st.by_reason[GI_EVICT][GI_R_TIMEOUT], 1);
	assert_int_equal(l.r[l.n - 1].since, 100);
	assert_int_equal(l.r[l.n - 1].page, 2);
	assert_int_equal(g.pages[3].state, GI_CACHED); /* the untouched one stays */
	gi_free(&g);
}

static void test_journal_copies(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	/* A cached page written to the journal and home: never evicted. */
	read_pages(&g, 80, 9, 1, 1);
	write_page(&g, 5000, 9, 2);
	assert_int_equal(g.st.copies, 1);
	gi_page_write(&g, 9, 16, 4, false, false, 3); /* metadata changes */
	write_page(&g, 5008, 9, 4);                   /* journal */
	write_page(&g, 80, 9, 5);                     /* checkpoint home */
	gi_tick(&g, 10 * TIMEOUT);
	assert_int_equal(g.st.evicted, 0);
	assert_int_equal(g.pages[9].sector, 80);
	/* A reused page written elsewhere and never home: at the timeout the
	 * old block leaves and the new one is what the page caches. */
	gi_page_write(&g, 9, 0, 4, false, false, 20 * TIMEOUT);
	write_page(&g, 9000, 9, 20 * TIMEOUT + 1);
	assert_int_equal(g.st.evicted, 0);
	gi_tick(&g, 21 * TIMEOUT + 1);
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.pages[9].sector, 9000);
	assert_int_equal(g.pages[9].state, GI_CACHED);
	assert_int_equal(g.st.cache_pages, 1);
	gi_free(&g);
}

/* The journal as the file system says (fsmap): sectors 4000-4999. */
static bool journal_4000(void *opaque, uint8_t dev, uint64_t sector)
{
	(void)opaque;
	return dev == 0 && sector >= 4000 && sector < 5000;
}

static void test_known_journal(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	g.is_journal = journal_4000;
	/* jbd2's own blocks (descriptors, commits) from pages not in the cache:
	 * buffers of the block device's cache, inserted as a write elsewhere
	 * would be. */
	write_page(&g, 4008, 3, 1);
	assert_int_equal(g.st.inserted, 1);
	assert_int_equal(g.pages[3].sector, 4008);
	assert_int_equal(g.st.journal_writes, 1);
	write_page(&g, 6000, 4, 1);
	assert_int_equal(g.st.inserted, 2);
	/* A page first seen in the journal and then written home elsewhere: a
	 * metadata buffer made without a read, cached as its home block now,
	 * with no eviction. */
	write_page(&g, 4024, 5, 1);
	write_page(&g, 7000, 5, 2);
	assert_int_equal(g.pages[5].state, GI_CACHED);
	assert_int_equal(g.pages[5].sector, 7000);
	assert_int_equal(g.st.inserted, 3);
	assert_int_equal(g.st.evicted, 0);
	/* A changed metadata page written to the journal and never home in
	 * time: evicted at the timeout, never taken for a journal block. */
	read_pages(&g, 80, 9, 1, 2);
	gi_page_write(&g, 9, 16, 4, false, false, 3);
	write_page(&g, 4016, 9, 4);
	gi_tick(&g, 2 * TIMEOUT);
	assert_int_equal(g.st.evicted, 1);
	assert_int_equal(g.pages[9].state, GI_FREE);
	assert_int_equal(g.st.journal_writes, 3);
	gi_free(&g);
}

static bool freed_800s(void *arg, uint64_t sector)
{
	(void)arg;
	return sector >= 800 && sector < 900;
}

static void test_freed_blocks_evict(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	read_pages(&g, 800, 3, 4, 10);         /* 800, 808, 816, 824: freed */
	read_pages(&g, 900, 7, 2, 10);         /* still allocated */
	gi_freed(&g, 1, freed_800s, NULL, 20); /* another disk: nothing */
	assert_int_equal(g.st.evicted, 0);
	gi_freed(&g, 0, freed_800s, NULL, 20);
	assert_int_equal(g.st.evicted, 4);
	assert_int_equal(g.st.by_reason[GI_EVICT][GI_R_FREED], 4);
	assert_int_equal(g.st.cache_pages, 2);
	for (int i = 3; i < 7; i++) {
		assert_int_equal(g.pages[i].state, GI_FREE);
		assert_int_equal(l.watched[i], 0);
	}
	assert_int_equal(l.r[l.n - 1].reason, GI_R_FREED);
	gi_free(&g);
}

static void test_write_from_free_page_inserts(void **state)
{
	struct gi g;
	struct log l;
	(void)state;
	setup_gi(&g, &l);
	write_page(&g, 160, 11, 1);
	assert_int_equal(g.st.inserted, 1);
	assert_int_equal(g.st.by_reason[GI_INSERT][GI_R_WRITE], 1);
	assert_int_equal(l.watched[11], 1);
	gi_free(&g);
}

static void test_hostile_pieces(void **state)
{
	struct gi g;
	struct log l;
	struct gi_piece p[] = {
		{ NPAGES + 5, 0, 4096 }, /* not a page */
		{ 1, 4000, 200 },        /* crosses the page end */
		{ 2, 3, 512 },           /* not on a sector */
		{ 3, 0, 0 },             /* empty */
		{ 4, 512, 512 },         /* a piece of a page: the block at the page's start is known */
		{ 4, 1024, 512 },        /* the same block, another piece */
	};
	(void)state;
	setup_gi(&g, &l);
	gi_block(&g, true, 0, 100, p, 6, 1);
	assert_int_equal(g.st.ignored, 4);
	assert_int_equal(g.st.inserted, 1);
	assert_int_equal(g.pages[4].state, GI_CACHED);
	gi_block(&g, true, 0, UINT64_MAX - 3, p + 4, 1, 2); /* sectors past any disk */
	assert_int_equal(g.st.inserted, 1);
	gi_page_write(&g, NPAGES, 0, 8, false, true, 3);
	gi_page_write(&g, 4, 4095, 8, false, true, 3);
	assert_int_equal(g.st.evicted, 0);
	gi_free(&g);
}

/* ---- working-set size ---- */

static void test_wss_distances(void **state)
{
	struct wss w;
	(void)state;
	assert_int_equal(wss_init(&w, 640, 1000), 0); /* buckets of 10 pages */
	assert_int_equal(w.bucket_pages, 10);
	/* 100 blocks evicted in order, then read again in the same order: block
	 * i left 100 - i evictions ago, so 100 - i more pages would have kept it. */
	for (uint64_t i = 0; i < 100; i++)
		wss_evicted(&w, 0, i * 8, i);
	for (uint64_t i = 0; i < 100; i++)
		wss_missed(&w, 0, i * 8, 0);
	wss_missed(&w, 0, 999 * 8, 0); /* never evicted: cold */
	wss_missed(&w, 1, 0, 0);       /* another disk's sector 0: cold */
	assert_int_equal(w.misses, 102);
	assert_int_equal(w.ghost_hits, 100);
	/* Distances 1..100: with 50 more pages the 50 with distance <= 50 are
	 * avoided (by whole buckets of 10: 45 more pages avoid only 40)... */
	assert_int_equal(wss_misses_with(&w, WSS_BY_EVICTIONS, 0), 102);
	assert_int_equal(wss_misses_with(&w, WSS_BY_EVICTIONS, 50), 102 - 50);
	assert_int_equal(wss_misses_with(&w, WSS_BY_EVICTIONS, 45), 102 - 40);
	assert_int_equal(wss_misses_with(&w, WSS_BY_EVICTIONS, 110), 2);
	/* ...and 95% of the avoidable ones need 100 pages (bucket edge). */
	assert_int_equal(wss_extra_for(&w, WSS_BY_EVICTIONS, 95), 100);
	/* Their insertions were never seen (a cache of 0): the insertion model
	 * falls back to the evictions, and says the same. */
	assert_int_equal(wss_extra_for(&w, WSS_BY_INSERTIONS, 95), 100);
	/* A ghost found is no longer one. */
	wss_missed(&w, 0, 0, 0);
	assert_int_equal(w.ghost_hits, 100);
	wss_free(&w);
}

/* Where the models part: a guest (like Linux with its active list) that
 * keeps 150 pages of blocks it read once and never again, and streams a
 * loop of 150 blocks through the other 50 of its 200 pages.  Each re-read
 * block left 100 evictions earlier, so the eviction model asks for 100 more
 * pages; but an LRU cache of the 200 pages there are would hold the whole
 * loop, and the insertion model says so: no more memory, the guest's choice
 * of what to keep made these misses. */
static void test_wss_models(void **state)
{
	struct wss w;
	uint64_t cache = 0;
	(void)state;
	assert_int_equal(wss_init(&w, 1024, 4096), 0); /* buckets of 16 pages */
	/* 150 pages of cached blocks that stay (never read again): the guest's
	 * protected list, inserted once. */
	for (uint64_t p = 0; p < 150; p++, cache++)
		wss_inserted(&w, p);
	/* A loop of 150 blocks streamed through 50 pages, three times: each
	 * insertion past the 50th evicts the block inserted 50 earlier. */
	for (int pass = 0; pass < 3; pass++)
		for (uint64_t b = 0; b < 150; b++) {
			uint64_t page = 150 + b % 50, sector = 8 * (1000 + b);
			if (pass || b >= 50) {
				uint64_t old = (b + 150 - 50) % 150;
				wss_evicted(&w, 0, 8 * (1000 + old), page);
				cache--;
			}
			wss_missed(&w, 0, sector, cache);
			wss_inserted(&w, page);
			cache++;
		}
	assert_int_equal(cache, 200);
	/* Each re-read block left 100 evictions ago: 101 pages, bucket edge 112. */
	assert_int_equal(wss_extra_for(&w, WSS_BY_EVICTIONS, 100), 112);
	/* It was inserted 150 insertions ago: 150 pages, fewer than the 199
	 * cached when it missed, so the first bucket (16) avoids them all. */
	assert_int_equal(wss_extra_for(&w, WSS_BY_INSERTIONS, 100), 16);
	assert_int_equal(wss_misses_with(&w, WSS_BY_INSERTIONS, 16), w.misses - w.ghost_hits);
	wss_free(&w);
}

static void test_wss_bounded(void **state)
{
	struct wss w;
	(void)state;
	assert_int_equal(wss_init(&w, 64, 16), 0);
	/* Past the capacity, the oldest ghosts are forgotten. */
	for (uint64_t i = 0; i < 100000; i++)
		wss_evicted(&w, 0, i * 8, i);
	wss_missed(&w, 0, 0, 0);
	assert_int_equal(w.ghost_hits, 0);
	wss_missed(&w, 0, (100000 - 10) * 8, 0);
	assert_int_equal(w.ghost_hits, 1);
	/* The same block evicted twice: the distance counts from the last. */
	wss_evicted(&w, 0, 5, 1);
	wss_evicted(&w, 0, 6, 2);
	wss_evicted(&w, 0, 5, 1);
	wss_missed(&w, 0, 5, 0);
	assert_int_equal(w.ghost_hits, 2);
	assert_int_equal(w.bucket_pages, 1);
	assert_int_equal(w.hist[WSS_BY_EVICTIONS][9], 1); /* the first: 10 evictions ago */
	assert_int_equal(w.hist[WSS_BY_EVICTIONS][0], 1); /* 5: evicted last, so one page more would have kept it */
	/* Page numbers past the guest's are ignored, not written. */
	wss_inserted(&w, 1u << 30);
	wss_evicted(&w, 0, 7, 1u << 30);
	wss_free(&w);
}

/* ---- the hub's watched pages ---- */

static struct engine_ops fake_engine = { .name = "fake", .events = SYM_EV_VCPU_MASK };
static struct engine_ops mute_engine = { .name = "mute", .events = 0 };

struct writes {
	int n;
	uint64_t gpa[16];
	uint32_t len[16];
};

static enum sym_action on_write(void *opaque, struct sym_event *ev)
{
	struct writes *w = opaque;
	assert_int_equal(ev->type, SYM_EV_PAGE_WRITE);
	assert_true(ev->write.dma);
	if (w->n < 16)
		w->gpa[w->n] = ev->write.gpa, w->len[w->n] = ev->write.len;
	w->n++;
	return SYM_CONTINUE;
}

static struct vm *new_vm(const struct engine_ops *e)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->engine = e;
	vm->mem.size = vm->mem.low_size = NPAGES * 4096;
	vm->mem.host = calloc(1, NPAGES * 4096);
	return vm;
}

static void free_vm(struct vm *vm)
{
	vm_event_hub_free(vm);
	free(vm->mem.host);
	free(vm);
}

static void test_watch_dma(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	struct sym_filter f = { .type = SYM_EV_PAGE_WRITE };
	struct writes w = { 0 };
	char err[128];
	struct sym_sub *s;
	(void)state;

	s = sym_subscribe(vm, &f, on_write, &w, err, sizeof(err));
	assert_non_null(s);
	assert_true(vm_events_wanted(vm, SYM_EV_PAGE_WRITE));
	sym_event_page_dma(vm, 0x3000, 0x3000); /* nothing watched */
	assert_int_equal(w.n, 0);
	assert_int_equal(sym_watch(vm, 0x4000, 1, err, sizeof(err)), 0); /* one page */
	assert_true(sym_watched(vm, 0x4fff));
	assert_false(sym_watched(vm, 0x5000));
	sym_event_page_dma(vm, 0x3800, 0x3000); /* covers 3, 4, 5, 6: only 4 */
	assert_int_equal(w.n, 1);
	assert_int_equal(w.gpa[0], 0x4000);
	assert_int_equal(w.len[0], 0x1000);
	/* Counted: two watches need two unwatches. */
	assert_int_equal(sym_watch(vm, 0x4000, 4096, err, sizeof(err)), 0);
	sym_unwatch(vm, 0x4000, 4096);
	assert_true(sym_watched(vm, 0x4000));
	sym_unwatch(vm, 0x4000, 4096);
	assert_false(sym_watched(vm, 0x4000));
	sym_event_page_dma(vm, 0x4000, 8);
	assert_int_equal(w.n, 1);
	/* Not RAM: refused, nothing watched. */
	assert_int_equal(sym_watch(vm, (NPAGES - 1) * 4096, 8192, err, sizeof(err)), -1);
	assert_false(sym_watched(vm, (NPAGES - 1) * 4096));
	assert_int_equal(sym_watch(vm, UINT64_MAX - 10, 100, err, sizeof(err)), -1);
	sym_unsubscribe(s);

	/* A range filter: only writes that touch it. */
	f.gpa_start = 0x8000, f.gpa_end = 0x9000;
	s = sym_subscribe(vm, &f, on_write, &w, err, sizeof(err));
	assert_int_equal(sym_watch(vm, 0x7000, 0x3000, err, sizeof(err)), 0);
	sym_event_page_dma(vm, 0x7000, 0x3000);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.gpa[1], 0x8000);
	sym_unsubscribe(s);
	free_vm(vm);
}

static void test_watch_saturates(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	char err[128];
	(void)state;
	for (int i = 0; i < 255; i++)
		assert_int_equal(sym_watch(vm, 0x1000, 4096, err, sizeof(err)), 0);
	/* all or nothing: page 2 is not counted when page 1 is full */
	assert_int_equal(sym_watch(vm, 0x2000 - 4096, 8192, err, sizeof(err)), -1);
	assert_false(sym_watched(vm, 0x2000));
	free_vm(vm);
}

static void test_kvm_refuses(void **state)
{
	struct vm *vm = new_vm(&mute_engine);
	struct sym_filter f = { .type = SYM_EV_PAGE_WRITE };
	char err[128] = "";
	struct writes w = { 0 };
	(void)state;
	assert_null(sym_subscribe(vm, &f, on_write, &w, err, sizeof(err)));
	assert_non_null(strstr(err, "does not deliver"));
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_inserts),
		cmocka_unit_test(test_read_of_other_block_evicts),
		cmocka_unit_test(test_clear_evicts),
		cmocka_unit_test(test_file_write_stays_cached),
		cmocka_unit_test(test_timeout_evicts),
		cmocka_unit_test(test_journal_copies),
		cmocka_unit_test(test_known_journal),
		cmocka_unit_test(test_freed_blocks_evict),
		cmocka_unit_test(test_write_from_free_page_inserts),
		cmocka_unit_test(test_hostile_pieces),
		cmocka_unit_test(test_wss_distances),
		cmocka_unit_test(test_wss_models),
		cmocka_unit_test(test_wss_bounded),
		cmocka_unit_test(test_watch_dma),
		cmocka_unit_test(test_watch_saturates),
		cmocka_unit_test(test_kvm_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
