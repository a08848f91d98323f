/* The GEARS service (gears.h): its state, guest OS awareness for naming
 * the calling task, and what the commands share.
 *
 * Guest OS awareness (the kernel's BTF and System.map) is loaded on the
 * control thread by the first command that needs it, never inside an event
 * callback; after that a callback finds the calling task in a few reads
 * (guestos_current_id) from the registers its event carries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/gears.h"
#include "symbiont/control.h"
#include "symbiont/service.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

/* guestos_target.get_regs: the registers of the event being handled, or
 * those read with the VM paused while the kernel is being found (os_lock
 * held). */
static int event_regs(void *opaque, int cpu, struct guestos_regs *out)
{
	struct gears *g = opaque;
	const struct sym_regs *r = g->regs;
	if (g->use_paused) {
		if (cpu < 0 || cpu >= VM_MAX_CPUS || !g->paused_ok[cpu])
			return -1;
		*out = g->paused_regs[cpu];
		return 0;
	}
	if (!r || cpu != g->regs_cpu)
		return -1;
	guestos_regs_from_event(r, out);
	return 0;
}

/* Guest OS awareness finds the running kernel (its KASLR slide) from the
 * registers of an event; in a guest where no event has come yet (an idle
 * one, every task asleep) it gets the vCPUs' own, read once with the VM
 * paused.  Not under os_lock: a vCPU may be waiting for it in a callback,
 * and the pause waits for every vCPU. */
static int find_kernel(struct gears *g, char *err, size_t errlen)
{
	int64_t slide;
	char e[256];
	int r;

	pthread_mutex_lock(&g->os_lock);
	r = guestos_kaslr_slide(g->os, &slide, e, sizeof(e));
	pthread_mutex_unlock(&g->os_lock);
	if (r == 0)
		return 0;
	if (vm_pause(g->vm) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	pthread_mutex_lock(&g->os_lock);
	for (int i = 0; i < g->vm->ncpus && i < VM_MAX_CPUS; i++) {
		struct x86_state s;
		g->paused_ok[i] = vm_vcpu_get_state(g->vm, i, &s, e, sizeof(e)) == 0;
		if (g->paused_ok[i])
			guestos_regs_from_x86(&s, &g->paused_regs[i]);
	}
	g->use_paused = true;
	r = guestos_kaslr_slide(g->os, &slide, err, errlen);
	g->use_paused = false;
	pthread_mutex_unlock(&g->os_lock);
	vm_resume(g->vm);
	return r;
}

int gears_os_prepare(struct gears *g, char *err, size_t errlen)
{
	struct guestos_kernel *kernel;
	struct guestos *os = NULL;
	char map[4096], why[sizeof(g->why_not)] = "";
	bool done;

	/* Only commands (one control thread) load; callbacks only read g->os,
	 * under os_lock.  The load (BTF, System.map: a good part of a second)
	 * runs without the lock, so no vCPU waits for it. */
	pthread_mutex_lock(&g->os_lock);
	done = g->os || g->why_not[0];
	pthread_mutex_unlock(&g->os_lock);
	if (!done) {
		guestos_system_map_path(g->vm->cfg.kernel, g->vm->cfg.system_map, map, sizeof(map));
		kernel = guestos_kernel_load(g->vm->cfg.kernel, map, why, sizeof(why));
		if (kernel) {
			struct guestos_target t = {
				.mem = &g->vm->mem, .ncpus = g->vm->ncpus, .get_regs = event_regs, .opaque = g
			};
			if (!(os = guestos_attach(kernel, &t, why, sizeof(why)))) {
				guestos_kernel_free(kernel);
				kernel = NULL;
			}
		}
		if (!os && !why[0])
			snprintf(why, sizeof(why), "guestos: cannot read this guest's kernel");
		pthread_mutex_lock(&g->os_lock);
		g->kernel = kernel;
		g->os = os;
		snprintf(g->why_not, sizeof(g->why_not), "%s", os ? "" : why);
		pthread_mutex_unlock(&g->os_lock);
	}
	if (!g->os) {
		snprintf(err, errlen, "%s", g->why_not);
		return -1;
	}
	return find_kernel(g, err, errlen);
}

void gears_helper_seen(struct gears *g, int32_t tgid)
{
	if (tgid <= 1 || gears_is_helper(g, tgid))
		return;
	unsigned i = atomic_fetch_add(&g->helper_next, 1) % (sizeof(g->helper_tgid) / sizeof(g->helper_tgid[0]));
	atomic_store(&g->helper_tgid[i], tgid);
}

bool gears_is_helper(struct gears *g, int32_t tgid)
{
	for (size_t i = 0; i < sizeof(g->helper_tgid) / sizeof(g->helper_tgid[0]); i++)
		if (atomic_load(&g->helper_tgid[i]) == tgid)
			return true;
	return false;
}

/* gears_who_now with os_lock held. */
static int who_locked(struct gears *g, const struct sym_event *ev, struct guestos_task_id *out)
{
	int r = -1;
	if (g->os) {
		g->regs = ev->regs;
		g->regs_cpu = ev->cpu;
		r = guestos_current_id(g->os, ev->cpu, out, NULL, 0);
		g->regs = NULL;
	}
	return r;
}

int gears_who_now(struct gears *g, const struct sym_event *ev, struct guestos_task_id *out)
{
	pthread_mutex_lock(&g->os_lock);
	int r = who_locked(g, ev, out);
	pthread_mutex_unlock(&g->os_lock);
	return r;
}

bool gears_who_selects(struct gears *g, const struct gears_who *w, const struct sym_event *ev,
                       struct guestos_task_id *out)
{
	char cgroup[GEARS_CGROUP_LEN] = "";

	pthread_mutex_lock(&g->os_lock);
	int r = who_locked(g, ev, out);
	if (r == 0 && w->cgroup[0] && guestos_task_cgroup(g->os, out->task, cgroup, sizeof(cgroup), NULL, 0))
		cgroup[0] = 0;
	pthread_mutex_unlock(&g->os_lock);
	if (r < 0)
		return !gears_who_filters(w); /* who it is cannot be told */
	return gears_who_matches(w, out->pid, out->tgid, out->comm, cgroup);
}

int gears_os_for_who(struct gears *g, const struct gears_who *w, char *err, size_t errlen)
{
	char why[256];

	/* A filter on the caller cannot do without guest OS awareness; a
	 * plain trace or rule names the caller "?" instead. */
	if (gears_os_prepare(g, why, sizeof(why)) && gears_who_filters(w)) {
		snprintf(err, errlen, "--pid, --comm and --cgroup need guest OS awareness: %s", why);
		return -1;
	}
	return 0;
}

const char *gears_arg_str(struct json_object *args, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int gears_arg_id(struct json_object *args, const char *key, uint64_t *id, char *err, size_t errlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) <= 0) {
		snprintf(err, errlen, "'%s' (a positive number) is required", key);
		return -1;
	}
	*id = (uint64_t)json_object_get_int64(v);
	return 0;
}

int gears_arg_who(struct json_object *args, struct gears_who *who, char *err, size_t errlen)
{
	struct json_object *v;
	const char *comm = gears_arg_str(args, "comm"), *cgroup = gears_arg_str(args, "cgroup");

	who->pid = -1;
	who->comm[0] = 0;
	who->cgroup[0] = 0;
	if (json_object_object_get_ex(args, "pid", &v)) {
		int64_t pid = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || pid < 0 || pid > INT32_MAX) {
			snprintf(err, errlen, "'pid' must be a number from 0 to %d", INT32_MAX);
			return -1;
		}
		who->pid = (int32_t)pid;
	}
	if (json_object_object_get_ex(args, "comm", &v) && !comm) {
		snprintf(err, errlen, "'comm' must be a string");
		return -1;
	}
	if (comm) {
		if (!*comm || strlen(comm) >= GEARS_COMM_LEN) {
			snprintf(err, errlen, "'comm' must be 1 to %d bytes (the kernel's TASK_COMM_LEN)",
			         GEARS_COMM_LEN - 1);
			return -1;
		}
		snprintf(who->comm, sizeof(who->comm), "%s", comm);
	}
	if (json_object_object_get_ex(args, "cgroup", &v) && !cgroup) {
		snprintf(err, errlen, "'cgroup' must be a string");
		return -1;
	}
	if (cgroup) {
		/* as /proc/PID/cgroup shows it: from the hierarchy's root */
		if (cgroup[0] != '/' || strlen(cgroup) >= GEARS_CGROUP_LEN) {
			snprintf(err, errlen,
			         "'cgroup' must be a path from the cgroup root (\"/\" or \"/a/b\"), at most %d bytes",
			         GEARS_CGROUP_LEN - 1);
			return -1;
		}
		snprintf(who->cgroup, sizeof(who->cgroup), "%s", cgroup);
	}
	return 0;
}

static void client_gone(void *opaque, uint64_t client)
{
	gears_trace_client_gone(opaque, client);
	gears_exec_client_gone(opaque, client);
}

static void gears_stop(void *state)
{
	struct gears *g = state;
	if (!g)
		return;
	gears_trace_fini(g);
	gears_deny_fini(g);
	gears_env_fini(g);
	gears_exec_fini(g);
	gears_inject_fini(g);
	guestos_detach(g->os);
	guestos_kernel_free(g->kernel);
	pthread_mutex_destroy(&g->os_lock);
	pthread_mutex_destroy(&g->env_lock);
	free(g);
}

static int gears_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct gears *g;

	*state = NULL;
	if (!vm->control)
		return 0; /* everything it does is asked for on the control socket */
	g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->vm = vm;
	pthread_mutex_init(&g->os_lock, NULL);
	pthread_mutex_init(&g->env_lock, NULL);
	if (gears_trace_init(g, err, errlen) || gears_deny_init(g, err, errlen) || gears_env_init(g, err, errlen) ||
	    gears_inject_init(g, err, errlen) || gears_exec_init(g, err, errlen) ||
	    control_on_disconnect(vm->control, client_gone, g) < 0) {
		/* Some commands may be registered already and point at g: it is
		 * kept (never freed) rather than left dangling behind them. */
		snprintf(err, errlen, "cannot register its commands on the control socket");
		return -1;
	}
	*state = g;
	return 0;
}

static const struct sym_service gears_service = {
	.name = "gears",
	.start = gears_start,
	.stop = gears_stop,
};
SYM_SERVICE(gears_service)
