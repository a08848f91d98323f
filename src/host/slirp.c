/* User networking: libslirp on its own thread.
 *
 * libslirp wants to be polled with its own, changing set of sockets (some
 * for writability), which the VM's event loop (fixed fds, readability only)
 * cannot do.  So the stack runs on a thread with its own poll loop and
 * timers, and meets the device through two doors:
 *   - guest -> host: send() feeds slirp_input() under the stack's lock and
 *     kicks the thread (a new connection adds a socket to poll);
 *   - host -> guest: libslirp's send_packet callback appends the frame to a
 *     bounded queue and makes rx_fd (an eventfd) readable; the device drains
 *     it from its vm_add_fd callback.
 * The thread never touches vm->io_lock, so device code may call send() with
 * it held.  Lock order: stack lock, then queue lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "host/net.h"
#include "symbiont/iothreads.h"

#define RXQ_FRAMES         256        /* frames waiting for the device */
#define RXQ_BYTES          (1u << 20) /* and their total size */
#define GUEST_ERRORS_SHOWN 8

struct stimer {
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct stimer *next;
};

struct qframe {
	size_t len;
	uint8_t data[];
};

struct slirp_be {
	struct net_backend be;
	Slirp *slirp;
	pthread_mutex_t lock; /* the stack: slirp_* calls, timers */
	pthread_t thread;
	bool thread_started;
	int wake_fd;
	bool stop;
	struct stimer *timers;
	struct vm_clock clock; /* a copy of the VM's: read on this thread */
	unsigned guest_errors;

	struct pollfd *pfd;
	int npfd, cap_pfd;

	pthread_mutex_t qlock; /* the rx queue */
	struct qframe *q[RXQ_FRAMES];
	unsigned qhead, qcount;
	size_t qbytes;
	unsigned long dropped;
};

/* libslirp's clock is the VM's: its timers are guest-visible time too. */
static int64_t now_ns(const struct slirp_be *s)
{
	return (int64_t)vm_clock_read(&s->clock);
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("symbiont: net: eventfd");
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("symbiont: net: eventfd");
}

/* ---- libslirp callbacks (stack lock held) ------------------------------ */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *s = opaque;
	struct qframe *f;

	pthread_mutex_lock(&s->qlock);
	if (s->qcount == RXQ_FRAMES || s->qbytes + len > RXQ_BYTES || !(f = malloc(sizeof(*f) + len))) {
		/* The guest is not taking frames: drop, TCP will retransmit. */
		s->dropped++;
		pthread_mutex_unlock(&s->qlock);
		return (ssize_t)len;
	}
	f->len = len;
	memcpy(f->data, buf, len);
	s->q[(s->qhead + s->qcount++) % RXQ_FRAMES] = f;
	s->qbytes += len;
	kick(s->be.rx_fd);
	pthread_mutex_unlock(&s->qlock);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_be *s = opaque;

	if (s->guest_errors++ < GUEST_ERRORS_SHOWN)
		fprintf(stderr, "symbiont: net user: guest error: %s\n", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns(opaque);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_be *s = opaque;
	struct stimer *t = calloc(1, sizeof(*t));

	if (!t)
		abort(); /* libslirp has no way to take a failure here */
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *s = opaque;

	for (struct stimer **p = &s->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct stimer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_be *s = opaque;

	((struct stimer *)timer)->expire_ms = expire_ms < 0 ? 0 : expire_ms;
	kick(s->wake_fd); /* the poll timeout may have to shrink */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void cb_notify(void *opaque)
{
	struct slirp_be *s = opaque;

	kick(s->wake_fd);
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

/* ---- the stack's thread -------------------------------------------------- */

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_be *s = opaque;
	short ev = 0;

	if (s->npfd == s->cap_pfd) {
		int cap = s->cap_pfd ? s->cap_pfd * 2 : 16;
		struct pollfd *p = realloc(s->pfd, cap * sizeof(*p));
		if (!p)
			return -1; /* libslirp skips a socket it got -1 for */
		s->pfd = p;
		s->cap_pfd = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return s->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_be *s = opaque;
	int ev = 0;
	short r;

	if (idx < 0 || idx >= s->npfd)
		return 0;
	r = s->pfd[idx].revents;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & (POLLERR | POLLNVAL))
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* Fires every expired timer; a callback may free or re-arm timers, so the
 * scan restarts after each.  Returns ms until the next one, or UINT32_MAX. */
static uint32_t run_timers(struct slirp_be *s)
{
	int64_t now = now_ns(s) / 1000000, next = INT64_MAX;
	struct stimer *t;

again:
	for (t = s->timers; t; t = t->next) {
		if (t->expire_ms >= 0 && t->expire_ms <= now) {
			t->expire_ms = -1;
			t->cb(t->cb_opaque);
			goto again;
		}
	}
	for (t = s->timers; t; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms < next)
			next = t->expire_ms;
	if (next == INT64_MAX)
		return UINT32_MAX;
	return next - now > 60000 ? 60000 : (uint32_t)(next - now);
}

static void *slirp_thread(void *arg)
{
	struct slirp_be *s = arg;

	io_thread_enter();
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		uint32_t timeout = run_timers(s);
		bool failed;
		int n;

		s->npfd = 0;
		add_poll(s->wake_fd, SLIRP_POLL_IN, s);
		slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
		pthread_mutex_unlock(&s->lock);

		n = poll(s->pfd, s->npfd, timeout == UINT32_MAX ? -1 : (int)timeout);
		failed = n < 0 && errno != EINTR;

		pthread_mutex_lock(&s->lock);
		if (n > 0 && s->pfd[0].revents)
			drain(s->wake_fd);
		if (s->stop)
			break;
		slirp_pollfds_poll(s->slirp, failed, get_revents, s);
	}
	pthread_mutex_unlock(&s->lock);
	io_thread_leave();
	return NULL;
}

/* ---- backend ops ----------------------------------------------------------- */

static int slirp_be_send(struct net_backend *be, const void *frame, size_t len)
{
	struct slirp_be *s = (struct slirp_be *)be;

	if (len > INT_MAX)
		return -1;
	pthread_mutex_lock(&s->lock);
	slirp_input(s->slirp, frame, (int)len);
	pthread_mutex_unlock(&s->lock);
	kick(s->wake_fd);
	return 0;
}

static ssize_t slirp_be_recv(struct net_backend *be, void *buf, size_t len)
{
	struct slirp_be *s = (struct slirp_be *)be;
	ssize_t r = 0;

	pthread_mutex_lock(&s->qlock);
	while (s->qcount) {
		struct qframe *f = s->q[s->qhead];
		s->qhead = (s->qhead + 1) % RXQ_FRAMES;
		s->qcount--;
		s->qbytes -= f->len;
		if (f->len <= len) {
			memcpy(buf, f->data, f->len);
			r = (ssize_t)f->len;
			free(f);
			break;
		}
		s->dropped++;
		free(f);
	}
	/* Under qlock, so a frame queued after this still leaves rx_fd set. */
	if (!s->qcount)
		drain(s->be.rx_fd);
	pthread_mutex_unlock(&s->qlock);
	return r;
}

static void slirp_be_destroy(struct net_backend *be)
{
	struct slirp_be *s = (struct slirp_be *)be;

	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_mutex_unlock(&s->lock);
		kick(s->wake_fd);
		pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->timers)
		cb_timer_free(s->timers, s);
	while (s->qcount) {
		free(s->q[s->qhead]);
		s->qhead = (s->qhead + 1) % RXQ_FRAMES;
		s->qcount--;
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->be.rx_fd >= 0)
		close(s->be.rx_fd);
	free(s->pfd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->qlock);
	free(s);
}

static const struct net_backend_ops slirp_ops = {
	.send = slirp_be_send,
	.recv = slirp_be_recv,
	.destroy = slirp_be_destroy,
};

/* ---- options ----------------------------------------------------------------- */

static int parse_port(const char *s, size_t n, int *port)
{
	char buf[8], *end;
	long v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	v = strtol(buf, &end, 10);
	if (*end || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int parse_addr(const char *s, size_t n, struct in_addr *a)
{
	char buf[INET_ADDRSTRLEN];

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	return inet_pton(AF_INET, buf, a) == 1 ? 0 : -1;
}

/* "[ADDR:]PORT" or ":PORT" (an empty ADDR keeps *a). */
static int parse_endpoint(const char *s, size_t n, struct in_addr *a, int *port)
{
	const char *colon = memchr(s, ':', n);

	if (!colon)
		return parse_port(s, n, port);
	if (colon > s && parse_addr(s, colon - s, a) < 0)
		return -1;
	return parse_port(colon + 1, n - (colon + 1 - s), port);
}

/* PROTO:[ADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, or PROTO:HOSTPORT-:GUESTPORT. */
static int parse_hostfwd(const char *fwd, size_t n, int *udp, struct in_addr *host, int *hport, struct in_addr *guest,
                         int *gport)
{
	const char *dash, *p = fwd, *end = fwd + n;

	host->s_addr = htonl(INADDR_LOOPBACK);
	inet_pton(AF_INET, "10.0.2.15", guest);
	if (n > 4 && !strncmp(p, "tcp:", 4))
		*udp = 0, p += 4;
	else if (n > 4 && !strncmp(p, "udp:", 4))
		*udp = 1, p += 4;
	else
		return -1;
	dash = memchr(p, '-', end - p);
	if (!dash || parse_endpoint(p, dash - p, host, hport) < 0 ||
	    parse_endpoint(dash + 1, end - dash - 1, guest, gport) < 0 || *gport == 0)
		return -1;
	return 0;
}

/* With s NULL only the syntax is checked. */
static int add_hostfwd(struct slirp_be *s, const char *fwd, size_t n, char *err, size_t errlen)
{
	struct in_addr host, guest;
	int udp, hport, gport;

	if (parse_hostfwd(fwd, n, &udp, &host, &hport, &guest, &gport) < 0)
		goto bad;
	if (!s)
		return 0;
	if (slirp_add_hostfwd(s->slirp, udp, host, hport, guest, gport) < 0) {
		snprintf(err, errlen, "--net user: hostfwd=%.*s: cannot listen on %s:%d: %s", (int)n, fwd,
		         inet_ntoa(host), hport, errno ? strerror(errno) : "in use");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "--net user: bad hostfwd=%.*s (want tcp:[ADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)", (int)n,
	         fwd);
	return -1;
}

/* The options after "user,": hostfwd=... (repeatable).  With s NULL only
 * the syntax is checked. */
static int apply_opts(struct slirp_be *s, const char *opts, char *err, size_t errlen)
{
	for (const char *p = opts; *p;) {
		size_t n = strcspn(p, ",");
		if (n > 8 && !strncmp(p, "hostfwd=", 8)) {
			errno = 0;
			if (add_hostfwd(s, p + 8, n - 8, err, errlen) < 0)
				return -1;
		} else if (n) {
			snprintf(err, errlen, "--net user: unknown option '%.*s'", (int)n, p);
			return -1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int net_slirp_tcp_forwards(const char *opts, uint16_t (*fwd)[2], int max)
{
	int n = 0;

	for (const char *p = opts; *p && n < max;) {
		size_t len = strcspn(p, ",");
		struct in_addr host, guest;
		int udp, hport, gport;

		if (len > 8 && !strncmp(p, "hostfwd=", 8) &&
		    parse_hostfwd(p + 8, len - 8, &udp, &host, &hport, &guest, &gport) == 0 && !udp && hport > 0) {
			fwd[n][0] = (uint16_t)hport;
			fwd[n++][1] = (uint16_t)gport;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

int net_slirp_opts_check(const char *opts, char *err, size_t errlen)
{
	return apply_opts(NULL, opts, err, errlen);
}

struct net_backend *net_slirp_create(const char *opts, const struct vm_clock *clock, char *err, size_t errlen)
{
	struct slirp_be *s = calloc(1, sizeof(*s));
	SlirpConfig cfg = { .version = 1 };
	sigset_t all, old;
	bool started;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->be.ops = &slirp_ops;
	s->be.kind = "user";
	if (clock)
		s->clock = *clock;
	s->be.rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	if (s->be.rx_fd < 0 || s->wake_fd < 0) {
		snprintf(err, errlen, "--net user: eventfd: %s", strerror(errno));
		goto fail;
	}

	cfg.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.vhostname = "symbiont";
	s->slirp = slirp_new(&cfg, &slirp_callbacks, s);
	if (!s->slirp) {
		snprintf(err, errlen, "--net user: libslirp refused its configuration");
		goto fail;
	}

	if (apply_opts(s, opts, err, errlen) < 0)
		goto fail;

	/* Signals belong to the VM's signalfd: the thread must never take one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	started = pthread_create(&s->thread, NULL, slirp_thread, s) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!started) {
		snprintf(err, errlen, "--net user: cannot start the network thread");
		goto fail;
	}
	s->thread_started = true;
	return &s->be;
fail:
	slirp_be_destroy(&s->be);
	return NULL;
}
