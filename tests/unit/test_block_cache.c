/* The second-level block cache (src/host/block_cache.c) over a raw image
 * made here: an LRU cache keeps what was read and serves it again; an
 * exclusive one keeps only what it is told the guest evicted and gives it
 * up when read; a write drops the blocks it touches before it returns, so
 * a read after it sees the new data in both modes; unaligned reads
 * mixing cached and uncached blocks come back right; the LRU replaces the
 * least recently used block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/block.h"

#define BLK    4096
#define NBLK   16
#define IMG_SZ (NBLK * BLK)

static char path[] = "/tmp/test_block_cache.XXXXXX";
static uint8_t truth[IMG_SZ];

struct counts {
	uint64_t hits, misses, fills, invalidations, blocks;
};

static void on_stat(void *ctx, const char *key, uint64_t v)
{
	struct counts *c = ctx;
	if (!strcmp(key, "cache_hits"))
		c->hits = v;
	else if (!strcmp(key, "cache_misses"))
		c->misses = v;
	else if (!strcmp(key, "cache_fills"))
		c->fills = v;
	else if (!strcmp(key, "cache_invalidations"))
		c->invalidations = v;
	else if (!strcmp(key, "cache_blocks"))
		c->blocks = v;
}

static struct counts counts(struct block_backend *be)
{
	struct counts c = { 0 };
	be->ops->stats(be, on_stat, &c);
	return c;
}

static struct block_backend *open_cache(enum block_cache_mode mode, uint64_t bytes)
{
	char err[200];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (int i = 0; i < IMG_SZ; i++)
		truth[i] = (uint8_t)(i * 7 + i / BLK);
	assert_int_equal(write(fd, truth, IMG_SZ), IMG_SZ);
	close(fd);
	struct block_backend *raw = block_raw_open(path, false, path, err, sizeof(err));
	assert_non_null(raw);
	struct block_backend *be = block_cache_wrap(raw, mode, bytes, err, sizeof(err));
	assert_non_null(be);
	return be;
}

static void close_cache(struct block_backend *be)
{
	block_backend_destroy(be);
	unlink(path);
	strcpy(path, "/tmp/test_block_cache.XXXXXX");
}

/* Reads [off, off+len) in two iovec pieces and checks it against truth. */
static void read_check(struct block_backend *be, uint64_t off, uint64_t len)
{
	uint8_t buf[IMG_SZ];
	size_t half = len / 3;
	struct iovec v[2] = { { buf, half }, { buf + half, len - half } };
	assert_int_equal(be->ops->readv(be, v, 2, off), 0);
	assert_memory_equal(buf, truth + off, len);
}

static void write_block(struct block_backend *be, uint64_t off, uint64_t len, uint8_t fill)
{
	uint8_t buf[IMG_SZ];
	struct iovec v = { buf, len };
	memset(buf, fill, len);
	memset(truth + off, fill, len);
	assert_int_equal(be->ops->writev(be, &v, 1, off), 0);
}

static void test_lru(void **state)
{
	(void)state;
	struct block_backend *be = open_cache(BLOCK_CACHE_LRU, 4 * BLK);
	read_check(be, 0, 2 * BLK);
	assert_int_equal(counts(be).misses, 2);
	assert_int_equal(counts(be).blocks, 2);
	read_check(be, 0, 2 * BLK);
	assert_int_equal(counts(be).hits, 2);
	/* A write into a cached block: dropped before the write returns. */
	write_block(be, BLK + 512, 1024, 0xab);
	assert_int_equal(counts(be).invalidations, 1);
	read_check(be, 0, 2 * BLK);
	assert_int_equal(counts(be).hits, 3);   /* block 0 */
	assert_int_equal(counts(be).misses, 3); /* block 1, read again */
	/* Unaligned, across cached and uncached blocks. */
	read_check(be, 512, 3 * BLK);
	read_check(be, 3 * BLK - 1024, BLK + 2048);
	/* Least recently used out: four slots, blocks 0..5 read in order. */
	read_check(be, 0, 6 * BLK);
	uint64_t h = counts(be).hits;
	read_check(be, 5 * BLK, BLK);
	assert_int_equal(counts(be).hits, h + 1);
	read_check(be, 0, BLK);
	assert_int_equal(counts(be).hits, h + 1); /* 0 was replaced */
	close_cache(be);
}

static void test_exclusive(void **state)
{
	(void)state;
	struct block_backend *be = open_cache(BLOCK_CACHE_EXCLUSIVE, 8 * BLK);
	read_check(be, 0, 4 * BLK);
	assert_int_equal(counts(be).blocks, 0); /* reads do not fill it */
	be->ops->evicted(be, BLK, 2 * BLK);     /* blocks 1 and 2 left the guest */
	assert_int_equal(counts(be).fills, 2);
	read_check(be, 0, 4 * BLK);
	assert_int_equal(counts(be).hits, 2);
	assert_int_equal(counts(be).blocks, 0); /* read back: gone from here */
	read_check(be, BLK, BLK);
	assert_int_equal(counts(be).hits, 2);
	/* The data is never stale: a write to an evicted, cached block drops
	 * it, and the next read sees the write. */
	be->ops->evicted(be, 5 * BLK, BLK);
	write_block(be, 5 * BLK + 100 * 512 / 100, 512, 0x5a);
	assert_int_equal(counts(be).invalidations, 1);
	read_check(be, 5 * BLK, BLK);
	/* Off the 4 KiB grid (a file system of 1 KiB blocks): a block at
	 * sector 2 is kept, served to a read starting there, and dropped by a
	 * write that ends inside it. */
	be->ops->evicted(be, 1024, BLK);
	uint64_t h = counts(be).hits;
	read_check(be, 1024, BLK);
	assert_int_equal(counts(be).hits, h + 1);
	be->ops->evicted(be, 1024, BLK);
	write_block(be, 0, 1536, 0x77);
	read_check(be, 1024, BLK);
	assert_int_equal(counts(be).hits, h + 1);
	/* Hints off the disk or of partial blocks are ignored. */
	be->ops->evicted(be, IMG_SZ, BLK);
	be->ops->evicted(be, UINT64_MAX - 100, BLK);
	be->ops->evicted(be, 512, 1024);
	assert_int_equal(counts(be).blocks, 0);
	close_cache(be);
}

static void test_bad_size(void **state)
{
	char err[200];
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SZ), 0);
	close(fd);
	struct block_backend *raw = block_raw_open(path, false, path, err, sizeof(err));
	assert_non_null(raw);
	assert_null(block_cache_wrap(raw, BLOCK_CACHE_LRU, 100, err, sizeof(err)));
	assert_non_null(strstr(err, "cache size"));
	unlink(path);
	strcpy(path, "/tmp/test_block_cache.XXXXXX");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_exclusive),
		cmocka_unit_test(test_bad_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
