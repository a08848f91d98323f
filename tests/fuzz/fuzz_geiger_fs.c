/* libFuzzer target: Geiger's reading of a disk's file system
 * (src/services/geiger/fsmap.c, through libext2fs) on images a hostile
 * guest has written.  A small ext4 image with a journal is made once with
 * mke2fs; each input is a list of patches over it (4-byte offset, 1-byte
 * length, the bytes), applied before the first read and, for the second
 * half of the list, between it and a re-read, as a guest writing while the
 * VMM reads would.  Open and re-read may fail, never crash, hang or leak;
 * the queries answer within the map's bounds. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/geiger/fsmap.h"

#define IMAGE_SIZE (4u << 20)

static uint8_t template[IMAGE_SIZE];
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cmd[256];
	char tmpl[] = "/tmp/fuzz_geiger_fs.XXXXXX";
	int fd = mkstemp(tmpl);
	(void)argc, (void)argv;
	if (fd < 0)
		abort();
	close(fd);
	snprintf(cmd, sizeof(cmd), "mke2fs -q -F -t ext4 -b 1024 -N 64 -J size=1 %s 4M >/dev/null 2>&1", tmpl);
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz_geiger_fs: mke2fs failed (scripts/deps.sh installs e2fsprogs)\n");
		abort();
	}
	fd = open(tmpl, O_RDONLY);
	if (fd < 0 || read(fd, template, IMAGE_SIZE) != (ssize_t)IMAGE_SIZE)
		abort();
	close(fd);
	unlink(tmpl);
	snprintf(path, sizeof(path), "/tmp/fuzz_geiger_fs.%d.img", (int)getpid());
	return 0;
}

/* Applies the patches in data[0..size) to the image file; returns where it stopped. */
static size_t patch(int fd, const uint8_t *data, size_t size, size_t stop)
{
	size_t i = 0;
	while (i + 5 <= size && i < stop) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		size_t len = data[i + 4];
		i += 5;
		if (len > size - i)
			len = size - i;
		off %= IMAGE_SIZE;
		if (len > IMAGE_SIZE - off)
			len = IMAGE_SIZE - off;
		if (pwrite(fd, data + i, len, off) != (ssize_t)len)
			abort();
		i += len;
	}
	return i;
}

static void query(const struct fsmap *m)
{
	for (uint64_t s = 0; s < IMAGE_SIZE / 512 + 16; s += 3) {
		(void)fsmap_is_journal(m, s);
		(void)fsmap_is_bitmap(m, s);
		(void)fsmap_was_freed(m, s);
	}
	if (m->nblocks > FSMAP_MAX_BLOCKS || m->njournal > FSMAP_MAX_EXTENTS || m->nbitmaps > FSMAP_MAX_GROUPS)
		abort();
	for (unsigned i = 0; i < m->njournal; i++)
		if (m->journal[i][0] >= m->journal[i][1] || m->journal[i][1] > m->nblocks)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsmap m;
	char err[200];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, template, IMAGE_SIZE, 0) != (ssize_t)IMAGE_SIZE)
		abort();
	size_t done = patch(fd, data, size, size / 2);
	if (fsmap_open(&m, path, err, sizeof(err)) == 0) {
		query(&m);
		patch(fd, data + done, size - done, size);
		if (fsmap_reload(&m, err, sizeof(err)) == 0 || m.path)
			query(&m);
		fsmap_close(&m);
	}
	close(fd);
	unlink(path);
	return 0;
}
