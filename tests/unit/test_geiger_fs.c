/* Geiger's view of a disk's file system (src/services/geiger/fsmap.c) on
 * images made here with mke2fs: the journal's blocks are known, a file's
 * blocks go from allocated to free when debugfs deletes it and the bitmap
 * is re-read, other blocks do not; a garbage or empty image is an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ext2fs/ext2fs.h>

#include "services/geiger/fsmap.h"

static char dir[] = "/tmp/test_geiger_fs.XXXXXX";

static int run(const char *cmd)
{
	char line[2048];
	snprintf(line, sizeof(line), "%s >/dev/null 2>&1", cmd);
	return system(line);
}

/* The first disk sector of a file's data block n, found with libext2fs. */
static uint64_t file_sector(const char *img, const char *name, uint64_t n)
{
	ext2_filsys fs;
	ext2_ino_t ino;
	blk64_t phys = 0;
	assert_int_equal(ext2fs_open2(img, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
	assert_int_equal(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, name, &ino), 0);
	assert_int_equal(ext2fs_bmap2(fs, ino, NULL, NULL, 0, n, NULL, &phys), 0);
	assert_true(phys != 0);
	uint64_t s = phys * (fs->blocksize / 512);
	ext2fs_close_free(&fs);
	return s;
}

static void test_journal_and_freed(void **state)
{
	char img[256], cmd[1024];
	struct fsmap m;
	char err[200] = "";
	uint64_t jblocks = 0;
	(void)state;
	snprintf(img, sizeof(img), "%s/j.img", dir);
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %s/root && head -c 65536 /dev/urandom >%s/root/a.bin && "
	         "head -c 65536 /dev/urandom >%s/root/b.bin && "
	         "mke2fs -q -F -t ext4 -b 4096 -J size=4 -d %s/root %s 32M",
	         dir, dir, dir, dir, img);
	if (run(cmd))
		skip(); /* no mke2fs (scripts/deps.sh installs e2fsprogs) */
	assert_int_equal(fsmap_open(&m, img, err, sizeof(err)), 0);
	assert_int_equal(m.block_sectors, 8);
	assert_int_equal(m.nblocks, 8192);
	for (unsigned i = 0; i < m.njournal; i++)
		jblocks += m.journal[i][1] - m.journal[i][0];
	assert_int_equal(jblocks, 1024); /* 4 MiB */
	assert_true(fsmap_is_journal(&m, m.journal[0][0] * 8));
	assert_true(fsmap_is_journal(&m, (m.journal[m.njournal - 1][1] - 1) * 8 + 7));
	assert_false(fsmap_is_journal(&m, m.journal[m.njournal - 1][1] * 8));
	assert_true(m.nbitmaps >= 1);
	assert_true(fsmap_is_bitmap(&m, m.bitmap_blocks[0] * 8 + 3));

	uint64_t a = file_sector(img, "a.bin", 5), b = file_sector(img, "b.bin", 5);
	assert_false(fsmap_is_journal(&m, a));
	assert_false(fsmap_was_freed(&m, a)); /* nothing to compare with yet */
	snprintf(cmd, sizeof(cmd), "debugfs -w -R 'rm a.bin' %s", img);
	assert_int_equal(run(cmd), 0);
	assert_int_equal(fsmap_reload(&m, err, sizeof(err)), 0);
	assert_int_equal(m.reloads, 1);
	assert_true(fsmap_was_freed(&m, a));
	assert_true(fsmap_was_freed(&m, a + 7));
	assert_false(fsmap_was_freed(&m, b));
	assert_false(fsmap_was_freed(&m, m.journal[0][0] * 8));
	assert_false(fsmap_was_freed(&m, UINT64_MAX / 2)); /* beyond the file system */
	/* Re-read with no change: nothing freed since. */
	assert_int_equal(fsmap_reload(&m, err, sizeof(err)), 0);
	assert_false(fsmap_was_freed(&m, a));
	/* The image turned to garbage: an error, the maps as they were. */
	snprintf(cmd, sizeof(cmd), "dd if=/dev/urandom of=%s bs=4096 count=4 conv=notrunc", img);
	assert_int_equal(run(cmd), 0);
	err[0] = 0;
	assert_int_equal(fsmap_reload(&m, err, sizeof(err)), -1);
	assert_true(err[0] != 0);
	assert_true(fsmap_is_journal(&m, m.journal[0][0] * 8));
	fsmap_close(&m);
}

static void test_not_a_file_system(void **state)
{
	char img[256], cmd[512], err[200] = "";
	struct fsmap m;
	(void)state;
	snprintf(img, sizeof(img), "%s/garbage.img", dir);
	snprintf(cmd, sizeof(cmd), "head -c 4194304 /dev/urandom >%s", img);
	assert_int_equal(run(cmd), 0);
	assert_int_equal(fsmap_open(&m, img, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "garbage.img"));
	assert_int_equal(fsmap_open(&m, "/nonexistent/disk.img", err, sizeof(err)), -1);
	snprintf(img, sizeof(img), "%s/empty.img", dir);
	snprintf(cmd, sizeof(cmd), ": >%s", img);
	assert_int_equal(run(cmd), 0);
	assert_int_equal(fsmap_open(&m, img, err, sizeof(err)), -1);
	assert_int_equal(fsmap_is_journal(&m, 0), false); /* a failed map answers no */
	assert_int_equal(fsmap_was_freed(&m, 0), false);
}

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[256];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return run(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_and_freed),
		cmocka_unit_test(test_not_a_file_system),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
