/* System call and errno names of the x86-64 Linux ABI, both ways. */
#ifndef SYMBIONT_GEARS_NAMES_H
#define SYMBIONT_GEARS_NAMES_H

#include <stdint.h>

/* "openat" for 257; NULL for a number no kernel has given a name. */
const char *gears_syscall_name(uint64_t nr);
/* 257 for "openat"; -1 if unknown. */
int gears_syscall_number(const char *name);
/* "ENOENT" for 2; NULL if unknown. */
const char *gears_errno_name(int64_t e);
/* 2 for "ENOENT"; -1 if unknown. */
int gears_errno_number(const char *name);

#endif
