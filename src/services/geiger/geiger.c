/* Geiger (Jones, Arpaci-Dusseau and Arpaci-Dusseau, ASPLOS'06): the guest's
 * buffer cache inferred from the VMM, with nothing in the guest.  The
 * evidence is the event hub's: SYM_EV_BLOCK (which disk block went to or
 * came from which guest page) and SYM_EV_PAGE_WRITE on the pages thought to
 * be cached (the CPU writing them, or a device); infer.c decides.  It
 * tracks from the start of a VM with a control socket.
 *
 *   geiger          the counts: inserted, evicted, cache_pages...
 *   geiger-start    tracking from zero (again)
 *   geiger-stop     stop tracking (the counts stay)
 *   geiger-events   {"since": SEQ}: the insert/evict records after SEQ still
 *                   in the ring (the newest GEIGER_RING)
 *   geiger-follow   every record from now on as a GEIGER event to this client
 *                   (dropped, and counted, if it cannot keep up), until it
 *                   goes or sends geiger-unfollow
 *   geiger-wss      the working-set estimate from reuse distances (wss.h)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "services/geiger/fsmap.h"
#include "services/geiger/infer.h"
#include "services/geiger/wss.h"
#include "symbiont/control.h"
#include "symbiont/device.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/service.h"
#include "symbiont/symspy.h"
#include "symbiont/vm.h"

#define GEIGER_RING       4096
#define GEIGER_DEVS       16
#define GEIGER_FOLLOWERS  8
#define GEIGER_TIMEOUT_NS (40ULL * 1000000000ULL) /* dirty_expire (30 s) + the flusher's 5 s + slack */
#define PIECES            256
#define FS_RELOAD_GAP_NS  (500ULL * 1000000ULL) /* at most two bitmap re-reads a second per disk */
#define FREE_READ_GAP_NS  (100ULL * 1000000ULL) /* the guest's free count, read at most ten times a second */

struct geiger {
	struct vm *vm;
	pthread_mutex_t lock; /* everything below: worker, vCPU and control threads */
	struct gi gi;
	struct wss wss;
	/* The guest's free pages as its SymSpy page says (when it shares one
	 * and they are scarce): pages it freed are still cached to Geiger until
	 * reused (infer.h), so the working-set model takes them off the cache
	 * it compares with. */
	uint64_t guest_free_pages, guest_free_read_at;
	bool guest_free_known;
	bool tracking, writes_seen;
	struct sym_sub *block_sub, *write_sub;
	char *devs[GEIGER_DEVS];
	/* Each disk's file system, from its image (fsmap.h): open when fs_ok;
	 * fs_err says why not.  fs_due: a block bitmap was written home since
	 * the last re-read; the next one comes FS_RELOAD_GAP_NS after that one
	 * at the earliest, at the disk's next request or a `geiger` query. */
	struct fsmap fs[GEIGER_DEVS];
	bool fs_ok[GEIGER_DEVS], fs_due[GEIGER_DEVS];
	uint64_t fs_read_at[GEIGER_DEVS], fs_errors[GEIGER_DEVS];
	char fs_err[GEIGER_DEVS][160];
	struct gi_record ring[GEIGER_RING];
	uint64_t seq; /* records made so far; ring[(seq-1) % GEIGER_RING] is the last */
	uint64_t followers[GEIGER_FOLLOWERS];
	uint64_t follow_dropped;
	uint64_t watch_failures;
};

static const char *const reason_names[GI_R_REASONS] = { "read", "write", "cleared", "timeout", "dma", "freed" };

/* ---- guest pages <-> indices (RAM only: low RAM, then above 4 GiB) ---- */

static bool page_of(const struct vm *vm, uint64_t gpa, uint64_t *page)
{
	const struct guest_mem *m = &vm->mem;
	if (gpa < m->low_size)
		*page = gpa >> 12;
	else if (gpa >= MEM_4G && gpa - MEM_4G < m->size - m->low_size)
		*page = (m->low_size + (gpa - MEM_4G)) >> 12;
	else
		return false;
	return true;
}

static uint64_t gpa_of(const struct vm *vm, uint64_t page)
{
	uint64_t off = page << 12;
	return off < vm->mem.low_size ? off : MEM_4G + (off - vm->mem.low_size);
}

/* ---- from the inference ---- */

static struct json_object *record_json(struct geiger *g, const struct gi_record *r, uint64_t seq)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
	json_object_object_add(o, "kind", json_object_new_string(r->kind == GI_INSERT ? "insert" : "evict"));
	json_object_object_add(o, "reason", json_object_new_string(reason_names[r->reason]));
	json_object_object_add(o, "gpa", json_object_new_int64((int64_t)gpa_of(g->vm, r->page)));
	json_object_object_add(o, "device", json_object_new_string(g->devs[r->dev] ? g->devs[r->dev] : "?"));
	json_object_object_add(o, "sector", json_object_new_int64((int64_t)r->sector));
	json_object_object_add(o, "t_ns", json_object_new_int64((int64_t)r->t));
	json_object_object_add(o, "since_ns", json_object_new_int64((int64_t)r->since));
	return o;
}

/* Lock held.  The cache the guest really has for the working-set model:
 * Geiger's inferred size less the frames the guest reports free (at most). */
static uint64_t cache_for_wss(struct geiger *g)
{
	uint64_t now = vm_now(g->vm), cache = g->gi.st.cache_pages;

	if (!g->guest_free_read_at || now - g->guest_free_read_at >= FREE_READ_GAP_NS) {
		struct symspy_global sg;
		char e[160];
		g->guest_free_read_at = now ? now : 1;
		g->guest_free_known = symspy_read_global(g->vm, &sg, e, sizeof(e)) == 0;
		/* Only while free memory is scarce (under 1/16 of it): then the
		 * free pages are ones reclaim took from the cache and Geiger has
		 * not seen reused.  A guest with much free memory emptied its
		 * cache for other reasons (drop_caches, deleted files), and the
		 * frames it freed were not what it lacked. */
		g->guest_free_pages =
		        g->guest_free_known && sg.mem_free_kb * 16 <= sg.mem_total_kb ? sg.mem_free_kb / 4 : 0;
	}
	return cache - (g->guest_free_pages < cache ? g->guest_free_pages : cache);
}

/* Lock held. */
static void on_record(void *opaque, const struct gi_record *r)
{
	struct geiger *g = opaque;
	if (r->kind == GI_EVICT) {
		wss_evicted(&g->wss, r->dev, r->sector, r->page);
		/* A disk with an exclusive cache keeps the block; a freed one is dead. */
		if (g->devs[r->dev] && r->reason != GI_R_FREED)
			vm_device_block_evicted(g->vm, g->devs[r->dev], r->sector, 4096);
	} else {
		if (r->reason == GI_R_READ)
			wss_missed(&g->wss, r->dev, r->sector, cache_for_wss(g));
		wss_inserted(&g->wss, r->page);
	}
	g->ring[g->seq % GEIGER_RING] = *r;
	g->seq++;
	for (int i = 0; i < GEIGER_FOLLOWERS; i++)
		if (g->followers[i] &&
		    control_event_to(g->vm->control, g->followers[i], "GEIGER", record_json(g, r, g->seq)))
			g->follow_dropped++;
}

/* Lock held. */
static void on_watch(void *opaque, uint64_t page, bool on)
{
	struct geiger *g = opaque;
	char err[128];
	if (!g->write_sub)
		return;
	if (on) {
		if (sym_watch(g->vm, gpa_of(g->vm, page), 4096, err, sizeof(err)) < 0) {
			g->watch_failures++;
			g->gi.pages[page].watched = false; /* nothing to undo later */
		}
	} else {
		sym_unwatch(g->vm, gpa_of(g->vm, page), 4096);
	}
}

/* ---- from the hub ---- */

/* ---- the disks' file systems ---- */

/* The image behind a virtio-blk device id ("virtio-blk", "virtio-blk.N":
 * the Nth --disk), or false. */
static bool image_of(const struct vm *vm, const char *id, char *path, size_t len)
{
	const char *base = "virtio-blk";
	size_t n = strlen(base);
	long i = 0;
	if (strncmp(id, base, n))
		return false;
	if (id[n] == '.') {
		char *end;
		i = strtol(id + n + 1, &end, 10);
		if (*end || i <= 0)
			return false;
	} else if (id[n]) {
		return false;
	}
	if (i >= vm->cfg.ndisks || !vm->cfg.disks[i])
		return false;
	snprintf(path, len, "%.*s", (int)strcspn(vm->cfg.disks[i], ","), vm->cfg.disks[i]);
	return true;
}

/* Lock held: the disk's file system, read when it is first seen. */
static void fs_open(struct geiger *g, int dev)
{
	char path[4096];
	if (!image_of(g->vm, g->devs[dev], path, sizeof(path))) {
		snprintf(g->fs_err[dev], sizeof(g->fs_err[dev]), "no image file known for this device");
		return;
	}
	g->fs_ok[dev] = fsmap_open(&g->fs[dev], path, g->fs_err[dev], sizeof(g->fs_err[dev])) == 0;
	g->fs_read_at[dev] = vm_now(g->vm);
}

static bool freed_on(void *arg, uint64_t sector)
{
	return fsmap_was_freed(arg, sector);
}

/* Lock held: re-reads a disk's bitmap if one was written home and the last
 * re-read is long enough ago; pages of blocks it freed leave the cache. */
static void fs_refresh(struct geiger *g, int dev, uint64_t now)
{
	char err[160];
	if (!g->fs_ok[dev] || !g->fs_due[dev] || now - g->fs_read_at[dev] < FS_RELOAD_GAP_NS)
		return;
	g->fs_due[dev] = false;
	g->fs_read_at[dev] = now;
	if (fsmap_reload(&g->fs[dev], err, sizeof(err)) < 0) {
		g->fs_errors[dev]++; /* the old map stays: a torn or hostile image */
		snprintf(g->fs_err[dev], sizeof(g->fs_err[dev]), "%s", err);
		return;
	}
	gi_freed(&g->gi, (uint8_t)dev, freed_on, &g->fs[dev], now);
}

static bool is_journal(void *opaque, uint8_t dev, uint64_t sector)
{
	struct geiger *g = opaque;
	return dev < GEIGER_DEVS && g->fs_ok[dev] && fsmap_is_journal(&g->fs[dev], sector);
}

/* Lock held: the index of a disk by its device id, or -1. */
static int dev_index(struct geiger *g, const char *id)
{
	if (!id)
		return -1;
	for (int i = 0; i < GEIGER_DEVS; i++) {
		if (!g->devs[i]) {
			if (!(g->devs[i] = strdup(id)))
				return -1;
			fs_open(g, i);
			return i;
		}
		if (!strcmp(g->devs[i], id))
			return i;
	}
	return -1;
}

static enum sym_action on_block(void *opaque, struct sym_event *ev)
{
	struct geiger *g = opaque;
	struct gi_piece pieces[PIECES];
	uint64_t now = vm_now(g->vm), done = 0, chunk_start = 0;
	unsigned n = 0;
	int dev;

	if (!ev->block.ok || (ev->block.op != SYM_BLOCK_READ && ev->block.op != SYM_BLOCK_WRITE))
		return SYM_CONTINUE;
	pthread_mutex_lock(&g->lock);
	if (!g->tracking || (dev = dev_index(g, ev->block.device)) < 0) {
		pthread_mutex_unlock(&g->lock);
		return SYM_CONTINUE;
	}
	/* Pieces no larger than a page, handed over in chunks that start on a
	 * sector (a chunk's first sector is the request's plus what went before). */
	for (unsigned i = 0; i < ev->block.nranges; i++) {
		uint64_t gpa = ev->block.ranges[i].gpa, left = ev->block.ranges[i].len;
		while (left) {
			uint64_t room = 4096 - (gpa & 0xfff), len = left < room ? left : room, page;
			if (n == PIECES) {
				if (chunk_start % 512 == 0)
					gi_block(&g->gi, ev->block.op == SYM_BLOCK_READ, (uint8_t)dev,
					         ev->block.sector + chunk_start / 512, pieces, n, now);
				chunk_start = done, n = 0;
			}
			if (page_of(g->vm, gpa, &page))
				pieces[n++] = (struct gi_piece){ page, (uint32_t)(gpa & 0xfff), (uint32_t)len };
			else
				pieces[n++] = (struct gi_piece){ UINT64_MAX, 0,
					                         (uint32_t)len }; /* ignored, keeps the count */
			gpa += len, left -= len, done += len;
		}
	}
	if (n && chunk_start % 512 == 0)
		gi_block(&g->gi, ev->block.op == SYM_BLOCK_READ, (uint8_t)dev, ev->block.sector + chunk_start / 512,
		         pieces, n, now);
	if (ev->block.op == SYM_BLOCK_WRITE && g->fs_ok[dev]) { /* a block bitmap written home? */
		uint64_t bs = g->fs[dev].block_sectors, end = ev->block.sector + ev->block.bytes / 512;
		for (uint64_t s = ev->block.sector - ev->block.sector % bs; s < end && !g->fs_due[dev]; s += bs)
			g->fs_due[dev] = fsmap_is_bitmap(&g->fs[dev], s);
	}
	fs_refresh(g, dev, now);
	pthread_mutex_unlock(&g->lock);
	return SYM_CONTINUE;
}

static enum sym_action on_page_write(void *opaque, struct sym_event *ev)
{
	struct geiger *g = opaque;
	uint64_t page, gpa = ev->write.gpa;
	uint32_t len = ev->write.len, off = (uint32_t)(gpa & 0xfff);
	const uint8_t *p;
	bool zero = true;

	if (!page_of(g->vm, gpa, &page) || len == 0 || off + len > 4096)
		return SYM_CONTINUE;
	/* What the bytes are now: the write is done when the event comes. */
	p = gpa_to_host(&g->vm->mem, gpa, len);
	for (uint32_t i = 0; p && i < len && zero; i++)
		zero = p[i] == 0;
	pthread_mutex_lock(&g->lock);
	if (g->tracking)
		gi_page_write(&g->gi, page, off, len, ev->write.dma, zero && p, vm_now(g->vm));
	pthread_mutex_unlock(&g->lock);
	return SYM_CONTINUE;
}

/* ---- tracking on and off ---- */

static void stop_tracking(struct geiger *g)
{
	struct sym_sub *b, *w;
	pthread_mutex_lock(&g->lock);
	g->tracking = false;
	b = g->block_sub, w = g->write_sub;
	g->block_sub = NULL;
	pthread_mutex_unlock(&g->lock);
	sym_unsubscribe(b); /* waits for callbacks in flight */
	sym_unsubscribe(w);
	pthread_mutex_lock(&g->lock);
	for (uint64_t i = 0; i < g->gi.npages; i++) /* give the watches back */
		if (g->gi.pages[i].watched) {
			g->gi.pages[i].watched = false;
			if (w)
				sym_unwatch(g->vm, gpa_of(g->vm, i), 4096);
		}
	g->write_sub = NULL;
	pthread_mutex_unlock(&g->lock);
}

static int start_tracking(struct geiger *g, char *err, size_t errlen)
{
	struct sym_filter f = { .type = SYM_EV_BLOCK };
	char werr[160];

	stop_tracking(g);
	pthread_mutex_lock(&g->lock);
	gi_free(&g->gi);
	wss_free(&g->wss);
	if (gi_init(&g->gi, g->vm->mem.size >> 12, GEIGER_TIMEOUT_NS, on_record, on_watch, g) < 0 ||
	    wss_init(&g->wss, g->vm->mem.size >> 12, g->vm->mem.size >> 12) < 0) {
		pthread_mutex_unlock(&g->lock);
		snprintf(err, errlen, "geiger: out of memory");
		return -1;
	}
	g->gi.is_journal = is_journal;
	g->seq = 0;
	g->guest_free_read_at = 0;
	g->watch_failures = g->follow_dropped = 0;
	pthread_mutex_unlock(&g->lock);
	/* Writes first, so that no page is inserted before its watch can work. */
	f.type = SYM_EV_PAGE_WRITE;
	g->write_sub = sym_subscribe(g->vm, &f, on_page_write, g, werr, sizeof(werr));
	g->writes_seen = g->write_sub != NULL; /* kvm refuses: block evidence only */
	f.type = SYM_EV_BLOCK;
	if (!(g->block_sub = sym_subscribe(g->vm, &f, on_block, g, err, errlen))) {
		stop_tracking(g);
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	g->tracking = true;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* ---- commands ---- */

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static int cmd_geiger(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct geiger *g = opaque;
	struct json_object *o = json_object_new_object(), *ins = json_object_new_object(),
	                   *ev = json_object_new_object(), *fs = json_object_new_array();
	uint64_t suspect = 0;
	(void)args, (void)err, (void)errlen;
	pthread_mutex_lock(&g->lock);
	if (g->tracking)
		gi_tick(&g->gi, vm_now(g->vm));
	for (uint64_t i = 0; i < g->gi.npages; i++)
		suspect += g->gi.pages[i].state == GI_SUSPECT;
	json_object_object_add(o, "tracking", json_object_new_boolean(g->tracking));
	json_object_object_add(o, "writes_seen", json_object_new_boolean(g->writes_seen));
	add_u64(o, "inserted", g->gi.st.inserted);
	add_u64(o, "evicted", g->gi.st.evicted);
	add_u64(o, "cache_pages", g->gi.st.cache_pages);
	add_u64(o, "cache_bytes", g->gi.st.cache_pages * 4096);
	add_u64(o, "suspect_pages", suspect);
	for (int r = 0; r < GI_R_REASONS; r++) {
		add_u64(ins, reason_names[r], g->gi.st.by_reason[GI_INSERT][r]);
		add_u64(ev, reason_names[r], g->gi.st.by_reason[GI_EVICT][r]);
	}
	json_object_object_add(o, "inserted_by", ins);
	json_object_object_add(o, "evicted_by", ev);
	add_u64(o, "copies", g->gi.st.copies);
	add_u64(o, "journal_writes", g->gi.st.journal_writes);
	for (int i = 0; i < GEIGER_DEVS && g->devs[i]; i++) {
		struct json_object *d = json_object_new_object();
		fs_refresh(g, i, vm_now(g->vm));
		json_object_object_add(d, "device", json_object_new_string(g->devs[i]));
		json_object_object_add(d, "known", json_object_new_boolean(g->fs_ok[i]));
		if (g->fs_err[i][0])
			json_object_object_add(d, "error", json_object_new_string(g->fs_err[i]));
		if (g->fs_ok[i]) {
			uint64_t jb = 0;
			for (unsigned k = 0; k < g->fs[i].njournal; k++)
				jb += g->fs[i].journal[k][1] - g->fs[i].journal[k][0];
			add_u64(d, "blocks", g->fs[i].nblocks);
			add_u64(d, "block_size", g->fs[i].block_sectors * 512ULL);
			add_u64(d, "journal_blocks", jb);
			add_u64(d, "bitmap_rereads", g->fs[i].reloads);
			add_u64(d, "reread_errors", g->fs_errors[i]);
		}
		json_object_array_add(fs, d);
	}
	json_object_object_add(o, "file_systems", fs);
	add_u64(o, "writebacks", g->gi.st.writebacks);
	add_u64(o, "suspects", g->gi.st.suspects);
	add_u64(o, "confirmed", g->gi.st.confirmed);
	add_u64(o, "ignored", g->gi.st.ignored);
	add_u64(o, "records", g->seq);
	add_u64(o, "follow_dropped", g->follow_dropped);
	add_u64(o, "watch_failures", g->watch_failures);
	add_u64(o, "suspect_timeout_ms", GEIGER_TIMEOUT_NS / 1000000);
	pthread_mutex_unlock(&g->lock);
	*ret = o;
	return 0;
}

static int cmd_start(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)args, (void)ret;
	return start_tracking(opaque, err, errlen);
}

static int cmd_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)args, (void)ret, (void)err, (void)errlen;
	stop_tracking(opaque);
	return 0;
}

static int cmd_events(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct geiger *g = opaque;
	struct json_object *o = json_object_new_object(), *a = json_object_new_array(), *x;
	uint64_t since = 0, first, from;
	(void)err, (void)errlen;
	if (args && json_object_object_get_ex(args, "since", &x) && json_object_get_int64(x) > 0)
		since = (uint64_t)json_object_get_int64(x);
	pthread_mutex_lock(&g->lock);
	if (since > g->seq)
		since = g->seq;
	first = g->seq > GEIGER_RING ? g->seq - GEIGER_RING : 0; /* the oldest record kept is first+1 */
	from = since < first ? first : since;
	for (uint64_t s = from; s < g->seq; s++)
		json_object_array_add(a, record_json(g, &g->ring[s % GEIGER_RING], s + 1));
	add_u64(o, "next", g->seq);
	add_u64(o, "lost", from - since); /* records after since that left the ring */
	pthread_mutex_unlock(&g->lock);
	json_object_object_add(o, "events", a);
	*ret = o;
	return 0;
}

static int cmd_wss(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct geiger *g = opaque;
	struct json_object *o = json_object_new_object(), *curve = json_object_new_array(), *x;
	int share = 95;
	(void)err, (void)errlen;
	if (args && json_object_object_get_ex(args, "share", &x))
		share = json_object_get_int(x);
	if (share < 1 || share > 100) {
		json_object_put(o);
		json_object_put(curve);
		snprintf(err, errlen, "geiger-wss: share must be 1-100 (percent of the avoidable misses)");
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	if (g->tracking)
		gi_tick(&g->gi, vm_now(g->vm));
	uint64_t cache = cache_for_wss(g), extra = wss_extra_for(&g->wss, WSS_BY_INSERTIONS, (unsigned)share);
	uint64_t extra_ev = wss_extra_for(&g->wss, WSS_BY_EVICTIONS, (unsigned)share);
	add_u64(o, "cache_pages", cache);
	add_u64(o, "inferred_cache_pages", g->gi.st.cache_pages);
	add_u64(o, "guest_free_pages", g->guest_free_pages);
	json_object_object_add(o, "free_source", json_object_new_string(g->guest_free_known ? "symspy" : "none"));
	add_u64(o, "misses", g->wss.misses);
	add_u64(o, "ghost_hits", g->wss.ghost_hits);
	add_u64(o, "evictions", g->wss.evictions);
	add_u64(o, "ghost_capacity", g->wss.capacity);
	add_u64(o, "bucket_pages", g->wss.bucket_pages);
	for (uint64_t b = 0; b <= WSS_BUCKETS; b++) {
		struct json_object *pt = json_object_new_object();
		uint64_t e = b * g->wss.bucket_pages;
		add_u64(pt, "extra_pages", e);
		add_u64(pt, "memory_pages", cache + e);
		add_u64(pt, "misses", wss_misses_with(&g->wss, WSS_BY_INSERTIONS, e));
		add_u64(pt, "misses_by_evictions", wss_misses_with(&g->wss, WSS_BY_EVICTIONS, e));
		json_object_array_add(curve, pt);
	}
	add_u64(o, "share", (uint64_t)share);
	add_u64(o, "extra_pages", extra);
	add_u64(o, "estimate_pages", cache + extra);
	/* The eviction-distance model beside it (wss.h says why it is not the default). */
	add_u64(o, "extra_pages_by_evictions", extra_ev);
	add_u64(o, "insertions", g->wss.insertions);
	pthread_mutex_unlock(&g->lock);
	json_object_object_add(o, "curve", curve);
	*ret = o;
	return 0;
}

static void unfollow(struct geiger *g, uint64_t client)
{
	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < GEIGER_FOLLOWERS; i++)
		if (g->followers[i] == client)
			g->followers[i] = 0;
	pthread_mutex_unlock(&g->lock);
}

static int cmd_follow(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct geiger *g = opaque;
	uint64_t client = control_caller(g->vm->control);
	int i;
	(void)args, (void)ret;
	unfollow(g, client);
	pthread_mutex_lock(&g->lock);
	for (i = 0; i < GEIGER_FOLLOWERS && g->followers[i]; i++)
		;
	if (i < GEIGER_FOLLOWERS)
		g->followers[i] = client;
	pthread_mutex_unlock(&g->lock);
	if (i == GEIGER_FOLLOWERS) {
		snprintf(err, errlen, "geiger: %d clients follow already", GEIGER_FOLLOWERS);
		return -1;
	}
	return 0;
}

static int cmd_unfollow(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct geiger *g = opaque;
	(void)args, (void)ret, (void)err, (void)errlen;
	unfollow(g, control_caller(g->vm->control));
	return 0;
}

static void on_disconnect(void *opaque, uint64_t client)
{
	unfollow(opaque, client);
}

static int geiger_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct geiger *g;
	*state = NULL;
	if (!vm->control)
		return 0; /* asked for on the control socket */
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->vm = vm;
	pthread_mutex_init(&g->lock, NULL);
	*state = g;
	control_register(vm->control, "geiger", cmd_geiger, g);
	control_register(vm->control, "geiger-start", cmd_start, g);
	control_register(vm->control, "geiger-stop", cmd_stop, g);
	control_register(vm->control, "geiger-events", cmd_events, g);
	control_register(vm->control, "geiger-follow", cmd_follow, g);
	control_register(vm->control, "geiger-unfollow", cmd_unfollow, g);
	control_register(vm->control, "geiger-wss", cmd_wss, g);
	control_on_disconnect(vm->control, on_disconnect, g);
	/* Not tracking is no reason to stop the VM: the geiger command says so. */
	if (start_tracking(g, err, errlen) < 0)
		fprintf(stderr, "symbiont: geiger: %s\n", err);
	return 0;
}

static void geiger_stop(void *state)
{
	struct geiger *g = state;
	if (!g)
		return;
	stop_tracking(g);
	gi_free(&g->gi);
	wss_free(&g->wss);
	for (int i = 0; i < GEIGER_DEVS; i++) {
		free(g->devs[i]);
		if (g->fs_ok[i])
			fsmap_close(&g->fs[i]);
	}
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static const struct sym_service geiger_service = {
	.name = "geiger",
	.start = geiger_start,
	.stop = geiger_stop,
};
SYM_SERVICE(geiger_service)
