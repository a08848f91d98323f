/* symbiont's per-user directory: $XDG_RUNTIME_DIR/symbiont, else
 * /tmp/symbiont-UID, mode 0700 and owned by the user (anything else is
 * refused: a shared or planted directory would let others reach or spoof
 * the user's VMs).  Named VMs keep their control sockets there, and VSched
 * its registry of reservations in sched/. */
#ifndef SYMBIONT_USERDIR_H
#define SYMBIONT_USERDIR_H

#include <stdbool.h>
#include <stddef.h>

/* The directory, or its subdirectory sub (NULL: none), created when create
 * is set.  -1 with a message (errno ENOENT when it does not exist yet). */
int symbiont_user_dir(const char *sub, bool create, char *out, size_t len, char *err, size_t errlen);

#endif
