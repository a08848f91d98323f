/* Taking a snapshot of a running VM (docs/snapshot.md): the control
 * command `snapshot {dir, stop}` and the writer behind it.  Restoring is
 * the builder's (machine_restore in builder.h). */
#ifndef SYMBIONT_MACHINE_SNAPSHOT_H
#define SYMBIONT_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct snapshot_result {
	uint64_t state_bytes, ram_data_pages, ram_bytes;
	uint64_t paused_ns; /* how long the guest stood still for it */
};

/* Pauses vm, writes dir (through dir.tmp, renamed when whole), and resumes
 * it unless stop (then it stays paused as after the control API's stop, and
 * *stopped is set).  A device that cannot save now (I/O in flight) is
 * retried for a moment with the guest running, then refused.  dir must not
 * exist.  0, or -1 with one line in err and nothing left at dir. */
int snapshot_take(struct vm *vm, const char *dir, bool stop, bool *stopped, struct snapshot_result *res, char *err,
                  size_t errlen);

/* Registers `snapshot` on the VM's control socket (vm->control set). */
void snapshot_control_register(struct vm *vm);

#endif
