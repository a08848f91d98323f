/* The GEARS socket accelerator (docs/vsock.md): a preload library for the
 * guest that moves TCP connections between co-located VMs of a vsock group
 * onto AF_VSOCK (the VMM-to-VMM shared-memory path) while the program keeps
 * making its TCP socket calls.  Built by the project (make: BUILD/guest-
 * tools/v2v_accel.so), pushed into a running guest and activated for one
 * program with `symbiont ctl NAME inject-env --comm PROG LD_PRELOAD=...`.
 *
 * The map, V2V_ACCEL_MAP (default /run/symbiont-v2v.map), comes from the
 * VMM (`symbiont ctl NAME vsock-map`); its lines are
 *   connect IPV4 PORT CID VPORT   a TCP connect to IPV4:PORT reaches the
 *                                 co-located VM CID, whose program listens
 *                                 on vsock port VPORT as well
 *   listen PORT VPORT             a TCP listener on local PORT also takes
 *                                 vsock connections on VPORT
 * and '#' comments.  What it does:
 *   connect()  to a mapped address: a vsock stream to (CID, VPORT) takes
 *              the socket's fd (dup3) and its flags; when that fails, the
 *              real TCP connect runs instead;
 *   listen()   on a mapped port: a vsock listener beside it (its "twin");
 *   accept(), accept4()  on such a listener take from whichever of the two
 *              has a connection (a vsock one reported as 0.0.0.0:0);
 *   poll(), select()  wait on the twin too, reported on the TCP fd;
 *   setsockopt(), getsockopt() at IPPROTO_TCP on a vsock fd it made: 0
 *              (TCP_NODELAY and the like mean nothing there);
 *   getpeername()  of a redirected connection: the TCP address it asked for;
 *   close()    of a listener: its twin too.
 * read/write/send/recv/sendmsg/recvmsg/shutdown need nothing: the fd is a
 * stream socket.  Not covered: epoll on a twinned listener, IPv6, UDP,
 * fork after listen (the twin is inherited like any fd, but a child's
 * table starts empty only if it execs). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD    4096
#define MAX_ROUTE 64

struct route {
	int listen; /* 1: "listen PORT VPORT", 0: "connect" */
	in_addr_t ip;
	unsigned port, cid, vport;
};

static struct route routes[MAX_ROUTE];
static int nroutes;
/* Per fd: twin[fd] - 1 is a twinned listener's vsock fd; vsock_fd[fd] says
 * the fd is a vsock socket we made (a redirected connection or an accepted
 * one); peer[fd] the TCP address a redirected connect asked for. */
static int twin[MAX_FD];
static unsigned char vsock_fd[MAX_FD];
static struct sockaddr_in peer[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_listen)(int, int);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_close)(int);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);

static void load_map(void)
{
	const char *path = getenv("V2V_ACCEL_MAP");
	char line[256];
	FILE *f = fopen(path ? path : "/run/symbiont-v2v.map", "re");

	if (!f)
		return;
	while (nroutes < MAX_ROUTE && fgets(line, sizeof(line), f)) {
		struct route r = { 0 };
		char ip[64];
		if (sscanf(line, "connect %63s %u %u %u", ip, &r.port, &r.cid, &r.vport) == 4) {
			if (inet_pton(AF_INET, ip, &r.ip) != 1)
				continue;
		} else if (sscanf(line, "listen %u %u", &r.port, &r.vport) == 2) {
			r.listen = 1;
		} else {
			continue; /* a comment, or not ours */
		}
		if (r.port && r.port < 65536)
			routes[nroutes++] = r;
	}
	fclose(f);
}

__attribute__((constructor)) static void init(void)
{
	real_connect = dlsym(RTLD_NEXT, "connect");
	real_listen = dlsym(RTLD_NEXT, "listen");
	real_accept4 = dlsym(RTLD_NEXT, "accept4");
	real_close = dlsym(RTLD_NEXT, "close");
	real_poll = dlsym(RTLD_NEXT, "poll");
	real_select = dlsym(RTLD_NEXT, "select");
	real_setsockopt = dlsym(RTLD_NEXT, "setsockopt");
	real_getsockopt = dlsym(RTLD_NEXT, "getsockopt");
	real_getpeername = dlsym(RTLD_NEXT, "getpeername");
	load_map();
}

static const struct route *find_route(int listening, in_addr_t ip, unsigned port)
{
	for (int i = 0; i < nroutes; i++)
		if (routes[i].listen == listening && routes[i].port == port && (listening || routes[i].ip == ip))
			return &routes[i];
	return NULL;
}

static int is_tcp(int fd)
{
	int type = 0, dom = 0;
	socklen_t l = sizeof(type), l2 = sizeof(dom);

	return real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM &&
	       real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l2) == 0 && dom == AF_INET;
}

static int get_twin(int fd)
{
	return fd >= 0 && fd < MAX_FD ? __atomic_load_n(&twin[fd], __ATOMIC_ACQUIRE) - 1 : -1;
}

static int is_ours(int fd)
{
	return fd >= 0 && fd < MAX_FD && vsock_fd[fd];
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
	const struct route *r;
	int vfd, fl, fdfl;

	if (!addr || len < sizeof(*in) || in->sin_family != AF_INET || fd < 0 || fd >= MAX_FD || !is_tcp(fd) ||
	    !(r = find_route(0, in->sin_addr.s_addr, ntohs(in->sin_port))))
		return real_connect(fd, addr, len);
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	vfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (vfd >= 0) {
		struct sockaddr_vm va = { .svm_family = AF_VSOCK, .svm_cid = r->cid, .svm_port = r->vport };
		/* Blocking, even for a non-blocking socket: a co-located VM answers
		 * at once, and a failure can still fall back to TCP. */
		if (real_connect(vfd, (struct sockaddr *)&va, sizeof(va)) == 0 &&
		    dup3(vfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) == fd) {
			real_close(vfd);
			if (fl >= 0)
				fcntl(fd, F_SETFL, fl);
			pthread_mutex_lock(&lock);
			vsock_fd[fd] = 1;
			peer[fd] = *in;
			pthread_mutex_unlock(&lock);
			return 0;
		}
		real_close(vfd);
	}
	return real_connect(fd, addr, len); /* fall back to TCP */
}

int listen(int fd, int backlog)
{
	struct sockaddr_in me;
	socklen_t l = sizeof(me);
	const struct route *r;
	int rc = real_listen(fd, backlog), vfd;

	if (rc < 0 || fd < 0 || fd >= MAX_FD || get_twin(fd) >= 0 || !is_tcp(fd) ||
	    getsockname(fd, (struct sockaddr *)&me, &l) < 0 || !(r = find_route(1, 0, ntohs(me.sin_port))))
		return rc;
	vfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (vfd < 0)
		return rc;
	struct sockaddr_vm va = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = r->vport };
	if (bind(vfd, (struct sockaddr *)&va, sizeof(va)) < 0 || real_listen(vfd, backlog) < 0) {
		real_close(vfd); /* no twin: TCP only, as without us */
		return rc;
	}
	__atomic_store_n(&twin[fd], vfd + 1, __ATOMIC_RELEASE);
	return rc;
}

/* A connection from the vsock twin of listener fd, or -1 (errno). */
static int accept_twin(int fd, int vfd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int nfd = real_accept4(vfd, NULL, NULL, flags);

	(void)fd;
	if (nfd < 0)
		return -1;
	if (nfd < MAX_FD)
		vsock_fd[nfd] = 1;
	if (addr && len) {
		struct sockaddr_in any = { .sin_family = AF_INET };
		memcpy(addr, &any, *len < sizeof(any) ? *len : sizeof(any));
		*len = sizeof(any);
	}
	return nfd;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int vfd = get_twin(fd);

	if (vfd < 0)
		return real_accept4(fd, addr, len, flags);
	for (;;) {
		struct pollfd p[2] = { { .fd = vfd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
		int nonblock = fcntl(fd, F_GETFL) & O_NONBLOCK;
		int n = real_poll(p, 2, nonblock ? 0 : -1);

		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (p[0].revents & POLLIN) {
			int nfd = accept_twin(fd, vfd, addr, len, flags);
			if (nfd >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				return nfd;
		}
		if (p[1].revents) {
			int nfd = real_accept4(fd, addr, len, flags);
			if (nfd >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				return nfd;
		}
		if (nonblock) {
			errno = EAGAIN;
			return -1;
		}
	}
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

int close(int fd)
{
	int vfd = get_twin(fd);

	if (fd >= 0 && fd < MAX_FD) {
		if (vfd >= 0 && __atomic_compare_exchange_n(&twin[fd], &(int){ vfd + 1 }, 0, false, __ATOMIC_ACQ_REL,
		                                            __ATOMIC_ACQUIRE))
			real_close(vfd);
		vsock_fd[fd] = 0;
	}
	return real_close(fd);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	nfds_t extra = 0;

	for (nfds_t i = 0; i < n; i++)
		extra += get_twin(fds[i].fd) >= 0;
	if (!extra)
		return real_poll(fds, n, timeout);
	struct pollfd *all = malloc((n + extra) * sizeof(*all));
	nfds_t *of = malloc(extra * sizeof(*of));
	nfds_t k = n;
	int rc;

	if (!all || !of) {
		free(all);
		free(of);
		return real_poll(fds, n, timeout);
	}
	memcpy(all, fds, n * sizeof(*all));
	for (nfds_t i = 0; i < n; i++) {
		int vfd = get_twin(fds[i].fd);
		if (vfd >= 0) {
			of[k - n] = i;
			all[k++] = (struct pollfd){ .fd = vfd, .events = fds[i].events };
		}
	}
	rc = real_poll(all, k, timeout);
	if (rc >= 0) {
		rc = 0;
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = all[i].revents;
		for (nfds_t j = n; j < k; j++)
			fds[of[j - n]].revents |= all[j].revents & (POLLIN | POLLRDNORM);
		for (nfds_t i = 0; i < n; i++)
			rc += fds[i].revents != 0;
	}
	free(all);
	free(of);
	return rc;
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	int twins[FD_SETSIZE], listeners[FD_SETSIZE], n = 0, top = nfds, rc;

	for (int fd = 0; rd && fd < nfds && fd < FD_SETSIZE; fd++) {
		int vfd = get_twin(fd);
		if (FD_ISSET(fd, rd) && vfd >= 0 && vfd < FD_SETSIZE) {
			listeners[n] = fd;
			twins[n++] = vfd;
			FD_SET(vfd, rd);
			if (vfd + 1 > top)
				top = vfd + 1;
		}
	}
	rc = real_select(top, rd, wr, ex, tv);
	if (rc <= 0 || !n)
		return rc;
	for (int i = 0; i < n; i++) {
		if (!FD_ISSET(twins[i], rd))
			continue;
		FD_CLR(twins[i], rd);
		if (FD_ISSET(listeners[i], rd))
			rc--; /* counted once, as the listener */
		else
			FD_SET(listeners[i], rd);
	}
	return rc;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (level == IPPROTO_TCP && is_ours(fd))
		return 0;
	return real_setsockopt(fd, level, name, val, len);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (level == IPPROTO_TCP && is_ours(fd) && val && len && *len >= sizeof(int)) {
		*(int *)val = name == 1 /* TCP_NODELAY */;
		*len = sizeof(int);
		return 0;
	}
	return real_getsockopt(fd, level, name, val, len);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (is_ours(fd) && peer[fd].sin_family == AF_INET && addr && len) {
		memcpy(addr, &peer[fd], *len < sizeof(peer[fd]) ? *len : sizeof(peer[fd]));
		*len = sizeof(peer[fd]);
		return 0;
	}
	return real_getpeername(fd, addr, len);
}
