/* gdb's `monitor` commands: the control API's verbs, run in-process
 * (control_execute) and printed as text for gdb's console.
 *
 *   monitor ps              the guest's processes (query-processes)
 *   monitor sym NAME|0xADDR a kernel symbol's address, or an address's symbol
 *   monitor qmp CMD [JSON]  any control API command, its answer as JSON
 *   monitor replay          a replay's instruction count and checkpoints
 *   monitor help */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "services/gdbstub/gdbstub.h"
#include "symbiont/control.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

struct text {
	char *buf;
	size_t cap, len;
};

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	if (t->len + 1 >= t->cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static void print_ps(struct text *t, struct json_object *ret)
{
	put(t, "%7s %7s %-5s %-16s %s\n", "PID", "PPID", "STATE", "COMM", "CMDLINE");
	for (size_t i = 0; json_object_is_type(ret, json_type_array) && i < json_object_array_length(ret); i++) {
		struct json_object *p = json_object_array_get_idx(ret, i);
		put(t, "%7s %7s %-5s %-16s %s\n", str(p, "pid"), str(p, "ppid"), str(p, "state"), str(p, "comm"),
		    str(p, "cmdline"));
	}
}

static void print_sym(struct text *t, struct json_object *ret)
{
	const char *mod = str(ret, "module");
	put(t, "%s%s%s = %s", mod, mod[0] ? ":" : "", str(ret, "name"), str(ret, "address"));
	if (strcmp(str(ret, "offset"), "0"))
		put(t, " (+0x%llx)", strtoull(str(ret, "offset"), NULL, 10));
	put(t, "\n");
}

int gdb_monitor(void *target, const char *cmd, char *out, size_t cap)
{
	struct gdbstub *g = target;
	struct text t = { .buf = out, .cap = cap };
	struct json_object *args = NULL, *ret = NULL;
	char verb[64] = "", rest[448] = "", err[512];
	const char *name = NULL;
	enum { RAW, PS, SYM } how = RAW;

	out[0] = 0;
	if (sscanf(cmd, " %63s %447[^\n]", verb, rest) < 1 || !strcmp(verb, "help")) {
		put(&t, "monitor ps               the guest's processes\n"
		        "monitor sym NAME|0xADDR  a kernel symbol's address, or the symbol at an address\n"
		        "monitor qmp CMD [JSON]   a control API command (symbiont ctl's verbs are built on these)\n"
		        "monitor replay           a replay's instruction count and checkpoints\n");
		return 0;
	}
	if (!strcmp(verb, "replay")) {
		/* the replay's own state, not a control API command: no socket needed */
		struct replay_ckpt_stats st;
		if (!replay_playing(g->vm)) {
			put(&t, "this VM is not a replay\n");
			return 0;
		}
		put(&t, "instruction %llu\n", (unsigned long long)replay_count(g->vm));
		if (replay_checkpoint_stats(g->vm, &st) < 0) {
			put(&t, "no checkpoints\n");
			return 0;
		}
		put(&t,
		    "checkpoints: %llu kept of %llu taken (%llu thinned), every %llu instructions, first at %llu, "
		    "newest at %llu, nearest before now at %llu\nmemory: %llu bytes of a %llu-byte budget; %llu restores\n",
		    (unsigned long long)st.kept, (unsigned long long)st.taken, (unsigned long long)st.thinned,
		    (unsigned long long)st.every, (unsigned long long)st.first, (unsigned long long)st.newest,
		    (unsigned long long)st.before, (unsigned long long)st.bytes, (unsigned long long)st.budget,
		    (unsigned long long)st.restores);
		return 0;
	}
	if (!g->vm->control) {
		put(&t, "monitor commands reach the control API: run the VM with --api PATH or --name NAME\n");
		return 0;
	}
	if (!strcmp(verb, "ps")) {
		name = "query-processes", how = PS;
	} else if (!strcmp(verb, "sym") && rest[0]) {
		name = "query-symbol", how = SYM;
		args = json_object_new_object();
		if (!strncmp(rest, "0x", 2)) {
			char *end;
			errno = 0;
			unsigned long long a = strtoull(rest + 2, &end, 16);
			if (errno || end == rest + 2 || *end) {
				json_object_put(args);
				put(&t, "'%s' is not an address\n", rest);
				return 0;
			}
			json_object_object_add(args, "address", json_object_new_uint64(a));
		} else {
			json_object_object_add(args, "name", json_object_new_string(rest));
		}
	} else if (!strcmp(verb, "qmp") && rest[0]) {
		char qcmd[128] = "", qargs[448] = "";
		sscanf(rest, "%127s %447[^\n]", qcmd, qargs);
		name = NULL;
		if (qargs[0]) {
			args = json_tokener_parse(qargs);
			if (!args || !json_object_is_type(args, json_type_object)) {
				json_object_put(args);
				put(&t, "the arguments must be a JSON object\n");
				return 0;
			}
		}
		if (control_execute(g->vm->control, qcmd, args, &ret, err, sizeof(err)) < 0)
			put(&t, "error: %s\n", err);
		else
			put(&t, "%s\n",
			    ret ? json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY |
			                                                      JSON_C_TO_STRING_NOSLASHESCAPE)
			        : "{}");
		json_object_put(args);
		json_object_put(ret);
		return 0;
	} else {
		put(&t, "unknown monitor command '%s' (monitor help lists them)\n", verb);
		return 0;
	}
	if (control_execute(g->vm->control, name, args, &ret, err, sizeof(err)) < 0)
		put(&t, "error: %s\n", err);
	else if (how == PS)
		print_ps(&t, ret);
	else if (how == SYM)
		print_sym(&t, ret);
	json_object_put(args);
	json_object_put(ret);
	return 0;
}
