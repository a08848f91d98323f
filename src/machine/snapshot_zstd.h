/* Compressed snapshot memory (`ctl snapshot DIR --compress zstd`): guest RAM
 * as one zstd stream in DIR/memory.zst instead of the sparse DIR/memory,
 * for archiving.  A compressed snapshot restores by decompressing into a
 * memfd (all of it, before the guest runs: not lazily). */
#ifndef SYMBIONT_MACHINE_SNAPSHOT_ZSTD_H
#define SYMBIONT_MACHINE_SNAPSHOT_ZSTD_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_MEMORY_ZST_FILE "memory.zst"

/* Writes size bytes of ram to a new file at path as one zstd frame,
 * synced.  0, or -1 with one line in err. */
int snap_zstd_write(const uint8_t *ram, uint64_t size, const char *path, char *err, size_t errlen);
/* Decompresses the zstd stream read from fd into a new memfd that must
 * come out exactly size bytes (a stream that ends early, runs past size,
 * is corrupt or has anything after its frames is refused).  The memfd, or
 * -1 with one line in err. */
int snap_zstd_read(int fd, uint64_t size, char *err, size_t errlen);

#endif
