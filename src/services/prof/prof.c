/* Guest profiling and `top` (the Xenoprof and XenMon lines), with nothing
 * in the guest:
 *
 *   prof-start {frequency, guest_root}  start sampling every vCPU at
 *                            FREQUENCY Hz (default 99); user samples get
 *                            the function from the symbols of
 *                            GUEST_ROOT/<executable's path in the guest>
 *   prof-stop {svg}          stop; the folded stacks, the counts by mode
 *                            and, if asked, an SVG flame graph of them
 *   query-top                cumulative samples per guest process (user and
 *                            kernel) since sampling began; the first query
 *                            starts sampling, which stops again 10 s after
 *                            the last one
 *
 * The sampling itself is sampler.c; what a sample is counted as, sample.c.
 * Commands run on the control thread one at a time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/service.h"
#include "services/prof/args.h"
#include "services/prof/flamegraph.h"
#include "services/prof/prof.h"
#include "services/prof/sample.h"

static int get_regs(void *opaque, int cpu, struct guestos_regs *out)
{
	struct prof *p = opaque;
	if (cpu < 0 || cpu >= p->vm->ncpus || !p->regs_ok[cpu])
		return -1;
	*out = p->regs[cpu];
	return 0;
}

/* Describes the guest kernel once, before the sampler first runs (after
 * that the handle is the sampler's).  A kernel guestos does not understand
 * is no error: its samples are counted by raw address. */
static void describe_guest(struct prof *p)
{
	const struct vm_config *cfg = &p->vm->cfg;
	char map[4096];

	if (p->os || p->why_not[0] || p->thread_running)
		return;
	guestos_system_map_path(cfg->kernel, cfg->system_map, map, sizeof(map));
	p->kernel = guestos_kernel_load(cfg->kernel, map, p->why_not, sizeof(p->why_not));
	if (p->kernel) {
		struct guestos_target t = {
			.mem = &p->vm->mem, .ncpus = p->vm->ncpus, .get_regs = get_regs, .opaque = p
		};
		p->os = guestos_attach(p->kernel, &t, p->why_not, sizeof(p->why_not));
	}
	if (!p->os && !p->why_not[0])
		snprintf(p->why_not, sizeof(p->why_not), "guestos: cannot read this guest's kernel");
}

static void add_guest_os(struct prof *p, struct json_object *o)
{
	json_object_object_add(o, "understood", json_object_new_boolean(p->os != NULL));
	if (!p->os)
		json_object_object_add(o, "reason", json_object_new_string(p->why_not));
}

static int cmd_prof_start(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct prof *p = opaque;
	unsigned hz;

	struct json_object *root = NULL;
	if (prof_arg_frequency(args, PROF_DEFAULT_HZ, PROF_MAX_HZ, &hz, err, errlen))
		return -1;
	if (json_object_object_get_ex(args, "guest_root", &root) &&
	    (!json_object_is_type(root, json_type_string) || json_object_get_string(root)[0] != '/' ||
	     json_object_get_string_len(root) >= (int)sizeof(p->guest_root))) {
		snprintf(err, errlen, "'guest_root' must be an absolute path of under %zu bytes",
		         sizeof(p->guest_root));
		return -1;
	}
	describe_guest(p);
	pthread_mutex_lock(&p->lock);
	if (p->profiling) {
		pthread_mutex_unlock(&p->lock);
		snprintf(err, errlen, "a profile is already being taken (prof-stop ends it)");
		return -1;
	}
	stack_table_clear(&p->stacks);
	memset(p->by_mode, 0, sizeof(p->by_mode));
	p->paused_rounds = 0;
	p->prof_rounds = p->prof_pause_ns = 0;
	p->hz = hz;
	snprintf(p->guest_root, sizeof(p->guest_root), "%s", root ? json_object_get_string(root) : "");
	p->guest_root_gen++;
	p->prof_started_ns = prof_now_ns();
	p->profiling = true;
	pthread_mutex_unlock(&p->lock);
	if (sampler_kick(p, err, errlen)) {
		pthread_mutex_lock(&p->lock);
		p->profiling = false;
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "frequency", json_object_new_int((int)hz));
	add_guest_os(p, *ret);
	return 0;
}

static struct json_object *u64_json(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static int cmd_prof_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	static const char *const mode_names[] = { "idle", "kernel", "user", "unknown" };
	struct prof *p = opaque;
	const struct stack_entry **v;
	struct json_object *o, *stacks;
	bool want_svg;
	size_t n;

	if (prof_arg_bool(args, "svg", &want_svg, err, errlen))
		return -1;
	pthread_mutex_lock(&p->lock);
	if (!p->profiling) {
		pthread_mutex_unlock(&p->lock);
		snprintf(err, errlen, "no profile is being taken (prof-start begins one)");
		return -1;
	}
	/* From here the sampler adds nothing to the table, and only the next
	 * prof-start (this thread) clears it. */
	p->profiling = false;
	double seconds = (double)(prof_now_ns() - p->prof_started_ns) / 1e9;
	pthread_mutex_unlock(&p->lock);

	o = json_object_new_object();
	json_object_object_add(o, "samples", u64_json(p->stacks.total));
	json_object_object_add(o, "frequency", json_object_new_int((int)p->hz));
	json_object_object_add(o, "seconds", json_object_new_double(seconds));
	json_object_object_add(o, "cpus", json_object_new_int(p->vm->ncpus));
	for (int m = 0; m < 4; m++)
		json_object_object_add(o, mode_names[m], u64_json(p->by_mode[m]));
	json_object_object_add(o, "paused_rounds", u64_json(p->paused_rounds));
	/* What a sample costs the guest: the time its vCPUs stood still. */
	json_object_object_add(
	        o, "pause_us_mean",
	        json_object_new_double(p->prof_rounds ? (double)p->prof_pause_ns / 1e3 / (double)p->prof_rounds : 0));
	add_guest_os(p, o);
	v = stack_table_sorted(&p->stacks, &n);
	stacks = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "stack", json_object_new_string(v[i]->stack));
		json_object_object_add(s, "count", u64_json(v[i]->count));
		json_object_array_add(stacks, s);
	}
	json_object_object_add(o, "stacks", stacks);
	if (want_svg) {
		char sub[160], *svg;
		snprintf(sub, sizeof(sub), "%" PRIu64 " samples of %d vCPU%s at %u Hz over %.1f s", p->stacks.total,
		         p->vm->ncpus, p->vm->ncpus == 1 ? "" : "s", p->hz, seconds);
		svg = flamegraph_svg(v, n, "symbiont guest profile", sub);
		if (!svg) {
			free(v);
			json_object_put(o);
			snprintf(err, errlen, "out of memory drawing the flame graph");
			return -1;
		}
		json_object_object_add(o, "svg", json_object_new_string(svg));
		free(svg);
	}
	free(v);
	*ret = o;
	return 0;
}

static int cmd_query_top(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct prof *p = opaque;
	struct json_object *o, *procs;
	(void)args;

	describe_guest(p);
	if (!p->os) {
		snprintf(err, errlen, "%s", p->why_not);
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	p->top_lease_until_ns = prof_now_ns() + TOP_LEASE_NS;
	o = json_object_new_object();
	json_object_object_add(o, "cpus", json_object_new_int(p->vm->ncpus));
	json_object_object_add(o, "rounds", u64_json(p->rounds));
	json_object_object_add(o, "idle", u64_json(p->idle));
	json_object_object_add(o, "frequency", json_object_new_int((int)(p->profiling ? p->hz : PROF_DEFAULT_HZ)));
	procs = json_object_new_array();
	for (size_t i = 0; i < p->procs.n; i++) {
		const struct proc_entry *e = &p->procs.e[i];
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "pid", json_object_new_int(e->pid));
		json_object_object_add(x, "comm", json_object_new_string(e->comm));
		json_object_object_add(x, "kernel_thread", json_object_new_boolean(e->kernel_thread));
		json_object_object_add(x, "user", u64_json(e->user));
		json_object_object_add(x, "kernel", u64_json(e->kernel));
		json_object_array_add(procs, x);
	}
	json_object_object_add(o, "processes", procs);
	pthread_mutex_unlock(&p->lock);
	if (sampler_kick(p, err, errlen)) {
		json_object_put(o);
		return -1;
	}
	*ret = o;
	return 0;
}

/* ---- the service ---------------------------------------------------------- */

static void prof_free(struct prof *p)
{
	stack_table_free(&p->stacks);
	proc_table_free(&p->procs);
	orc_table_free(&p->orc);
	free(p->stack_copy);
	guestos_detach(p->os);
	guestos_kernel_free(p->kernel);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int prof_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct prof *p;

	*state = NULL;
	if (!vm->control)
		return 0; /* nobody to ask for a profile */
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (stack_table_init(&p->stacks, PROF_MAX_STACKS) || proc_table_init(&p->procs, PROF_MAX_PROCS)) {
		prof_free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	control_register(vm->control, "prof-start", cmd_prof_start, p);
	control_register(vm->control, "prof-stop", cmd_prof_stop, p);
	control_register(vm->control, "query-top", cmd_query_top, p);
	*state = p;
	return 0;
}

/* The control socket is closed first: no command is running. */
static void prof_stop(void *state)
{
	struct prof *p = state;
	if (!p)
		return;
	sampler_quit(p);
	prof_free(p);
}

static const struct sym_service prof_service = {
	.name = "prof",
	.start = prof_start,
	.stop = prof_stop,
};
SYM_SERVICE(prof_service)
