/* strace-style text for a system call, from its number, arguments and
 * result and from the caller's memory (paths, strings, buffers, argv,
 * socket addresses), read through a bounded accessor: the guest is
 * hostile, so every pointer may be bad (shown as "<bad address>"), every
 * string endless (cut) and every count huge (capped). */
#ifndef SYMBIONT_GEARS_DECODE_H
#define SYMBIONT_GEARS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEARS_LINE_MAX 1024 /* a whole trace line, cut past it */
#define GEARS_PATH_MAX 4096 /* bytes of a path read for a rule */

/* Reads len bytes of the caller's memory at va: 0, or -1 if any byte
 * cannot be read (then nothing useful is in buf). */
struct gears_mem {
	int (*read)(void *ctx, uint64_t va, void *buf, size_t len);
	/* Writes them, only where the caller itself could (present, user,
	 * writable pages): 0, or -1 (then possibly part written).  May be NULL. */
	int (*write)(void *ctx, uint64_t va, const void *buf, size_t len);
	void *ctx;
};

/* "openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY)".  exited: the call has
 * returned with ret (buffers it filled are shown then); out is always
 * NUL-terminated, cut with "..." when it does not fit. */
void gears_format_call(char *out, size_t outlen, uint64_t nr, const uint64_t args[6], bool exited, int64_t ret,
                       const struct gears_mem *m);
/* "3", "-1 ENOENT (No such file or directory)", "0x7f..." (mmap), or "?"
 * when the call has not returned (execve, exit). */
void gears_format_result(char *out, size_t outlen, uint64_t nr, bool exited, int64_t ret);

/* The NUL-terminated string at va, at most max - 1 bytes: 0, 1 if it was
 * cut, -1 if its first byte cannot be read.  Read page by page, so a
 * string ending just before an unmapped page is whole. */
int gears_read_string(const struct gears_mem *m, uint64_t va, char *out, size_t max);

/* The argument that holds the path a call acts on (openat: 1, open: 0),
 * or -1 when it takes none. */
int gears_path_arg(uint64_t nr);

/* Calls that do not come back on success (execve, exit...): traced at entry. */
bool gears_no_return(uint64_t nr);

#endif
