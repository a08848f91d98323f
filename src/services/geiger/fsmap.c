/* A disk's ext2/3/4 block map through libext2fs (fsmap.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "services/geiger/fsmap.h"

struct journal_walk {
	struct fsmap *m;
	uint64_t calls;
	bool overflow;
};

static int journal_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk, int ref_offset,
                         void *priv)
{
	struct journal_walk *w = priv;
	struct fsmap *m = w->m;
	uint64_t b = *blocknr;
	(void)fs, (void)blockcnt, (void)ref_blk, (void)ref_offset;
	if (++w->calls > m->nblocks || b >= m->nblocks) {
		w->overflow = true;
		return BLOCK_ABORT;
	}
	if (m->njournal && m->journal[m->njournal - 1][1] == b) {
		m->journal[m->njournal - 1][1] = b + 1;
		return 0;
	}
	if (m->njournal == FSMAP_MAX_EXTENTS) {
		w->overflow = true;
		return BLOCK_ABORT;
	}
	m->journal[m->njournal][0] = b;
	m->journal[m->njournal][1] = b + 1;
	m->njournal++;
	return 0;
}

static int cmp_piece(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

/* Everything from the image into m (zeroed before); -1 and err on any fault. */
static int read_map(struct fsmap *m, const char *path, char *err, size_t errlen)
{
	ext2_filsys fs = NULL;
	errcode_t e;
	uint64_t count;
	int rc = -1;

	e = ext2fs_open2(path, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS | EXT2_FLAG_SKIP_MMP, 0, 0,
	                 unix_io_manager, &fs);
	if (e) {
		snprintf(err, errlen, "%s: not an ext2/3/4 file system libext2fs can open (error %ld)", path, (long)e);
		return -1;
	}
	count = ext2fs_blocks_count(fs->super);
	/* libext2fs trusts some of the geometry when it reads the bitmaps (a
	 * first data block other than the one the block size implies makes
	 * it copy past its buffer: found by fuzz_geiger_fs), so the image,
	 * which the guest writes, is held to what mke2fs can make first. */
	uint32_t want_first = fs->blocksize == 1024 && !ext2fs_has_feature_bigalloc(fs->super) ? 1 : 0;
	if (fs->blocksize < 1024 || fs->blocksize > 65536 || count > FSMAP_MAX_BLOCKS ||
	    fs->super->s_first_data_block != want_first || fs->super->s_first_data_block >= count ||
	    fs->group_desc_count > FSMAP_MAX_GROUPS || EXT2_CLUSTERS_PER_GROUP(fs->super) == 0 ||
	    EXT2_CLUSTERS_PER_GROUP(fs->super) > 8 * fs->blocksize ||
	    fs->super->s_inodes_per_group > 8 * fs->blocksize) {
		snprintf(err, errlen, "%s: file system geometry out of bounds", path);
		goto out;
	}
	m->block_sectors = fs->blocksize / 512;
	m->first = fs->super->s_first_data_block;
	m->nblocks = count;
	m->live = calloc((count + 7) / 8, 1);
	m->journal = calloc(FSMAP_MAX_EXTENTS, sizeof(*m->journal));
	m->bitmap_blocks = calloc(fs->group_desc_count ? fs->group_desc_count : 1, sizeof(*m->bitmap_blocks));
	if (!m->live || !m->journal || !m->bitmap_blocks) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if ((e = ext2fs_read_block_bitmap(fs)) ||
	    (e = ext2fs_get_block_bitmap_range2(fs->block_map, m->first, count - m->first, m->live))) {
		snprintf(err, errlen, "%s: cannot read the block bitmap (error %ld)", path, (long)e);
		goto out;
	}
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		uint64_t b = ext2fs_block_bitmap_loc(fs, g);
		if (b < count)
			m->bitmap_blocks[m->nbitmaps++] = b;
	}
	qsort(m->bitmap_blocks, m->nbitmaps, sizeof(*m->bitmap_blocks), cmp_u64);
	if (ext2fs_has_feature_journal(fs->super) && fs->super->s_journal_inum &&
	    fs->super->s_journal_inum <= fs->super->s_inodes_count) {
		struct journal_walk w = { .m = m };
		e = ext2fs_block_iterate3(fs, fs->super->s_journal_inum, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
		                          NULL, journal_block, &w);
		if (e || w.overflow) {
			snprintf(err, errlen, "%s: cannot map the journal (%s)", path,
			         w.overflow ? "too many pieces" : "libext2fs error");
			goto out;
		}
		qsort(m->journal, m->njournal, sizeof(*m->journal), cmp_piece);
	}
	rc = 0;
out:
	ext2fs_close_free(&fs);
	return rc;
}

static void free_map(struct fsmap *m)
{
	free(m->live);
	free(m->was_live);
	free(m->journal);
	free(m->bitmap_blocks);
}

int fsmap_open(struct fsmap *m, const char *path, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (read_map(m, path, err, errlen) < 0 || !(m->path = strdup(path))) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		free_map(m);
		memset(m, 0, sizeof(*m));
		return -1;
	}
	return 0;
}

void fsmap_close(struct fsmap *m)
{
	free_map(m);
	free(m->path);
	memset(m, 0, sizeof(*m));
}

int fsmap_reload(struct fsmap *m, char *err, size_t errlen)
{
	struct fsmap n = { 0 };
	if (!m->path) {
		snprintf(err, errlen, "no file system");
		return -1;
	}
	if (read_map(&n, m->path, err, errlen) < 0) {
		free_map(&n);
		return -1;
	}
	n.path = m->path;
	n.reloads = m->reloads + 1;
	if (n.nblocks == m->nblocks && n.first == m->first && n.block_sectors == m->block_sectors) {
		n.was_live = m->live; /* the same geometry: the old map is comparable */
		m->live = NULL;
	}
	m->path = NULL;
	free_map(m);
	*m = n;
	return 0;
}

/* The block a sector is in, or false if none of the file system's. */
static bool block_of(const struct fsmap *m, uint64_t sector, uint64_t *block)
{
	if (!m->block_sectors)
		return false;
	*block = sector / m->block_sectors;
	return *block >= m->first && *block < m->nblocks;
}

bool fsmap_is_journal(const struct fsmap *m, uint64_t sector)
{
	uint64_t b;
	unsigned lo = 0, hi = m->njournal;
	if (!block_of(m, sector, &b))
		return false;
	while (lo < hi) { /* the first piece ending after b */
		unsigned mid = (lo + hi) / 2;
		if (m->journal[mid][1] <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->njournal && m->journal[lo][0] <= b;
}

bool fsmap_is_bitmap(const struct fsmap *m, uint64_t sector)
{
	uint64_t b;
	const uint64_t *p;
	if (!block_of(m, sector, &b) || !m->nbitmaps)
		return false;
	p = bsearch(&b, m->bitmap_blocks, m->nbitmaps, sizeof(*p), cmp_u64);
	return p != NULL;
}

static bool bit(const uint8_t *map, uint64_t i)
{
	return map[i / 8] >> (i % 8) & 1;
}

bool fsmap_was_freed(const struct fsmap *m, uint64_t sector)
{
	uint64_t b;
	if (!m->was_live || !block_of(m, sector, &b))
		return false;
	return bit(m->was_live, b - m->first) && !bit(m->live, b - m->first);
}
