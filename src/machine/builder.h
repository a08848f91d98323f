/* The machine builder: makes a runnable VM from a vm_config (engine, board,
 * virtio devices, loader, vCPUs) and takes it down again.  It is the one
 * place that names the engines, the board, the devices and the loaders
 * together; the running VM (src/vm/, symbiont/vm.h) knows none of them.
 * A second way to build (restore from a snapshot, incoming migration) is
 * another function here, beside machine_build, as Firecracker's builder.rs
 * stands beside vstate/vm.rs. */
#ifndef SYMBIONT_MACHINE_BUILDER_H
#define SYMBIONT_MACHINE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/vm.h"

struct machine;

/* cfg->kernel is required (the command line finds the default guest).  NULL
 * with a one-line reason in err. */
struct machine *machine_build(const struct vm_config *cfg, char *err, size_t errlen);
/* A second way to build: the machine a snapshot directory holds
 * (docs/snapshot.md), rebuilt from its recorded configuration on engine
 * (NULL: the one it was taken on), its devices and vCPUs loaded, guest RAM
 * mapped from the snapshot's memory file.  NULL with one line in err;
 * *bad_input then tells a bad snapshot, a changed disk or a bad option
 * (usage/input error) from a host failure. */
struct machine_restore_opts {
	const char *dir;
	/* Or, for an incoming migration (dir unused): the state file's bytes
	 * (malloc'd) and guest RAM as a file of mem_size bytes; both are the
	 * machine's from the call on, even when it fails. */
	uint8_t *state;
	size_t state_len;
	int mem_fd;
	const char *engine; /* NULL: the snapshot's */
	const char *serial; /* NULL: stdio */
	bool force;         /* use disks that changed since the snapshot */
	bool force_cpu;     /* and an engine without CPU features the snapshot's offered */
	/* Out: one line worth telling the user ("" for none), such as CPU
	 * features the snapshot's CPU offered and this engine lacks. */
	char *note;
	size_t notelen;
};
struct machine *machine_restore(const struct machine_restore_opts *o, bool *bad_input, char *err, size_t errlen);
/* Waits on uri ("unix:PATH" or "tcp:HOST:PORT") for one machine sent by
 * `migrate`, reads and checks the stream, builds the machine as a restore
 * does (o->dir, o->state unused) and tells the sender it runs.  NULL with
 * one line in err (the sender is told too); *bad_input as for
 * machine_restore. */
struct machine *machine_incoming(const char *uri, struct machine_restore_opts *o, bool *bad_input, char *err,
                                 size_t errlen);
/* The running VM: hand it to vm_run(). */
struct vm *machine_vm(struct machine *m);
/* The machine's own commands on the VM's control socket (after
 * vm_control_open): snapshot {dir, stop}. */
void machine_control_register(struct machine *m);
/* Ends what those commands started (a migration under way is cancelled
 * and waited for): before the control socket closes. */
void machine_control_stop(struct machine *m);
/* With the vCPUs stopped (vm_run returned, or never called). */
void machine_destroy(struct machine *m);

/* Everything about cfg that can be told without building anything: memory
 * size against the host's RAM, vCPU count, the device specs' syntax.  A
 * failure is the caller's mistake (a usage error), not the host's; the
 * message is one line. */
int machine_config_check(const struct vm_config *cfg, char *err, size_t errlen);
/* What the host says about a checked configuration before anything is
 * built (a vsock group's directory, CID, policy file and label conflicts):
 * 0, or -1 with a one-line message (a usage error). */
int machine_host_check(const struct vm_config *cfg, char *err, size_t errlen);

/* The engine names vm_config.engine takes, from engine_select()'s own
 * table, for the command line's check: no host probing, so a known name
 * whose engine cannot run here fails later, in machine_build. */
bool machine_engine_known(const char *name);
const char *machine_engine_names(void); /* "auto, emu or kvm" */

#endif
