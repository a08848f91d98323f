/* zstd-compressed snapshot memory: see snapshot_zstd.h.  Zero pages cost
 * almost nothing in the stream; on the way back they are skipped (the
 * memfd reads zero where nothing was written). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zstd.h>

#include "machine/snapshot_zstd.h"

#define ZST_LEVEL 3

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w, n -= (size_t)w;
	}
	return 0;
}

int snap_zstd_write(const uint8_t *ram, uint64_t size, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = -1;
	ZSTD_CCtx *cx = ZSTD_createCCtx();
	size_t outcap = ZSTD_CStreamOutSize();
	uint8_t *out = malloc(outcap);

	if (fd < 0 || !cx || !out) {
		snprintf(err, errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	ZSTD_CCtx_setParameter(cx, ZSTD_c_compressionLevel, ZST_LEVEL);
	ZSTD_CCtx_setPledgedSrcSize(cx, size);
	ZSTD_inBuffer in = { ram, size, 0 };
	for (;;) {
		ZSTD_outBuffer o = { out, outcap, 0 };
		size_t left = ZSTD_compressStream2(cx, &o, &in, ZSTD_e_end);
		if (ZSTD_isError(left)) {
			snprintf(err, errlen, "%s: zstd: %s", path, ZSTD_getErrorName(left));
			goto out;
		}
		if (write_all(fd, out, o.pos) < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!left)
			break;
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	ZSTD_freeCCtx(cx);
	free(out);
	return rc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return !n || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

int snap_zstd_read(int fd, uint64_t size, char *err, size_t errlen)
{
	ZSTD_DCtx *dx = ZSTD_createDCtx();
	size_t incap = ZSTD_DStreamInSize(), outcap = ZSTD_DStreamOutSize();
	uint8_t *inb = malloc(incap), *outb = malloc(outcap);
	int mfd = memfd_create("symbiont-snapshot", MFD_CLOEXEC), rc = -1;
	uint64_t at = 0;
	size_t last = 1; /* 0 once a frame ended */

	if (!dx || !inb || !outb || mfd < 0 || ftruncate(mfd, (off_t)size) < 0) {
		snprintf(err, errlen, "decompressing the snapshot's memory: %s",
		         mfd < 0 ? strerror(errno) : "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, inb, incap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "reading %s: %s", SNAP_MEMORY_ZST_FILE, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		ZSTD_inBuffer in = { inb, (size_t)n, 0 };
		while (in.pos < in.size) {
			ZSTD_outBuffer o = { outb, outcap, 0 };
			last = ZSTD_decompressStream(dx, &o, &in);
			if (ZSTD_isError(last)) {
				snprintf(err, errlen, "%s: zstd: %s", SNAP_MEMORY_ZST_FILE, ZSTD_getErrorName(last));
				goto out;
			}
			if (o.pos > size - at) {
				snprintf(err, errlen, "%s: decompresses to more than the snapshot's %llu bytes of RAM",
				         SNAP_MEMORY_ZST_FILE, (unsigned long long)size);
				goto out;
			}
			if (!all_zero(outb, o.pos) && pwrite(mfd, outb, o.pos, (off_t)at) != (ssize_t)o.pos) {
				snprintf(err, errlen, "decompressing the snapshot's memory: %s", strerror(errno));
				goto out;
			}
			at += o.pos;
		}
	}
	if (last != 0 || at != size) {
		snprintf(err, errlen, "%s: %s (%llu of %llu bytes)", SNAP_MEMORY_ZST_FILE,
		         last != 0 ? "cut short" : "shorter than the snapshot's RAM", (unsigned long long)at,
		         (unsigned long long)size);
		goto out;
	}
	rc = mfd;
	mfd = -1;
out:
	if (mfd >= 0)
		close(mfd);
	ZSTD_freeDCtx(dx);
	free(inb);
	free(outb);
	return rc;
}
