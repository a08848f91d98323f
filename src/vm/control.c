/* The control socket: QMP framing, capabilities negotiation, command
 * dispatch and events, on a thread of its own (see symbiont/control.h).
 *
 * Each client has a json-c tokener fed whatever bytes arrive, so commands
 * may be split across reads or several may come in one; the bytes of one
 * command are bounded (CONTROL_MAX_INPUT), and so is the output waiting for
 * a client to read it (CONTROL_MAX_OUTPUT).  A client that crosses either
 * bound is sent one error and dropped: it can never make the VMM buffer
 * without limit or wait for it.  Malformed JSON gets an error and the rest
 * of its line is skipped, so a client can resynchronise as with QEMU. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/version.h"

#define MAX_COMMANDS 128
#define JSON_DEPTH   32

struct command {
	char *name;
	control_cmd_fn fn;
	void *opaque;
	bool changes_guest; /* refused while changes are forbidden */
};

struct client {
	uint64_t id; /* control_caller() */
	int fd;
	struct json_tokener *tok;
	bool negotiated; /* qmp_capabilities done: commands and events */
	bool skip_line;  /* after a parse error: drop input up to a newline */
	bool dead;       /* to be closed by the control thread */
	size_t pending;  /* bytes of the command being received */
	char *out;       /* replies and events not yet written */
	size_t out_len, out_cap;
};

struct control {
	char *path;
	int listen_fd, wake_fd;
	pthread_t thread;
	bool thread_started;
	bool stop; /* under lock */

	/* Guards clients' output and dead flags, the command table and stop:
	 * events arrive from any thread.  Never held while a handler runs. */
	pthread_mutex_t lock;
	struct client *clients[CONTROL_MAX_CLIENTS];
	int nclients;
	struct command cmds[MAX_COMMANDS];
	int ncmds;
	char no_changes[160]; /* why commands that change the guest are refused ("": they are not) */

	/* Held while a handler runs: handlers were written for one thread
	 * (the control thread), and control_execute() runs them on others. */
	pthread_mutex_t exec_lock;

	uint64_t next_id;   /* control thread only */
	uint64_t caller_id; /* the client whose command runs (control thread only) */
	struct {
		void (*fn)(void *opaque, uint64_t client);
		void *opaque;
	} hooks[CONTROL_MAX_HOOKS]; /* under lock */
	int nhooks;
};

const char *control_path(const struct control *c)
{
	return c->path;
}

static void wake(struct control *c)
{
	uint64_t one = 1;
	if (write(c->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("symbiont: control eventfd");
}

/* ---- output ------------------------------------------------------------- */

/* Queues one JSON text and CRLF for the client (lock held).  Past the
 * bound the client is marked dead instead: it stopped reading. */
static void queue_locked(struct client *cl, const char *text)
{
	size_t n = strlen(text), need = cl->out_len + n + 2;

	if (cl->dead)
		return;
	if (need > CONTROL_MAX_OUTPUT) {
		cl->dead = true;
		return;
	}
	if (need > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		while (cap < need)
			cap *= 2;
		char *p = realloc(cl->out, cap);
		if (!p) {
			cl->dead = true;
			return;
		}
		cl->out = p, cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, text, n);
	memcpy(cl->out + cl->out_len + n, "\r\n", 2);
	cl->out_len = need;
}

static void send_json(struct control *c, struct client *cl, struct json_object *o)
{
	pthread_mutex_lock(&c->lock);
	queue_locked(cl, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	pthread_mutex_unlock(&c->lock);
	json_object_put(o);
}

/* {"return": ret, "id": id} (ret NULL: {}) */
static void send_return(struct control *c, struct client *cl, struct json_object *id, struct json_object *ret)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "return", ret ? ret : json_object_new_object());
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	send_json(c, cl, o);
}

static void send_error(struct control *c, struct client *cl, struct json_object *id, const char *cls, const char *desc)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	send_json(c, cl, o);
}

static struct json_object *timestamp_now(void)
{
	struct timespec ts;
	struct json_object *t = json_object_new_object();
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(t, "seconds", json_object_new_int64(ts.tv_sec));
	json_object_object_add(t, "microseconds", json_object_new_int64(ts.tv_nsec / 1000));
	return t;
}

void control_event(struct control *c, const char *name, struct json_object *data)
{
	struct json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp", timestamp_now());
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nclients; i++)
		if (c->clients[i]->negotiated)
			queue_locked(c->clients[i], text);
	pthread_mutex_unlock(&c->lock);
	json_object_put(o);
	wake(c);
}

int control_event_to(struct control *c, uint64_t client, const char *name, struct json_object *data)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	int r = -1;

	json_object_object_add(o, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp", timestamp_now());
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	bool was_empty = false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nclients; i++) {
		struct client *cl = c->clients[i];
		if (cl->id == client && cl->negotiated && !cl->dead &&
		    cl->out_len + strlen(text) + 2 <= CONTROL_MAX_OUTPUT / 2) {
			was_empty = cl->out_len == 0;
			queue_locked(cl, text);
			r = 0;
		}
	}
	pthread_mutex_unlock(&c->lock);
	json_object_put(o);
	/* Only an empty queue needs the thread woken: with output already
	 * waiting, a wake is pending or the thread polls that client for
	 * POLLOUT.  A stream (a trace's lines) so costs one lock, not a
	 * syscall, per event. */
	if (was_empty)
		wake(c);
	return r;
}

uint64_t control_caller(struct control *c)
{
	return c->caller_id;
}

int control_on_disconnect(struct control *c, void (*fn)(void *opaque, uint64_t client), void *opaque)
{
	int r = -1;
	pthread_mutex_lock(&c->lock);
	if (c->nhooks < CONTROL_MAX_HOOKS) {
		c->hooks[c->nhooks].fn = fn;
		c->hooks[c->nhooks].opaque = opaque;
		c->nhooks++;
		r = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Control thread, no lock held: tells the hooks that client is gone. */
static void client_gone(struct control *c, uint64_t client)
{
	for (int i = 0;; i++) {
		void (*fn)(void *, uint64_t);
		void *opaque;
		pthread_mutex_lock(&c->lock);
		if (i >= c->nhooks) {
			pthread_mutex_unlock(&c->lock);
			return;
		}
		fn = c->hooks[i].fn, opaque = c->hooks[i].opaque;
		pthread_mutex_unlock(&c->lock);
		fn(opaque, client);
	}
}

/* ---- commands ----------------------------------------------------------- */

static int add_command(struct control *c, const char *name, control_cmd_fn fn, void *opaque, bool changes_guest)
{
	int r = -1;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->ncmds; i++)
		if (!strcmp(c->cmds[i].name, name))
			goto out;
	if (c->ncmds < MAX_COMMANDS && (c->cmds[c->ncmds].name = strdup(name))) {
		c->cmds[c->ncmds].fn = fn;
		c->cmds[c->ncmds].opaque = opaque;
		c->cmds[c->ncmds].changes_guest = changes_guest;
		c->ncmds++;
		r = 0;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int control_register(struct control *c, const char *name, control_cmd_fn fn, void *opaque)
{
	return add_command(c, name, fn, opaque, false);
}

int control_register_changing(struct control *c, const char *name, control_cmd_fn fn, void *opaque)
{
	return add_command(c, name, fn, opaque, true);
}

void control_forbid_changes(struct control *c, const char *why)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->no_changes, sizeof(c->no_changes), "%s", why ? why : "");
	pthread_mutex_unlock(&c->lock);
}

/* The command, or false with err: none of that name, or one that would
 * change the guest while that is forbidden. */
static bool find_command(struct control *c, const char *name, struct command *out, char *err, size_t errlen)
{
	bool found = false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->ncmds && !found; i++)
		if (!strcmp(c->cmds[i].name, name))
			*out = c->cmds[i], found = true;
	if (!found)
		snprintf(err, errlen, "The command %.64s has not been found", name);
	else if (out->changes_guest && c->no_changes[0]) {
		snprintf(err, errlen, "%.64s changes the guest, which %s", name, c->no_changes);
		found = false;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* query-commands: the names a client may execute. */
static int cmd_query_commands(void *opaque, struct json_object *args, struct json_object **ret, char *err,
                              size_t errlen)
{
	struct control *c = opaque;
	struct json_object *a = json_object_new_array();
	(void)args, (void)err, (void)errlen;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->ncmds; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(c->cmds[i].name));
		json_object_array_add(a, o);
	}
	pthread_mutex_unlock(&c->lock);
	*ret = a;
	return 0;
}

static int cmd_query_version(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct json_object *v = json_object_new_object(), *q = json_object_new_object();
	unsigned major = 0, minor = 0, micro = 0;
	(void)opaque, (void)args, (void)err, (void)errlen;
	sscanf(SYMBIONT_VERSION, "%u.%u.%u", &major, &minor, &micro);
	json_object_object_add(q, "major", json_object_new_int((int)major));
	json_object_object_add(q, "minor", json_object_new_int((int)minor));
	json_object_object_add(q, "micro", json_object_new_int((int)micro));
	json_object_object_add(v, "qemu", q);
	json_object_object_add(v, "package", json_object_new_string("symbiont " SYMBIONT_VERSION));
	*ret = v;
	return 0;
}

/* One complete JSON value from a client. */
static void handle(struct control *c, struct client *cl, struct json_object *o)
{
	struct json_object *id = NULL, *exec = NULL, *args = NULL, *ret = NULL;
	struct command cmd;
	const char *name;
	char err[512] = "";

	if (!json_object_is_type(o, json_type_object)) {
		send_error(c, cl, NULL, CONTROL_ERR_GENERIC, "QMP input must be a JSON object");
		return;
	}
	json_object_object_get_ex(o, "id", &id);
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
			snprintf(err, sizeof(err), "QMP input member '%.64s' is unexpected", key);
			send_error(c, cl, id, CONTROL_ERR_GENERIC, err);
			return;
		}
	}
	if (!json_object_object_get_ex(o, "execute", &exec) || !json_object_is_type(exec, json_type_string)) {
		send_error(c, cl, id, CONTROL_ERR_GENERIC, "QMP input lacks member 'execute' (a string)");
		return;
	}
	name = json_object_get_string(exec);
	if (json_object_object_get_ex(o, "arguments", &args) && !json_object_is_type(args, json_type_object)) {
		send_error(c, cl, id, CONTROL_ERR_GENERIC, "QMP input member 'arguments' must be an object");
		return;
	}
	if (!cl->negotiated) {
		if (strcmp(name, "qmp_capabilities")) {
			send_error(c, cl, id, CONTROL_ERR_NOT_FOUND,
			           "Expecting capabilities negotiation with 'qmp_capabilities'");
			return;
		}
		pthread_mutex_lock(&c->lock);
		cl->negotiated = true;
		pthread_mutex_unlock(&c->lock);
		send_return(c, cl, id, NULL);
		return;
	}
	if (!strcmp(name, "qmp_capabilities")) {
		send_error(c, cl, id, CONTROL_ERR_NOT_FOUND,
		           "Capabilities negotiation is already complete, command ignored");
		return;
	}
	if (!find_command(c, name, &cmd, err, sizeof(err))) {
		send_error(c, cl, id, strstr(err, "has not been found") ? CONTROL_ERR_NOT_FOUND : CONTROL_ERR_GENERIC,
		           err);
		return;
	}
	struct json_object *empty = args ? NULL : json_object_new_object();
	pthread_mutex_lock(&c->exec_lock);
	c->caller_id = cl->id;
	int r = cmd.fn(cmd.opaque, args ? args : empty, &ret, err, sizeof(err));
	c->caller_id = 0;
	pthread_mutex_unlock(&c->exec_lock);
	json_object_put(empty);
	if (r < 0) {
		json_object_put(ret);
		send_error(c, cl, id, CONTROL_ERR_GENERIC, err[0] ? err : "command failed");
	} else {
		send_return(c, cl, id, ret);
	}
}

int control_execute(struct control *c, const char *name, struct json_object *args, struct json_object **ret, char *err,
                    size_t errlen)
{
	struct command cmd;
	*ret = NULL;
	if (!find_command(c, name, &cmd, err, errlen))
		return -1;
	struct json_object *empty = args ? NULL : json_object_new_object();
	err[0] = 0;
	pthread_mutex_lock(&c->exec_lock);
	int r = cmd.fn(cmd.opaque, args ? args : empty, ret, err, errlen);
	pthread_mutex_unlock(&c->exec_lock);
	json_object_put(empty);
	if (r < 0) {
		json_object_put(*ret);
		*ret = NULL;
		if (!err[0])
			snprintf(err, errlen, "command failed");
	}
	return r;
}

/* ---- clients ------------------------------------------------------------ */

static void drop_error(struct control *c, struct client *cl, const char *desc)
{
	send_error(c, cl, NULL, CONTROL_ERR_GENERIC, desc);
	pthread_mutex_lock(&c->lock);
	cl->dead = true;
	pthread_mutex_unlock(&c->lock);
}

/* Feeds n bytes to the client's tokener and runs each complete command. */
static void feed(struct control *c, struct client *cl, const char *buf, size_t n)
{
	size_t off = 0;

	while (off < n && !cl->dead) {
		if (cl->skip_line) {
			const char *nl = memchr(buf + off, '\n', n - off);
			if (!nl)
				return;
			off = (size_t)(nl - buf) + 1;
			cl->skip_line = false;
			continue;
		}
		struct json_object *o = json_tokener_parse_ex(cl->tok, buf + off, (int)(n - off));
		enum json_tokener_error e = json_tokener_get_error(cl->tok);
		size_t used = json_tokener_get_parse_end(cl->tok);
		if (e == json_tokener_continue) {
			cl->pending += n - off;
			if (cl->pending > CONTROL_MAX_INPUT)
				drop_error(c, cl, "command too long: more than 64 KiB of JSON");
			return;
		}
		json_tokener_reset(cl->tok);
		cl->pending = 0;
		if (e != json_tokener_success) {
			char msg[160];
			snprintf(msg, sizeof(msg), "JSON parse error, %s", json_tokener_error_desc(e));
			send_error(c, cl, NULL, CONTROL_ERR_GENERIC, msg);
			cl->skip_line = true;
			off += used;
			/* the byte that failed may be the newline itself */
			if (used > 0 && buf[off - 1] == '\n')
				cl->skip_line = false;
			continue;
		}
		off += used ? used : n - off;
		handle(c, cl, o);
		json_object_put(o);
	}
}

static void client_free(struct client *cl)
{
	if (!cl)
		return;
	if (cl->fd >= 0)
		close(cl->fd);
	if (cl->tok)
		json_tokener_free(cl->tok);
	free(cl->out);
	free(cl);
}

static void send_greeting(struct control *c, struct client *cl)
{
	struct json_object *o = json_object_new_object(), *q = json_object_new_object(), *v = NULL;
	char err[8];
	cmd_query_version(NULL, NULL, &v, err, sizeof(err));
	json_object_object_add(q, "version", v);
	json_object_object_add(q, "capabilities", json_object_new_array());
	json_object_object_add(o, "QMP", q);
	send_json(c, cl, o);
}

static void accept_client(struct control *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct client *cl;

	if (fd < 0)
		return;
	if (c->nclients == CONTROL_MAX_CLIENTS) {
		static const char busy[] =
		        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many clients\"}}\r\n";
		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* it is being turned away anyway */
		}
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || !(cl->tok = json_tokener_new_ex(JSON_DEPTH))) {
		free(cl);
		close(fd);
		return;
	}
	cl->fd = fd;
	cl->id = ++c->next_id;
	pthread_mutex_lock(&c->lock);
	c->clients[c->nclients++] = cl;
	pthread_mutex_unlock(&c->lock);
	send_greeting(c, cl);
}

/* Writes what the client can take now; false if it went away. */
static bool flush(struct control *c, struct client *cl)
{
	bool ok = true;
	pthread_mutex_lock(&c->lock);
	while (cl->out_len && !cl->dead) {
		ssize_t w = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				ok = false;
			break;
		}
		memmove(cl->out, cl->out + w, cl->out_len - (size_t)w);
		cl->out_len -= (size_t)w;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static void *control_thread(void *arg)
{
	struct control *c = arg;
	struct pollfd pfd[CONTROL_MAX_CLIENTS + 2];
	struct client *snap[CONTROL_MAX_CLIENTS];
	char buf[16384];

	for (;;) {
		uint64_t gone_ids[CONTROL_MAX_CLIENTS];
		int n, ngone = 0;

		/* Close the dead, then watch the rest. */
		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		for (int i = 0; i < c->nclients;) {
			struct client *cl = c->clients[i];
			if (cl->dead) {
				/* one last try to deliver the error that killed it */
				if (cl->out_len)
					(void)!send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
				c->clients[i] = c->clients[--c->nclients];
				gone_ids[ngone++] = cl->id;
				client_free(cl);
				continue;
			}
			i++;
		}
		pthread_mutex_unlock(&c->lock);
		for (int i = 0; i < ngone; i++)
			client_gone(c, gone_ids[i]);
		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		n = c->nclients;
		memcpy(snap, c->clients, (size_t)n * sizeof(snap[0]));
		for (int i = 0; i < n; i++)
			pfd[i + 2] = (struct pollfd){ .fd = snap[i]->fd,
				                      .events = (short)(POLLIN | (snap[i]->out_len ? POLLOUT : 0)) };
		pthread_mutex_unlock(&c->lock);

		pfd[0] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("symbiont: control poll");
			break;
		}
		if (pfd[0].revents) {
			uint64_t v;
			(void)!read(c->wake_fd, &v, sizeof(v));
		}
		for (int i = 0; i < n; i++) {
			struct client *cl = snap[i];
			bool gone = false;
			if (pfd[i + 2].revents & POLLIN) {
				ssize_t r = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (r > 0)
					feed(c, cl, buf, (size_t)r);
				else if (r == 0 || (errno != EAGAIN && errno != EINTR))
					gone = true;
			} else if (pfd[i + 2].revents & (POLLHUP | POLLERR)) {
				gone = true;
			}
			if (!gone)
				gone = !flush(c, cl);
			if (gone) {
				pthread_mutex_lock(&c->lock);
				cl->dead = true;
				cl->out_len = 0;
				pthread_mutex_unlock(&c->lock);
			}
		}
		/* events queued by other threads since the last pass */
		for (int i = 0; i < n; i++) {
			if (!snap[i]->dead && !flush(c, snap[i])) {
				pthread_mutex_lock(&c->lock);
				snap[i]->dead = true;
				pthread_mutex_unlock(&c->lock);
			}
		}
		if (pfd[1].revents & POLLIN)
			accept_client(c);
	}
	return NULL;
}

/* ---- the socket --------------------------------------------------------- */

/* Binds path, replacing a stale socket but never a live one or a file
 * that is not a socket. */
static int bind_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
			goto fail;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
			snprintf(err, errlen, "control socket %s: in use by a running VM", path);
			goto fail;
		}
		unlink(path); /* stale: its VM is gone */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			snprintf(err, errlen, "control socket: %s", strerror(errno));
			return -1;
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

struct control *control_open(const char *path, char *err, size_t errlen)
{
	struct control *c = calloc(1, sizeof(*c));
	sigset_t all, old;

	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->listen_fd = c->wake_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->exec_lock, NULL);
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		snprintf(err, errlen, "control: eventfd: %s", strerror(errno));
		goto fail;
	}
	c->listen_fd = bind_socket(path, err, errlen);
	if (c->listen_fd < 0)
		goto fail;
	control_register(c, "query-commands", cmd_query_commands, c);
	control_register(c, "query-version", cmd_query_version, c);

	/* Signals belong to the VM's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	c->thread_started = pthread_create(&c->thread, NULL, control_thread, c) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!c->thread_started) {
		snprintf(err, errlen, "control: cannot start its thread");
		goto fail;
	}
	return c;
fail:
	control_close(c);
	return NULL;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_mutex_unlock(&c->lock);
		wake(c);
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < c->nclients; i++) {
		/* a last flush: SHUTDOWN and the reply to quit should arrive */
		if (c->clients[i]->out_len)
			(void)!send(c->clients[i]->fd, c->clients[i]->out, c->clients[i]->out_len,
			            MSG_NOSIGNAL | MSG_DONTWAIT);
		client_free(c->clients[i]);
	}
	for (int i = 0; i < c->ncmds; i++)
		free(c->cmds[i].name);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->exec_lock);
	free(c->path);
	free(c);
}
