/* Environment injection at exec: every later execve (or execveat) of a
 * selected program starts with some variables added or replaced, the rest
 * of its environment and its arguments unchanged.  This is how a VMM
 * service gets, say, LD_PRELOAD into an unmodified application.
 *
 *   gears-env {comm? | path?, vars: ["NAME=VALUE"...]}  -> {"rule": ID}
 *   gears-env-clear {comm? | path?}   the rules of that selector (none: every rule)
 *   query-gears-env                    -> [{"rule", "comm", "path", "vars"}]
 *
 * At the exec's entry, the caller's envp argument is pointed at a new array
 * built below its user stack pointer (envp.c), which the exec then reads
 * and throws away with the old address space.  When that cannot be done
 * safely (unreadable environment, no writable stack below the pointer) the
 * exec goes ahead untouched.  Each exec that a rule selected is a
 * GEARS_ENV event ({"pid", "comm", "path", "injected": bool}).
 *
 * One subscription on execve and execveat serves every rule, so that the
 * variables of all rules selecting one exec go into one new array (a second
 * array built under the first would overwrite it); the rules are read
 * under env_lock. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/envp.h"
#include "services/gears/gears.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

#define NR_EXECVE   59
#define NR_EXECVEAT 322
#define MAX_VARS    64 /* per rule */

struct gears_env {
	uint64_t id;
	char comm[GEARS_COMM_LEN];
	char path[GEARS_PATH_MAX];
	char *vars[MAX_VARS];
	size_t nvars;
};

static void env_free(struct gears_env *e)
{
	for (size_t i = 0; i < e->nvars; i++)
		free(e->vars[i]);
	free(e);
}

/* Adds var to set, replacing one of the same name (later rules win). */
static void set_var(const char **set, size_t *n, const char *var)
{
	size_t len = (size_t)(strchr(var, '=') - var) + 1;
	for (size_t i = 0; i < *n; i++) {
		if (!strncmp(set[i], var, len)) {
			set[i] = var;
			return;
		}
	}
	set[(*n)++] = var;
}

static enum sym_action on_exec(void *opaque, struct sym_event *ev)
{
	struct gears *g = opaque;
	bool at = ev->syscall.nr == NR_EXECVEAT;
	int envp_arg = at ? 3 : 2;
	const char *set[GEARS_MAX_ENV * MAX_VARS];
	size_t n = 0;
	char path[GEARS_PATH_MAX];
	struct gears_uaccess ua;
	struct gears_mem m;
	uint64_t new_envp;

	gears_uaccess_init(&ua, &m, &g->vm->mem, ev->regs);
	if (gears_read_string(&m, ev->syscall.args[at ? 1 : 0], path, sizeof(path)) < 0)
		return SYM_CONTINUE; /* the kernel will answer EFAULT */
	pthread_mutex_lock(&g->env_lock);
	for (int i = 0; i < g->nenvs; i++) {
		struct gears_env *e = g->envs[i];
		if (gears_exec_selected(e->comm, e->path, path))
			for (size_t v = 0; v < e->nvars; v++)
				set_var(set, &n, e->vars[v]);
	}
	bool injected = n && !gears_env_rewrite(&m, ev->regs->gpr[4], ev->syscall.args[envp_arg], set, n, &new_envp);
	pthread_mutex_unlock(&g->env_lock);
	if (!n)
		return SYM_CONTINUE;
	if (injected)
		ev->syscall.args[envp_arg] = new_envp;

	struct guestos_task_id who = { .pid = -1, .tgid = -1, .comm = "?" };
	struct json_object *o = json_object_new_object();
	gears_who_now(g, ev, &who);
	json_object_object_add(o, "pid", json_object_new_int(who.tgid));
	json_object_object_add(o, "comm", json_object_new_string(who.comm));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "injected", json_object_new_boolean(injected));
	control_event(g->vm->control, "GEARS_ENV", o);
	return SYM_CONTINUE;
}

/* Subscribes while there are rules, unsubscribes when there are none
 * (control thread; not under env_lock, which the callback takes). */
static int update_subscription(struct gears *g, char *err, size_t errlen)
{
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	if (g->nenvs && !g->exec_sub) {
		sym_filter_syscall(&f, NR_EXECVE);
		sym_filter_syscall(&f, NR_EXECVEAT);
		if (!(g->exec_sub = sym_subscribe(g->vm, &f, on_exec, g, err, errlen)))
			return -1;
	} else if (!g->nenvs && g->exec_sub) {
		sym_unsubscribe(g->exec_sub);
		g->exec_sub = NULL;
	}
	return 0;
}

static int selector(struct json_object *args, const char **comm, const char **path, char *err, size_t errlen)
{
	*comm = gears_arg_str(args, "comm");
	*path = gears_arg_str(args, "path");
	if (*comm && *path) {
		snprintf(err, errlen, "'comm' and 'path' exclude each other");
		return -1;
	}
	if (*comm && (!**comm || strlen(*comm) >= GEARS_COMM_LEN)) {
		snprintf(err, errlen, "'comm' must be 1 to %d bytes (the kernel's TASK_COMM_LEN)", GEARS_COMM_LEN - 1);
		return -1;
	}
	if (*path && (!**path || strlen(*path) >= GEARS_PATH_MAX)) {
		snprintf(err, errlen, "'path' must be 1 to %d bytes", GEARS_PATH_MAX - 1);
		return -1;
	}
	return 0;
}

static int cmd_env(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct json_object *vars;
	const char *comm, *path;
	struct gears_env *e;

	if (selector(args, &comm, &path, err, errlen))
		return -1;
	if (!json_object_object_get_ex(args, "vars", &vars) || !json_object_is_type(vars, json_type_array) ||
	    !json_object_array_length(vars) || json_object_array_length(vars) > MAX_VARS) {
		snprintf(err, errlen, "'vars' must be an array of 1 to %d \"NAME=VALUE\" strings", MAX_VARS);
		return -1;
	}
	if (g->nenvs == GEARS_MAX_ENV) {
		snprintf(err, errlen, "too many inject-env rules (%d)", GEARS_MAX_ENV);
		return -1;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(e->comm, sizeof(e->comm), "%s", comm ? comm : "");
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	for (size_t i = 0; i < json_object_array_length(vars); i++) {
		struct json_object *v = json_object_array_get_idx(vars, i);
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		if (!gears_env_assignment_valid(s)) {
			snprintf(err, errlen,
			         "'%.64s' is not NAME=VALUE (a name of letters, digits and _, at most 127 bytes)", s);
			env_free(e);
			return -1;
		}
		if (!(e->vars[e->nvars] = strdup(s))) {
			snprintf(err, errlen, "out of memory");
			env_free(e);
			return -1;
		}
		e->nvars++;
	}
	e->id = ++g->next_id;
	pthread_mutex_lock(&g->env_lock);
	g->envs[g->nenvs++] = e;
	pthread_mutex_unlock(&g->env_lock);
	if (update_subscription(g, err, errlen)) {
		pthread_mutex_lock(&g->env_lock);
		g->nenvs--;
		pthread_mutex_unlock(&g->env_lock);
		env_free(e);
		return -1;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "rule", json_object_new_int64((int64_t)e->id));
	return 0;
}

static int cmd_clear(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	const char *comm, *path;
	struct gears_env *gone[GEARS_MAX_ENV];
	int ngone = 0;
	(void)ret;

	if (selector(args, &comm, &path, err, errlen))
		return -1;
	pthread_mutex_lock(&g->env_lock);
	for (int i = 0; i < g->nenvs;) {
		struct gears_env *e = g->envs[i];
		if ((!comm && !path) || (comm && !strcmp(e->comm, comm)) || (path && !strcmp(e->path, path))) {
			gone[ngone++] = e;
			memmove(&g->envs[i], &g->envs[i + 1], (size_t)(g->nenvs - i - 1) * sizeof(g->envs[0]));
			g->nenvs--;
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&g->env_lock);
	for (int i = 0; i < ngone; i++)
		env_free(gone[i]);
	return update_subscription(g, err, errlen);
}

static int cmd_query(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct json_object *a = json_object_new_array();
	(void)args, (void)err, (void)errlen;
	pthread_mutex_lock(&g->env_lock);
	for (int i = 0; i < g->nenvs; i++) {
		struct gears_env *e = g->envs[i];
		struct json_object *o = json_object_new_object(), *v = json_object_new_array();
		json_object_object_add(o, "rule", json_object_new_int64((int64_t)e->id));
		json_object_object_add(o, "comm", e->comm[0] ? json_object_new_string(e->comm) : NULL);
		json_object_object_add(o, "path", e->path[0] ? json_object_new_string(e->path) : NULL);
		for (size_t k = 0; k < e->nvars; k++)
			json_object_array_add(v, json_object_new_string(e->vars[k]));
		json_object_object_add(o, "vars", v);
		json_object_array_add(a, o);
	}
	pthread_mutex_unlock(&g->env_lock);
	*ret = a;
	return 0;
}

void gears_env_fini(struct gears *g)
{
	sym_unsubscribe(g->exec_sub);
	g->exec_sub = NULL;
	while (g->nenvs)
		env_free(g->envs[--g->nenvs]);
}

int gears_env_init(struct gears *g, char *err, size_t errlen)
{
	struct control *c = g->vm->control;
	(void)err, (void)errlen;
	return control_register_changing(c, "gears-env", cmd_env, g) ||
	       control_register(c, "gears-env-clear", cmd_clear, g) ||
	       control_register(c, "query-gears-env", cmd_query, g);
}
