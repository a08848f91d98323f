/* Syscall traces: strace-style lines, streamed as SYSCALL events to the
 * client that started the trace, until it stops it or goes away.
 *
 *   gears-trace-start {pid?, comm?, cgroup?, syscalls?}  -> {"trace": ID}
 *   gears-trace-stop {trace}
 *   query-gears-traces   -> [{"trace", "client", "pid", "comm", "cgroup", "syscalls", "lines"}]
 *
 * A call is shown when it returns (its exit event carries the arguments it
 * entered with, and buffers it filled are readable then); the calls that do
 * not return on success (execve, execveat, exit, exit_group) are shown at
 * entry with the result "?", and a failed execve once more at its exit.
 * The hub's syscall-number filter keeps calls a trace did not select away
 * from it altogether; the pid and command-name filters need the calling
 * task, a few guest reads per selected call.  Lines go out through
 * control_event_to(), which never blocks: while a client is too slow to
 * take them (half the control socket's output bound waits for it) lines
 * are dropped and counted, and the next line delivered says how many
 * ("lost"), which symbiont ctl prints. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/compat.h"
#include "services/gears/gears.h"
#include "services/gears/names.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

struct gears_trace {
	struct gears *g;
	uint64_t id, client;
	struct gears_who who;
	uint64_t syscalls[SYM_SYSCALL_MAX / 64]; /* all clear: every call */
	char spec[256];                          /* the syscall list as asked */
	struct sym_sub *enter, *exit;
	struct sym_sub *enter32, *exit32; /* the 32-bit entry (compat.h) */
	_Atomic uint64_t lines;
	_Atomic uint64_t lost; /* lines the client was too slow to take */
};

static void emit(struct gears_trace *t, struct sym_event *ev, bool exited)
{
	struct gears *g = t->g;
	struct guestos_task_id who = { .pid = -1, .tgid = -1, .comm = "?" };
	struct gears_uaccess ua;
	struct gears_mem m;
	char call[GEARS_LINE_MAX], result[96], line[GEARS_LINE_MAX + 128];
	/* a 32-bit call is shown as its x86-64 counterpart, marked (i386) */
	int nr64 = ev->syscall.compat ? gears_compat_to_64((unsigned)ev->syscall.nr) : (int)ev->syscall.nr;
	const char *name = nr64 >= 0 ? gears_syscall_name((unsigned)nr64) : NULL;

	if (!gears_who_selects(g, &t->who, ev, &who))
		return;
	gears_uaccess_init(&ua, &m, &g->vm->mem, ev->regs);
	if (nr64 >= 0) {
		gears_format_call(call, sizeof(call), (unsigned)nr64, ev->syscall.args, exited, ev->syscall.ret, &m);
		gears_format_result(result, sizeof(result), (unsigned)nr64, exited, ev->syscall.ret);
	} else {
		const uint64_t *a = ev->syscall.args;
		snprintf(call, sizeof(call),
		         "syscall_%" PRIu64 "(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
		         ", %#" PRIx64 ")",
		         ev->syscall.nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		snprintf(result, sizeof(result), exited ? "%" PRId64 : "?", ev->syscall.ret);
	}
	snprintf(line, sizeof(line), "%" PRId32 " %s %s%s = %s", who.tgid, who.comm,
	         ev->syscall.compat ? "(i386) " : "", call, result);

	struct json_object *d = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(d, "trace", json_object_new_int64((int64_t)t->id));
	json_object_object_add(d, "cpu", json_object_new_int(ev->cpu));
	json_object_object_add(d, "pid", json_object_new_int(who.tgid));
	json_object_object_add(d, "tid", json_object_new_int(who.pid));
	json_object_object_add(d, "comm", json_object_new_string(who.comm));
	json_object_object_add(d, "nr", json_object_new_int64((int64_t)ev->syscall.nr));
	json_object_object_add(d, "abi", json_object_new_string(ev->syscall.compat ? "i386" : "x86_64"));
	json_object_object_add(d, "name", name ? json_object_new_string(name) : NULL);
	for (int i = 0; i < 6; i++)
		json_object_array_add(a, json_object_new_int64((int64_t)ev->syscall.args[i]));
	json_object_object_add(d, "args", a);
	json_object_object_add(d, "ret", exited ? json_object_new_int64(ev->syscall.ret) : NULL);
	json_object_object_add(d, "line", json_object_new_string(line));
	/* the lines lost since the last one delivered: the client sees the gap */
	uint64_t lost = atomic_exchange(&t->lost, 0);
	json_object_object_add(d, "lost", json_object_new_int64((int64_t)lost));
	if (control_event_to(g->vm->control, t->client, "SYSCALL", d)) {
		atomic_fetch_add(&t->lost, lost + 1);
		return;
	}
	atomic_fetch_add(&t->lines, 1);
}

static enum sym_action on_syscall_enter(void *opaque, struct sym_event *ev)
{
	emit(opaque, ev, false);
	return SYM_CONTINUE;
}

static enum sym_action on_syscall_exit(void *opaque, struct sym_event *ev)
{
	emit(opaque, ev, true);
	return SYM_CONTINUE;
}

static void trace_free(struct gears_trace *t)
{
	sym_unsubscribe(t->enter);
	sym_unsubscribe(t->exit);
	sym_unsubscribe(t->enter32);
	sym_unsubscribe(t->exit32);
	free(t);
}

/* Removes and frees traces[i] (control thread). */
static void trace_remove(struct gears *g, int i)
{
	struct gears_trace *t = g->traces[i];
	g->traces[i] = g->traces[--g->ntraces];
	trace_free(t);
}

static int cmd_start(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct gears_trace *t;
	const char *list = gears_arg_str(args, "syscalls");
	struct sym_filter exits = { .type = SYM_EV_SYSCALL_EXIT }, enters = { .type = SYM_EV_SYSCALL_ENTER };
	struct sym_filter exits32 = { .type = SYM_EV_SYSCALL_EXIT, .compat = true },
	                  enters32 = { .type = SYM_EV_SYSCALL_ENTER, .compat = true };
	bool any_enter = false, any32 = false, any_enter32 = false, all;

	if (g->ntraces == GEARS_MAX_TRACES) {
		snprintf(err, errlen, "too many traces (%d)", GEARS_MAX_TRACES);
		return -1;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->g = g;
	t->client = control_caller(g->vm->control);
	snprintf(t->spec, sizeof(t->spec), "%s", list ? list : "all");
	if (gears_arg_who(args, &t->who, err, errlen) ||
	    gears_parse_syscalls(list ? list : "all", t->syscalls, err, errlen)) {
		free(t);
		return -1;
	}
	/* Naming the calling task needs guest OS awareness: a filter on it
	 * cannot do without, a plain trace shows "?" instead. */
	if (gears_os_for_who(g, &t->who, err, errlen)) {
		free(t);
		return -1;
	}
	memcpy(exits.syscalls, t->syscalls, sizeof(exits.syscalls));
	all = true;
	for (unsigned i = 0; i < SYM_SYSCALL_MAX / 64; i++)
		all &= t->syscalls[i] == 0;
	/* the calls that do not come back on success are shown at entry */
	for (unsigned nr = 0; nr < SYM_SYSCALL_MAX; nr++) {
		bool selected = all || (t->syscalls[nr / 64] >> (nr % 64) & 1);
		int nr32 = gears_64_to_compat(nr);
		if (gears_no_return(nr) && selected) {
			sym_filter_syscall(&enters, nr);
			any_enter = true;
		}
		/* the same calls by the 32-bit entry, those that have a counterpart
		 * (all: every 32-bit call, the unknown ones by number) */
		if (selected && nr32 >= 0 && !all) {
			sym_filter_syscall(&exits32, (unsigned)nr32);
			any32 = true;
		}
		if (selected && nr32 >= 0 && gears_no_return(nr)) {
			sym_filter_syscall(&enters32, (unsigned)nr32);
			any_enter32 = true;
		}
	}
	if (!(t->exit = sym_subscribe(g->vm, &exits, on_syscall_exit, t, err, errlen)) ||
	    (any_enter && !(t->enter = sym_subscribe(g->vm, &enters, on_syscall_enter, t, err, errlen))) ||
	    ((all || any32) && !(t->exit32 = sym_subscribe(g->vm, &exits32, on_syscall_exit, t, err, errlen))) ||
	    (any_enter32 && !(t->enter32 = sym_subscribe(g->vm, &enters32, on_syscall_enter, t, err, errlen)))) {
		trace_free(t);
		return -1;
	}
	t->id = ++g->next_id;
	g->traces[g->ntraces++] = t;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "trace", json_object_new_int64((int64_t)t->id));
	return 0;
}

static int cmd_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	uint64_t id;
	(void)ret;
	if (gears_arg_id(args, "trace", &id, err, errlen))
		return -1;
	for (int i = 0; i < g->ntraces; i++) {
		if (g->traces[i]->id == id) {
			trace_remove(g, i);
			return 0;
		}
	}
	snprintf(err, errlen, "no trace %" PRIu64, id);
	return -1;
}

static int cmd_query(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct json_object *a = json_object_new_array();
	(void)args, (void)err, (void)errlen;
	for (int i = 0; i < g->ntraces; i++) {
		struct gears_trace *t = g->traces[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "trace", json_object_new_int64((int64_t)t->id));
		json_object_object_add(o, "client", json_object_new_int64((int64_t)t->client));
		json_object_object_add(o, "pid", t->who.pid >= 0 ? json_object_new_int(t->who.pid) : NULL);
		json_object_object_add(o, "comm", t->who.comm[0] ? json_object_new_string(t->who.comm) : NULL);
		json_object_object_add(o, "cgroup", t->who.cgroup[0] ? json_object_new_string(t->who.cgroup) : NULL);
		json_object_object_add(o, "syscalls", json_object_new_string(t->spec));
		json_object_object_add(o, "lines", json_object_new_int64((int64_t)atomic_load(&t->lines)));
		json_object_object_add(o, "lost", json_object_new_int64((int64_t)atomic_load(&t->lost)));
		json_object_array_add(a, o);
	}
	*ret = a;
	return 0;
}

void gears_trace_client_gone(struct gears *g, uint64_t client)
{
	for (int i = 0; i < g->ntraces;) {
		if (g->traces[i]->client == client) {
			trace_remove(g, i);
			continue;
		}
		i++;
	}
}

void gears_trace_fini(struct gears *g)
{
	while (g->ntraces)
		trace_remove(g, 0);
}

int gears_trace_init(struct gears *g, char *err, size_t errlen)
{
	struct control *c = g->vm->control;
	(void)err, (void)errlen;
	return control_register(c, "gears-trace-start", cmd_start, g) ||
	       control_register(c, "gears-trace-stop", cmd_stop, g) ||
	       control_register(c, "query-gears-traces", cmd_query, g);
}
