/* probe: hooks on guest kernel code and single-stepping, from the VMM, with
 * nothing in the guest (the event hub's CODE_HOOK and STEP events).
 *
 *   probe-hook   {"where": "SYMBOL" | "module:SYMBOL" | "0xADDR"}
 *                -> {"id", "address", "gpa", "symbol"}: counts every run of
 *                that kernel instruction, by the process that ran it
 *   probe-unhook {"id"}
 *   query-probes -> [{"id", "where", "address", "hits", "by_process": [{"comm", "tgid", "hits"}...]}...]
 *   probe-step   {"cpu", "count"} -> {"steps": [{"rip", "cpl", "symbol"}...], "timed_out"}:
 *                the next COUNT instructions vCPU CPU runs, one at a time
 *
 * A hook is set on the code's guest-physical address (the kernel's own
 * page tables translate the symbol), so it fires in every address space;
 * the process that ran it is found from the event's registers (guestos). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/guestos.h"
#include "symbiont/service.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

#define MAX_HOOKS     16
#define MAX_BY        16 /* processes counted per hook; the rest count as "other" */
#define MAX_STEPS     10000
#define STEP_WAIT_SEC 10

struct by_process {
	int32_t tgid;
	char comm[GUESTOS_COMM_LEN];
	uint64_t hits;
};

struct hook {
	int id; /* 0: free slot */
	struct probe *p;
	struct sym_sub *sub;
	char where[GUESTOS_SYMNAME_LEN + GUESTOS_MODNAME_LEN + 2];
	uint64_t va, gpa;
	uint64_t hits, other;
	struct by_process by[MAX_BY];
	int nby;
};

struct probe {
	struct vm *vm;
	pthread_mutex_t lock; /* hooks' counts (vCPU threads) and the os (one user at a time) */
	struct hook hooks[MAX_HOOKS];
	int next_id;

	/* Guest OS awareness: loaded by the first command; get_regs answers
	 * from the event in hand (regs_ev) or the paused vCPUs (regs). */
	struct guestos_kernel *kernel;
	struct guestos *os;
	char why_not[256];
	const struct sym_regs *regs_ev;
	int regs_ev_cpu;
	struct guestos_regs regs[VM_MAX_CPUS];
	bool regs_ok[VM_MAX_CPUS];

	/* probe-step in progress (one at a time: the control thread) */
	pthread_cond_t step_done;
	uint64_t *step_rip;
	uint8_t *step_cpl;
	int step_want, step_got;
};

static int get_regs(void *opaque, int cpu, struct guestos_regs *out)
{
	struct probe *p = opaque;
	const struct sym_regs *r = p->regs_ev;
	if (r) {
		if (cpu != p->regs_ev_cpu)
			return -1;
		guestos_regs_from_event(r, out);
		return 0;
	}
	if (cpu < 0 || cpu >= p->vm->ncpus || !p->regs_ok[cpu])
		return -1;
	*out = p->regs[cpu];
	return 0;
}

/* Lock held.  Loads the kernel's description once (a part of a second). */
static int attach(struct probe *p, char *err, size_t errlen)
{
	char map[4096];
	if (!p->os && !p->why_not[0]) {
		guestos_system_map_path(p->vm->cfg.kernel, p->vm->cfg.system_map, map, sizeof(map));
		p->kernel = guestos_kernel_load(p->vm->cfg.kernel, map, p->why_not, sizeof(p->why_not));
		if (p->kernel) {
			struct guestos_target t = {
				.mem = &p->vm->mem, .ncpus = p->vm->ncpus, .get_regs = get_regs, .opaque = p
			};
			p->os = guestos_attach(p->kernel, &t, p->why_not, sizeof(p->why_not));
		}
		if (!p->os && !p->why_not[0])
			snprintf(p->why_not, sizeof(p->why_not), "guestos: cannot read this guest's kernel");
	}
	if (!p->os) {
		if (err)
			snprintf(err, errlen, "%s", p->why_not);
		return -1;
	}
	return 0;
}

/* Lock held, VM paused: every vCPU's registers, for the guest OS reads of a command. */
static void snapshot_regs(struct probe *p)
{
	for (int i = 0; i < p->vm->ncpus; i++) {
		struct x86_state s;
		char e[128];
		p->regs_ok[i] = vm_vcpu_get_state(p->vm, i, &s, e, sizeof(e)) == 0;
		if (p->regs_ok[i])
			guestos_regs_from_x86(&s, &p->regs[i]);
	}
}

static enum sym_action on_hook(void *opaque, struct sym_event *ev)
{
	struct hook *h = opaque;
	struct probe *p = h->p;
	struct guestos_task_id who;
	bool known;

	pthread_mutex_lock(&p->lock);
	h->hits++;
	p->regs_ev = ev->regs;
	p->regs_ev_cpu = ev->cpu;
	known = p->os && guestos_current_id(p->os, ev->cpu, &who, NULL, 0) == 0;
	p->regs_ev = NULL;
	if (known) {
		int i = 0;
		while (i < h->nby && !(h->by[i].tgid == who.tgid && !strcmp(h->by[i].comm, who.comm)))
			i++;
		if (i == h->nby && h->nby < MAX_BY) {
			h->by[h->nby] = (struct by_process){ .tgid = who.tgid };
			snprintf(h->by[h->nby].comm, sizeof(h->by[h->nby].comm), "%s", who.comm);
			h->nby++;
		}
		if (i < h->nby)
			h->by[i].hits++;
		else
			h->other++;
	} else {
		h->other++;
	}
	pthread_mutex_unlock(&p->lock);
	return SYM_CONTINUE;
}

/* "0x..." or a symbol, to a running kernel address (lock held, VM paused). */
static int resolve(struct probe *p, const char *where, uint64_t *va, char *err, size_t errlen)
{
	struct guestos_symbol s;
	char *end;
	if (!strncmp(where, "0x", 2)) {
		errno = 0;
		*va = strtoull(where + 2, &end, 16);
		if (errno || end == where + 2 || *end) {
			snprintf(err, errlen, "'%.64s' is not an address", where);
			return -1;
		}
		return 0;
	}
	if (guestos_symbol_lookup(p->os, where, &s, err, errlen))
		return -1;
	*va = s.addr;
	return 0;
}

static const char *arg_str(struct json_object *args, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int arg_int(struct json_object *args, const char *key, long lo, long hi, long *out, char *err, size_t errlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < lo || json_object_get_int64(v) > hi) {
		snprintf(err, errlen, "'%s' (a number from %ld to %ld) is required", key, lo, hi);
		return -1;
	}
	*out = (long)json_object_get_int64(v);
	return 0;
}

static int cmd_hook(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct probe *p = opaque;
	const char *where = arg_str(args, "where");
	struct sym_filter f = { .type = SYM_EV_CODE_HOOK };
	struct hook *h = NULL;
	uint64_t va = 0, gpa = 0;
	int r = -1;

	if (!where || !where[0] || strlen(where) >= sizeof(h->where)) {
		snprintf(err, errlen, "'where' (a kernel symbol or 0xADDRESS) is required");
		return -1;
	}
	if (vm_pause(p->vm) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	snapshot_regs(p);
	if (attach(p, err, errlen) == 0 && resolve(p, where, &va, err, errlen) == 0 &&
	    guestos_kernel_gpa(p->os, va, &gpa, err, errlen) == 0)
		r = 0;
	memset(p->regs_ok, 0, sizeof(p->regs_ok));
	for (int i = 0; r == 0 && i < MAX_HOOKS && !h; i++)
		if (!p->hooks[i].id)
			h = &p->hooks[i];
	if (r == 0 && !h) {
		snprintf(err, errlen, "at most %d hooks at once (probe-unhook one)", MAX_HOOKS);
		r = -1;
	}
	if (r == 0) {
		*h = (struct hook){ .id = ++p->next_id, .p = p, .va = va, .gpa = gpa };
		snprintf(h->where, sizeof(h->where), "%s", where);
	}
	pthread_mutex_unlock(&p->lock);
	vm_resume(p->vm);
	if (r < 0)
		return -1;
	/* Outside the lock: a delivery in flight (which takes it) must be able to finish. */
	f.hook_gpa = gpa;
	struct sym_sub *sub = sym_subscribe(p->vm, &f, on_hook, h, err, errlen);
	pthread_mutex_lock(&p->lock);
	if (sub)
		h->sub = sub;
	else
		h->id = 0;
	pthread_mutex_unlock(&p->lock);
	if (!sub)
		return -1;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "id", json_object_new_int(h->id));
	json_object_object_add(*ret, "address", json_object_new_uint64(va));
	json_object_object_add(*ret, "gpa", json_object_new_uint64(gpa));
	json_object_object_add(*ret, "symbol", json_object_new_string(where));
	return 0;
}

static int cmd_unhook(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct probe *p = opaque;
	struct sym_sub *sub = NULL;
	long id;
	(void)ret;
	if (arg_int(args, "id", 1, INT32_MAX, &id, err, errlen))
		return -1;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_HOOKS; i++)
		if (p->hooks[i].id == id && p->hooks[i].sub) {
			sub = p->hooks[i].sub;
			p->hooks[i].sub = NULL;
		}
	pthread_mutex_unlock(&p->lock);
	if (!sub) {
		snprintf(err, errlen, "no hook %ld (query-probes lists them)", id);
		return -1;
	}
	sym_unsubscribe(sub); /* no callback of it runs after this */
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_HOOKS; i++)
		if (p->hooks[i].id == id)
			p->hooks[i].id = 0;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int cmd_query(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct probe *p = opaque;
	(void)args, (void)err, (void)errlen;
	*ret = json_object_new_array();
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_HOOKS; i++) {
		struct hook *h = &p->hooks[i];
		if (!h->id || !h->sub)
			continue;
		struct json_object *o = json_object_new_object(), *by = json_object_new_array();
		json_object_object_add(o, "id", json_object_new_int(h->id));
		json_object_object_add(o, "where", json_object_new_string(h->where));
		json_object_object_add(o, "address", json_object_new_uint64(h->va));
		json_object_object_add(o, "hits", json_object_new_uint64(h->hits));
		for (int k = 0; k < h->nby; k++) {
			struct json_object *b = json_object_new_object();
			json_object_object_add(b, "comm", json_object_new_string(h->by[k].comm));
			json_object_object_add(b, "tgid", json_object_new_int(h->by[k].tgid));
			json_object_object_add(b, "hits", json_object_new_uint64(h->by[k].hits));
			json_object_array_add(by, b);
		}
		json_object_object_add(o, "by_process", by);
		json_object_object_add(o, "other", json_object_new_uint64(h->other));
		json_object_array_add(*ret, o);
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static enum sym_action on_step(void *opaque, struct sym_event *ev)
{
	struct probe *p = opaque;
	pthread_mutex_lock(&p->lock);
	if (p->step_got < p->step_want) {
		p->step_rip[p->step_got] = ev->step.rip;
		p->step_cpl[p->step_got] = (uint8_t)ev->regs->cpl;
		if (++p->step_got == p->step_want)
			pthread_cond_signal(&p->step_done);
	}
	pthread_mutex_unlock(&p->lock);
	return SYM_CONTINUE; /* dropped by the command, which owns it */
}

static int cmd_step(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct probe *p = opaque;
	struct sym_filter f = { .type = SYM_EV_STEP, .one_cpu = true };
	struct timespec until;
	long cpu, count;
	bool timed_out = false;

	if (arg_int(args, "cpu", 0, p->vm->ncpus - 1, &cpu, err, errlen) ||
	    arg_int(args, "count", 1, MAX_STEPS, &count, err, errlen))
		return -1;
	uint64_t *rip = calloc((size_t)count, sizeof(*rip));
	uint8_t *cpl = calloc((size_t)count, 1);
	if (!rip || !cpl) {
		free(rip), free(cpl);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	p->step_rip = rip, p->step_cpl = cpl, p->step_want = (int)count, p->step_got = 0;
	pthread_mutex_unlock(&p->lock);
	f.cpu = (int)cpu;
	struct sym_sub *sub = sym_subscribe(p->vm, &f, on_step, p, err, errlen);
	if (!sub) {
		free(rip), free(cpl);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STEP_WAIT_SEC;
	pthread_mutex_lock(&p->lock);
	while (p->step_got < p->step_want && !timed_out)
		timed_out = pthread_cond_timedwait(&p->step_done, &p->lock, &until) == ETIMEDOUT;
	pthread_mutex_unlock(&p->lock);
	sym_unsubscribe(sub);
	int got = p->step_got; /* no callback runs now */

	/* Names, with the VM paused so the kernel's module list holds still. */
	bool paused = vm_pause(p->vm) == 0, named = false;
	pthread_mutex_lock(&p->lock);
	if (paused) {
		snapshot_regs(p);
		named = attach(p, NULL, 0) == 0; /* without names where the kernel is not one guestos reads */
	}
	struct json_object *steps = json_object_new_array();
	for (int i = 0; i < got; i++) {
		struct json_object *o = json_object_new_object();
		struct guestos_symbol s;
		char name[GUESTOS_SYMNAME_LEN + GUESTOS_MODNAME_LEN + 32] = "";
		json_object_object_add(o, "rip", json_object_new_uint64(rip[i]));
		json_object_object_add(o, "cpl", json_object_new_int(cpl[i]));
		if (named && cpl[i] == 0 && guestos_symbol_at(p->os, rip[i], &s, NULL, 0) == 0)
			snprintf(name, sizeof(name), "%s%s%s+0x%" PRIx64, s.module, s.module[0] ? ":" : "", s.name,
			         s.offset);
		json_object_object_add(o, "symbol", json_object_new_string(name));
		json_object_array_add(steps, o);
	}
	memset(p->regs_ok, 0, sizeof(p->regs_ok));
	p->step_rip = NULL, p->step_cpl = NULL, p->step_want = p->step_got = 0;
	pthread_mutex_unlock(&p->lock);
	if (paused)
		vm_resume(p->vm);
	free(rip), free(cpl);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "steps", steps);
	json_object_object_add(*ret, "timed_out", json_object_new_boolean(timed_out));
	return 0;
}

static int probe_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct probe *p;
	*state = NULL;
	if (!vm->control)
		return 0; /* hooks are asked for on the control socket */
	if (!(p = calloc(1, sizeof(*p)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->step_done, NULL);
	control_register(vm->control, "probe-hook", cmd_hook, p);
	control_register(vm->control, "probe-unhook", cmd_unhook, p);
	control_register(vm->control, "query-probes", cmd_query, p);
	control_register(vm->control, "probe-step", cmd_step, p);
	*state = p;
	return 0;
}

static void probe_stop(void *state)
{
	struct probe *p = state;
	if (!p)
		return;
	for (int i = 0; i < MAX_HOOKS; i++)
		sym_unsubscribe(p->hooks[i].sub);
	if (p->os)
		guestos_detach(p->os);
	if (p->kernel)
		guestos_kernel_free(p->kernel);
	pthread_cond_destroy(&p->step_done);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static const struct sym_service probe_service = {
	.name = "probe",
	.start = probe_start,
	.stop = probe_stop,
};
SYM_SERVICE(probe_service)
