/* gdbstub: a gdb remote-protocol server (`symbiont run --gdb tcp:HOST:PORT
 * | unix:PATH [--gdb-wait]`) on its own thread, one client at a time.
 *
 * All-stop, as gdb expects of a whole machine: while the client looks at
 * the guest, this thread holds one vm_pause() and every vCPU is parked;
 * on continue or step it lets go and arms the callbacks of its
 * breakpoints, watchpoints and step subscription (target.c).  The first
 * callback to fire takes a pause from the vCPU's own thread
 * (vm_pause_request) and returns SYM_STOP, so the guest stops right at the
 * hit; this thread then waits until every vCPU has parked and reports the
 * stop.  Ctrl-C is a vm_pause() from here.
 *
 * The client is untrusted: packets are bounded (packet.h), every field is
 * checked (proto.c), a write that does not drain in SEND_TIMEOUT_S drops
 * the client, and a client that goes away, however it goes, takes its
 * breakpoints with it and leaves the guest running. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "services/gdbstub/gdbstub.h"
#include "symbiont/event.h"
#include "symbiont/service.h"
#include "symbiont/vm.h"

#define SEND_TIMEOUT_S 5
#define POLL_MS        100

/* ---- the socket ---------------------------------------------------------- */

static int listen_on(struct gdbstub *g, const char *spec, char *err, size_t errlen)
{
	int fd = -1, one = 1;
	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		struct stat st;
		const char *path = spec + 5;
		if (!path[0] || strlen(path) >= sizeof(a.sun_path)) {
			snprintf(err, errlen, "--gdb %s: the path is empty or too long", spec);
			return -1;
		}
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path); /* a stale socket of an earlier run */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0)
			goto fail;
		snprintf(g->unix_path, sizeof(g->unix_path), "%s", path);
		return fd;
	}
	if (!strncmp(spec, "tcp:", 4)) {
		char host[256];
		const char *colon = strrchr(spec + 4, ':');
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
		                *res = NULL;
		if (!colon || colon == spec + 4 || (size_t)(colon - (spec + 4)) >= sizeof(host)) {
			snprintf(err, errlen, "--gdb %s: expected tcp:HOST:PORT", spec);
			return -1;
		}
		memcpy(host, spec + 4, (size_t)(colon - (spec + 4)));
		host[colon - (spec + 4)] = 0;
		int r = getaddrinfo(host, colon + 1, &hints, &res);
		if (r) {
			snprintf(err, errlen, "--gdb %s: %s", spec, gai_strerror(r));
			return -1;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0) {
			freeaddrinfo(res);
			goto fail;
		}
		freeaddrinfo(res);
		return fd;
	}
	snprintf(err, errlen, "--gdb %s: expected tcp:HOST:PORT or unix:PATH", spec);
	return -1;
fail:
	snprintf(err, errlen, "--gdb %s: %s", spec, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- sending ------------------------------------------------------------- */

static int send_raw(struct gdbstub *g, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(g->client_fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* gone, or not reading for SEND_TIMEOUT_S */
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_packet(struct gdbstub *g, const char *payload, size_t len)
{
	g->frame_len = gdb_frame(g->frame, sizeof(g->frame), payload, len);
	if (!g->frame_len) /* cannot happen: replies are bounded by GDB_PACKET_MAX */
		g->frame_len = gdb_frame(g->frame, sizeof(g->frame), "E01", 3);
	return send_raw(g, g->frame, g->frame_len);
}

/* A monitor command's output, as O packets (hex text) before its reply. */
static int send_console(struct gdbstub *g)
{
	struct gdb_session *s = &g->sess;
	char pkt[1 + 2 * 4096 + 1];
	int r = 0;
	for (size_t off = 0; off < s->console_len && r == 0; off += 4096) {
		size_t n = s->console_len - off < 4096 ? s->console_len - off : 4096;
		pkt[0] = 'O';
		gdb_tohex(pkt + 1, s->console + off, n);
		r = send_packet(g, pkt, 1 + 2 * n);
	}
	free(s->console);
	s->console = NULL;
	s->console_len = 0;
	return r;
}

/* ---- stopping and resuming ---------------------------------------------- */

/* Takes the VM for the client (Ctrl-C, a new client).  -1: it is stopping. */
static int stop_now(struct gdbstub *g, int sig)
{
	pthread_mutex_lock(&g->lock);
	g->armed = false;
	bool by_event = g->event_stop;
	pthread_mutex_unlock(&g->lock);
	if (by_event)
		return 1; /* a callback got there first: its stop is reported instead */
	if (vm_pause(g->vm) < 0)
		return -1;
	g->stopped = true;
	g->sess.stop_sig = sig;
	g->sess.stop_cpu = 0;
	g->sess.stop_watch = 0;
	g->sess.stop_swbreak = g->sess.stop_hwbreak = g->sess.stop_history_begin = false;
	return 0;
}

/* A callback stopped the guest: wait for every vCPU, keep one hold. */
int gdb_stop_by_event(struct gdbstub *g)
{
	pthread_mutex_lock(&g->lock);
	g->event_stop = false;
	enum gdb_stop_kind kind = g->ev_kind;
	int cpu = g->ev_cpu;
	uint64_t addr = g->ev_addr;
	pthread_mutex_unlock(&g->lock);
	int r = vm_pause(g->vm);
	vm_resume(g->vm); /* the callback's vm_pause_request: ours (if any) is the one kept */
	if (r < 0)
		return -1;
	g->stopped = true;
	sym_unsubscribe(g->step_sub);
	g->step_sub = NULL;
	g->sess.stop_sig = 5;
	g->sess.stop_cpu = cpu;
	g->sess.stop_watch = kind == STOP_WATCH ? 'w' : kind == STOP_RWATCH ? 'r' : kind == STOP_AWATCH ? 'a' : 0;
	g->sess.stop_swbreak = kind == STOP_BREAK;
	g->sess.stop_hwbreak = kind == STOP_HWBREAK;
	g->sess.stop_history_begin = false;
	g->sess.stop_addr = addr;
	g->sess.g_cpu = cpu; /* gdb reads the stopping vCPU's registers first */
	return 0;
}

static enum sym_action on_step(void *opaque, struct sym_event *ev)
{
	return (enum sym_action)gdb_stop_here(opaque, ev->cpu, STOP_STEP, 0, 0);
}

/* 0, or -1 with the reply to send instead (the step could not be set up). */
static int resume(struct gdbstub *g)
{
	int step = g->sess.step_cpu;
	if (step >= 0 && !g->step_sub) {
		struct sym_filter f = { .type = SYM_EV_STEP, .one_cpu = true, .cpu = step };
		char err[160];
		g->step_sub = sym_subscribe(g->vm, &f, on_step, g, err, sizeof(err));
		if (!g->step_sub)
			return -1;
	}
	pthread_mutex_lock(&g->lock);
	g->armed = true;
	g->event_stop = false;
	pthread_mutex_unlock(&g->lock);
	g->stopped = false;
	vm_resume(g->vm);
	return 0;
}

/* The client is done (detach, kill, gone): nothing of it stays behind. */
static void release(struct gdbstub *g)
{
	pthread_mutex_lock(&g->lock);
	g->armed = false;
	bool by_event = g->event_stop;
	g->event_stop = false;
	pthread_mutex_unlock(&g->lock);
	if (by_event)
		vm_resume(g->vm); /* the hold a callback took for us */
	gdb_points_clear(g);
	if (g->stopped) {
		g->stopped = false;
		vm_resume(g->vm);
	}
}

/* ---- one client ---------------------------------------------------------- */

static int send_stop(struct gdbstub *g)
{
	size_t n = gdb_stop_reply(&g->sess, g->reply, sizeof(g->reply));
	return send_packet(g, g->reply, n);
}

/* One packet from the client: 0 to go on, 1 to end the session (detach,
 * kill), -1 when the client is gone. */
static int packet(struct gdbstub *g)
{
	size_t rlen;
	if (!g->sess.no_ack && send_raw(g, "+", 1) < 0)
		return -1;
	enum gdb_action a = gdb_handle(&g->sess, g->rx.buf, g->rx.len, g->reply, &rlen);
	if (!g->stopped && (a == GDB_REPLY) && g->rx.buf[0] != 'q' && g->rx.buf[0] != 'Q')
		return send_packet(g, "E03", 3); /* the guest runs: nothing of it can be read now */
	switch (a) {
	case GDB_REPLY:
		if (g->sess.console && send_console(g) < 0)
			return -1;
		return send_packet(g, g->reply, rlen);
	case GDB_NOREPLY: return 0;
	case GDB_RESUME:
		if (!g->stopped)
			return 0;
		if (resume(g) < 0)
			return send_packet(g, "E03", 3);
		return 0;
	case GDB_REVERSE_STEP:
	case GDB_REVERSE_CONT: {
		char rerr[200];
		if (!g->stopped)
			return 0;
		int r = gdb_reverse(g, a == GDB_REVERSE_STEP, rerr, sizeof(rerr));
		if (r < 0)
			return 0; /* the VM ends: the loop sends W */
		if (r > 0) {
			fprintf(stderr, "symbiont: gdb: cannot go back: %s\n", rerr);
			return send_packet(g, "E04", 3);
		}
		return send_stop(g);
	}
	case GDB_DETACH: send_packet(g, g->reply, rlen); return 1;
	case GDB_KILL:
		fprintf(stderr, "symbiont: the gdb client killed the VM\n");
		vm_request_exit_reason(g->vm, 1, "host-gdb-kill");
		return 1;
	}
	return 0;
}

static void session(struct gdbstub *g)
{
	uint8_t buf[4096];

	gdb_session_init(&g->sess, &gdb_vm_ops, g, g->vm->ncpus);
	gdb_rx_init(&g->rx);
	g->frame_len = 0;
	if (!g->stopped && stop_now(g, 5) < 0)
		return;
	for (;;) {
		struct pollfd p[2] = { { .fd = g->client_fd, .events = POLLIN },
			               { .fd = g->wake_fd, .events = POLLIN } };
		if (poll(p, 2, POLL_MS) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			uint64_t v;
			if (read(g->wake_fd, &v, sizeof(v)) < 0) { /* a callback or the service's stop woke us */
			}
		}
		bool ev;
		pthread_mutex_lock(&g->lock);
		ev = g->event_stop;
		pthread_mutex_unlock(&g->lock);
		if (!g->stopped && ev) {
			if (gdb_stop_by_event(g) < 0 || send_stop(g) < 0)
				break;
		}
		if (!g->stopped && vm_stopping(g->vm)) {
			char w[8];
			snprintf(w, sizeof(w), "W%02x", g->vm->exit_status & 0xff);
			send_packet(g, w, strlen(w));
			break;
		}
		if (atomic_load(&g->quit)) /* after the W: the VM ending is why the service stops */
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = recv(g->client_fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* gone, perhaps in the middle of a packet */
		for (ssize_t i = 0; i < n; i++) {
			int r = 0;
			switch (gdb_rx_byte(&g->rx, buf[i])) {
			case GDB_RX_PACKET: r = packet(g); break;
			case GDB_RX_BAD: r = g->sess.no_ack ? 0 : send_raw(g, "-", 1); break;
			case GDB_RX_TOO_LONG:
				r = (g->sess.no_ack ? 0 : send_raw(g, "+", 1)) || send_packet(g, "E01", 3);
				break;
			case GDB_RX_INTERRUPT:
				if (!g->stopped) {
					int s = stop_now(g, 2);
					if (s < 0)
						r = 1;
					else if (s == 0)
						r = send_stop(g);
				}
				break;
			case GDB_RX_NACK:
				if (g->frame_len)
					r = send_raw(g, g->frame, g->frame_len);
				break;
			case GDB_RX_ACK:
			case GDB_RX_NONE: break;
			}
			if (r)
				goto out;
		}
	}
out:
	free(g->sess.console);
	g->sess.console = NULL;
	release(g);
}

static void *stub_thread(void *arg)
{
	struct gdbstub *g = arg;
	while (!atomic_load(&g->quit)) {
		struct pollfd p[2] = { { .fd = g->listen_fd, .events = POLLIN },
			               { .fd = g->wake_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (atomic_load(&g->quit))
			break;
		if (p[1].revents & POLLIN) {
			uint64_t v;
			if (read(g->wake_fd, &v, sizeof(v)) < 0) {
			}
		}
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix sockets */
		g->client_fd = fd;
		session(g);
		close(fd);
		g->client_fd = -1;
	}
	return NULL;
}

/* ---- the service --------------------------------------------------------- */

static int gdbstub_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct gdbstub *g;
	*state = NULL;
	if (!vm->cfg.gdb)
		return 0;
	if (!(g = calloc(1, sizeof(*g)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->vm = vm;
	g->client_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->listen_fd = g->wake_fd < 0 ? -1 : listen_on(g, vm->cfg.gdb, err, errlen);
	if (g->listen_fd < 0) {
		if (g->wake_fd < 0)
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
		/* The user asked for a debugger: a VM without one is not what
		 * they meant, so it ends here rather than run unwatched (the
		 * line is services_start's). */
		vm_request_exit(vm, 1);
		if (g->wake_fd >= 0)
			close(g->wake_fd);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return -1;
	}
	if (vm->cfg.gdb_wait && vm_pause(vm) == 0)
		g->stopped = true; /* before the first instruction: the vCPUs park as they start */
	if (pthread_create(&g->thread, NULL, stub_thread, g)) {
		snprintf(err, errlen, "cannot start the gdb thread");
		if (g->stopped)
			vm_resume(vm);
		close(g->listen_fd);
		close(g->wake_fd);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return -1;
	}
	g->thread_started = true;
	*state = g;
	return 0;
}

static void gdbstub_stop(void *state)
{
	struct gdbstub *g = state;
	uint64_t one = 1;
	if (!g)
		return;
	atomic_store(&g->quit, true);
	if (write(g->wake_fd, &one, sizeof(one)) < 0) {
	}
	if (g->thread_started)
		pthread_join(g->thread, NULL);
	if (g->stopped) /* --gdb-wait and nobody came */
		vm_resume(g->vm);
	gdb_points_clear(g);
	close(g->listen_fd);
	close(g->wake_fd);
	if (g->unix_path[0])
		unlink(g->unix_path);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static const struct sym_service gdbstub_service = {
	.name = "gdbstub",
	.start = gdbstub_start,
	.stop = gdbstub_stop,
};
SYM_SERVICE(gdbstub_service)
