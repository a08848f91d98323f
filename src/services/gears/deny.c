/* Deny rules: calls of one syscall, optionally only on paths under a
 * prefix and only by some process or cgroup, are refused with an errno: the call
 * does not run (SYM_SKIP) and the caller sees -errno, as if the kernel had
 * said no.  Each refusal is a GEARS_DENIED event to every client.
 *
 *   gears-deny {syscall, path_prefix?, errno?, pid?, comm?, cgroup?}  -> {"rule": ID}
 *   gears-deny-remove {rule?}        (no rule: every rule)
 *   query-gears-denies   -> [{"rule", "syscall", "path_prefix", "errno", "pid", "comm", "cgroup", "hits"}]
 *
 * Each rule has its own subscription, filtered by the hub on its syscall
 * number, so calls of other numbers never reach it.  The path is matched
 * on the string the caller passed (rules.h: gears_path_under); a path that
 * cannot be read is not matched (the kernel will answer EFAULT itself). */
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

struct gears_deny {
	struct gears *g;
	uint64_t id;
	unsigned nr;
	int path_arg; /* which argument is the path, -1 for none */
	char prefix[GEARS_PATH_MAX];
	int err;
	struct gears_who who;
	struct sym_sub *sub;
	struct sym_sub *sub32; /* the same call by the 32-bit entry, if it has one there (compat.h) */
	_Atomic uint64_t hits;
};

static enum sym_action on_enter(void *opaque, struct sym_event *ev)
{
	struct gears_deny *d = opaque;
	struct guestos_task_id who = { .pid = -1, .tgid = -1, .comm = "?" };
	char path[GEARS_PATH_MAX] = "";

	if (d->prefix[0]) {
		struct gears_uaccess ua;
		struct gears_mem m;
		gears_uaccess_init(&ua, &m, &d->g->vm->mem, ev->regs);
		/* a path longer than we read is compared on what was read: a
		 * prefix is at most GEARS_PATH_MAX - 1 bytes, so that decides */
		if (gears_read_string(&m, ev->syscall.args[d->path_arg], path, sizeof(path)) < 0 ||
		    !gears_path_under(path, d->prefix))
			return SYM_CONTINUE;
	}
	if (!gears_who_selects(d->g, &d->who, ev, &who))
		return SYM_CONTINUE;
	ev->syscall.ret = -(int64_t)d->err;
	atomic_fetch_add(&d->hits, 1);

	struct json_object *o = json_object_new_object();
	const char *name = gears_syscall_name(d->nr), *ename = gears_errno_name(d->err);
	json_object_object_add(o, "rule", json_object_new_int64((int64_t)d->id));
	json_object_object_add(o, "pid", json_object_new_int(who.tgid));
	json_object_object_add(o, "tid", json_object_new_int(who.pid));
	json_object_object_add(o, "comm", json_object_new_string(who.comm));
	json_object_object_add(o, "syscall", json_object_new_string(name ? name : "?"));
	json_object_object_add(o, "path", d->prefix[0] ? json_object_new_string(path) : NULL);
	json_object_object_add(o, "errno", json_object_new_string(ename ? ename : "?"));
	control_event(d->g->vm->control, "GEARS_DENIED", o);
	return SYM_SKIP;
}

static void deny_remove(struct gears *g, int i)
{
	struct gears_deny *d = g->denies[i];
	g->denies[i] = g->denies[--g->ndenies];
	sym_unsubscribe(d->sub);
	sym_unsubscribe(d->sub32);
	free(d);
}

/* "EACCES", "13" or absent (EPERM). */
static int arg_errno(struct json_object *args, int *out, char *err, size_t errlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(args, "errno", &v)) {
		*out = 1; /* EPERM */
		return 0;
	}
	if (json_object_is_type(v, json_type_int))
		*out = json_object_get_int(v);
	else if (json_object_is_type(v, json_type_string))
		*out = gears_errno_number(json_object_get_string(v));
	else
		*out = -1;
	if (*out <= 0 || *out > 4095 || (!gears_errno_name(*out) && !json_object_is_type(v, json_type_int))) {
		snprintf(err, errlen, "'errno' must be a name like EACCES or a number from 1 to 4095");
		return -1;
	}
	return 0;
}

static int cmd_deny(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	const char *sc = gears_arg_str(args, "syscall"), *prefix = gears_arg_str(args, "path_prefix");
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	struct gears_deny *d;
	uint64_t bits[SYM_SYSCALL_MAX / 64];
	int nr = -1;

	if (g->ndenies == GEARS_MAX_DENIES) {
		snprintf(err, errlen, "too many deny rules (%d)", GEARS_MAX_DENIES);
		return -1;
	}
	if (!sc || !strcmp(sc, "all") || strchr(sc, ',')) {
		snprintf(err, errlen, "'syscall' (one name or number) is required");
		return -1;
	}
	if (gears_parse_syscalls(sc, bits, err, errlen))
		return -1;
	for (unsigned i = 0; i < SYM_SYSCALL_MAX && nr < 0; i++)
		if (bits[i / 64] >> (i % 64) & 1)
			nr = (int)i;
	if (!(d = calloc(1, sizeof(*d)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->g = g;
	d->nr = (unsigned)nr;
	d->path_arg = gears_path_arg((unsigned)nr);
	if (arg_errno(args, &d->err, err, errlen) || gears_arg_who(args, &d->who, err, errlen))
		goto fail;
	if (prefix) {
		if (d->path_arg < 0) {
			snprintf(err, errlen, "%s takes no path: 'path_prefix' cannot apply", sc);
			goto fail;
		}
		if (!*prefix || strlen(prefix) >= sizeof(d->prefix)) {
			snprintf(err, errlen, "'path_prefix' must be 1 to %d bytes", GEARS_PATH_MAX - 1);
			goto fail;
		}
		snprintf(d->prefix, sizeof(d->prefix), "%s", prefix);
	}
	if (gears_os_for_who(g, &d->who, err, errlen))
		goto fail;
	sym_filter_syscall(&f, d->nr);
	if (!(d->sub = sym_subscribe(g->vm, &f, on_enter, d, err, errlen)))
		goto fail;
	int nr32 = gears_64_to_compat(d->nr);
	if (nr32 >= 0) {
		struct sym_filter f32 = { .type = SYM_EV_SYSCALL_ENTER, .compat = true };
		sym_filter_syscall(&f32, (unsigned)nr32);
		if (!(d->sub32 = sym_subscribe(g->vm, &f32, on_enter, d, err, errlen))) {
			sym_unsubscribe(d->sub);
			goto fail;
		}
	}
	d->id = ++g->next_id;
	g->denies[g->ndenies++] = d;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "rule", json_object_new_int64((int64_t)d->id));
	return 0;
fail:
	free(d);
	return -1;
}

static int cmd_remove(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	uint64_t id;
	(void)ret;
	if (!json_object_object_get_ex(args, "rule", NULL)) {
		while (g->ndenies)
			deny_remove(g, 0);
		return 0;
	}
	if (gears_arg_id(args, "rule", &id, err, errlen))
		return -1;
	for (int i = 0; i < g->ndenies; i++) {
		if (g->denies[i]->id == id) {
			deny_remove(g, i);
			return 0;
		}
	}
	snprintf(err, errlen, "no deny rule %" PRIu64, id);
	return -1;
}

static int cmd_query(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct json_object *a = json_object_new_array();
	(void)args, (void)err, (void)errlen;
	for (int i = 0; i < g->ndenies; i++) {
		struct gears_deny *d = g->denies[i];
		struct json_object *o = json_object_new_object();
		const char *name = gears_syscall_name(d->nr), *ename = gears_errno_name(d->err);
		char num[16];
		snprintf(num, sizeof(num), "%d", d->err);
		json_object_object_add(o, "rule", json_object_new_int64((int64_t)d->id));
		json_object_object_add(o, "syscall", json_object_new_string(name ? name : "?"));
		json_object_object_add(o, "path_prefix", d->prefix[0] ? json_object_new_string(d->prefix) : NULL);
		json_object_object_add(o, "errno", json_object_new_string(ename ? ename : num));
		json_object_object_add(o, "pid", d->who.pid >= 0 ? json_object_new_int(d->who.pid) : NULL);
		json_object_object_add(o, "comm", d->who.comm[0] ? json_object_new_string(d->who.comm) : NULL);
		json_object_object_add(o, "cgroup", d->who.cgroup[0] ? json_object_new_string(d->who.cgroup) : NULL);
		json_object_object_add(o, "hits", json_object_new_int64((int64_t)atomic_load(&d->hits)));
		json_object_array_add(a, o);
	}
	*ret = a;
	return 0;
}

void gears_deny_fini(struct gears *g)
{
	while (g->ndenies)
		deny_remove(g, 0);
}

int gears_deny_init(struct gears *g, char *err, size_t errlen)
{
	struct control *c = g->vm->control;
	(void)err, (void)errlen;
	return control_register_changing(c, "gears-deny", cmd_deny, g) ||
	       control_register(c, "gears-deny-remove", cmd_remove, g) ||
	       control_register(c, "query-gears-denies", cmd_query, g);
}
