/* Taking a snapshot of a running VM (docs/snapshot.md): the control
 * command `snapshot {dir, stop}` and the writer behind it.  Restoring is
 * the builder's (machine_restore in builder.h). */
#ifndef SYMBIONT_MACHINE_SNAPSHOT_H
#define SYMBIONT_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct snapshot;

struct snapshot_result {
	uint64_t state_bytes, ram_data_pages, ram_bytes;
	uint64_t memory_file_bytes; /* data in the memory file (compressed: the file's size) */
	uint64_t paused_ns;         /* how long the guest stood still for it */
};

/* Pauses vm, writes dir (through dir.tmp, renamed when whole), and resumes
 * it unless stop (then it stays paused as after the control API's stop, and
 * *stopped is set); compress writes RAM zstd-compressed (snapshot_zstd.h).  A device that cannot save now (I/O in
 * flight) is retried for a moment with the guest running, then refused.  dir must not exist.  0, or -1 with one line in
 * err and nothing left at dir. */
int snapshot_take(struct vm *vm, const char *dir, bool stop, bool compress, bool *stopped, struct snapshot_result *res,
                  char *err, size_t errlen);

/* The steps a live migration shares with a snapshot (struct snapshot,
 * snapshot_format.h).  pause_and_save: pauses vm with every device's blob
 * in s (a device with I/O in flight is retried with the guest running for
 * a moment, as above); 0 paused, or -1 running with err.  fill: with the
 * VM paused, the configuration, vCPUs, CPU model and disk references.
 * free_blobs: the device blobs pause_and_save took. */
int snapshot_pause_and_save(struct vm *vm, struct snapshot *s, char *err, size_t errlen);
int snapshot_fill(struct vm *vm, struct snapshot *s, char *err, size_t errlen);
void snapshot_free_blobs(struct snapshot *s);

/* Registers `snapshot` on the VM's control socket (vm->control set). */
void snapshot_control_register(struct vm *vm);

#endif
