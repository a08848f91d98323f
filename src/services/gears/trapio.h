/* The buffers of the run payload's trap calls (exec.c): bytes read from,
 * or written into, the calling helper's memory, page by page, bounded by
 * GEARS_RUN_CHUNK whatever length the guest passes. */
#ifndef SYMBIONT_GEARS_TRAPIO_H
#define SYMBIONT_GEARS_TRAPIO_H

#include <stddef.h>
#include <stdint.h>

#include "services/gears/decode.h"

/* OUT: len bytes at buf into out (cap bytes): len, or -EINVAL (0 or more
 * than cap or a chunk), -EFAULT (a byte that cannot be read). */
int64_t gears_trap_read(const struct gears_mem *m, uint64_t buf, uint64_t len, uint8_t *out, size_t cap);
/* IN: at most len (and a chunk) of the avail bytes of data to buf: the
 * count written, or -EINVAL (len 0), -EFAULT (a page the caller may not
 * write: nothing counts then). */
int64_t gears_trap_write(const struct gears_mem *m, uint64_t buf, uint64_t len, const uint8_t *data, size_t avail);

#endif
