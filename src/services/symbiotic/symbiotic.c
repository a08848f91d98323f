/* The symbiotic interfaces, VMM side (docs/abi.md, guest/kmod/).
 *
 *   query-symspy    what the guest's symbiotic module shares: the global
 *                   SymSpy page and each vCPU's page, read without pausing
 *                   the VM or making the guest exit
 *
 * The guest hands its pages over by writing their guest-physical addresses
 * to symbiont's SymSpy MSRs.  Those writes reach this service through the
 * event hub (SYM_EV_MSR_WRITE filtered on each MSR), which keeps the engine
 * ignorant of the service: a well-formed write is taken (SYM_SKIP, so the
 * engine does not see an unknown MSR), a malformed one is left to the
 * engine, which raises #GP as for any MSR it does not have.  Engines whose
 * vCPU events the hub refuses (kvm, for now) leave SymSpy unavailable, and
 * the guest module, whose WRMSR then faults, stays idle. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "services/symbiotic/symspy.h"
#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/service.h"
#include "symbiont/vm.h"

#define SNAPSHOT_TRIES 1000

struct symbiotic {
	struct vm *vm;
	struct sym_sub *sub_global, *sub_cpu;
	char why_not[256];   /* why SymSpy cannot work on this VM */
	uint64_t global_gpa; /* 0: none; written on a vCPU thread, read on the control thread */
	uint64_t cpu_gpa[VM_MAX_CPUS];
};

/* A page address as the guest wrote it: page-aligned, enable bit, in RAM. */
static bool page_value_ok(struct symbiotic *s, uint64_t v)
{
	uint64_t gpa = v & ~(uint64_t)(SYM_SYMSPY_PAGE_SIZE - 1);
	return (v & (SYM_SYMSPY_PAGE_SIZE - 1)) == SYM_SYMSPY_ENABLE &&
	       gpa_to_host(&s->vm->mem, gpa, SYM_SYMSPY_PAGE_SIZE);
}

static enum sym_action on_msr(void *opaque, struct sym_event *ev)
{
	struct symbiotic *s = opaque;
	uint64_t v = ev->msr.value, *slot;

	if (ev->msr.msr == SYM_MSR_SYMSPY_GLOBAL)
		slot = &s->global_gpa;
	else if (ev->cpu >= 0 && ev->cpu < VM_MAX_CPUS)
		slot = &s->cpu_gpa[ev->cpu];
	else
		return SYM_CONTINUE;
	if (v != 0 && !page_value_ok(s, v))
		return SYM_CONTINUE; /* the engine's #GP */
	__atomic_store_n(slot, v & ~(uint64_t)(SYM_SYMSPY_PAGE_SIZE - 1), __ATOMIC_RELEASE);
	return SYM_SKIP;
}

static struct json_object *jkb(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *global_json(const struct symspy_global *g, uint64_t gpa)
{
	struct json_object *o = json_object_new_object(), *la = json_object_new_array(), *rq = json_object_new_array();
	char b[32];

	json_object_object_add(o, "source", json_object_new_string("symspy"));
	snprintf(b, sizeof(b), "0x%" PRIx64, gpa);
	json_object_object_add(o, "gpa", json_object_new_string(b));
	json_object_object_add(o, "release", json_object_new_string(g->release));
	snprintf(b, sizeof(b), "0x%" PRIx64, g->kaslr_base);
	json_object_object_add(o, "kaslr_base", json_object_new_string(b));
	json_object_object_add(o, "updates", jkb(g->updates));
	json_object_object_add(o, "update_ns", jkb(g->update_ns));
	json_object_object_add(o, "mem_total_kb", jkb(g->mem_total_kb));
	json_object_object_add(o, "mem_free_kb", jkb(g->mem_free_kb));
	json_object_object_add(o, "mem_available_kb", jkb(g->mem_available_kb));
	json_object_object_add(o, "page_cache_kb", jkb(g->page_cache_kb));
	json_object_object_add(o, "anon_kb", jkb(g->anon_kb));
	json_object_object_add(o, "buffers_kb", jkb(g->buffers_kb));
	for (int i = 0; i < 3; i++)
		json_object_array_add(la, json_object_new_double(g->loadavg[i]));
	json_object_object_add(o, "loadavg", la);
	json_object_object_add(o, "nr_cpus", json_object_new_int64(g->nr_cpus));
	json_object_object_add(o, "nr_running", json_object_new_int64(g->nr_running));
	json_object_object_add(o, "nr_tasks", json_object_new_int64(g->nr_tasks));
	for (unsigned i = 0; i < g->nrq; i++)
		json_object_array_add(rq, json_object_new_int64(g->rq_len[i]));
	json_object_object_add(o, "rq_len", rq);
	return o;
}

static struct json_object *cpu_json(const struct symspy_cpu *c)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "guest_cpu", json_object_new_int64(c->cpu));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "tgid", json_object_new_int(c->tgid));
	json_object_object_add(o, "comm", json_object_new_string(c->comm));
	json_object_object_add(o, "switches", jkb(c->switches));
	json_object_object_add(o, "switch_ns", jkb(c->switch_ns));
	return o;
}

static int cmd_symspy(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct symbiotic *s = opaque;
	uint8_t page[SYM_SYMSPY_PAGE_SIZE];
	struct json_object *o, *cpus;
	uint64_t gpa;
	char e[256];
	(void)args;

	if (s->why_not[0]) {
		snprintf(err, errlen, "%s", s->why_not);
		return -1;
	}
	gpa = __atomic_load_n(&s->global_gpa, __ATOMIC_ACQUIRE);
	if (!gpa) {
		snprintf(err, errlen, "symspy: the guest shares no pages (no symbiotic module loaded)");
		return -1;
	}
	o = json_object_new_object();
	if (symspy_snapshot(&s->vm->mem, gpa, offsetof(struct sym_symspy_global, seq), page,
	                    sizeof(struct sym_symspy_global), SNAPSHOT_TRIES, e, sizeof(e)) == 0) {
		struct symspy_global g;
		if (symspy_parse_global(page, sizeof(struct sym_symspy_global), &g, e, sizeof(e)) == 0)
			json_object_object_add(o, "global", global_json(&g, gpa));
	}
	if (!json_object_object_get_ex(o, "global", NULL))
		json_object_object_add(o, "global_error", json_object_new_string(e));
	cpus = json_object_new_array();
	for (int i = 0; i < s->vm->ncpus && i < VM_MAX_CPUS; i++) {
		struct json_object *c = NULL;
		struct symspy_cpu sc;
		gpa = __atomic_load_n(&s->cpu_gpa[i], __ATOMIC_ACQUIRE);
		if (!gpa)
			snprintf(e, sizeof(e), "symspy: no page for this vCPU");
		else if (symspy_snapshot(&s->vm->mem, gpa, offsetof(struct sym_symspy_cpu, seq), page,
		                         sizeof(struct sym_symspy_cpu), SNAPSHOT_TRIES, e, sizeof(e)) == 0 &&
		         symspy_parse_cpu(page, sizeof(struct sym_symspy_cpu), &sc, e, sizeof(e)) == 0)
			c = cpu_json(&sc);
		if (!c) {
			c = json_object_new_object();
			json_object_object_add(c, "error", json_object_new_string(e));
		}
		json_object_object_add(c, "cpu", json_object_new_int(i));
		json_object_array_add(cpus, c);
	}
	json_object_object_add(o, "cpus", cpus);
	*ret = o;
	return 0;
}

static int symbiotic_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct symbiotic *s = calloc(1, sizeof(*s));
	struct sym_filter f = { .type = SYM_EV_MSR_WRITE, .msr = SYM_MSR_SYMSPY_GLOBAL };
	char e[200];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->vm = vm;
	s->sub_global = sym_subscribe(vm, &f, on_msr, s, e, sizeof(e));
	if (s->sub_global) {
		f.msr = SYM_MSR_SYMSPY_CPU;
		s->sub_cpu = sym_subscribe(vm, &f, on_msr, s, e, sizeof(e));
	}
	if (!s->sub_global || !s->sub_cpu)
		snprintf(s->why_not, sizeof(s->why_not), "symspy: not available on this VM (%s)", e);
	if (vm->control)
		control_register(vm->control, "query-symspy", cmd_symspy, s);
	*state = s;
	return 0;
}

static void symbiotic_stop(void *state)
{
	struct symbiotic *s = state;
	if (!s)
		return;
	if (s->sub_cpu)
		sym_unsubscribe(s->sub_cpu);
	if (s->sub_global)
		sym_unsubscribe(s->sub_global);
	free(s);
}

static const struct sym_service symbiotic_service = {
	.name = "symbiotic",
	.start = symbiotic_start,
	.stop = symbiotic_stop,
};
SYM_SERVICE(symbiotic_service)
