/* The client side of the control socket, for `symbiont ctl` and
 * `symbiont ls`: connect, negotiate, call a command, wait for events. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/qmp_client.h"

/* The next JSON value from the server, or NULL (message in err) on EOF,
 * a parse error or after timeout_ms (-1: no limit). */
struct json_object *qmp_read(struct qmp_client *q, int timeout_ms, char *err, size_t errlen)
{
	for (;;) {
		while (q->off < q->len) {
			struct json_object *o = json_tokener_parse_ex(q->tok, q->buf + q->off, (int)(q->len - q->off));
			enum json_tokener_error e = json_tokener_get_error(q->tok);
			size_t used = json_tokener_get_parse_end(q->tok);
			if (e == json_tokener_continue) {
				q->off = q->len;
				break;
			}
			json_tokener_reset(q->tok);
			q->off += used ? used : q->len - q->off;
			if (e != json_tokener_success) {
				snprintf(err, errlen, "the VM sent malformed JSON (%s)", json_tokener_error_desc(e));
				return NULL;
			}
			return o;
		}
		q->off = q->len = 0;
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r == 0) {
			snprintf(err, errlen, "the VM did not answer in time");
			return NULL;
		}
		ssize_t n = r < 0 ? -1 : recv(q->fd, q->buf, sizeof(q->buf), 0);
		if (n == 0) {
			snprintf(err, errlen, "the VM closed the connection");
			return NULL;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "control socket: %s", strerror(errno));
			return NULL;
		}
		q->len = (size_t)n;
	}
}

int qmp_open(struct qmp_client *q, const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *g, *r;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->timeout_ms = timeout_ms;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	q->tok = json_tokener_new_ex(64);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!q->tok || q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "%s: %s", path,
		         errno == ECONNREFUSED ? "no VM is listening there (it has exited)" : strerror(errno));
		qmp_close(q);
		return -1;
	}
	g = qmp_read(q, timeout_ms, err, errlen);
	if (!g || !json_object_object_get_ex(g, "QMP", NULL)) {
		if (g)
			snprintf(err, errlen, "%s: not a QMP greeting", path);
		json_object_put(g);
		qmp_close(q);
		return -1;
	}
	json_object_put(g);
	if (qmp_call(q, "qmp_capabilities", NULL, &r, err, errlen) < 0) {
		qmp_close(q);
		return -1;
	}
	json_object_put(r);
	return 0;
}

void qmp_close(struct qmp_client *q)
{
	if (q->fd >= 0)
		close(q->fd);
	if (q->tok)
		json_tokener_free(q->tok);
	q->fd = -1;
	q->tok = NULL;
}

int qmp_send(struct qmp_client *q, const char *cmd, struct json_object *args, char *err, size_t errlen)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	size_t n, off = 0;

	json_object_object_add(o, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(o, "arguments", args);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = strlen(text);
	while (off < n) {
		ssize_t w = send(q->fd, text + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			snprintf(err, errlen, "control socket: %s", strerror(errno));
			json_object_put(o);
			return -1;
		}
		off += (size_t)w;
	}
	(void)!send(q->fd, "\n", 1, MSG_NOSIGNAL);
	json_object_put(o);
	return 0;
}

int qmp_call(struct qmp_client *q, const char *cmd, struct json_object *args, struct json_object **ret, char *err,
             size_t errlen)
{
	struct json_object *r, *x;

	*ret = NULL;
	if (qmp_send(q, cmd, args, err, errlen) < 0)
		return -1;
	for (;;) {
		r = qmp_read(q, q->timeout_ms, err, errlen);
		if (!r)
			return -1;
		if (json_object_object_get_ex(r, "return", &x)) {
			*ret = json_object_get(x);
			json_object_put(r);
			return 0;
		}
		if (json_object_object_get_ex(r, "error", &x)) {
			struct json_object *d;
			snprintf(err, errlen, "%s",
			         json_object_object_get_ex(x, "desc", &d) ? json_object_get_string(d) : "error");
			json_object_put(r);
			return -1;
		}
		json_object_put(r); /* an event: not what we wait for */
	}
}
