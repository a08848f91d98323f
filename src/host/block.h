/* Host block backends for virtio-blk, behind one ops table as the network
 * backends are (host/net.h): the device speaks virtio and calls these for
 * the bytes.  Calls are synchronous and made from the disk's worker thread
 * (host/worker.h), never with vm->io_lock held.  The raw image backend
 * (block_raw.c: a file or block device) is the first; a caching backend
 * can wrap another one behind the same table. */
#ifndef SYMBIONT_HOST_BLOCK_H
#define SYMBIONT_HOST_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct block_backend;

struct block_backend_ops {
	/* All of iov (n entries, which may be advanced) at byte offset off,
	 * short transfers retried; 0, or -1 with errno. */
	int (*readv)(struct block_backend *be, struct iovec *iov, int n, uint64_t off);
	int (*writev)(struct block_backend *be, struct iovec *iov, int n, uint64_t off);
	/* Makes completed writes durable; 0 or -1. */
	int (*flush)(struct block_backend *be);
	/* Advisory: a backend that cannot drop the range keeps the data.  0 or
	 * -1 (a real error). */
	int (*discard)(struct block_backend *be, uint64_t off, uint64_t len);
	/* The range reads back as zeroes; unmap allows deallocating it. */
	int (*write_zeroes)(struct block_backend *be, uint64_t off, uint64_t len, bool unmap);
	void (*destroy)(struct block_backend *be);
	/* Optional: drop (false) or take again (true) the lock that keeps a
	 * second writer out, for a migration to another process: 0, or -1
	 * with errno (EWOULDBLOCK: someone else took it meanwhile). */
	int (*lock)(struct block_backend *be, bool on);
	/* Optional (NULL: not a cache).  A hint that the guest's own cache no
	 * longer holds [off, off+len); and the backend's counters. */
	void (*evicted)(struct block_backend *be, uint64_t off, uint64_t len);
	void (*stats)(struct block_backend *be, void (*emit)(void *ctx, const char *key, uint64_t v), void *ctx);
};

struct block_backend {
	const struct block_backend_ops *ops;
	uint64_t size; /* bytes; at least one 512-byte sector */
	bool ro;
};

/* A raw image file or block device, locked against a second writer (or
 * any writer when ro).  spec is what the user wrote, for messages: NULL
 * with a one-line reason in err. */
struct block_backend *block_raw_open(const char *path, bool ro, const char *spec, char *err, size_t errlen);

/* A second-level cache of 4 KiB blocks, bytes big, in front of inner
 * (which it then owns; NULL with a reason and inner destroyed on failure):
 *   BLOCK_CACHE_LRU        every block read goes in (inclusive with the
 *                          guest's cache), least recently used out first;
 *   BLOCK_CACHE_EXCLUSIVE  filled only by evicted() hints (the blocks the
 *                          guest dropped, read from inner), and a block
 *                          read back into the guest leaves it.
 * A write goes to inner and drops the blocks it touches before it
 * completes: the cache only ever holds what inner holds. */
enum block_cache_mode { BLOCK_CACHE_LRU, BLOCK_CACHE_EXCLUSIVE };
struct block_backend *block_cache_wrap(struct block_backend *inner, enum block_cache_mode mode, uint64_t bytes,
                                       char *err, size_t errlen);

static inline void block_backend_destroy(struct block_backend *be)
{
	if (be)
		be->ops->destroy(be);
}

#endif
