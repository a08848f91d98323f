/* Introspection: what runs inside a Linux guest, on the control API, with
 * no agent in the guest (symbiont/guestos.h does the reading).
 *
 *   query-guest-os                kernel, KASLR slide, or why the guest is
 *                                 not a Linux this understands
 *   query-processes               every process: pid, ppid, uid, state, comm, cmdline
 *   query-current                 the task each vCPU runs
 *   query-modules                 loaded modules
 *   query-files {pid}             a process's open files
 *   query-symbol {name|address}   symbol to address and back (modules too)
 *   read-memory {address, length[, pid]}  kernel or process memory, as hex
 *
 * Each query pauses the VM for its duration (nested with any other pause),
 * so the vCPU registers it starts from and the kernel lists it walks belong
 * to one instant.  The kernel image is described (BTF, System.map) at the
 * first query, not at boot.  Queries run on the control thread, one at a
 * time, which is what a guestos handle needs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/guestos.h"
#include "symbiont/service.h"
#include "symbiont/symspy.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

#define READ_MAX (1u << 20) /* bytes one read-memory returns */

struct introspect {
	struct vm *vm;
	struct guestos_kernel *kernel;
	struct guestos *os;
	char why_not[256]; /* set once the kernel was found not to be readable */
	struct guestos_regs regs[VM_MAX_CPUS];
	bool regs_ok[VM_MAX_CPUS];
};

static int get_regs(void *opaque, int cpu, struct guestos_regs *out)
{
	struct introspect *in = opaque;
	if (cpu < 0 || cpu >= in->vm->ncpus || !in->regs_ok[cpu])
		return -1;
	*out = in->regs[cpu];
	return 0;
}

/* Describes the kernel and attaches, once; afterwards the stored verdict. */
static int ensure_attached(struct introspect *in, char *err, size_t errlen)
{
	const struct vm_config *cfg = &in->vm->cfg;
	char map[4096];

	if (in->os)
		return 0;
	if (in->why_not[0]) {
		snprintf(err, errlen, "%s", in->why_not);
		return -1;
	}
	guestos_system_map_path(cfg->kernel, cfg->system_map, map, sizeof(map));
	in->kernel = guestos_kernel_load(cfg->kernel, map, in->why_not, sizeof(in->why_not));
	if (in->kernel) {
		struct guestos_target t = {
			.mem = &in->vm->mem, .ncpus = in->vm->ncpus, .get_regs = get_regs, .opaque = in
		};
		in->os = guestos_attach(in->kernel, &t, in->why_not, sizeof(in->why_not));
	}
	if (!in->os) {
		if (!in->why_not[0])
			snprintf(in->why_not, sizeof(in->why_not), "guestos: cannot read this guest's kernel");
		snprintf(err, errlen, "%s", in->why_not);
		return -1;
	}
	return 0;
}

/* Pauses the VM and snapshots every vCPU's registers for the query. */
static int begin(struct introspect *in, char *err, size_t errlen)
{
	struct vm *vm = in->vm;

	if (ensure_attached(in, err, errlen) < 0)
		return -1;
	if (vm_pause(vm) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		struct x86_state s;
		char e[128];
		in->regs_ok[i] = vm_vcpu_get_state(vm, i, &s, e, sizeof(e)) == 0;
		if (!in->regs_ok[i])
			continue;
		guestos_regs_from_x86(&s, &in->regs[i]);
	}
	return 0;
}

static void end(struct introspect *in)
{
	vm_resume(in->vm);
}

static struct json_object *hex64(uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	return json_object_new_string(b);
}

/* An address argument: a number, or a string in C notation ("0xffff..."). */
static int arg_u64(struct json_object *args, const char *key, bool required, uint64_t *out, char *err, size_t errlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, key, &v)) {
		if (required)
			snprintf(err, errlen, "'%s' is required", key);
		return required ? -1 : 1;
	}
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
		*out = (uint64_t)json_object_get_int64(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		errno = 0;
		*out = strtoull(s, &end, 0);
		if (*s && !*end && !errno && *s != '-')
			return 0;
	}
	snprintf(err, errlen, "'%s' must be a non-negative number or a string like \"0x1000\"", key);
	return -1;
}

static int arg_pid(struct json_object *args, bool required, int32_t *pid, char *err, size_t errlen)
{
	uint64_t v;
	int r = arg_u64(args, "pid", required, &v, err, errlen);
	if (r)
		return r;
	if (v > INT32_MAX) {
		snprintf(err, errlen, "'pid' is out of range");
		return -1;
	}
	*pid = (int32_t)v;
	return 0;
}

static const char state_names[][10] = { "running", "sleeping", "disk",   "stopped", "traced",
	                                "dead",    "zombie",   "parked", "idle" };

static const char *state_name(char c)
{
	static const char letters[] = "RSDTtXZPI";
	const char *p = strchr(letters, c);
	return p && c ? state_names[p - letters] : "unknown";
}

static struct json_object *process_json(const struct guestos_process *p)
{
	struct json_object *o = json_object_new_object();
	char st[2] = { p->state, 0 };
	json_object_object_add(o, "pid", json_object_new_int(p->tgid));
	json_object_object_add(o, "tid", json_object_new_int(p->pid));
	json_object_object_add(o, "ppid", json_object_new_int(p->ppid));
	json_object_object_add(o, "uid",
	                       p->uid == UINT32_MAX ? json_object_new_int(-1) : json_object_new_int64(p->uid));
	json_object_object_add(o, "euid",
	                       p->euid == UINT32_MAX ? json_object_new_int(-1) : json_object_new_int64(p->euid));
	json_object_object_add(o, "state", json_object_new_string(st));
	json_object_object_add(o, "state_name", json_object_new_string(state_name(p->state)));
	json_object_object_add(o, "comm", json_object_new_string(p->comm));
	json_object_object_add(o, "cmdline", json_object_new_string(p->cmdline));
	json_object_object_add(o, "cmdline_cut", json_object_new_boolean(p->cmdline_cut));
	json_object_object_add(o, "kernel_thread", json_object_new_boolean(p->kernel_thread));
	json_object_object_add(o, "task", hex64(p->task));
	return o;
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_guest_os(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct json_object *o;
	int64_t slide;
	char e[256];
	(void)args;
	o = json_object_new_object();
	if (begin(in, e, sizeof(e)) < 0) {
		json_object_object_add(o, "understood", json_object_new_boolean(false));
		json_object_object_add(o, "reason", json_object_new_string(e));
		*ret = o;
		return 0;
	}
	json_object_object_add(o, "understood", json_object_new_boolean(true));
	json_object_object_add(o, "kernel", json_object_new_string(in->vm->cfg.kernel));
	if (guestos_kaslr_slide(in->os, &slide, e, sizeof(e)) == 0) {
		json_object_object_add(o, "kaslr_slide", hex64((uint64_t)slide));
		json_object_object_add(o, "symbols", json_object_new_string(guestos_symbol_source(in->os)));
	} else
		json_object_object_add(o, "kaslr_slide_error", json_object_new_string(e));
	end(in);
	(void)err, (void)errlen;
	*ret = o;
	return 0;
}

static int cmd_processes(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct guestos_process *ps = NULL;
	size_t n = 0;
	int r;
	(void)args;
	if (begin(in, err, errlen) < 0)
		return -1;
	r = guestos_processes(in->os, &ps, &n, err, errlen);
	end(in);
	if (r < 0)
		return -1;
	*ret = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		/* SymSpy has no process list: always guest OS awareness's walk */
		struct json_object *o = process_json(&ps[i]);
		json_object_object_add(o, "source", json_object_new_string("guestos"));
		json_object_array_add(*ret, o);
	}
	free(ps);
	return 0;
}

/* The task each vCPU runs.  source "auto" (the default): from the guest's
 * SymSpy page for that vCPU when it shares one (read with no exit and no
 * pause; the task of its last context switch, no registers), else from
 * guest OS awareness (the VM paused, the task found from the vCPU's
 * registers); "symspy" or "guestos" ask for one.  Each entry says its
 * source. */
static int cmd_current(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct json_object *x, *o[VM_MAX_CPUS] = { 0 };
	const char *source = "auto";
	int ncpus = in->vm->ncpus < VM_MAX_CPUS ? in->vm->ncpus : VM_MAX_CPUS, missing = 0;

	if (args && json_object_object_get_ex(args, "source", &x))
		source = json_object_get_string(x);
	if (strcmp(source, "auto") && strcmp(source, "symspy") && strcmp(source, "guestos")) {
		snprintf(err, errlen, "'source' is auto, symspy or guestos");
		return -1;
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct symspy_cpu sc;
		char e[256];
		if (!strcmp(source, "guestos") || symspy_read_cpu(in->vm, cpu, &sc, e, sizeof(e))) {
			if (!strcmp(source, "symspy")) {
				o[cpu] = json_object_new_object();
				json_object_object_add(o[cpu], "error", json_object_new_string(e));
			} else {
				missing++;
			}
			continue;
		}
		o[cpu] = json_object_new_object();
		json_object_object_add(o[cpu], "pid", json_object_new_int(sc.tgid));
		json_object_object_add(o[cpu], "tid", json_object_new_int(sc.pid));
		json_object_object_add(o[cpu], "comm", json_object_new_string(sc.comm));
		json_object_object_add(o[cpu], "switches", json_object_new_int64((int64_t)sc.switches));
		json_object_object_add(o[cpu], "source", json_object_new_string("symspy"));
	}
	if (missing && begin(in, err, errlen) < 0) {
		for (int cpu = 0; cpu < ncpus; cpu++)
			json_object_put(o[cpu]);
		return -1;
	}
	*ret = json_object_new_array();
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct guestos_process p;
		char e[256];
		if (!o[cpu]) {
			if (guestos_current(in->os, cpu, &p, e, sizeof(e)) == 0) {
				o[cpu] = process_json(&p);
				json_object_object_add(o[cpu], "user_mode",
				                       json_object_new_boolean(in->regs[cpu].cpl == 3));
				json_object_object_add(o[cpu], "source", json_object_new_string("guestos"));
			} else {
				o[cpu] = json_object_new_object();
				json_object_object_add(o[cpu], "error", json_object_new_string(e));
			}
		}
		json_object_object_add(o[cpu], "cpu", json_object_new_int(cpu));
		json_object_array_add(*ret, o[cpu]);
	}
	if (missing)
		end(in);
	return 0;
}

static int cmd_modules(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct guestos_module *ms = NULL;
	size_t n = 0;
	int r;
	(void)args;
	if (begin(in, err, errlen) < 0)
		return -1;
	r = guestos_modules(in->os, &ms, &n, err, errlen);
	end(in);
	if (r < 0)
		return -1;
	*ret = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(ms[i].name));
		json_object_object_add(o, "base", hex64(ms[i].base));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)ms[i].size));
		json_object_array_add(*ret, o);
	}
	free(ms);
	return 0;
}

static int cmd_files(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct guestos_file *fs = NULL;
	size_t n = 0;
	int32_t pid;
	int r;
	if (arg_pid(args, true, &pid, err, errlen))
		return -1;
	if (begin(in, err, errlen) < 0)
		return -1;
	r = guestos_files(in->os, pid, &fs, &n, err, errlen);
	end(in);
	if (r < 0)
		return -1;
	*ret = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "fd", json_object_new_int(fs[i].fd));
		json_object_object_add(o, "path", json_object_new_string(fs[i].path));
		json_object_object_add(o, "path_cut", json_object_new_boolean(fs[i].path_cut));
		json_object_array_add(*ret, o);
	}
	free(fs);
	return 0;
}

static int cmd_symbol(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	struct guestos_symbol s;
	struct json_object *name;
	uint64_t addr = 0;
	int r, has_addr;

	has_addr = arg_u64(args, "address", false, &addr, err, errlen);
	if (has_addr < 0)
		return -1;
	bool has_name = json_object_object_get_ex(args, "name", &name) && json_object_is_type(name, json_type_string);
	if ((has_addr == 0) == has_name) {
		snprintf(err, errlen, "give either 'name' (a string) or 'address'");
		return -1;
	}
	if (begin(in, err, errlen) < 0)
		return -1;
	r = has_name ? guestos_symbol_lookup(in->os, json_object_get_string(name), &s, err, errlen)
	             : guestos_symbol_at(in->os, addr, &s, err, errlen);
	end(in);
	if (r < 0)
		return -1;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "name", json_object_new_string(s.name));
	json_object_object_add(*ret, "module", json_object_new_string(s.module));
	json_object_object_add(*ret, "address", hex64(s.addr));
	json_object_object_add(*ret, "offset", json_object_new_int64((int64_t)s.offset));
	json_object_object_add(
	        *ret, "source",
	        json_object_new_string(s.module[0] ? "the module's symbol table" : guestos_symbol_source(in->os)));
	return 0;
}

static int cmd_read(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct introspect *in = opaque;
	uint64_t addr, len;
	int32_t pid = 0;
	int has_pid, r;
	uint8_t *buf;
	char *hex;

	if (arg_u64(args, "address", true, &addr, err, errlen) || arg_u64(args, "length", true, &len, err, errlen))
		return -1;
	if ((has_pid = arg_pid(args, false, &pid, err, errlen)) < 0)
		return -1;
	if (len == 0 || len > READ_MAX) {
		snprintf(err, errlen, "'length' must be 1 to %u bytes", READ_MAX);
		return -1;
	}
	buf = malloc(len);
	hex = malloc(2 * len + 1);
	if (!buf || !hex) {
		free(buf), free(hex);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = begin(in, err, errlen);
	if (r == 0) {
		r = has_pid == 0 ? guestos_read_process(in->os, pid, addr, buf, len, err, errlen)
		                 : guestos_read_kernel(in->os, addr, buf, len, err, errlen);
		end(in);
	}
	if (r == 0) {
		for (uint64_t i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", buf[i]);
		*ret = json_object_new_object();
		json_object_object_add(*ret, "address", hex64(addr));
		json_object_object_add(*ret, "length", json_object_new_int64((int64_t)len));
		json_object_object_add(*ret, "data", json_object_new_string(hex));
	}
	free(buf);
	free(hex);
	return r;
}

/* ---- the service ---------------------------------------------------------- */

static const struct {
	const char *name;
	control_cmd_fn fn;
} commands[] = {
	{ "query-guest-os", cmd_guest_os }, { "query-processes", cmd_processes }, { "query-current", cmd_current },
	{ "query-modules", cmd_modules },   { "query-files", cmd_files },         { "query-symbol", cmd_symbol },
	{ "read-memory", cmd_read },
};

static int introspect_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct introspect *in;

	*state = NULL;
	if (!vm->control)
		return 0; /* nobody to answer */
	in = calloc(1, sizeof(*in));
	if (!in) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	in->vm = vm;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		control_register(vm->control, commands[i].name, commands[i].fn, in);
	*state = in;
	return 0;
}

/* The control socket is closed before services stop: no query is running. */
static void introspect_stop(void *state)
{
	struct introspect *in = state;
	if (!in)
		return;
	guestos_detach(in->os);
	guestos_kernel_free(in->kernel);
	free(in);
}

static const struct sym_service introspect_service = {
	.name = "introspect",
	.start = introspect_start,
	.stop = introspect_stop,
};
SYM_SERVICE(introspect_service)
