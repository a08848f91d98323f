/* The gdb stub's shared state: the service (gdbstub.c: socket, thread,
 * the run/stop loop), the VM as a gdb target (target.c: registers, memory
 * through the vCPU's page tables, breakpoints and watchpoints as event
 * subscriptions) and `monitor` (monitor.c: control API verbs as text). */
#ifndef GDBSTUB_GDBSTUB_H
#define GDBSTUB_GDBSTUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "services/gdbstub/packet.h"
#include "services/gdbstub/proto.h"
#include "symbiont/vcpu.h"

struct vm;
struct sym_sub;

#define GDB_MAX_POINTS 32

/* Why the guest stopped (for the stop reply). */
enum gdb_stop_kind {
	STOP_NONE,
	STOP_BREAK,
	STOP_HWBREAK,
	STOP_STEP,
	STOP_WATCH,
	STOP_RWATCH,
	STOP_AWATCH,
	STOP_SEEK, /* a replay reached where the stub sent it (replay_stop_at) */
};

struct gdb_point_sub {
	bool used;
	struct gdbstub *g;
	enum gdb_point type;
	uint64_t addr, kind; /* as gdb gave them */
	uint64_t gpa;        /* where they are in guest RAM */
	struct sym_sub *sub;
	struct sym_sub *sub2; /* an access watchpoint's write half */
	int hw_slot;          /* a debug-register point (vm_set_hw_points) instead, or -1 */
	bool watched;         /* sym_watch() taken for [gpa, gpa+kind) */
};

struct gdbstub {
	struct vm *vm;
	int listen_fd, client_fd;
	int wake_fd; /* eventfd: a callback stopped the guest, or the service stops */
	char unix_path[108];
	pthread_t thread;
	bool thread_started;
	atomic_bool quit;

	/* Between the vCPU threads' callbacks and the stub's thread. */
	pthread_mutex_t lock;
	bool armed;      /* the guest runs for the client: the first hit stops it */
	bool event_stop; /* a callback stopped it (and holds a pause for us) */
	enum gdb_stop_kind ev_kind;
	int ev_cpu;
	uint64_t ev_addr;
	/* Going back on a replay (reverse.c): while scanning, breakpoint and
	 * watchpoint hits are counted and the last one kept, not stopped at. */
	bool scanning;
	uint64_t scan_hits;
	uint64_t hit_count, hit_rip, hit_addr;
	enum gdb_stop_kind hit_kind;

	/* The stub's thread only. */
	bool stopped; /* we hold one pause of the VM */
	struct gdb_point_sub points[GDB_MAX_POINTS];
	struct sym_sub *step_sub;
	/* Debug-register points, where the engine hooks no code and watches no
	 * pages (kvm): what gdb's points use of them, and the one subscription
	 * to their hits. */
	struct vm_hw_point hw[VM_HW_POINTS];
	struct gdb_point_sub *hw_owner[VM_HW_POINTS];
	struct sym_sub *hw_sub;
	struct gdb_session sess;
	struct gdb_rx rx;
	char reply[GDB_PACKET_MAX + 1];
	char frame[2 * GDB_PACKET_MAX + 8];
	size_t frame_len; /* the last packet sent, for a '-' */
};

extern const struct gdb_target_ops gdb_vm_ops;
/* Drops every breakpoint, watchpoint and the step subscription (the
 * client went or detached). */
void gdb_points_clear(struct gdbstub *g);
/* The callbacks' common end: stop the guest for the client if it is
 * waiting for a stop (SYM_STOP), else go on. */
int gdb_stop_here(struct gdbstub *g, int cpu, enum gdb_stop_kind kind, uint64_t addr, uint64_t rip);
/* The run/stop loop's pieces reverse.c shares (gdbstub.c). */
int gdb_stop_by_event(struct gdbstub *g);
/* bs/bc on a replay, the VM held: 0 with the stop in g->sess, -1 when the
 * VM ends meanwhile (the session reports W), 1 with an error reply sent
 * instead of a stop (*rerr). */
int gdb_reverse(struct gdbstub *g, bool step, char *rerr, size_t errlen);
int gdb_monitor(void *t, const char *cmd, char *out, size_t cap);

#endif
