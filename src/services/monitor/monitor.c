/* monitor: per-VM, per-vCPU and per-device metrics (the XenMon line), on
 * the control API (query-metrics, `symbiont ctl NAME metrics`) and, with
 * --metrics tcp:HOST:PORT, in the Prometheus text format at /metrics.
 *
 * Everything comes from counters the VMM keeps anyway: the engines'
 * (instructions retired user/kernel on emu, exits by reason on kvm, time
 * run), each device's lifecycle stats (block requests, bytes and latency
 * buckets, packets and bytes per NIC, vsock bytes), the event hub's, and
 * the host's CPU time per vCPU thread.  Reading them never pauses the VM.
 *
 * The HTTP side is deliberately small: one thread, one connection at a
 * time, a request of at most 4 KiB read within 2 s, GET /metrics or 404,
 * then close.  A client that stalls is cut off by those bounds. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "symbiont/control.h"
#include "symbiont/device.h"
#include "symbiont/event.h"
#include "symbiont/service.h"
#include "symbiont/symspy.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"
#include "symbiont/vsched.h"

#define HTTP_REQUEST_MAX 4096
#define HTTP_TIMEOUT_MS  2000

struct monitor {
	struct vm *vm;
	int listen_fd, stop_fd;
	pthread_t thread;
	bool thread_started;
};

/* ---- one collection: a callback per metric ------------------------------- */

/* scope "vm", "vcpu" or "device"; label the cpu index or device id. */
typedef void (*metric_fn)(void *ctx, const char *scope, const char *label, const char *key, uint64_t v);

struct emit_ctx {
	metric_fn fn;
	void *ctx;
	const char *scope;
	const char *label;
};

static void emit_one(void *c, const char *key, uint64_t v)
{
	struct emit_ctx *e = c;
	e->fn(e->ctx, e->scope, e->label, key, v);
}

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const char *const event_names[SYM_EV_TYPES] = {
	"syscall_enter", "syscall_exit", "exception", "cr3_write", "msr_write", "dma",      "block",
	"page_write",    "code_hook",    "step",      "packet",    "page_read", "hw_point",
};

static void collect(struct vm *vm, metric_fn fn, void *ctx)
{
	struct sym_event_stats es;
	char label[32];

	fn(ctx, "vm", "", "vm_clock_ns", vm_now(vm));
	fn(ctx, "vm", "", "host_cpu_ns", process_cpu_ns());
	fn(ctx, "vm", "", "vcpus", (uint64_t)vm->ncpus);
	fn(ctx, "vm", "", "memory_bytes", vm->mem.size);
	fn(ctx, "vm", "", "paused", vm->user_paused);
	struct vsched_spec sched;
	vsched_mode(vm, &sched);
	fn(ctx, "vm", "", "sched_period_ns", sched.period_ns);
	fn(ctx, "vm", "", "sched_slice_ns", sched.slice_ns);
	if (vm->restore_ns)
		fn(ctx, "vm", "", "restore_ns", vm->restore_ns);
	sym_event_stats(vm, &es);
	for (int t = 0; t < SYM_EV_TYPES; t++) {
		char key[48];
		snprintf(key, sizeof(key), "events_%s", event_names[t]);
		fn(ctx, "vm", "", key, es.delivered[t]);
	}
	for (int i = 0; i < vm->ncpus; i++) {
		snprintf(label, sizeof(label), "%d", i);
		struct emit_ctx e = { fn, ctx, "vcpu", label };
		vm_vcpu_stats(vm, i, emit_one, &e);
		struct vsched_stats st;
		if (vsched_stats(vm, i, &st) == 0 && st.valid) {
			fn(ctx, "vcpu", label, "sched_received_ns", st.received_ns);
			fn(ctx, "vcpu", label, "sched_entitled_ns", st.entitled_ns);
			fn(ctx, "vcpu", label, "sched_periods", st.periods);
			fn(ctx, "vcpu", label, "sched_elapsed_ns", st.elapsed_ns);
			fn(ctx, "vcpu", label, "sched_periods_wanted", st.wanted);
			fn(ctx, "vcpu", label, "sched_deadline_misses", st.misses);
			fn(ctx, "vcpu", label, "sched_lateness_ns", st.lateness_ns);
			fn(ctx, "vcpu", label, "sched_lateness_max_ns", st.lateness_max_ns);
		}
	}
	/* Device fields are read under io_lock, as every device access. */
	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < vm_device_count(vm); i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		struct emit_ctx e = { fn, ctx, "device", d->id };
		if (d->ops->stats)
			d->ops->stats(d->dev, emit_one, &e);
	}
	pthread_mutex_unlock(&vm->io_lock);
}

/* ---- JSON (query-metrics) ------------------------------------------------- */

static void to_json(void *ctx, const char *scope, const char *label, const char *key, uint64_t v)
{
	struct json_object *root = ctx, *group, *item;
	if (!strcmp(scope, "vm")) {
		json_object_object_get_ex(root, "vm", &group);
		json_object_object_add(group, key, json_object_new_int64((int64_t)v));
		return;
	}
	json_object_object_get_ex(root, !strcmp(scope, "vcpu") ? "vcpus" : "devices", &group);
	if (!json_object_object_get_ex(group, label, &item)) {
		item = json_object_new_object();
		json_object_object_add(group, label, item);
	}
	json_object_object_add(item, key, json_object_new_int64((int64_t)v));
}

/* The guest's own figures: from SymSpy when the guest shares its pages (read
 * with no exit and no pause), each group saying its source; without them
 * the VMM has no figures of the guest's and says so. */
static struct json_object *guest_json(struct vm *vm)
{
	struct json_object *o = json_object_new_object(), *la;
	struct symspy_global g;
	char e[256];

	if (symspy_read_global(vm, &g, e, sizeof(e))) {
		json_object_object_add(o, "source", json_object_new_string("none"));
		json_object_object_add(o, "why", json_object_new_string(e));
		return o;
	}
	json_object_object_add(o, "source", json_object_new_string("symspy"));
	json_object_object_add(o, "mem_total_kb", json_object_new_int64((int64_t)g.mem_total_kb));
	json_object_object_add(o, "mem_free_kb", json_object_new_int64((int64_t)g.mem_free_kb));
	json_object_object_add(o, "mem_available_kb", json_object_new_int64((int64_t)g.mem_available_kb));
	json_object_object_add(o, "page_cache_kb", json_object_new_int64((int64_t)g.page_cache_kb));
	json_object_object_add(o, "anon_kb", json_object_new_int64((int64_t)g.anon_kb));
	la = json_object_new_array();
	for (int i = 0; i < 3; i++)
		json_object_array_add(la, json_object_new_double(g.loadavg[i]));
	json_object_object_add(o, "loadavg", la);
	json_object_object_add(o, "nr_running", json_object_new_int64(g.nr_running));
	json_object_object_add(o, "nr_tasks", json_object_new_int64(g.nr_tasks));
	return o;
}

static int cmd_metrics(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct monitor *m = opaque;
	struct json_object *root = json_object_new_object();
	(void)args, (void)err, (void)errlen;
	json_object_object_add(root, "vm", json_object_new_object());
	json_object_object_add(root, "vcpus", json_object_new_object());
	json_object_object_add(root, "devices", json_object_new_object());
	collect(m->vm, to_json, root);
	json_object_object_add(root, "guest", guest_json(m->vm));
	*ret = root;
	return 0;
}

/* ---- Prometheus text ---------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	const char *vm_name;
};

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->buf && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b)
			return;
		t->buf = b, t->cap = cap;
	}
}

/* Metric names are [a-zA-Z0-9_]; label values escape \ and ". */
static void sanitize(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < len; i++)
		dst[i] = isalnum((unsigned char)src[i]) ? src[i] : '_';
	dst[i] = 0;
}

static void to_text(void *ctx, const char *scope, const char *label, const char *key, uint64_t v)
{
	struct text *t = ctx;
	char name[96], kind[64] = "";
	sanitize(name, sizeof(name), key);
	if (!strcmp(scope, "vm")) {
		put(t, "symbiont_%s{vm=\"%s\"} %llu\n", name, t->vm_name, (unsigned long long)v);
	} else if (!strcmp(scope, "vcpu")) {
		put(t, "symbiont_vcpu_%s{vm=\"%s\",cpu=\"%s\"} %llu\n", name, t->vm_name, label, (unsigned long long)v);
	} else {
		/* the device's kind is its id up to the instance number */
		size_t k = strcspn(label, ".");
		sanitize(kind, sizeof(kind), label);
		kind[k < sizeof(kind) ? k : sizeof(kind) - 1] = 0;
		put(t, "symbiont_device_%s_%s{vm=\"%s\",device=\"%s\"} %llu\n", kind, name, t->vm_name, label,
		    (unsigned long long)v);
	}
}

static char *monitor_prometheus_text(struct vm *vm, size_t *len)
{
	struct text t = { .vm_name = vm->name[0] ? vm->name : "vm" };
	char safe[80];
	sanitize(safe, sizeof(safe), t.vm_name);
	t.vm_name = safe;
	put(&t, "# symbiont metrics: counters unless named otherwise (vcpus, memory_bytes, paused, halted, "
	        "inflight, sectors are gauges)\n");
	collect(vm, to_text, &t);
	*len = t.len;
	return t.buf;
}

static void serve_one(struct monitor *m, int fd)
{
	char req[HTTP_REQUEST_MAX + 1];
	size_t got = 0;

	while (got < HTTP_REQUEST_MAX && !memmem(req, got, "\r\n\r\n", 4)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, HTTP_TIMEOUT_MS) <= 0)
			return;
		ssize_t r = recv(fd, req + got, HTTP_REQUEST_MAX - got, 0);
		if (r <= 0)
			return;
		got += (size_t)r;
	}
	req[got] = 0;
	const char *status = "404 Not Found", *type = "text/plain";
	char *body = NULL;
	size_t blen = 0;
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		body = monitor_prometheus_text(m->vm, &blen);
		status = "200 OK";
		type = "text/plain; version=0.0.4";
	}
	char head[256];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
	                  type, body ? blen : 10);
	(void)!send(fd, head, (size_t)hl, MSG_NOSIGNAL);
	(void)!send(fd, body ? body : "not found\n", body ? blen : 10, MSG_NOSIGNAL);
	free(body);
}

static void *http_thread(void *arg)
{
	struct monitor *m = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = m->stop_fd, .events = POLLIN },
			               { .fd = m->listen_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				serve_one(m, fd);
				close(fd);
			}
		}
	}
	return NULL;
}

/* "tcp:HOST:PORT" (HOST an IPv4 address or localhost) -> a listening socket. */
static int listen_on(const char *spec, char *err, size_t errlen)
{
	char host[64];
	const char *colon;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *end;
	long port;
	int fd, one = 1;

	if (strncmp(spec, "tcp:", 4) || !(colon = strrchr(spec + 4, ':')) ||
	    (size_t)(colon - spec - 4) >= sizeof(host)) {
		snprintf(err, errlen, "--metrics %s: expected tcp:HOST:PORT", spec);
		return -1;
	}
	memcpy(host, spec + 4, (size_t)(colon - spec - 4));
	host[colon - spec - 4] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &sa.sin_addr) != 1) {
		snprintf(err, errlen, "--metrics %s: expected tcp:HOST:PORT with an IPv4 HOST", spec);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		snprintf(err, errlen, "--metrics %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- the service ---------------------------------------------------------- */

static void monitor_stop(void *state)
{
	struct monitor *m = state;
	uint64_t one = 1;
	if (!m)
		return;
	if (m->thread_started) {
		(void)!write(m->stop_fd, &one, sizeof(one));
		pthread_join(m->thread, NULL);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	free(m);
}

static int monitor_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct monitor *m;

	*state = NULL;
	if (!vm->control && !vm->cfg.metrics)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->vm = vm;
	m->listen_fd = m->stop_fd = -1;
	if (vm->cfg.metrics) {
		sigset_t all, old;
		m->stop_fd = eventfd(0, EFD_CLOEXEC);
		m->listen_fd = listen_on(vm->cfg.metrics, err, errlen);
		if (m->stop_fd < 0 || m->listen_fd < 0) {
			monitor_stop(m);
			return -1;
		}
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the VM's signalfd */
		m->thread_started = pthread_create(&m->thread, NULL, http_thread, m) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!m->thread_started) {
			snprintf(err, errlen, "cannot start the metrics thread");
			monitor_stop(m);
			return -1;
		}
	}
	if (vm->control)
		control_register(vm->control, "query-metrics", cmd_metrics, m);
	*state = m;
	return 0;
}

static const struct sym_service monitor_service = {
	.name = "monitor",
	.start = monitor_start,
	.stop = monitor_stop,
};
SYM_SERVICE(monitor_service)
