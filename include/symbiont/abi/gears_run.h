/* The agentless exec and file copy of GEARS (src/services/gears/exec.c):
 * what the VMM hands the run payload (guest/payloads/run.c) it injects into
 * a guest process, and the trap calls through which that payload's helper
 * process then talks to the VMM.
 *
 * Included by the payload (freestanding, no libc) and by symbiont, so it
 * holds only numbers and layouts (fixed-width, little-endian). */
#ifndef SYMBIONT_ABI_GEARS_RUN_H
#define SYMBIONT_ABI_GEARS_RUN_H

/* The system call number the VMM intercepts (no x86-64 kernel has it: the
 * kernel answers ENOSYS when the VMM is not listening). */
#define GEARS_RUN_TRAP_NR 511

enum gears_run_mode {
	GEARS_RUN_EXEC = 1, /* run argv with env in cwd, relay its output */
	GEARS_RUN_PUSH = 2, /* write the VMM's data to argv[0] */
	GEARS_RUN_PULL = 3, /* send argv[0]'s bytes to the VMM */
	GEARS_RUN_KICK = 4, /* interrupt process target's system call (ptrace), so it restarts */
};

/* The argument block (RDI at the payload's entry): this header, then
 * argc NUL-terminated strings, envc more ("NAME=VALUE"), and the working
 * directory if has_cwd; strings_len bytes in all. */
struct gears_run_args {
	unsigned long long cookie; /* names the session in every trap call */
	unsigned int mode;
	unsigned int argc, envc, has_cwd;
	unsigned int strings_len;
	int target; /* KICK: the process to interrupt */
};

/* Trap calls: syscall(GEARS_RUN_TRAP_NR, cookie, op, buf, len, arg).
 * Results: >= 0, or -errno: EAGAIN (try again soon: the client is behind),
 * ESRCH (the session is gone: stop), ENOSYS (no VMM listens: stop). */
enum gears_run_op {
	GEARS_OP_OUT = 1, /* buf[len] is output of stream arg (1 stdout, 2 stderr): -> len */
	GEARS_OP_IN = 2,  /* fill buf with at most len bytes of input: -> bytes, 0 at the end */
	GEARS_OP_END = 3, /* done; arg: EXEC a wait status, PUSH/PULL 0 or -errno */
};

#define GEARS_RUN_CHUNK 65536 /* the payload's buffer */

#endif
