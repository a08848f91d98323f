/* The control socket on its own (no VM): QMP greeting and negotiation,
 * dispatch, ids, errors for every kind of bad input, several clients,
 * events, and the bounds that keep a slow or hostile client from stalling
 * or bloating the VMM. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "symbiont/control.h"

static char dir[64], path[128];

/* ---- a client ------------------------------------------------------------ */

struct conn {
	int fd;
	char buf[65536];
	size_t len;
};

static void conn_open(struct conn *k)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	k->len = 0;
	k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(k->fd >= 0);
	assert_int_equal(connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void conn_send(struct conn *k, const char *s)
{
	assert_int_equal(send(k->fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* The next CRLF-terminated line as JSON, or NULL on EOF or after 5 s. */
static struct json_object *conn_recv(struct conn *k)
{
	for (;;) {
		char *nl = memchr(k->buf, '\n', k->len);
		if (nl) {
			*nl = 0;
			struct json_object *o = json_tokener_parse(k->buf);
			size_t used = (size_t)(nl - k->buf) + 1;
			memmove(k->buf, nl + 1, k->len - used);
			k->len -= used;
			assert_non_null(o);
			return o;
		}
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			return NULL;
		ssize_t r = recv(k->fd, k->buf + k->len, sizeof(k->buf) - k->len - 1, 0);
		if (r <= 0)
			return NULL;
		k->len += (size_t)r;
	}
}

/* True once the server has closed the connection (reading what is left). */
static bool conn_closed(struct conn *k)
{
	char b[4096];
	for (int i = 0; i < 1000; i++) {
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			return false;
		ssize_t r = recv(k->fd, b, sizeof(b), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r < 0)
			return false;
	}
	return false;
}

static const char *str_at(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x, *y;
	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (!b)
		return json_object_get_string(x);
	return json_object_object_get_ex(x, b, &y) ? json_object_get_string(y) : NULL;
}

/* Sends a command and returns the reply (caller puts it). */
static struct json_object *call(struct conn *k, const char *cmd)
{
	conn_send(k, cmd);
	return conn_recv(k);
}

static void expect_error(struct conn *k, const char *cmd, const char *cls, const char *desc_part)
{
	struct json_object *r = call(k, cmd);
	assert_non_null(r);
	assert_string_equal(str_at(r, "error", "class"), cls);
	if (desc_part && !strstr(str_at(r, "error", "desc"), desc_part))
		fail_msg("error '%s' lacks '%s'", str_at(r, "error", "desc"), desc_part);
	json_object_put(r);
}

static void expect_return(struct conn *k, const char *cmd)
{
	struct json_object *r = call(k, cmd), *ret;
	assert_non_null(r);
	assert_true(json_object_object_get_ex(r, "return", &ret));
	json_object_put(r);
}

static void greet_and_negotiate(struct conn *k)
{
	struct json_object *g;
	conn_open(k);
	g = conn_recv(k);
	assert_non_null(g);
	assert_non_null(str_at(g, "QMP", "version"));
	json_object_put(g);
	expect_return(k, "{\"execute\": \"qmp_capabilities\"}\n");
}

/* ---- the server under test ----------------------------------------------- */

static struct control *ctl;

/* echo: returns its arguments; fail: refuses with a message. */
static int cmd_echo(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)opaque, (void)err, (void)errlen;
	*ret = json_object_get(args);
	return 0;
}

static int cmd_fail(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)opaque, (void)args, (void)ret;
	snprintf(err, errlen, "no, and here is why");
	return -1;
}

/* raise: posts an event from the handler (as a service would). */
static int cmd_raise(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)args, (void)ret, (void)err, (void)errlen;
	control_event(opaque, "RAISED", json_object_new_string("x"));
	return 0;
}

static int setup(void **state)
{
	char err[256];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/symctl.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/vm.sock", dir);
	ctl = control_open(path, err, sizeof(err));
	if (!ctl) {
		printf("control_open: %s\n", err);
		return -1;
	}
	control_register(ctl, "echo", cmd_echo, NULL);
	control_register(ctl, "fail", cmd_fail, NULL);
	control_register(ctl, "raise", cmd_raise, ctl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	control_close(ctl);
	rmdir(dir);
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_negotiation(void **state)
{
	struct conn k;
	struct json_object *g, *caps;
	struct stat st;
	(void)state;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	conn_open(&k);
	g = conn_recv(&k);
	assert_non_null(g);
	assert_true(json_object_object_get_ex(json_object_object_get(g, "QMP"), "capabilities", &caps));
	assert_true(strstr(json_object_to_json_string(g), "symbiont") != NULL);
	json_object_put(g);
	expect_error(&k, "{\"execute\": \"echo\"}\n", "CommandNotFound", "qmp_capabilities");
	expect_return(&k, "{\"execute\": \"qmp_capabilities\"}\n");
	expect_error(&k, "{\"execute\": \"qmp_capabilities\"}\n", "CommandNotFound", "already complete");
	close(k.fd);
}

static void test_dispatch(void **state)
{
	struct conn k;
	struct json_object *r;
	(void)state;
	greet_and_negotiate(&k);
	r = call(&k, "{\"execute\": \"echo\", \"arguments\": {\"a\": [1, 2]}, \"id\": \"x7\"}\n");
	assert_string_equal(str_at(r, "id", NULL), "x7");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(r, "return"), JSON_C_TO_STRING_PLAIN),
	                    "{\"a\":[1,2]}");
	json_object_put(r);
	r = call(&k, "{\"execute\": \"echo\"}\n"); /* no arguments: {} */
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(r, "return"), JSON_C_TO_STRING_PLAIN),
	                    "{}");
	json_object_put(r);
	r = call(&k, "{\"execute\": \"query-version\"}\n");
	assert_true(strstr(str_at(r, "return", "package"), "symbiont") != NULL);
	json_object_put(r);
	r = call(&k, "{\"execute\": \"query-commands\"}\n");
	assert_true(strstr(json_object_to_json_string(r), "\"echo\"") != NULL);
	json_object_put(r);
	expect_error(&k, "{\"execute\": \"fail\", \"id\": 3}\n", "GenericError", "here is why");
	expect_error(&k, "{\"execute\": \"nope\"}\n", "CommandNotFound", "nope");
	close(k.fd);
}

static void test_bad_input(void **state)
{
	struct conn k;
	char deep[512];
	(void)state;
	greet_and_negotiate(&k);
	expect_error(&k, "this is not json\n", "GenericError", "JSON parse error");
	expect_return(&k, "{\"execute\": \"echo\"}\n"); /* resynchronised */
	expect_error(&k, "[1, 2, 3]\n", "GenericError", "JSON object");
	expect_error(&k, "42\n", "GenericError", "JSON object");
	expect_error(&k, "{\"arguments\": {}}\n", "GenericError", "execute");
	expect_error(&k, "{\"execute\": 5}\n", "GenericError", "execute");
	expect_error(&k, "{\"execute\": \"echo\", \"arguments\": 7}\n", "GenericError", "arguments");
	expect_error(&k, "{\"execute\": \"echo\", \"bogus\": 1}\n", "GenericError", "unexpected");
	expect_error(&k, "{\"execute\": \"echo\", \"x\": }\n", "GenericError", "JSON parse error");
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	deep[n++] = '\n', deep[n] = 0;
	expect_error(&k, deep, "GenericError", "JSON parse error"); /* nesting past the depth limit */
	expect_return(&k, "{\"execute\": \"echo\"}\n");
	/* a command split byte by byte, and two in one write */
	const char *split = "{\"execute\": \"echo\", \"id\": 1}\n";
	for (const char *p = split; *p; p++) {
		assert_int_equal(send(k.fd, p, 1, MSG_NOSIGNAL), 1);
		usleep(200);
	}
	struct json_object *r = conn_recv(&k);
	assert_int_equal(json_object_get_int(json_object_object_get(r, "id")), 1);
	json_object_put(r);
	conn_send(&k, "{\"execute\": \"echo\", \"id\": 2}{\"execute\": \"echo\", \"id\": 3}\n");
	for (int want = 2; want <= 3; want++) {
		r = conn_recv(&k);
		assert_int_equal(json_object_get_int(json_object_object_get(r, "id")), want);
		json_object_put(r);
	}
	close(k.fd);
}

static void test_oversized_dropped(void **state)
{
	struct conn k, other;
	char *big = malloc(CONTROL_MAX_INPUT + 4096);
	(void)state;
	greet_and_negotiate(&k);
	strcpy(big, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"");
	size_t n = strlen(big);
	memset(big + n, 'a', CONTROL_MAX_INPUT);
	big[n + CONTROL_MAX_INPUT] = 0;
	send(k.fd, big, strlen(big), MSG_NOSIGNAL);
	struct json_object *r = conn_recv(&k);
	assert_non_null(r);
	assert_true(strstr(str_at(r, "error", "desc"), "too long") != NULL);
	json_object_put(r);
	assert_true(conn_closed(&k));
	close(k.fd);
	free(big);
	greet_and_negotiate(&other); /* the server is fine */
	expect_return(&other, "{\"execute\": \"echo\"}\n");
	close(other.fd);
}

static void test_clients_and_events(void **state)
{
	struct conn a, b, fresh, half;
	struct json_object *e;
	(void)state;
	greet_and_negotiate(&a);
	greet_and_negotiate(&b);
	conn_open(&fresh); /* not negotiated: no events */
	json_object_put(conn_recv(&fresh));
	conn_open(&half); /* disconnects in the middle of a command */
	json_object_put(conn_recv(&half));
	conn_send(&half, "{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"ec");
	close(half.fd);

	/* the handler's event may come before or after its reply */
	conn_send(&a, "{\"execute\": \"raise\"}\n");
	int got_return = 0, got_event = 0;
	for (int i = 0; i < 2; i++) {
		e = conn_recv(&a);
		assert_non_null(e);
		if (json_object_object_get_ex(e, "return", NULL))
			got_return++;
		else if (str_at(e, "event", NULL) && !strcmp(str_at(e, "event", NULL), "RAISED"))
			got_event++;
		json_object_put(e);
	}
	assert_int_equal(got_return, 1);
	assert_int_equal(got_event, 1);
	e = conn_recv(&b);
	assert_non_null(e);
	assert_string_equal(str_at(e, "event", NULL), "RAISED");
	assert_non_null(str_at(e, "timestamp", "seconds"));
	assert_non_null(str_at(e, "timestamp", "microseconds"));
	json_object_put(e);
	/* the unnegotiated client got nothing: its next line is its own reply */
	expect_error(&fresh, "{\"execute\": \"echo\"}\n", "CommandNotFound", NULL);
	control_event(ctl, "FROM_OUTSIDE", NULL);
	e = conn_recv(&b);
	assert_string_equal(str_at(e, "event", NULL), "FROM_OUTSIDE");
	json_object_put(e);
	close(a.fd), close(b.fd), close(fresh.fd);
}

/* whoami: the id of the client that asks; the disconnect hook records ids. */
static int cmd_whoami(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)args, (void)err, (void)errlen;
	*ret = json_object_new_int64((int64_t)control_caller(opaque));
	return 0;
}

static _Atomic uint64_t gone_ids[CONTROL_MAX_CLIENTS * 4];
static _Atomic int ngone;

static void on_gone(void *opaque, uint64_t client)
{
	(void)opaque;
	int i = atomic_fetch_add(&ngone, 1);
	if (i < (int)(sizeof(gone_ids) / sizeof(gone_ids[0])))
		atomic_store(&gone_ids[i], client);
}

static uint64_t whoami(struct conn *k)
{
	struct json_object *r = call(k, "{\"execute\": \"whoami\"}\n"), *v;
	assert_non_null(r);
	assert_true(json_object_object_get_ex(r, "return", &v));
	uint64_t id = (uint64_t)json_object_get_int64(v);
	json_object_put(r);
	return id;
}

/* Per-client ids, events to one client (dropped, not the client, when it
 * does not keep up), and the hook when one goes. */
static void test_client_ids(void **state)
{
	struct conn a, b;
	struct json_object *e;
	(void)state;
	assert_int_equal(control_register(ctl, "whoami", cmd_whoami, ctl), 0);
	assert_int_equal(control_on_disconnect(ctl, on_gone, NULL), 0);
	assert_int_equal(control_caller(ctl), 0); /* outside a handler */
	greet_and_negotiate(&a);
	greet_and_negotiate(&b);
	uint64_t ida = whoami(&a), idb = whoami(&b);
	assert_true(ida > 0 && idb > 0 && ida != idb);
	assert_int_equal(whoami(&a), ida);

	control_event_to(ctl, idb, "ONLY_B", NULL);
	control_event_to(ctl, 999999, "NOBODY", NULL);
	e = conn_recv(&b);
	assert_string_equal(str_at(e, "event", NULL), "ONLY_B");
	json_object_put(e);
	assert_int_equal(whoami(&a), ida); /* a's next line is its reply, not the event */

	/* a client that does not read loses events, not its connection */
	static char big[16 * 1024];
	memset(big, 'x', sizeof(big) - 1);
	int sent = 0;
	while (sent < 1000 && !control_event_to(ctl, ida, "BIG", json_object_new_string(big)))
		sent++;
	assert_true(sent > 0 && sent < 1000);
	/* (the socket buffer takes some too) */
	conn_send(&a, "{\"execute\": \"whoami\"}\n");
	bool reply = false;
	for (int i = 0; i <= sent && !reply; i++) {
		e = conn_recv(&a);
		assert_non_null(e);
		reply = json_object_object_get_ex(e, "return", NULL);
		json_object_put(e);
	}
	assert_true(reply);

	int before = atomic_load(&ngone);
	close(a.fd);
	for (int i = 0; i < 500 && atomic_load(&ngone) == before; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&ngone), before + 1);
	assert_int_equal(atomic_load(&gone_ids[before]), ida);
	close(b.fd);
	for (int i = 0; i < 500 && atomic_load(&ngone) == before + 1; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&gone_ids[before + 1]), idb);
}

static void test_slow_client_never_stalls(void **state)
{
	struct conn stuck, ok;
	struct timespec t0, t1;
	(void)state;
	greet_and_negotiate(&stuck);
	int small = 4096;
	setsockopt(stuck.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	greet_and_negotiate(&ok);
	/* 8 MiB of events: far past the output bound of a client that never
	 * reads.  Posting must not block, and the stuck client must go. */
	char *payload = malloc(8192);
	memset(payload, 'z', 8191);
	payload[8191] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 1024; i++) {
		control_event(ctl, "BULK", json_object_new_string(payload));
		if (i % 64 == 0) { /* the reading client keeps up */
			struct json_object *e;
			while ((e = conn_recv(&ok)) && strcmp(str_at(e, "event", NULL), "BULK")) {
				json_object_put(e);
			}
			json_object_put(e);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(payload);
	/* a generous bound: what matters is that nothing waited for the client */
	assert_true(t1.tv_sec - t0.tv_sec < 20);
	assert_true(conn_closed(&stuck));
	close(stuck.fd);
	/* drain and keep using the good client */
	close(ok.fd);
	greet_and_negotiate(&ok);
	expect_return(&ok, "{\"execute\": \"echo\"}\n");
	close(ok.fd);
}

static void test_client_limit(void **state)
{
	struct conn k[CONTROL_MAX_CLIENTS + 1];
	(void)state;
	usleep(100000); /* let earlier tests' closed clients be reaped */
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		conn_open(&k[i]);
		struct json_object *g = conn_recv(&k[i]);
		assert_non_null(g);
		json_object_put(g);
	}
	conn_open(&k[CONTROL_MAX_CLIENTS]);
	struct json_object *r = conn_recv(&k[CONTROL_MAX_CLIENTS]);
	assert_non_null(r);
	assert_true(strstr(str_at(r, "error", "desc"), "too many") != NULL);
	json_object_put(r);
	for (int i = 0; i <= CONTROL_MAX_CLIENTS; i++)
		close(k[i].fd);
}

static void test_socket_path(void **state)
{
	char err[256], p2[160];
	struct control *c2;
	int fd;
	(void)state;
	/* a live socket is refused */
	assert_null(control_open(path, err, sizeof(err)));
	assert_true(strstr(err, "in use") != NULL);
	/* a stale socket (nobody listening) is replaced */
	snprintf(p2, sizeof(p2), "%s/stale.sock", dir);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		strcpy(sa.sun_path, p2);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	c2 = control_open(p2, err, sizeof(err));
	assert_non_null(c2);
	control_close(c2);
	assert_int_equal(access(p2, F_OK), -1); /* removed on close */
	/* a file that is not a socket is never replaced */
	snprintf(p2, sizeof(p2), "%s/file", dir);
	fd = open(p2, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_null(control_open(p2, err, sizeof(err)));
	assert_true(strstr(err, "not a socket") != NULL);
	unlink(p2);
	/* a path too long for sun_path */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/', longp[sizeof(longp) - 1] = 0;
	assert_null(control_open(longp, err, sizeof(err)));
	assert_true(strstr(err, "longer") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation),        cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_oversized_dropped),
		cmocka_unit_test(test_clients_and_events), cmocka_unit_test(test_slow_client_never_stalls),
		cmocka_unit_test(test_client_limit),       cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_client_ids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
