/* Trap call buffers (trapio.h). */
#include <errno.h>

#include "services/gears/trapio.h"
#include "symbiont/abi/gears_run.h"

static size_t chunk_at(uint64_t va, size_t left)
{
	size_t c = 4096 - (va & 0xfff);
	return c < left ? c : left;
}

int64_t gears_trap_read(const struct gears_mem *m, uint64_t buf, uint64_t len, uint8_t *out, size_t cap)
{
	if (!len || len > cap || len > GEARS_RUN_CHUNK || buf + len < buf)
		return -EINVAL;
	for (uint64_t off = 0; off < len;) {
		size_t c = chunk_at(buf + off, (size_t)(len - off));
		if (m->read(m->ctx, buf + off, out + off, c))
			return -EFAULT;
		off += c;
	}
	return (int64_t)len;
}

int64_t gears_trap_write(const struct gears_mem *m, uint64_t buf, uint64_t len, const uint8_t *data, size_t avail)
{
	size_t n = avail;
	if (!len || !m->write)
		return -EINVAL;
	if (n > len)
		n = (size_t)len;
	if (n > GEARS_RUN_CHUNK)
		n = GEARS_RUN_CHUNK;
	if (buf + n < buf)
		return -EFAULT;
	for (size_t off = 0; off < n;) {
		size_t c = chunk_at(buf + off, n - off);
		if (m->write(m->ctx, buf + off, data + off, c))
			return -EFAULT;
		off += c;
	}
	return (int64_t)n;
}
