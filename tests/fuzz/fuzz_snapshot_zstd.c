/* The compressed snapshot memory reader (snap_zstd_read, src/machine/
 * snapshot_zstd.c): whatever memory.zst holds, it returns a memfd of
 * exactly the RAM size or -1 with one line, never crashes, writes nothing
 * past the size and leaks nothing.  The input is the file; the RAM size is
 * fixed (64 KiB) so that a stream decompressing to more or less is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/snapshot_zstd.h"

#define RAM (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in = memfd_create("fuzz-zst", MFD_CLOEXEC);
	char err[256] = "";
	if (in < 0)
		return 0;
	if (size && write(in, data, size) != (ssize_t)size) {
		close(in);
		return 0;
	}
	lseek(in, 0, SEEK_SET);
	int m = snap_zstd_read(in, RAM, err, sizeof(err));
	if (m >= 0) {
		struct stat st;
		if (fstat(m, &st) < 0 || st.st_size != RAM)
			abort(); /* accepted means exactly the RAM's size */
		close(m);
	} else if (!err[0] || !memchr(err, 0, sizeof(err))) {
		abort();
	}
	close(in);
	return 0;
}
