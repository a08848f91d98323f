/* Agentless exec and file copy, built on code injection (inject.h): the
 * run payload (guest/payloads/run.c, built into symbiont) is injected into
 * a guest process; it detaches a helper process, which runs a command or
 * copies a file and talks to the VMM through trap calls
 * (include/symbiont/abi/gears_run.h) that this file answers at their entry,
 * without the kernel ever seeing them.
 *
 *   gears-exec {argv: [..], env?: ["NAME=VALUE"..], cwd?, pid?}  -> {"session", "pid"}
 *       then, to the calling client alone:
 *       GEARS_OUTPUT {"session", "stream": 1|2, "data": base64}
 *       GEARS_END    {"session", "status": exit code|null, "signal": n|null}
 *   gears-push {file (host path), path (guest path), pid?}       -> {"session", "pid"}
 *       GEARS_END    {"session", "error": null|"ENOENT"...}
 *   gears-pull {path (guest path), pid?}                          -> {"session", "pid"}
 *       GEARS_OUTPUT (stream 1) with the file's bytes, then GEARS_END as push
 *
 * pid picks the process to inject (default: the first one other than init
 * to make a system call); the helper is reparented to init, with that
 * process's credentials, a session of its own and default signal handling.
 *
 * Flow control: an output the client's queue cannot take now is refused
 * with EAGAIN, and the helper tries again shortly.  A session ends at its
 * GEARS_END, or when its client goes away (the helper's next trap call
 * gets ESRCH; an exec's command is then killed).  Every trap call is
 * checked: an unknown cookie (a 64-bit random number) is left to the
 * kernel (ENOSYS), buffers are read and written through the caller's page
 * tables, writes only to pages it may write itself. */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "services/gears/gears.h"
#include "services/gears/inject.h"
#include "services/gears/names.h"
#include "services/gears/trapio.h"
#include "symbiont/abi/gears_run.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

#define MAX_SESSIONS 16
#define MAX_PUSH     (256u << 20)
#define INJECT_MS    10000
#define KICK_MS      3000
#define MAX_ARGS     63
#define MAX_STRINGS  (32u << 10)
#define STREAM_EVENT "GEARS_OUTPUT"
#define END_EVENT    "GEARS_END"

struct gears_session {
	uint64_t id, cookie, client;
	int mode;
	uint8_t *data; /* PUSH: the file, sent from off */
	size_t len, off;
	bool helper_noted; /* its helper's process is in gears_helper_seen's list */
};

struct gears_sessions {
	pthread_mutex_t lock;
	struct gears_session *s[MAX_SESSIONS];
	struct sym_sub *sub;
	uint64_t next_id;
	struct gears_elf_image payload;
	bool payload_ok;
	char payload_err[160];
};

/* The run payload, built into the binary (payload.c). */
extern const uint8_t gears_run_payload[];
extern const size_t gears_run_payload_len;

static struct gears_session *find(struct gears_sessions *ss, uint64_t cookie, int *slot)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ss->s[i] && ss->s[i]->cookie == cookie) {
			*slot = i;
			return ss->s[i];
		}
	return NULL;
}

static void end_session(struct gears_sessions *ss, int slot)
{
	free(ss->s[slot]->data);
	free(ss->s[slot]);
	ss->s[slot] = NULL;
}

static int64_t op_out(struct gears *g, struct gears_session *s, const struct gears_mem *m, uint64_t buf, uint64_t len,
                      uint64_t stream)
{
	struct json_object *o;
	uint8_t *b;
	int64_t n;
	if ((stream != 1 && stream != 2) || (s->mode == GEARS_RUN_PULL && stream != 1))
		return -EINVAL;
	if (!(b = malloc(GEARS_RUN_CHUNK)))
		return -ENOMEM;
	if ((n = gears_trap_read(m, buf, len, b, GEARS_RUN_CHUNK)) < 0) {
		free(b);
		return n;
	}
	gchar *text = g_base64_encode(b, (gsize)n);
	free(b);
	o = json_object_new_object();
	json_object_object_add(o, "session", json_object_new_int64((int64_t)s->id));
	json_object_object_add(o, "stream", json_object_new_int((int)stream));
	json_object_object_add(o, "data", json_object_new_string(text));
	g_free(text);
	return control_event_to(g->vm->control, s->client, STREAM_EVENT, o) ? -EAGAIN : n;
}

static int64_t op_in(struct gears_session *s, const struct gears_mem *m, uint64_t buf, uint64_t len)
{
	int64_t n;
	if (s->mode != GEARS_RUN_PUSH)
		return -EINVAL;
	if ((n = gears_trap_write(m, buf, len, s->data + s->off, s->len - s->off)) > 0)
		s->off += (size_t)n;
	return n;
}

/* 0, or -1 when the client's queue cannot take it now (the helper retries). */
static int op_end(struct gears *g, struct gears_session *s, int64_t arg)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "session", json_object_new_int64((int64_t)s->id));
	if (s->mode == GEARS_RUN_EXEC) {
		int st = (int)arg;
		bool exited = (st & 0x7f) == 0, signalled = !exited && (st & 0x7f) != 0x7f;
		json_object_object_add(o, "status", exited ? json_object_new_int((st >> 8) & 0xff) : NULL);
		json_object_object_add(o, "signal", signalled ? json_object_new_int(st & 0x7f) : NULL);
	} else {
		const char *e = arg < 0 ? gears_errno_name((int)-arg) : NULL;
		json_object_object_add(o, "error", arg < 0 ? json_object_new_string(e ? e : "EIO") : NULL);
		if (s->mode == GEARS_RUN_PUSH && arg == 0 && s->off != s->len)
			json_object_object_add(o, "error", json_object_new_string("EIO"));
	}
	return control_event_to(g->vm->control, s->client, END_EVENT, o);
}

static enum sym_action on_trap(void *opaque, struct sym_event *ev)
{
	struct gears *g = opaque;
	struct gears_sessions *ss = g->sessions;
	const uint64_t *a = ev->syscall.args;
	struct gears_session *s;
	struct gears_uaccess ua;
	struct gears_mem m;
	int slot;

	struct guestos_task_id who;
	bool ours;

	/* A run helper's call (the same number serves injected code's
	 * trampoline, whose caller is no helper): note the helper, naming it
	 * outside the sessions' lock (that takes os_lock). */
	pthread_mutex_lock(&ss->lock);
	s = find(ss, a[0], &slot);
	ours = s != NULL;
	bool note = s && !s->helper_noted; /* once a session: its first call */
	if (note)
		s->helper_noted = true;
	pthread_mutex_unlock(&ss->lock);
	if (!ours)
		return SYM_CONTINUE; /* not ours: the kernel answers ENOSYS */
	if (note && gears_who_now(g, ev, &who) == 0)
		gears_helper_seen(g, who.tgid);
	pthread_mutex_lock(&ss->lock);
	if (!(s = find(ss, a[0], &slot))) {
		pthread_mutex_unlock(&ss->lock);
		return SYM_CONTINUE;
	}
	gears_uaccess_init(&ua, &m, &g->vm->mem, ev->regs);
	switch (a[1]) {
	case GEARS_OP_OUT: ev->syscall.ret = op_out(g, s, &m, a[2], a[3], a[4]); break;
	case GEARS_OP_IN: ev->syscall.ret = op_in(s, &m, a[2], a[3]); break;
	case GEARS_OP_END:
		if (op_end(g, s, (int64_t)a[4])) {
			ev->syscall.ret = -EAGAIN;
			break;
		}
		end_session(ss, slot);
		ev->syscall.ret = 0;
		break;
	default: ev->syscall.ret = -EINVAL;
	}
	pthread_mutex_unlock(&ss->lock);
	return SYM_SKIP;
}

/* The sessions' state, the payload and the trap subscription, once. */
static int prepare(struct gears *g, char *err, size_t errlen)
{
	struct gears_sessions *ss = g->sessions;
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	if (!ss->payload_ok) {
		snprintf(err, errlen, "the run payload: %s", ss->payload_err);
		return -1;
	}
	if (!ss->sub) {
		sym_filter_syscall(&f, GEARS_RUN_TRAP_NR);
		if (!(ss->sub = sym_subscribe(g->vm, &f, on_trap, g, err, errlen)))
			return -1;
	}
	return 0;
}

/* Appends s (with its NUL) to the strings; -1 past the bound. */
static int add_string(char *out, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;
	if (*len + n > MAX_STRINGS)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	return 0;
}

static int string_array(struct json_object *args, const char *key, bool required, unsigned *count, char *out,
                        size_t *len, bool env, char *err, size_t errlen)
{
	struct json_object *v;
	*count = 0;
	if (!json_object_object_get_ex(args, key, &v)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "'%s' (an array of strings) is required", key);
		return -1;
	}
	if (!json_object_is_type(v, json_type_array) || (required && !json_object_array_length(v)) ||
	    json_object_array_length(v) > MAX_ARGS) {
		snprintf(err, errlen, "'%s' must be an array of %d to %d strings", key, required, MAX_ARGS);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *x = json_object_array_get_idx(v, i);
		const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
		if (!s || (env && !gears_env_assignment_valid(s)) || (!env && i == 0 && !*s)) {
			snprintf(err, errlen, "'%s'[%zu] is not %s", key, i,
			         env ? "NAME=VALUE" : "a string (the command is not empty)");
			return -1;
		}
		if (add_string(out, len, s)) {
			snprintf(err, errlen, "the arguments take more than %u bytes", MAX_STRINGS);
			return -1;
		}
		(*count)++;
	}
	return 0;
}

/* Starts a session: registers it, injects the payload with its block. */
static int start(struct gears *g, struct json_object *args, struct gears_session *s, struct gears_run_args *hdr,
                 const char *strings, struct json_object **ret, char *err, size_t errlen)
{
	struct gears_sessions *ss = g->sessions;
	struct gears_inject_result res;
	struct json_object *v;
	int32_t pid = 0;
	int slot = -1;
	uint8_t *block;

	if (json_object_object_get_ex(args, "pid", &v)) {
		int64_t p = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || p < 1 || p > INT32_MAX) {
			snprintf(err, errlen, "'pid' must be a guest process id");
			goto fail;
		}
		pid = (int32_t)p;
	}
	if (prepare(g, err, errlen))
		goto fail;
	if (getrandom(&s->cookie, sizeof(s->cookie), 0) != sizeof(s->cookie)) {
		snprintf(err, errlen, "no random cookie: %s", strerror(errno));
		goto fail;
	}
	s->client = control_caller(g->vm->control);
	hdr->cookie = s->cookie;
	hdr->mode = (unsigned)s->mode;
	if (!(block = malloc(sizeof(*hdr) + hdr->strings_len))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(block, hdr, sizeof(*hdr));
	memcpy(block + sizeof(*hdr), strings, hdr->strings_len);
	pthread_mutex_lock(&ss->lock);
	for (int i = 0; i < MAX_SESSIONS && slot < 0; i++)
		if (!ss->s[i])
			slot = i;
	if (slot >= 0) {
		s->id = ++ss->next_id;
		ss->s[slot] = s;
	}
	pthread_mutex_unlock(&ss->lock);
	if (slot < 0) {
		free(block);
		snprintf(err, errlen, "too many sessions at once (%d)", MAX_SESSIONS);
		goto fail;
	}
	int r = gears_inject_run(g, pid, &ss->payload, block, sizeof(*hdr) + hdr->strings_len, INJECT_MS, &res, err,
	                         errlen);
	free(block);
	if (r || res.ret < 0) {
		if (!r)
			snprintf(err, errlen, "the payload in pid %d could not fork: %s", (int)res.pid,
			         gears_errno_name((int)-res.ret) ? gears_errno_name((int)-res.ret) : "error");
		pthread_mutex_lock(&ss->lock);
		if (ss->s[slot] == s) /* it may have ended already, if the helper ran at all */
			end_session(ss, slot);
		pthread_mutex_unlock(&ss->lock);
		return -1;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "session", json_object_new_int64((int64_t)s->id));
	json_object_object_add(*ret, "pid", json_object_new_int(res.pid));
	return 0;
fail:
	free(s->data);
	free(s);
	return -1;
}

static int cmd_exec(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears_run_args hdr = { 0 };
	struct gears_session *s;
	char *strings = malloc(MAX_STRINGS);
	const char *cwd = gears_arg_str(args, "cwd");
	size_t len = 0;
	int r = -1;

	if (!strings || !(s = calloc(1, sizeof(*s)))) {
		free(strings);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->mode = GEARS_RUN_EXEC;
	if (string_array(args, "argv", true, &hdr.argc, strings, &len, false, err, errlen) ||
	    string_array(args, "env", false, &hdr.envc, strings, &len, true, err, errlen)) {
		free(s);
		goto out;
	}
	/* a PATH unless the caller gave one */
	bool has_path = false;
	for (size_t i = 0, off = 0; i < hdr.argc + hdr.envc; i++, off += strlen(strings + off) + 1)
		has_path |= i >= hdr.argc && !strncmp(strings + off, "PATH=", 5);
	if (!has_path) {
		if (add_string(strings, &len, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")) {
			snprintf(err, errlen, "the arguments take more than %u bytes", MAX_STRINGS);
			free(s);
			goto out;
		}
		hdr.envc++;
	}
	if (cwd && (!*cwd || add_string(strings, &len, cwd))) {
		snprintf(err, errlen, "'cwd' must be a non-empty path, the whole under %u bytes", MAX_STRINGS);
		free(s);
		goto out;
	}
	hdr.has_cwd = cwd != NULL;
	hdr.strings_len = (unsigned)len;
	r = start(opaque, args, s, &hdr, strings, ret, err, errlen);
out:
	free(strings);
	return r;
}

static int guest_path(struct json_object *args, char *strings, size_t *len, char *err, size_t errlen)
{
	const char *p = gears_arg_str(args, "path");
	if (!p || !*p || strlen(p) >= GEARS_PATH_MAX) {
		snprintf(err, errlen, "'path' (the file in the guest) is required, under %d bytes", GEARS_PATH_MAX);
		return -1;
	}
	return add_string(strings, len, p);
}

static int cmd_copy(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen,
                    int mode)
{
	struct gears_run_args hdr = { .argc = 1 };
	struct gears_session *s = calloc(1, sizeof(*s));
	char strings[GEARS_PATH_MAX + 1];
	size_t len = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->mode = mode;
	if (guest_path(args, strings, &len, err, errlen))
		goto fail;
	if (mode == GEARS_RUN_PUSH) {
		const char *file = gears_arg_str(args, "file");
		FILE *f = file && file[0] == '/' ? fopen(file, "rb") : NULL;
		if (!f) {
			snprintf(err, errlen, "'file' (an absolute host path) cannot be read: %s",
			         file && file[0] == '/' ? strerror(errno) : "not given");
			goto fail;
		}
		s->data = malloc(MAX_PUSH + 1);
		s->len = s->data ? fread(s->data, 1, MAX_PUSH + 1, f) : 0;
		bool bad = ferror(f);
		fclose(f);
		if (!s->data || bad || s->len > MAX_PUSH) {
			snprintf(err, errlen, "%.200s: %s", file,
			         !s->data ? "out of memory"
			         : bad    ? "read error"
			                  : "larger than 256 MiB");
			goto fail;
		}
	}
	hdr.strings_len = (unsigned)len;
	return start(opaque, args, s, &hdr, strings, ret, err, errlen);
fail:
	free(s->data);
	free(s);
	return -1;
}

static int cmd_push(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	return cmd_copy(opaque, args, ret, err, errlen, GEARS_RUN_PUSH);
}

static int cmd_pull(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	return cmd_copy(opaque, args, ret, err, errlen, GEARS_RUN_PULL);
}

int gears_kick(struct gears *g, int32_t pid, char *err, size_t errlen)
{
	struct gears_sessions *ss = g->sessions;
	struct gears_run_args a = { .mode = GEARS_RUN_KICK, .target = pid };
	struct gears_inject_result res;

	if (!ss || !ss->payload_ok) {
		snprintf(err, errlen, "the run payload: %s", ss ? ss->payload_err : "none");
		return -1;
	}
	if (gears_inject_beside(g, pid, &ss->payload, &a, sizeof(a), KICK_MS, &res, err, errlen))
		return -1;
	if (res.ret < 0) {
		const char *e = gears_errno_name((int)-res.ret);
		snprintf(err, errlen, "the waking helper could not start in pid %d: %s", (int)res.pid, e ? e : "error");
		return -1;
	}
	return 0;
}

void gears_exec_client_gone(struct gears *g, uint64_t client)
{
	struct gears_sessions *ss = g->sessions;
	if (!ss)
		return;
	pthread_mutex_lock(&ss->lock);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ss->s[i] && ss->s[i]->client == client)
			end_session(ss, i);
	pthread_mutex_unlock(&ss->lock);
}

void gears_exec_fini(struct gears *g)
{
	struct gears_sessions *ss = g->sessions;
	if (!ss)
		return;
	sym_unsubscribe(ss->sub);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (ss->s[i])
			end_session(ss, i);
	gears_elf_free(&ss->payload);
	pthread_mutex_destroy(&ss->lock);
	free(ss);
	g->sessions = NULL;
}

int gears_exec_init(struct gears *g, char *err, size_t errlen)
{
	struct gears_sessions *ss = calloc(1, sizeof(*ss));
	struct control *c = g->vm->control;
	(void)err, (void)errlen;
	if (!ss)
		return -1;
	pthread_mutex_init(&ss->lock, NULL);
	ss->payload_ok = !gears_elf_load(gears_run_payload, gears_run_payload_len, &ss->payload, ss->payload_err,
	                                 sizeof(ss->payload_err));
	g->sessions = ss;
	return control_register_changing(c, "gears-exec", cmd_exec, g) ||
	       control_register_changing(c, "gears-push", cmd_push, g) ||
	       control_register_changing(c, "gears-pull", cmd_pull, g);
}
