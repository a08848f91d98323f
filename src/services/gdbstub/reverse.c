/* Going back on a replay: gdb's bs (reverse-stepi) and bc (reverse-
 * continue), built on the replay's checkpoints (symbiont/replay.h).
 *
 * A position is an instruction count and the RIP at the interrupt check
 * there.  bs goes to the count before: the newest checkpoint at or before
 * it is restored and the replay runs forward to it.  bc finds the last
 * breakpoint or watchpoint hit before the current position: from the
 * newest checkpoint before it the replay runs forward to it with the hits
 * counted, not stopped at ("scanning"); with none there, the segment
 * before that checkpoint is scanned, and so on back to the first
 * checkpoint, where the history begins (replaylog:begin).  Then the replay
 * goes to the last hit's position: a breakpoint's is before its
 * instruction (where it fired); a watchpoint's is before the instruction
 * that made the access, which is where a write is undone going backwards.
 *
 * On every run forward the breakpoints and watchpoints only count (they
 * are not where the replay is going).  Each run is the guest running on its own thread while this one waits
 * (as for continue); gdb's Ctrl-C is read only once it is over. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "services/gdbstub/gdbstub.h"
#include "symbiont/event.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

#define WAIT_MS 100

static bool on_reached(void *opaque)
{
	return gdb_stop_here(opaque, 0, STOP_SEEK, 0, 0) == SYM_STOP;
}

/* Lets the guest run until the armed stop: 0 held again, -1 the VM ends. */
static int run_to_stop(struct gdbstub *g)
{
	pthread_mutex_lock(&g->lock);
	g->armed = true;
	g->event_stop = false;
	pthread_mutex_unlock(&g->lock);
	g->stopped = false;
	vm_resume(g->vm);
	for (;;) {
		struct pollfd p = { .fd = g->wake_fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) < 0 && errno != EINTR)
			return -1;
		if (p.revents & POLLIN) {
			uint64_t v;
			if (read(g->wake_fd, &v, sizeof(v)) < 0) { /* drained; the flag below says why */
			}
		}
		pthread_mutex_lock(&g->lock);
		bool ev = g->event_stop;
		pthread_mutex_unlock(&g->lock);
		if (ev)
			return gdb_stop_by_event(g);
		if (vm_stopping(g->vm) || atomic_load(&g->quit))
			return -1;
	}
}

/* Back to the newest checkpoint at or before from (its count in *ckpt),
 * then forward to (count, rip): 0, -1 (the VM ends), 1 (cannot, err). */
static int rewind_and_run(struct gdbstub *g, uint64_t from, uint64_t count, const uint64_t *rip, uint64_t *ckpt,
                          char *err, size_t errlen)
{
	uint64_t at;
	if (replay_rewind(g->vm, from, &at, err, errlen) < 0)
		return 1;
	if (ckpt)
		*ckpt = at;
	replay_stop_at(g->vm, count, rip, on_reached, g);
	if (run_to_stop(g) < 0) {
		replay_stop_cancel(g->vm);
		return -1;
	}
	return 0;
}

static int go_to(struct gdbstub *g, uint64_t count, const uint64_t *rip, char *err, size_t errlen)
{
	return rewind_and_run(g, count, count, rip, NULL, err, errlen);
}

static void scanning(struct gdbstub *g, bool on)
{
	pthread_mutex_lock(&g->lock);
	g->scanning = on;
	g->scan_hits = 0;
	pthread_mutex_unlock(&g->lock);
}

int gdb_reverse(struct gdbstub *g, bool step, char *err, size_t errlen)
{
	struct gdb_session *s = &g->sess;
	uint64_t n = replay_count(g->vm), start = replay_history_start(g->vm), end = n, at;
	int r = 0;
	bool found = false;

	if (step) {
		/* the breakpoints on the way there are not the point: counted, not stopped at */
		scanning(g, true);
		if (n > start)
			r = go_to(g, n - 1, NULL, err, errlen);
		scanning(g, false);
		if (r)
			return r;
		s->stop_sig = 5;
		s->stop_cpu = 0;
		s->stop_watch = 0;
		s->stop_swbreak = s->stop_hwbreak = false;
		s->stop_history_begin = n <= start;
		return 0;
	}
	while (!found && end > start) {
		/* the hits between the newest checkpoint before end, and end */
		scanning(g, true);
		r = rewind_and_run(g, end - 1, end, NULL, &at, err, errlen);
		if (r)
			break;
		found = g->scan_hits > 0;
		end = at;
	}
	/* the last hit (the run to it, still scanning so that no earlier hit
	 * stops it, records those again) */
	uint64_t count = g->hit_count, rip = g->hit_rip, addr = g->hit_addr;
	enum gdb_stop_kind kind = g->hit_kind;
	if (r == 0 && (found || n > start)) /* (at the start already: nothing to run) */
		r = found ? go_to(g, count, &rip, err, errlen) : go_to(g, start, NULL, err, errlen);
	scanning(g, false);
	if (r)
		return r;
	s->stop_sig = 5;
	s->stop_cpu = 0;
	s->stop_history_begin = !found;
	s->stop_watch = !found                ? 0
	                : kind == STOP_WATCH  ? 'w'
	                : kind == STOP_RWATCH ? 'r'
	                : kind == STOP_AWATCH ? 'a'
	                                      : 0;
	s->stop_swbreak = found && kind == STOP_BREAK;
	s->stop_hwbreak = found && kind == STOP_HWBREAK;
	s->stop_addr = addr;
	return 0;
}
