/* Geiger's inference, apart from the VM: what the guest's buffer cache holds,
 * from block requests and writes to guest pages alone.  The service
 * (geiger.c) feeds it events; the unit tests and the fuzzer feed it
 * synthetic ones.  Not thread-safe: the caller serialises.
 *
 * Every guest RAM page (by index 0..npages-1) has a state:
 *   FREE     no disk block known to be in it;
 *   CACHED   it holds the data of one disk block (a read into it, or a
 *            write from it that was not a copy);
 *   SUSPECT  it was CACHED and the CPU wrote into it since: either the
 *            file's data changed (the page stays in the cache and is
 *            written back to the same block within the writeback delay) or
 *            the page was freed and reused (an eviction).
 * Decisions:
 *   read of block Y into a CACHED/SUSPECT(X) page  evict X, insert Y;
 *   read into a FREE page                          insert Y;
 *   write from a FREE page to Y                    insert Y (written data the
 *                                                  cache held, e.g. a new file);
 *   write from CACHED/SUSPECT(X) to X              (still X; SUSPECT -> CACHED);
 *   write from CACHED(X) to Y != X                 a copy (the journal): still X;
 *   write from SUSPECT(X) to Y != X                remembered; if the page is
 *                                                  not written to X before the
 *                                                  suspect timeout: evict X,
 *                                                  insert Y;
 *   CPU zeroes the whole page from offset 0        evict (a page being cleared
 *                                                  for reuse: anonymous memory,
 *                                                  page tables, init_on_alloc);
 *   SUSPECT for longer than the timeout with no    evict (the data was never
 *   write-back                                     written back: reused);
 *   a device writes the page (not the read that    evict (a network buffer...).
 *   filled it)
 *   write to a journal block (is_journal says so)  from CACHED/SUSPECT: nothing
 *                                                  (jbd2's copy, never the page's
 *                                                  new home); from FREE: insert
 *                                                  (jbd2's own descriptor or
 *                                                  commit block, a buffer in the
 *                                                  block device's cache)
 *   write from a page taken for a journal block    its home is Y: still cached,
 *   to Y outside the journal                       now as Y (a metadata buffer
 *                                                  made without a read)
 *   the file system frees the page's block         evict (gi_freed)
 * The caller watches the pages whose state is not FREE (the want_watch
 * callback says which) to see CPU writes. */
#ifndef SYMBIONT_GEIGER_INFER_H
#define SYMBIONT_GEIGER_INFER_H

#include <stdbool.h>
#include <stdint.h>

enum gi_state { GI_FREE, GI_CACHED, GI_SUSPECT };
enum gi_kind { GI_INSERT, GI_EVICT };
enum gi_reason {
	GI_R_READ,    /* insert: a read filled it; evict: a read of another block into it */
	GI_R_WRITE,   /* insert: written out from it; evict: another block written from a reused page */
	GI_R_CLEARED, /* evict: the CPU zeroed the whole page */
	GI_R_TIMEOUT, /* evict: written by the CPU and never written back */
	GI_R_DMA,     /* evict: a device other than the read overwrote it */
	GI_R_FREED,   /* evict: the file system freed its block (a deleted or truncated file) */
	GI_R_REASONS
};

struct gi_record {
	enum gi_kind kind;
	enum gi_reason reason;
	uint64_t page;   /* page index */
	uint8_t dev;     /* the disk (index the caller chose) */
	uint64_t sector; /* the block: its first 512-byte sector */
	uint64_t t;      /* when decided (ns, the caller's clock) */
	uint64_t since;  /* evict: when the page was first written by the CPU (or t) */
};

typedef void (*gi_emit_fn)(void *opaque, const struct gi_record *r);
/* on: start (true) or stop (false) watching the page for CPU writes. */
typedef void (*gi_watch_fn)(void *opaque, uint64_t page, bool on);
/* Optional (NULL: nothing known): whether the sector is in the disk's
 * journal, as its file system says (fsmap.h).  A write there is jbd2's
 * copy of a buffer or its own bookkeeping, never a cache page's home. */
typedef bool (*gi_journal_fn)(void *opaque, uint8_t dev, uint64_t sector);

struct gi_page {
	uint64_t sector;
	uint64_t since;    /* SUSPECT: first CPU write */
	uint64_t alt;      /* SUSPECT: a block it was written to, other than its own (+1; 0 none) */
	uint16_t zero_run; /* bytes zeroed from offset 0 so far */
	uint8_t state, dev, alt_dev;
	uint8_t dma_expected; /* pieces of reads into it not yet reported as device writes */
	bool watched, queued;
};

struct gi_stats {
	uint64_t inserted, evicted, cache_pages;
	uint64_t by_reason[2][GI_R_REASONS];
	uint64_t copies;         /* writes of a cached page to another block (journal) */
	uint64_t journal_writes; /* pieces written to the journal, known from the file system */
	uint64_t writebacks;     /* writes of a page to its own block */
	uint64_t suspects;       /* CACHED pages written by the CPU */
	uint64_t confirmed;      /* of those, written back to their block: still cached */
	uint64_t ignored;        /* requests or pieces that could not be used */
};

struct gi {
	struct gi_page *pages;
	uint64_t npages;
	uint64_t suspect_timeout_ns;
	/* SUSPECT pages in the order they became so (a ring of npages: each page
	 * is in it at most once, as SUSPECT is left before it re-enters). */
	uint64_t *queue, qhead, qlen;
	struct gi_stats st;
	gi_emit_fn emit;
	gi_watch_fn watch;
	gi_journal_fn is_journal;
	void *opaque;
};

/* 0, or -1 (out of memory).  npages bounds every table. */
int gi_init(struct gi *g, uint64_t npages, uint64_t suspect_timeout_ns, gi_emit_fn emit, gi_watch_fn watch,
            void *opaque);
void gi_free(struct gi *g);

/* A block request completed: read (true) or write (false) of the disk dev
 * starting at sector, from or into these pieces of guest memory in order
 * (page index, offset in the page, length); ok false: ignored. */
struct gi_piece {
	uint64_t page;
	uint32_t off, len;
};
void gi_block(struct gi *g, bool read, uint8_t dev, uint64_t sector, const struct gi_piece *p, unsigned n,
              uint64_t now);
/* The CPU (dma false) or a device (dma true) wrote [off, off+len) of the
 * page; zero: the bytes written are all zero. */
void gi_page_write(struct gi *g, uint64_t page, uint32_t off, uint32_t len, bool dma, bool zero, uint64_t now);
/* The file system freed blocks of disk dev: every page caching one that
 * freed(arg, sector) says was freed leaves the cache (GI_R_FREED). */
void gi_freed(struct gi *g, uint8_t dev, bool (*freed)(void *arg, uint64_t sector), void *arg, uint64_t now);
/* Decides the SUSPECT pages whose timeout has passed. */
void gi_tick(struct gi *g, uint64_t now);

#endif
