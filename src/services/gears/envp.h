/* Environment injection at exec: a new envp for an execve about to run,
 * built in the caller's own memory, below its user stack pointer (the
 * memory there is the caller's, writable, and the exec itself throws it
 * away with the old address space). */
#ifndef SYMBIONT_GEARS_ENVP_H
#define SYMBIONT_GEARS_ENVP_H

#include <stddef.h>
#include <stdint.h>

#include "services/gears/decode.h"

#define GEARS_ENV_MAX_VARS  4096       /* entries of the old envp looked at */
#define GEARS_ENV_MAX_BYTES (64 << 10) /* what is written below the stack */
#define GEARS_RED_ZONE      128        /* the x86-64 ABI's, left alone */

/* vars: "NAME=VALUE" strings that replace the caller's variable of that
 * NAME or are added after the others.  0 with *new_envp the array to pass
 * instead of envp; -1 (nothing to change: the call goes ahead untouched)
 * when the old envp or one of its strings cannot be read, the new one does
 * not fit the bounds, or the memory below rsp cannot be written. */
int gears_env_rewrite(const struct gears_mem *m, uint64_t rsp, uint64_t envp, const char *const *vars, size_t nvars,
                      uint64_t *new_envp);

#endif
