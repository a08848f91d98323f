/* Code injection into a running guest process (inject.c), for the inject
 * command and for what is built on it (agentless exec, file copy). */
#ifndef SYMBIONT_GEARS_INJECT_H
#define SYMBIONT_GEARS_INJECT_H

#include <stddef.h>
#include <stdint.h>

#include "services/gears/elfimage.h"

struct gears;

/* The system call number the injected code's return stub, and the helper
 * processes of exec/push/pull, use to reach the VMM: one no x86-64 kernel
 * has (it answers ENOSYS if the VMM is not listening). */
#define GEARS_TRAP_NR 511

#define GEARS_INJECT_MAX_ARG (64u << 10) /* bytes of the argument block */

struct gears_inject_result {
	int64_t ret;       /* what the entry point returned (RAX) */
	int32_t pid, tid;  /* the process and thread it ran in */
	char comm[16];     /* that process's name */
	uint64_t addr;     /* where it was loaded (released since) */
	uint64_t total_ns; /* from the request to the process's return to where it was */
};

/* Runs image's entry point in process pid (0: the first process other than
 * init that reaches a system call boundary), with the address of a copy of
 * arg (arglen bytes, may be 0) in RDI, and waits up to timeout_ms for it to
 * return and the process to be put back.  Control thread only.  0 with
 * *res, or -1 with one line in err. */
int gears_inject_run(struct gears *g, int32_t pid, const struct gears_elf_image *image, const void *arg, size_t arglen,
                     int timeout_ms, struct gears_inject_result *res, char *err, size_t errlen);

/* The same, into any process but init and avoid, beside the injection in
 * progress (used to wake that one's process: gears_kick). */
int gears_inject_beside(struct gears *g, int32_t avoid, const struct gears_elf_image *image, const void *arg,
                        size_t arglen, int timeout_ms, struct gears_inject_result *res, char *err, size_t errlen);
/* Wakes process pid from the call it sleeps in, so that the call restarts
 * (and the injection waiting for it can take the process over): another
 * process is injected with the run payload, whose helper interrupts pid
 * with ptrace (exec.c).  0, or -1 with err. */
int gears_kick(struct gears *g, int32_t pid, char *err, size_t errlen);

#endif
