/* The VM-to-VM vsock backend (host/vsock.h): the guests of one group reach
 * each other by CID, VMM to VMM, with no daemon and no network stack.
 *
 * A group is a directory owned by the user (mode 0700 or stricter): a name
 * under the per-user directory's vsock/, or a path.  Each member holds
 *   CID.lock  flock(LOCK_EX) for the VMM's life; says "PID LABEL" (a taken
 *             CID is one whose lock is held: a VMM killed -9 frees it);
 *   CID.sock  a SOCK_SEQPACKET listener for connections to its guest.
 * A guest's REQUEST to (CID, PORT) becomes one seqpacket connection to
 * CID.sock whose first message is "V2V2 SRCCID SRCPORT PORT LABEL" with
 * the sender's receive ring attached (SCM_RIGHTS, a sealed memfd:
 * host/vsock_ring.h); the far VMM asks its guest (REQUEST), and its
 * RESPONSE comes back as "OK" with the far VMM's ring (its RST, a policy
 * denial or a missing listener as the socket closing).  Then the data goes
 * through the rings, and the socket carries only 'K' (a doorbell: look at
 * the rings) and one 'E' (the sender's guest will send no more; what is in
 * the ring still counts).  A socket that closes without an 'E' is a peer
 * that went away: the guest gets RST.  Every send is MSG_DONTWAIT: a peer
 * that stops reading fills its socket and loses doorbells it already has,
 * nothing more.
 *
 * Why the doorbell is the socket and not an eventfd passed beside the
 * memfd: an eventfd is one file description shared with the peer, which
 * may clear O_NONBLOCK on it and fill its counter, and then our write(2)
 * blocks (this kernel refuses RWF_NOWAIT writes to an eventfd); send with
 * MSG_DONTWAIT on our own end of the socket cannot be made to wait.
 *
 * Labels: a labelled VMM also holds $userdir/labels/PID.CID (flocked, with
 * the label), so that a VM whose label its policy says conflicts with a
 * running one's can refuse to start. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <json-c/json.h>

#include "host/vsock.h"
#include "host/vsock_forwards.h"
#include "host/vsock_policy.h"
#include "host/vsock_ring.h"
#include "symbiont/control.h"
#include "symbiont/userdir.h"
#include "symbiont/vm.h"

#define GROUP_NAME_MAX 64
#define HELLO_MAX      160
#define MEMBER_MAX     128 /* "PID LABEL\n" */

struct group {
	struct vsock_backend be;
	struct vm *vm;
	uint64_t cid;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char label[VSOCK_LABEL_MAX + 1];
	struct vsock_policy *policy;
	int lock_fd;  /* CID.lock, flocked */
	int label_fd; /* labels/PID, flocked; -1: unlabelled */
	char label_path[512];
	bool sock_bound;
	bool tcp_published;              /* CID.tcp is ours to remove */
	char host_addr[INET_ADDRSTRLEN]; /* where our guest reaches the host's TCP ports; "" none */
};

/* ---- the group directory --------------------------------------------------- */

static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > GROUP_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* An existing group directory must be the user's own and closed to others:
 * anyone else who could write there could pose as a member. */
static int dir_own(const char *dir, const char *group, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		snprintf(err, errlen, "--vsock group=%s: %s: %s", group, dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, errlen,
		         "--vsock group=%s: %s is not the user's own private directory (owner uid %u, mode %03o; "
		         "it must be a directory of uid %u with mode 0700)",
		         group, dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* The group's directory into out: created (mode 0700) if create, else it
 * may be missing (1). 0 when it exists and is the user's own. */
static int group_dir(const char *group, bool create, char *out, size_t len, char *err, size_t errlen)
{
	char base[400];
	int n;

	if (strchr(group, '/')) {
		n = snprintf(out, len, "%s", group);
	} else {
		if (!group_name_valid(group)) {
			snprintf(err, errlen,
			         "--vsock group=%s: a group name is 1 to %d of A-Z a-z 0-9 . _ - (or give a path)",
			         group, GROUP_NAME_MAX);
			return -1;
		}
		if (symbiont_user_dir("vsock", create, base, sizeof(base), err, errlen) < 0) {
			if (!create && errno == ENOENT)
				return 1;
			return -1;
		}
		n = snprintf(out, len, "%s/%s", base, group);
	}
	/* Room for "/4294967294.sock" in a unix socket address. */
	if (n < 0 || (size_t)n + 17 > len) {
		snprintf(err, errlen, "--vsock group=%s: the group's path is too long", group);
		return -1;
	}
	while (n > 1 && out[n - 1] == '/')
		out[--n] = 0;
	if (access(out, F_OK) < 0 && errno == ENOENT) {
		char parent[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;

		snprintf(parent, sizeof(parent), "%s", out);
		slash = strrchr(parent, '/');
		if (slash)
			*(slash == parent ? slash + 1 : slash) = 0;
		if (slash && access(parent, F_OK) < 0) {
			snprintf(err, errlen, "--vsock group=%s: cannot create %s: %s", group, out, strerror(errno));
			return -1;
		}
		if (!create)
			return 1;
		if (mkdir(out, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "--vsock group=%s: cannot create %s: %s", group, out, strerror(errno));
			return -1;
		}
	}
	return dir_own(out, group, err, errlen);
}

/* "PID LABEL" of a member file; false if it is not one. */
static bool read_member(int fd, long *pid, char *label)
{
	char buf[MEMBER_MAX + 1];
	ssize_t n = pread(fd, buf, MEMBER_MAX, 0);
	char *sp, *end;

	if (n <= 0)
		return false;
	buf[n] = 0;
	if ((end = strchr(buf, '\n')))
		*end = 0;
	if (!(sp = strchr(buf, ' ')))
		return false;
	*sp = 0;
	*pid = strtol(buf, &end, 10);
	if (*end || *pid <= 0)
		return false;
	if (!strcmp(sp + 1, "-")) {
		label[0] = 0;
		return true;
	}
	if (!vsock_label_valid(sp + 1))
		return false;
	strcpy(label, sp + 1);
	return true;
}

/* Is the lock at fd held by a live process?  Takes and drops it if not. */
static bool lock_held(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return false;
	}
	return errno == EWOULDBLOCK;
}

/* The label and pid of the live member cid; false if there is none. */
static bool member_of(const char *dir, uint64_t cid, long *pid, char *label)
{
	char path[600];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "%s/%" PRIu64 ".lock", dir, cid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ok = lock_held(fd) && read_member(fd, pid, label);
	close(fd);
	return ok;
}

/* ---- labels across the host --------------------------------------------------- */

/* Fails when a running labelled VM's label conflicts with label under
 * policy; stale entries (their VMM died) are removed on the way. */
static int label_scan(const char *dir, const char *label, const struct vsock_policy *policy, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), -1);
	while (rc == 0 && (e = readdir(d))) {
		char path[1024], other[VSOCK_LABEL_MAX + 1];
		long pid;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (!lock_held(fd)) {
			unlink(path);
		} else if (read_member(fd, &pid, other) && vsock_policy_conflict(policy, label, other)) {
			snprintf(err, errlen, "--label %s: conflicts with the running VM labelled %s (pid %ld)", label,
			         other, pid);
			rc = -1;
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

/* Checks label against the running VMs and, with reg, registers it (fd and
 * path of the registration out). */
static int label_join(const char *label, const struct vsock_policy *policy, uint64_t cid, bool reg, int *out_fd,
                      char *out_path, size_t pathlen, char *err, size_t errlen)
{
	char dir[450], lockp[500];
	int lk, rc = -1;

	*out_fd = -1;
	if (symbiont_user_dir("labels", reg, dir, sizeof(dir), err, errlen) < 0)
		return !reg && errno == ENOENT ? 0 : -1;
	snprintf(lockp, sizeof(lockp), "%s/.lock", dir);
	/* One VM at a time checks and registers: two conflicting VMs started
	 * together cannot both pass. */
	lk = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lk < 0 || flock(lk, LOCK_EX) < 0) {
		snprintf(err, errlen, "%s: %s", lockp, strerror(errno));
		goto out;
	}
	if (label_scan(dir, label, policy, err, errlen) < 0)
		goto out;
	if (reg) {
		char line[MEMBER_MAX];
		int fd, n;

		snprintf(out_path, pathlen, "%s/%ld.%" PRIu64, dir, (long)getpid(), cid);
		fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), label);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || write(fd, line, n) != n) {
			snprintf(err, errlen, "%s: %s", out_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		*out_fd = fd;
	}
	rc = 0;
out:
	if (lk >= 0)
		close(lk);
	return rc;
}

/* ---- audit ------------------------------------------------------------------ */

static void audit_denied(struct group *g, const char *dir, uint64_t from_cid, const char *from_label, uint64_t to_cid,
                         const char *to_label, uint32_t port)
{
	struct json_object *o;
	struct control *ctl = g->vm ? __atomic_load_n(&g->vm->control, __ATOMIC_ACQUIRE) : NULL;

	if (!ctl)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "direction", json_object_new_string(dir));
	json_object_object_add(o, "from_cid", json_object_new_int64((int64_t)from_cid));
	json_object_object_add(o, "from_label", json_object_new_string(from_label));
	json_object_object_add(o, "to_cid", json_object_new_int64((int64_t)to_cid));
	json_object_object_add(o, "to_label", json_object_new_string(to_label));
	json_object_object_add(o, "port", json_object_new_int64(port));
	control_event(ctl, "VSOCK_DENIED", o);
}

/* ---- backend ops ------------------------------------------------------------- */

static int sock_path(const struct group *g, uint64_t cid, struct sockaddr_un *a)
{
	a->sun_family = AF_UNIX;
	return snprintf(a->sun_path, sizeof(a->sun_path), "%s/%" PRIu64 ".sock", g->dir, cid) < (int)sizeof(a->sun_path)
	               ? 0
	               : -1;
}

/* One message with our ring's memfd attached (SCM_RIGHTS). */
static int send_ring(int fd, const char *msg, size_t len, int memfd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { (void *)msg, len };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &memfd, sizeof(int));
	return sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* One message and the single fd it must carry (*memfd, -1 if none or
 * more: extra ones are closed).  The byte count, or -1 with errno. */
static ssize_t recv_ring(int fd, char *buf, size_t cap, int *memfd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, cap };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
	};
	int nfds = 0;
	ssize_t n;

	*memfd = -1;
	n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				*memfd = got;
			else
				close(got);
		}
	}
	if (nfds != 1 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*memfd >= 0)
			close(*memfd);
		*memfd = -1;
	}
	return n;
}

static int grp_connect(struct vsock_backend *be, uint64_t cid, uint32_t port, uint32_t src_port, bool *pending,
                       struct vsock_ring **ring)
{
	struct group *g = (struct group *)be;
	char peer_label[VSOCK_LABEL_MAX + 1], hello[HELLO_MAX], why[128];
	struct sockaddr_un a;
	struct vsock_ring *r;
	long pid;
	int fd, n;

	*pending = true;
	*ring = NULL;
	if (cid == g->cid || !member_of(g->dir, cid, &pid, peer_label) || sock_path(g, cid, &a) < 0)
		return -1;
	if (!vsock_policy_allows(g->policy, g->label, peer_label)) {
		audit_denied(g, "out", g->cid, g->label, cid, peer_label, port);
		return -1;
	}
	if (!(r = vsock_ring_new(why, sizeof(why))))
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		vsock_ring_free(r);
		return -1;
	}
	n = snprintf(hello, sizeof(hello), "V2V2 %" PRIu64 " %" PRIu32 " %" PRIu32 " %s", g->cid, src_port, port,
	             g->label[0] ? g->label : "-");
	/* A listener whose backlog is full refuses (EAGAIN) rather than making
	 * this thread wait: the guest sees its connect fail. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || send_ring(fd, hello, n, r->rx_fd) < 0) {
		close(fd);
		vsock_ring_free(r);
		return -1;
	}
	vsock_ring_sent(r);
	*ring = r;
	return fd;
}

static int grp_reply(struct vsock_backend *be, int fd, struct vsock_ring *ring)
{
	char buf[8];
	int memfd;
	ssize_t n = recv_ring(fd, buf, sizeof(buf), &memfd);

	(void)be;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != 2 || memcmp(buf, "OK", 2) || memfd < 0) {
		if (memfd >= 0)
			close(memfd);
		return -1;
	}
	return ring && vsock_ring_attach(ring, memfd) == 0 ? 1 : -1;
}

static int grp_accept(struct vsock_backend *be)
{
	return accept4(be->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Parses "V2V2 SRCCID SRCPORT PORT LABEL" strictly. */
static bool parse_hello(char *s, uint64_t *cid, uint32_t *sport, uint32_t *dport, char *label)
{
	unsigned long long v[3];
	char *p = s, *end;

	if (strncmp(p, "V2V2 ", 5))
		return false;
	p += 5;
	for (int i = 0; i < 3; i++) {
		if (*p < '0' || *p > '9')
			return false;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno || *end != ' ')
			return false;
		p = end + 1;
	}
	if (v[0] < 3 || v[0] >= 0xffffffffull || v[1] == 0 || v[1] > UINT32_MAX || v[2] > UINT32_MAX)
		return false;
	if (strcmp(p, "-") && !vsock_label_valid(p))
		return false;
	*cid = v[0];
	*sport = (uint32_t)v[1];
	*dport = (uint32_t)v[2];
	strcpy(label, strcmp(p, "-") ? p : "");
	return true;
}

static int grp_handshake(struct vsock_backend *be, int fd, struct vsock_handshake *hs, uint32_t *guest_port,
                         uint64_t *peer_cid, uint32_t *peer_port, struct vsock_ring **ring)
{
	struct group *g = (struct group *)be;
	char buf[HELLO_MAX + 1], label[VSOCK_LABEL_MAX + 1], reg_label[VSOCK_LABEL_MAX + 1], why[128];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct vsock_ring *r;
	int memfd;
	ssize_t n = recv_ring(fd, buf, HELLO_MAX, &memfd);
	long pid;

	(void)hs;
	*ring = NULL;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 || memfd < 0)
		goto refuse;
	buf[n] = 0;
	if (!parse_hello(buf, peer_cid, peer_port, guest_port, label) || *peer_cid == g->cid)
		goto refuse;
	/* The sender must be the VMM that holds that CID, with that label: a
	 * member cannot pose as another. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid() ||
	    !member_of(g->dir, *peer_cid, &pid, reg_label) || pid != (long)cred.pid || strcmp(label, reg_label))
		goto refuse;
	if (!vsock_policy_allows(g->policy, label, g->label)) {
		audit_denied(g, "in", *peer_cid, label, g->cid, g->label, *guest_port);
		goto refuse;
	}
	if (!(r = vsock_ring_new(why, sizeof(why))))
		goto refuse;
	if (vsock_ring_attach(r, memfd) < 0) { /* closes memfd */
		vsock_ring_free(r);
		return -1;
	}
	*ring = r;
	return 1;
refuse:
	if (memfd >= 0)
		close(memfd);
	return -1;
}

static int grp_confirm(struct vsock_backend *be, int fd, uint32_t host_port, struct vsock_ring *ring)
{
	(void)be, (void)host_port;
	if (!ring || ring->rx_fd < 0 || send_ring(fd, "OK", 2, ring->rx_fd) < 0)
		return -1;
	vsock_ring_sent(ring);
	return 0;
}

/* Doorbells ('K': look at the rings) until none is left; 0 at the end
 * marker 'E'.  At most DOORBELLS_PER_CALL a call, so that a peer ringing
 * without pause cannot keep this thread here. */
#define DOORBELLS_PER_CALL 64
static ssize_t grp_recv(struct vsock_backend *be, int fd, void *buf, size_t cap)
{
	(void)be, (void)buf, (void)cap;
	for (int i = 0; i < DOORBELLS_PER_CALL; i++) {
		char tag[2];
		/* No control buffer: fds a peer attaches here are closed by the kernel. */
		ssize_t n = recv(fd, tag, sizeof(tag), MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? -1 : -2;
		if (n == 1 && tag[0] == 'K')
			continue;
		if (n == 1 && tag[0] == 'E')
			return 0;
		return -2; /* closed without 'E', or not our protocol */
	}
	errno = EAGAIN;
	return -1;
}

static int grp_kick(struct vsock_backend *be, int fd)
{
	(void)be;
	/* A full queue already holds a doorbell: the far end will look. */
	if (send(fd, "K", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 || errno == EAGAIN)
		return 0;
	return -1;
}

static int grp_shut_wr(struct vsock_backend *be, int fd)
{
	(void)be;
	if (send(fd, "E", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
		return 0;
	return errno == EAGAIN ? -1 : 0; /* gone: nothing left to tell */
}

static void grp_destroy(struct vsock_backend *be)
{
	struct group *g = (struct group *)be;
	char path[600];

	if (g->tcp_published) {
		snprintf(path, sizeof(path), "%s/%" PRIu64 ".tcp", g->dir, g->cid);
		unlink(path);
	}

	if (be->listen_fd >= 0)
		close(be->listen_fd);
	if (g->sock_bound) {
		snprintf(path, sizeof(path), "%s/%" PRIu64 ".sock", g->dir, g->cid);
		unlink(path);
	}
	if (g->lock_fd >= 0) {
		snprintf(path, sizeof(path), "%s/%" PRIu64 ".lock", g->dir, g->cid);
		unlink(path); /* still ours: we hold its lock */
		close(g->lock_fd);
	}
	if (g->label_fd >= 0) {
		unlink(g->label_path);
		close(g->label_fd);
	}
	vsock_policy_free(g->policy);
	free(g);
}

static const struct vsock_backend_ops group_ops = {
	.connect = grp_connect,
	.reply = grp_reply,
	.accept = grp_accept,
	.handshake = grp_handshake,
	.confirm = grp_confirm,
	.recv = grp_recv,
	.shut_wr = grp_shut_wr,
	.kick = grp_kick,
	.destroy = grp_destroy,
};

/* ---- the socket accelerator's map ------------------------------------------- */

int vsock_group_publish_tcp(struct vsock_backend *be, const uint16_t (*fwd)[2], int n, const char *host_addr)
{
	struct group *g = (struct group *)be;
	char path[600], tmp[620];
	FILE *f;

	snprintf(g->host_addr, sizeof(g->host_addr), "%s", host_addr ? host_addr : "");
	if (n <= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%" PRIu64 ".tcp", g->dir, g->cid);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return -1;
	for (int i = 0; i < n && i < VSOCK_FORWARDS_MAX; i++)
		fprintf(f, "%u %u\n", fwd[i][0], fwd[i][1]);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	g->tcp_published = true;
	return 0;
}

/* A member's forwards (CID.tcp), each passed to fn.  The file is another
 * process's: opened without following a link or waiting on a FIFO, and
 * only a regular file's first VSOCK_FORWARDS_BYTES are read. */
static void member_forwards(const struct group *g, uint64_t cid,
                            void (*fn)(void *ctx, uint64_t cid, unsigned hp, unsigned gp), void *ctx)
{
	char path[600], text[VSOCK_FORWARDS_BYTES];
	uint16_t fwd[VSOCK_FORWARDS_MAX][2];
	struct stat st;
	ssize_t len;
	int fd, n;

	snprintf(path, sizeof(path), "%s/%" PRIu64 ".tcp", g->dir, cid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	len = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof(text)) : -1;
	close(fd);
	n = len > 0 ? vsock_forwards_parse(text, (size_t)len, fwd, VSOCK_FORWARDS_MAX) : 0;
	for (int i = 0; i < n; i++)
		fn(ctx, cid, fwd[i][0], fwd[i][1]);
}

struct map_out {
	const struct group *g;
	struct json_object *lines;
};

static void add_line(struct map_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_line(struct map_out *o, const char *fmt, ...)
{
	char line[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_object_array_add(o->lines, json_object_new_string(line));
}

static void own_forward(void *ctx, uint64_t cid, unsigned hp, unsigned gp)
{
	(void)cid, (void)hp;
	/* Our guest's TCP listener on gp also takes vsock connections on gp. */
	add_line(ctx, "listen %u %u", gp, gp);
}

static void peer_forward(void *ctx, uint64_t cid, unsigned hp, unsigned gp)
{
	struct map_out *o = ctx;
	/* Our guest reaches the host's port hp at host_addr; the host forwards
	 * it to cid's guest port gp, which listens on vsock port gp too. */
	add_line(o, "connect %s %u %" PRIu64 " %u", o->g->host_addr, hp, cid, gp);
}

/* query-vsock-map: what the guest's socket accelerator needs, as lines
 * (guest/tools/v2v_accel.c). */
static int cmd_vsock_map(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct group *g = opaque;
	struct map_out o = { g, json_object_new_array() };
	DIR *d;
	struct dirent *e;

	(void)args;
	member_forwards(g, g->cid, own_forward, &o);
	if (g->host_addr[0] && (d = opendir(g->dir))) {
		while ((e = readdir(d))) {
			char label[VSOCK_LABEL_MAX + 1], *end;
			unsigned long long cid = strtoull(e->d_name, &end, 10);
			long pid;
			if (e->d_name[0] < '0' || e->d_name[0] > '9' || strcmp(end, ".lock") || cid == g->cid ||
			    !member_of(g->dir, cid, &pid, label) || !vsock_policy_allows(g->policy, g->label, label))
				continue;
			member_forwards(g, cid, peer_forward, &o);
		}
		closedir(d);
	}
	(void)err, (void)errlen;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "lines", o.lines);
	return 0;
}

void vsock_group_control_register(struct vsock_backend *be, struct control *ctl)
{
	if (be && ctl)
		control_register(ctl, "query-vsock-map", cmd_vsock_map, be);
}

/* ---- joining ------------------------------------------------------------------ */

static int label_policy_check(const char *label, const char *policy, struct vsock_policy **out, char *err,
                              size_t errlen)
{
	*out = NULL;
	if (label[0] && !vsock_label_valid(label)) {
		snprintf(err, errlen, "--label '%s': 1 to %d of A-Z a-z 0-9 . _ -", label, VSOCK_LABEL_MAX);
		return -1;
	}
	if (policy) {
		char why[400];
		if (!(*out = vsock_policy_load(policy, why, sizeof(why)))) {
			snprintf(err, errlen, "--policy %s", why);
			return -1;
		}
	}
	return 0;
}

int vsock_group_check(uint64_t cid, const char *group, const char *label, const char *policy, char *err, size_t errlen)
{
	struct vsock_policy *p;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], other[VSOCK_LABEL_MAX + 1];
	long pid;
	int fd, r;

	if (label_policy_check(label, policy, &p, err, errlen) < 0)
		return -1;
	r = group_dir(group, false, dir, sizeof(dir), err, errlen);
	if (r < 0)
		goto fail;
	if (r == 0 && member_of(dir, cid, &pid, other)) {
		snprintf(err, errlen,
		         "--vsock %" PRIu64 ",group=%s: CID %" PRIu64 " is already taken in the group (pid %ld)", cid,
		         group, cid, pid);
		goto fail;
	}
	if (label[0] && label_join(label, p, cid, false, &fd, NULL, 0, err, errlen) < 0)
		goto fail;
	vsock_policy_free(p);
	return 0;
fail:
	vsock_policy_free(p);
	return -1;
}

struct vsock_backend *vsock_group_open(struct vm *vm, uint64_t cid, const char *group, const char *label,
                                       const char *policy, bool *usage, char *err, size_t errlen)
{
	struct group *g = calloc(1, sizeof(*g));
	struct sockaddr_un a;
	char path[600], line[MEMBER_MAX];
	struct stat st;
	int n;

	*usage = true;
	if (!g) {
		snprintf(err, errlen, "out of memory");
		*usage = false;
		return NULL;
	}
	g->be.ops = &group_ops;
	g->be.listen_fd = -1;
	g->lock_fd = g->label_fd = -1;
	g->vm = vm;
	g->cid = cid;
	snprintf(g->label, sizeof(g->label), "%s", label);
	if (label_policy_check(label, policy, &g->policy, err, errlen) < 0 ||
	    group_dir(group, true, g->dir, sizeof(g->dir), err, errlen) < 0)
		goto fail;
	if (label[0] && label_join(label, g->policy, cid, true, &g->label_fd, g->label_path, sizeof(g->label_path), err,
	                           errlen) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/%" PRIu64 ".lock", g->dir, cid);
	g->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (g->lock_fd < 0) {
		snprintf(err, errlen, "--vsock group=%s: %s: %s", group, path, strerror(errno));
		goto fail;
	}
	if (flock(g->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		long pid = 0;
		char other[VSOCK_LABEL_MAX + 1];
		read_member(g->lock_fd, &pid, other);
		snprintf(err, errlen,
		         "--vsock %" PRIu64 ",group=%s: CID %" PRIu64 " is already taken in the group (pid %ld)", cid,
		         group, cid, pid);
		close(g->lock_fd);
		g->lock_fd = -1; /* not ours to remove */
		goto fail;
	}
	n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), label[0] ? label : "-");
	if (ftruncate(g->lock_fd, 0) < 0 || pwrite(g->lock_fd, line, n, 0) != n) {
		snprintf(err, errlen, "--vsock group=%s: %s: %s", group, path, strerror(errno));
		*usage = false;
		goto fail;
	}
	*usage = false;
	if (sock_path(g, cid, &a) < 0) {
		snprintf(err, errlen, "--vsock group=%s: the group's path is too long", group);
		goto fail;
	}
	/* We hold the CID's lock, so a socket (or a list of TCP forwards) left
	 * there is a dead member's. */
	if (lstat(a.sun_path, &st) == 0)
		unlink(a.sun_path);
	snprintf(path, sizeof(path), "%s/%" PRIu64 ".tcp", g->dir, cid);
	unlink(path);
	g->be.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->be.listen_fd < 0 || bind(g->be.listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(err, errlen, "--vsock group=%s: cannot listen on %s: %s", group, a.sun_path, strerror(errno));
		goto fail;
	}
	g->sock_bound = true;
	if (listen(g->be.listen_fd, 64) < 0) {
		snprintf(err, errlen, "--vsock group=%s: cannot listen on %s: %s", group, a.sun_path, strerror(errno));
		goto fail;
	}
	return &g->be;
fail:
	grp_destroy(&g->be);
	return NULL;
}
