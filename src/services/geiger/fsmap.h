/* What a disk's ext2/3/4 file system says about its blocks, for Geiger:
 * where the journal is (a write there is jbd2's copy of a buffer, never a
 * page's own data) and which blocks are allocated (a block that goes from
 * allocated to free belonged to a deleted or truncated file, so a page
 * caching it has left the cache).  Read with libext2fs from the image file,
 * read-only, at start and again when the guest writes a block bitmap home.
 *
 * The image is the guest's to write: anything it holds, a garbage file
 * system included, gets an error from fsmap_open or fsmap_reload and
 * nothing else; every table is bounded (FSMAP_MAX_*). */
#ifndef SYMBIONT_GEIGER_FSMAP_H
#define SYMBIONT_GEIGER_FSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSMAP_MAX_BLOCKS  (1ULL << 28) /* 32 MiB of bitmap: 1 TiB at 4 KiB blocks */
#define FSMAP_MAX_EXTENTS 4096         /* journal pieces */
#define FSMAP_MAX_GROUPS  (1u << 16)

struct fsmap {
	char *path;
	uint32_t block_sectors;   /* block size in 512-byte sectors */
	uint64_t first, nblocks;  /* the bitmaps cover blocks first..nblocks-1 */
	uint8_t *live, *was_live; /* a bit per block: allocated now, before the last reload (NULL: none) */
	uint64_t (*journal)[2];   /* [first block, end) pieces, sorted */
	unsigned njournal;
	uint64_t *bitmap_blocks; /* where the block bitmaps live, sorted */
	unsigned nbitmaps;
	uint64_t reloads;
};

/* 0, or -1 with a one-line reason (not ext2/3/4, unreadable, too big...). */
int fsmap_open(struct fsmap *m, const char *path, char *err, size_t errlen);
void fsmap_close(struct fsmap *m);
/* Reads the allocation bitmap again (the previous one becomes was_live);
 * 0, or -1 with the reason (the maps are then unchanged). */
int fsmap_reload(struct fsmap *m, char *err, size_t errlen);

bool fsmap_is_journal(const struct fsmap *m, uint64_t sector);
bool fsmap_is_bitmap(const struct fsmap *m, uint64_t sector);
/* Allocated before the last reload and free after it. */
bool fsmap_was_freed(const struct fsmap *m, uint64_t sector);

#endif
