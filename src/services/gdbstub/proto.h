/* The gdb remote protocol's commands, answered from a target behind an
 * ops table: the symbiont VM (gdbstub.c) or, in tests and the fuzzer, a
 * fake.  gdb_handle() turns one packet into a reply or into an action the
 * caller carries out (resume, detach, kill); it never blocks and keeps no
 * state but the session's (selected threads, no-ack mode).
 *
 * Threads are vCPUs: gdb thread id N is vCPU N-1.  Registers are the
 * amd64 set of the target description (tdesc.c): general, RIP, EFLAGS,
 * segment selectors, x87, SSE, FS/GS base, then CR0 CR2 CR3 CR4 CR8 EFER. */
#ifndef GDBSTUB_PROTO_H
#define GDBSTUB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/x86.h"

/* Z packet types. */
enum gdb_point { GDB_BP_SW = 0, GDB_BP_HW = 1, GDB_WP_WRITE = 2, GDB_WP_READ = 3, GDB_WP_ACCESS = 4 };

struct gdb_target_ops {
	/* 0, or -1 (the reply is then E01). */
	int (*get_regs)(void *t, int cpu, struct x86_state *s);
	int (*set_regs)(void *t, int cpu, const struct x86_state *s);
	/* Through vCPU cpu's page tables: bytes copied (0..len; fewer when the
	 * range runs into an unmapped page or not-RAM), or -1 for none. */
	long (*read_mem)(void *t, int cpu, uint64_t addr, void *buf, size_t len);
	long (*write_mem)(void *t, int cpu, uint64_t addr, const void *buf, size_t len);
	/* Z/z: 0, -1 (E reply: cannot here, e.g. not mapped), or 1 (empty
	 * reply: this kind is not supported at all). */
	int (*insert)(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind);
	int (*remove)(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind);
	/* qRcmd: the command's text output in out (NUL-terminated, cut at
	 * cap); 0, or -1 (E reply). */
	int (*monitor)(void *t, const char *cmd, char *out, size_t cap);
	/* Optional: true when the target can run backwards (a replay with
	 * checkpoints): qSupported then offers ReverseStep and ReverseContinue,
	 * and bs/bc become GDB_REVERSE_STEP/GDB_REVERSE_CONT. */
	bool (*reversible)(void *t);
};

enum gdb_action {
	GDB_REPLY,        /* send reply */
	GDB_NOREPLY,      /* send nothing */
	GDB_RESUME,       /* resume: step_cpu >= 0 steps that vCPU (the rest run too); reply when it stops */
	GDB_DETACH,       /* send reply (OK), then let the guest run and drop the client */
	GDB_KILL,         /* end the VM, drop the client */
	GDB_REVERSE_STEP, /* bs: back one instruction; reply when there */
	GDB_REVERSE_CONT, /* bc: back to the last breakpoint or watchpoint hit, or the start of history */
};

struct gdb_session {
	const struct gdb_target_ops *ops;
	void *target;
	int ncpus;
	int g_cpu, c_cpu; /* Hg and Hc (c_cpu -1: all) */
	bool no_ack;
	/* the last stop, for '?': signal and vCPU, and a watchpoint's address */
	int stop_sig, stop_cpu;
	char stop_watch; /* 'w', 'r', 'a': a write, read or access watchpoint at stop_addr; 0: none */
	bool stop_swbreak, stop_hwbreak;
	bool stop_history_begin; /* went back to the start of the replay's history */
	uint64_t stop_addr;
	/* set by GDB_RESUME */
	int step_cpu;
	/* qRcmd output, sent as O packets before the final reply */
	char *console;
	size_t console_len;
};

void gdb_session_init(struct gdb_session *s, const struct gdb_target_ops *ops, void *target, int ncpus);
/* Handles the packet body pkt[0..len) (NUL-terminated at len).  reply has
 * GDB_PACKET_MAX + 1 bytes; *rlen is the reply's length.  For a monitor
 * command s->console holds its output (caller frees it with the session
 * or after sending it). */
enum gdb_action gdb_handle(struct gdb_session *s, const char *pkt, size_t len, char *reply, size_t *rlen);
/* The stop reply for the session's last stop ("T05thread:1;..."). */
size_t gdb_stop_reply(const struct gdb_session *s, char *reply, size_t cap);

/* Registers (tdesc.c): the target description, and x86_state to and
 * from the 'g' packet's byte layout. */
extern const char gdb_target_xml[];
extern const size_t gdb_target_xml_len;
#define GDB_NREGS 81         /* (65-80: ymm0h-ymm15h) */
int gdb_reg_size(int regno); /* bytes, or -1 for no such register */
size_t gdb_regs_size(void);  /* all of them, in 'g' order */
void gdb_reg_get(const struct x86_state *s, int regno, uint8_t *out);
/* -1 for a value the stub will not set (a segment selector change). */
int gdb_reg_set(struct x86_state *s, int regno, const uint8_t *in);

#endif
