/* syscount: how many system calls the guest makes, of which kind, how
 * many fail and how long they take, seen from the VMM (no agent, no
 * tracing in the guest).  The example service of docs/services.md: it
 * subscribes to SYSCALL_ENTER and SYSCALL_EXIT only while counting, so a
 * VM nobody counts pays nothing.
 *
 *   syscount-start   counting from zero (again)
 *   syscount-stop    stop counting (the counts stay)
 *   query-syscount   {"counting", "total", "calls": [{"nr", "count", "errors", "avg_ns"}...]}
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/service.h"
#include "symbiont/vm.h"

struct syscount {
	struct vm *vm;
	struct sym_sub *enter, *exit;
	pthread_mutex_t lock; /* counts: vCPU threads add, the control thread reads */
	uint64_t count[SYM_SYSCALL_MAX], errors[SYM_SYSCALL_MAX], ns[SYM_SYSCALL_MAX];
	uint64_t other; /* numbers past SYM_SYSCALL_MAX */
};

static enum sym_action on_syscall_enter(void *opaque, struct sym_event *ev)
{
	struct syscount *s = opaque;
	pthread_mutex_lock(&s->lock);
	if (ev->syscall.nr < SYM_SYSCALL_MAX)
		s->count[ev->syscall.nr]++;
	else
		s->other++;
	pthread_mutex_unlock(&s->lock);
	return SYM_CONTINUE;
}

static enum sym_action on_syscall_exit(void *opaque, struct sym_event *ev)
{
	struct syscount *s = opaque;
	uint64_t nr = ev->syscall.nr, now = vm_now(s->vm);
	if (nr >= SYM_SYSCALL_MAX)
		return SYM_CONTINUE;
	pthread_mutex_lock(&s->lock);
	if (ev->syscall.ret < 0 && ev->syscall.ret >= -4095) /* -errno */
		s->errors[nr]++;
	if (now > ev->syscall.enter_ns)
		s->ns[nr] += now - ev->syscall.enter_ns;
	pthread_mutex_unlock(&s->lock);
	return SYM_CONTINUE;
}

static void stop_counting(struct syscount *s)
{
	sym_unsubscribe(s->enter);
	sym_unsubscribe(s->exit);
	s->enter = s->exit = NULL;
}

static int cmd_start(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct syscount *s = opaque;
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	(void)args, (void)ret;
	stop_counting(s);
	pthread_mutex_lock(&s->lock);
	memset(s->count, 0, sizeof(s->count));
	memset(s->errors, 0, sizeof(s->errors));
	memset(s->ns, 0, sizeof(s->ns));
	s->other = 0;
	pthread_mutex_unlock(&s->lock);
	if (!(s->enter = sym_subscribe(s->vm, &f, on_syscall_enter, s, err, errlen)))
		return -1;
	f.type = SYM_EV_SYSCALL_EXIT;
	if (!(s->exit = sym_subscribe(s->vm, &f, on_syscall_exit, s, err, errlen))) {
		stop_counting(s);
		return -1;
	}
	return 0;
}

static int cmd_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)args, (void)ret, (void)err, (void)errlen;
	stop_counting(opaque);
	return 0;
}

static int cmd_query(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct syscount *s = opaque;
	struct json_object *o = json_object_new_object(), *calls = json_object_new_array();
	uint64_t total = 0;
	(void)args, (void)err, (void)errlen;
	pthread_mutex_lock(&s->lock);
	for (unsigned nr = 0; nr < SYM_SYSCALL_MAX; nr++) {
		if (!s->count[nr])
			continue;
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "nr", json_object_new_int((int)nr));
		json_object_object_add(c, "count", json_object_new_int64((int64_t)s->count[nr]));
		json_object_object_add(c, "errors", json_object_new_int64((int64_t)s->errors[nr]));
		json_object_object_add(c, "avg_ns", json_object_new_int64((int64_t)(s->ns[nr] / s->count[nr])));
		json_object_array_add(calls, c);
		total += s->count[nr];
	}
	total += s->other;
	pthread_mutex_unlock(&s->lock);
	json_object_object_add(o, "counting", json_object_new_boolean(s->enter != NULL));
	json_object_object_add(o, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "calls", calls);
	*ret = o;
	return 0;
}

static int syscount_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct syscount *s;
	*state = NULL;
	if (!vm->control)
		return 0; /* counting is asked for on the control socket */
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->vm = vm;
	pthread_mutex_init(&s->lock, NULL);
	control_register(vm->control, "syscount-start", cmd_start, s);
	control_register(vm->control, "syscount-stop", cmd_stop, s);
	control_register(vm->control, "query-syscount", cmd_query, s);
	*state = s;
	return 0;
}

static void syscount_stop(void *state)
{
	struct syscount *s = state;
	if (!s)
		return;
	stop_counting(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct sym_service syscount_service = {
	.name = "syscount",
	.start = syscount_start,
	.stop = syscount_stop,
};
SYM_SERVICE(syscount_service)
