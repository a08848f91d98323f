/* The raw image block backend: a regular file or a block device, read and
 * written with preadv/pwritev, flushed with fdatasync, discarded and
 * zeroed with fallocate where the file system can. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/block.h"

#define SECTOR 512

struct raw {
	struct block_backend be;
	int fd;
};

/* All of iov at off, retrying short transfers; 0 or -1 with errno. */
static int rw_full(int fd, struct iovec *iov, int n, off_t off, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO; /* the image shrank under us */
			return -1;
		}
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= r;
		}
	}
	return 0;
}

static int raw_readv(struct block_backend *be, struct iovec *iov, int n, uint64_t off)
{
	return rw_full(((struct raw *)be)->fd, iov, n, (off_t)off, false);
}

static int raw_writev(struct block_backend *be, struct iovec *iov, int n, uint64_t off)
{
	return rw_full(((struct raw *)be)->fd, iov, n, (off_t)off, true);
}

static int raw_flush(struct block_backend *be)
{
	return fdatasync(((struct raw *)be)->fd);
}

static int raw_discard(struct block_backend *be, uint64_t off, uint64_t len)
{
	/* A file system without hole punching just keeps the data. */
	if (fallocate(((struct raw *)be)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	return 0;
}

/* FALLOC_FL_ZERO_RANGE when the file system has it, else written zeroes. */
static int raw_write_zeroes(struct block_backend *be, uint64_t off64, uint64_t len64, bool unmap)
{
	int fd = ((struct raw *)be)->fd;
	off_t off = (off_t)off64, len = (off_t)len64;
	if (unmap && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return 0;
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t k = len > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		ssize_t r = pwrite(fd, zeros, k, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += r;
		len -= r;
	}
	return 0;
}

static void raw_destroy(struct block_backend *be)
{
	struct raw *r = (struct raw *)be;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

static int raw_lock(struct block_backend *be, bool on)
{
	struct raw *r = (struct raw *)be;
	return flock(r->fd, on ? ((be->ro ? LOCK_SH : LOCK_EX) | LOCK_NB) : LOCK_UN);
}

static const struct block_backend_ops raw_ops = {
	.readv = raw_readv,
	.writev = raw_writev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.destroy = raw_destroy,
	.lock = raw_lock,
};

struct block_backend *block_raw_open(const char *path, bool ro, const char *spec, char *err, size_t errlen)
{
	struct raw *r = calloc(1, sizeof(*r));
	struct stat st;
	uint64_t bytes = 0;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->be.ops = &raw_ops;
	r->be.ro = ro;
	r->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (r->fd < 0) {
		int e = errno;
		if (!ro && (e == EACCES || e == EROFS || e == EPERM) && access(path, R_OK) == 0)
			snprintf(err, errlen, "--disk %s: %s cannot be opened for writing (%s); add ,ro", spec, path,
			         strerror(e));
		else
			snprintf(err, errlen, "--disk %s: %s: %s", spec, path, strerror(e));
		goto fail;
	}
	if (fstat(r->fd, &st) < 0) {
		snprintf(err, errlen, "--disk %s: %s: %s", spec, path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(r->fd, BLKGETSIZE64, &bytes) < 0) {
			snprintf(err, errlen, "--disk %s: %s: %s", spec, path, strerror(errno));
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		bytes = st.st_size;
	} else {
		snprintf(err, errlen, "--disk %s: %s is not a file or block device", spec, path);
		goto fail;
	}
	if (bytes < SECTOR) {
		snprintf(err, errlen, "--disk %s: %s is smaller than one 512-byte sector", spec, path);
		goto fail;
	}
	/* Two VMs writing one image corrupt it: writers are exclusive. */
	if (flock(r->fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		snprintf(err, errlen, "--disk %s: %s is in use by another process", spec, path);
		goto fail;
	}
	r->be.size = bytes;
	return &r->be;
fail:
	raw_destroy(&r->be);
	return NULL;
}
