/* The VM's own commands on its control socket (QEMU's names and reply
 * shapes, so QMP tools work): query-status, stop, cont, quit,
 * system_powerdown, system_reset, query-cpus-fast, and symbiont's
 * query-vm.  Events: STOP, RESUME, SHUTDOWN (vm.c, as the VM ends). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cpu/engine.h"
#include "symbiont/iothreads.h"
#include "symbiont/control.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

static const char *status_name(struct vm *vm)
{
	if (vm_stopping(vm))
		return "shutdown";
	if (atomic_load(&vm->migrated))
		return "postmigrate"; /* QEMU's name: it runs in another process now */
	return vm->user_paused ? "paused" : "running";
}

static int cmd_query_status(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *o = json_object_new_object();
	(void)args, (void)err, (void)errlen;
	json_object_object_add(o, "status", json_object_new_string(status_name(vm)));
	json_object_object_add(
	        o, "running",
	        json_object_new_boolean(!vm->user_paused && !vm_stopping(vm) && !atomic_load(&vm->migrated)));
	json_object_object_add(o, "singlestep", json_object_new_boolean(false));
	*ret = o;
	return 0;
}

/* stop and cont hold one pause of their own: repeating either is a no-op,
 * as in QEMU, and they never undo a service's pause. */
static int cmd_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	(void)args, (void)ret;
	if (vm->user_paused)
		return 0;
	if (vm_pause(vm) < 0) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	vm->user_paused = true;
	control_event(vm->control, "STOP", NULL);
	return 0;
}

static int cmd_cont(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	(void)args, (void)ret;
	if (atomic_load(&vm->migrated)) {
		snprintf(err, errlen, "the machine has migrated: it runs in another process now (quit this one)");
		return -1;
	}
	if (!vm->user_paused)
		return 0;
	vm->user_paused = false;
	vm_resume(vm);
	control_event(vm->control, "RESUME", NULL);
	return 0;
}

static int cmd_quit(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	(void)args, (void)ret, (void)err, (void)errlen;
	vm_request_exit_reason(vm, 0, "host-qmp-quit");
	return 0;
}

static int cmd_system_powerdown(void *opaque, struct json_object *args, struct json_object **ret, char *err,
                                size_t errlen)
{
	struct vm *vm = opaque;
	(void)args, (void)ret;
	if (vm_power_button(vm) < 0) {
		snprintf(err, errlen, "this machine has no power button");
		return -1;
	}
	control_event(vm->control, "POWERDOWN", NULL);
	return 0;
}

static int cmd_system_reset(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	(void)args, (void)ret, (void)err, (void)errlen;
	/* A reset ends the VM today, as a guest-initiated one does (README). */
	control_event(vm->control, "RESET", NULL);
	vm_request_exit_reason(vm, 0, "host-qmp-system-reset");
	return 0;
}

static int cmd_query_cpus_fast(void *opaque, struct json_object *args, struct json_object **ret, char *err,
                               size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *a = json_object_new_array();
	(void)args, (void)err, (void)errlen;
	for (int i = 0; i < vm->ncpus; i++) {
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "cpu-index", json_object_new_int(i));
		json_object_object_add(c, "thread-id", json_object_new_int(vm->vcpus[i] ? vm->vcpus[i]->tid : 0));
		json_object_object_add(c, "target", json_object_new_string("x86_64"));
		json_object_object_add(c, "state", json_object_new_string(status_name(vm)));
		json_object_array_add(a, c);
	}
	*ret = a;
	return 0;
}

static int cmd_query_vm(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *o = json_object_new_object();
	(void)args, (void)err, (void)errlen;
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "engine", json_object_new_string(vm->engine ? vm->engine->name : "?"));
	json_object_object_add(o, "cpus", json_object_new_int(vm->ncpus));
	json_object_object_add(o, "memory", json_object_new_int64((int64_t)vm->mem.size));
	json_object_object_add(o, "status", json_object_new_string(status_name(vm)));
	*ret = o;
	return 0;
}

/* VSched: the reservation in force, and a new one (re-admitted). */
static int cmd_query_sched(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct vsched_spec s;
	const char *mode = vsched_mode(vm, &s);
	(void)args, (void)err, (void)errlen;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "mode", json_object_new_string(mode));
	json_object_object_add(*ret, "period_ns", json_object_new_int64((int64_t)s.period_ns));
	json_object_object_add(*ret, "slice_ns", json_object_new_int64((int64_t)s.slice_ns));
	json_object_object_add(*ret, "io_ns", json_object_new_int64((int64_t)s.io_ns));
	json_object_object_add(*ret, "io_threads", json_object_new_int(io_threads_count()));
	struct json_object *cpus = json_object_new_array();
	for (int i = 0; i < vm->ncpus; i++) {
		struct vsched_stats st;
		if (vsched_stats(vm, i, &st) < 0 || !st.valid)
			continue;
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "vcpu", json_object_new_int(i));
		json_object_object_add(c, "periods", json_object_new_int64((int64_t)st.periods));
		json_object_object_add(c, "wanted", json_object_new_int64((int64_t)st.wanted));
		json_object_object_add(c, "misses", json_object_new_int64((int64_t)st.misses));
		json_object_object_add(c, "elapsed_ns", json_object_new_int64((int64_t)st.elapsed_ns));
		json_object_object_add(c, "received_ns", json_object_new_int64((int64_t)st.received_ns));
		json_object_object_add(c, "entitled_ns", json_object_new_int64((int64_t)st.entitled_ns));
		json_object_object_add(c, "lateness_ns", json_object_new_int64((int64_t)st.lateness_ns));
		json_object_object_add(c, "lateness_max_ns", json_object_new_int64((int64_t)st.lateness_max_ns));
		json_object_array_add(cpus, c);
	}
	json_object_object_add(*ret, "threads", cpus);
	return 0;
}

static int cmd_sched_set(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *spec;
	struct vsched_spec s;
	(void)ret;
	if (!json_object_object_get_ex(args, "spec", &spec) || !json_object_is_type(spec, json_type_string)) {
		snprintf(err, errlen, "'spec' (\"period=P,slice=S\") is required");
		return -1;
	}
	if (vsched_parse(json_object_get_string(spec), &s, err, errlen) < 0)
		return -1;
	return vsched_change(vm, &s, err, errlen);
}

static const struct {
	const char *name;
	control_cmd_fn fn;
	bool changes_guest;
} vm_commands[] = {
	{ "query-status", cmd_query_status, false },
	{ "stop", cmd_stop, false },
	{ "cont", cmd_cont, false },
	{ "quit", cmd_quit, false },
	{ "system_reset", cmd_system_reset, true },
	{ "system_powerdown", cmd_system_powerdown, true },
	{ "query-cpus-fast", cmd_query_cpus_fast, false },
	{ "query-vm", cmd_query_vm, false },
	{ "query-sched", cmd_query_sched, false },
	{ "sched-set", cmd_sched_set, false },
};

int vm_control_open(struct vm *vm, const char *path, const char *name, char *err, size_t errlen)
{
	struct control *c = control_open(path, err, errlen);
	if (!c)
		return -1;
	snprintf(vm->name, sizeof(vm->name), "%s", name ? name : "");
	for (size_t i = 0; i < sizeof(vm_commands) / sizeof(vm_commands[0]); i++)
		(vm_commands[i].changes_guest ? control_register_changing : control_register)(c, vm_commands[i].name,
		                                                                              vm_commands[i].fn, vm);
	if (replay_playing(vm))
		control_forbid_changes(c, "a replay cannot do: the guest must do what it did when it was recorded");
	else if (replay_recording(vm)) /* the VMM's own writes into the guest are not in the log */
		control_forbid_changes(c, "a recording cannot log: its replay would diverge");
	vm->control = c;
	return 0;
}

void vm_control_close(struct vm *vm)
{
	struct control *c = vm->control;

	/* Device threads post events (vsock audit) under io_lock: once the
	 * pointer is cleared under it, none can still be using the socket. */
	pthread_mutex_lock(&vm->io_lock);
	vm->control = NULL;
	pthread_mutex_unlock(&vm->io_lock);
	control_close(c);
}
