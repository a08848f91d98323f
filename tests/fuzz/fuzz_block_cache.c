/* libFuzzer target: the second-level block cache (src/host/block_cache.c)
 * against a model.  Over a 256 KiB image (a memfd) with a 16-block cache,
 * in either mode, the input is a list of operations: reads, writes, write
 * zeroes and discards (which zero, through the raw backend) and eviction
 * hints, at any sector and length (an iovec cut in two at any point).  A
 * shadow copy of the disk is the truth: every read must return it, however
 * the cache was filled or invalidated before.  No crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/block.h"

#define IMG (256u << 10)

static uint8_t shadow[IMG], buf[IMG];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char spec[64], err[200];
	int fd = memfd_create("fuzz-cache", 0);
	if (fd < 0 || size < 1)
		return fd < 0 ? (abort(), 0) : (close(fd), 0);
	for (unsigned i = 0; i < IMG; i++)
		shadow[i] = (uint8_t)(i * 13 + (i >> 9));
	if (pwrite(fd, shadow, IMG, 0) != IMG)
		abort();
	snprintf(spec, sizeof(spec), "/proc/self/fd/%d", fd);
	struct block_backend *raw = block_raw_open(spec, false, spec, err, sizeof(err));
	if (!raw)
		abort();
	struct block_backend *be = block_cache_wrap(raw, data[0] & 1 ? BLOCK_CACHE_EXCLUSIVE : BLOCK_CACHE_LRU,
	                                            16 * 4096, err, sizeof(err));
	if (!be)
		abort();
	for (size_t i = 1; i + 6 <= size; i += 6) {
		unsigned op = data[i] % 5, sector = (data[i + 1] | data[i + 2] << 8) % (IMG / 512);
		unsigned len = ((data[i + 3] | (data[i + 4] & 0x3) << 8) + 1) * 512, cut = data[i + 5];
		if (len > IMG - sector * 512)
			len = IMG - sector * 512;
		uint64_t off = (uint64_t)sector * 512;
		cut = (unsigned)((uint64_t)cut * len / 255);
		struct iovec v[2] = { { buf, cut }, { buf + cut, len - cut } };
		switch (op) {
		case 0:
			if (be->ops->readv(be, v, 2, off))
				abort();
			if (memcmp(buf, shadow + off, len))
				abort(); /* stale or wrong data */
			break;
		case 1:
			for (unsigned k = 0; k < len; k++)
				buf[k] = (uint8_t)(data[i + 5] + k * 7 + i);
			memcpy(shadow + off, buf, len);
			if (be->ops->writev(be, v, 2, off))
				abort();
			break;
		case 2:
			if (be->ops->write_zeroes(be, off, len, false))
				abort();
			memset(shadow + off, 0, len);
			break;
		case 3: be->ops->evicted(be, off, len); break;
		case 4: be->ops->evicted(be, off, 4096); break;
		}
	}
	block_backend_destroy(be);
	close(fd);
	return 0;
}
