/* The VM-to-VM vsock backend's group registry and wire protocol, two
 * members in one process over a private group directory: a taken CID, a
 * directory others may write, a dead member's CID free again; a connection
 * from one member to the other (handshake with the rings' memfds, data
 * through the rings, hostile counts in them, an orderly end and a vanished
 * peer, rings that are not sealed memfds); a policy that denies. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/vsock.h"
#include "host/vsock_ring.h"

struct fix {
	char dir[64], grp[96], run[96];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vsock_group.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->grp, sizeof(f->grp), "%s/g", f->dir);
	snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
	mkdir(f->run, 0700);
	setenv("XDG_RUNTIME_DIR", f->run, 1); /* labels/ and named groups */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct vsock_backend *join(struct fix *f, uint64_t cid, const char *label, const char *policy, char *err,
                                  size_t errlen)
{
	bool usage;
	return vsock_group_open(NULL, cid, f->grp, label, policy, &usage, err, errlen);
}

static void test_registry(void **state)
{
	struct fix *f = *state;
	struct vsock_backend *a, *b, *c;
	char err[512] = "", path[200];

	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), 0);
	a = join(f, 3, "", NULL, err, sizeof(err));
	if (!a)
		fail_msg("join: %s", err);
	assert_int_equal(vsock_group_check(4, f->grp, "", NULL, err, sizeof(err)), 0);
	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CID 3 is already taken in the group"));
	assert_null(join(f, 3, "", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "CID 3 is already taken in the group"));
	b = join(f, 4, "", NULL, err, sizeof(err));
	assert_non_null(b);
	/* A member that goes frees its CID and its files. */
	vsock_backend_destroy(a);
	snprintf(path, sizeof(path), "%s/3.sock", f->grp);
	assert_int_equal(access(path, F_OK), -1);
	c = join(f, 3, "", NULL, err, sizeof(err));
	assert_non_null(c);
	vsock_backend_destroy(c);
	vsock_backend_destroy(b);

	/* A directory others may write into, or someone else's, is refused. */
	assert_int_equal(chmod(f->grp, 0770), 0);
	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not the user's own private directory"));
	assert_null(join(f, 3, "", NULL, err, sizeof(err)));
	assert_int_equal(chmod(f->grp, 0700), 0);
	/* Group names: under the per-user directory; no path tricks. */
	assert_int_equal(vsock_group_check(3, "..", "", NULL, err, sizeof(err)), -1);
	a = vsock_group_open(NULL, 3, "named", "", NULL, &(bool){ 0 }, err, sizeof(err));
	if (!a)
		fail_msg("named group: %s", err);
	snprintf(path, sizeof(path), "%s/symbiont/vsock/named/3.sock", f->run);
	assert_int_equal(access(path, F_OK), 0);
	vsock_backend_destroy(a);
}

/* One connection from a (CID 3) to b (CID 4), with its rings. */
static void connect_pair(struct vsock_backend *a, struct vsock_backend *b, int *afd, int *bfd, struct vsock_ring **ar,
                         struct vsock_ring **br)
{
	struct vsock_handshake hs = { 0 };
	uint32_t gport = 0, pport = 0;
	uint64_t pcid = 0;
	bool pending = false;

	*afd = a->ops->connect(a, 4, 1234, 50000, &pending, ar);
	assert_true(*afd >= 0);
	assert_true(pending);
	assert_non_null(*ar);
	assert_null((*ar)->tx);
	assert_int_equal(a->ops->reply(a, *afd, *ar), 0); /* b's guest has not said yes */
	*bfd = b->ops->accept(b);
	assert_true(*bfd >= 0);
	assert_int_equal(b->ops->handshake(b, *bfd, &hs, &gport, &pcid, &pport, br), 1);
	assert_non_null(*br);
	assert_non_null((*br)->tx);
	assert_int_equal(gport, 1234);
	assert_int_equal(pcid, 3);
	assert_int_equal(pport, 50000);
	assert_int_equal(b->ops->confirm(b, *bfd, gport, *br), 0);
	assert_int_equal(a->ops->reply(a, *afd, *ar), 1);
	assert_non_null((*ar)->tx);
}

/* Writes len bytes of p into r's peer ring. */
static void ring_put(struct vsock_ring *r, const char *p, size_t len)
{
	uint32_t head;

	assert_int_equal(vsock_ring_tx_consumed(r, &head), 0);
	assert_true(len <= vsock_ring_tx_room(r));
	while (len) {
		size_t n;
		uint8_t *d = vsock_ring_tx_span(r, &n);
		if (n > len)
			n = len;
		memcpy(d, p, n);
		vsock_ring_tx_advance(r, n);
		p += n, len -= n;
	}
}

/* Takes up to cap bytes from r's own ring. */
static size_t ring_get(struct vsock_ring *r, char *p, size_t cap)
{
	size_t got = 0;
	int64_t avail = vsock_ring_rx_avail(r);

	assert_true(avail >= 0);
	while (got < cap && got < (size_t)avail) {
		size_t n;
		const uint8_t *s = vsock_ring_rx_span(r, &n);
		if (n > cap - got)
			n = cap - got;
		memcpy(p + got, s, n);
		vsock_ring_rx_advance(r, n);
		got += n;
	}
	return got;
}

/* A hello as a member would send it, with a ring's memfd (fd) or none (-1). */
static void send_with_fd(int sock, const char *msg, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = { 0 };
	struct iovec iov = { (void *)msg, strlen(msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &m, 0), (ssize_t)strlen(msg));
}

static void test_stream(void **state)
{
	struct fix *f = *state;
	char err[512];
	static char buf[VSOCK_RING_SIZE], big[VSOCK_RING_SIZE];
	struct vsock_backend *a = join(f, 3, "", NULL, err, sizeof(err)), *b = join(f, 4, "", NULL, err, sizeof(err));
	struct vsock_ring *ar, *br, *r;
	bool pending;
	uint32_t head;
	int afd, bfd;

	assert_non_null(a);
	assert_non_null(b);
	connect_pair(a, b, &afd, &bfd, &ar, &br);
	/* The data goes through the rings; the socket carries the doorbell. */
	ring_put(ar, "hello", 5);
	assert_int_equal(a->ops->kick(a, afd), 0);
	assert_int_equal(b->ops->recv(b, bfd, NULL, 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ring_get(br, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(vsock_ring_tx_consumed(ar, &head), 0);
	assert_int_equal(head, 5);
	/* A whole ring's worth, across its end, in two halves. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	ring_put(ar, big, sizeof(big) - 5);
	assert_int_equal(vsock_ring_tx_room(ar), 5);
	assert_int_equal(ring_get(br, buf, sizeof(big) / 2), sizeof(big) / 2);
	ring_put(ar, big + sizeof(big) - 5, 5);
	assert_int_equal(ring_get(br, buf + sizeof(big) / 2, sizeof(big)), sizeof(big) / 2);
	assert_memory_equal(buf, big, sizeof(big));
	/* The consumer's count may not run past the producer's nor go back. */
	uint32_t *shared_head = (uint32_t *)(br->rx + 64), saved = *shared_head;
	assert_int_equal(vsock_ring_tx_consumed(ar, &head), 0);
	assert_int_equal(head, saved);
	*shared_head = saved + 1;
	assert_int_equal(vsock_ring_tx_consumed(ar, &head), -1);
	*shared_head = saved - 1;
	assert_int_equal(vsock_ring_tx_consumed(ar, &head), -1);
	*shared_head = saved;
	assert_int_equal(vsock_ring_tx_consumed(ar, &head), 0);
	/* Nor the producer's run more than a ring ahead of the consumer. */
	uint32_t *shared_tail = (uint32_t *)br->rx, t = *shared_tail;
	*shared_tail = t + VSOCK_RING_SIZE + 1;
	assert_int_equal(vsock_ring_rx_avail(br), -1);
	*shared_tail = t;
	/* An orderly end, then the stream still carries the other way. */
	assert_int_equal(a->ops->shut_wr(a, afd), 0);
	assert_int_equal(b->ops->recv(b, bfd, NULL, 0), 0);
	ring_put(br, "back", 4);
	assert_int_equal(b->ops->kick(b, bfd), 0);
	assert_int_equal(a->ops->recv(a, afd, NULL, 0), -1);
	assert_int_equal(ring_get(ar, buf, sizeof(buf)), 4);
	/* A peer that closes without the end marker vanished; a doorbell to it
	 * fails. */
	close(bfd);
	assert_int_equal(a->ops->recv(a, afd, NULL, 0), -2);
	assert_int_equal(a->ops->kick(a, afd), -1);
	close(afd);
	vsock_ring_free(ar);
	vsock_ring_free(br);

	/* b's guest refuses (its RST closes the stream): a's connect fails. */
	afd = a->ops->connect(a, 4, 1, 50001, &pending, &ar);
	assert_true(afd >= 0);
	bfd = b->ops->accept(b);
	close(bfd);
	assert_int_equal(a->ops->reply(a, afd, ar), -1);
	close(afd);
	vsock_ring_free(ar);
	/* No member, or itself: refused at once. */
	assert_int_equal(a->ops->connect(a, 9, 1, 50002, &pending, &ar), -1);
	assert_int_equal(a->ops->connect(a, 3, 1, 50002, &pending, &ar), -1);
	/* A hello that lies about its sender (a CID no member holds, a label
	 * the member does not have) or is malformed is dropped, ring or not;
	 * so is a true one without a ring or with something else as its ring
	 * (a memfd that could shrink, a pipe). */
	r = vsock_ring_new(err, sizeof(err));
	assert_non_null(r);
	int loose = memfd_create("loose", MFD_CLOEXEC), p[2];
	assert_true(loose >= 0);
	assert_int_equal(ftruncate(loose, VSOCK_RING_BYTES), 0);
	assert_int_equal(pipe(p), 0);
	static const struct {
		const char *hello;
		int which; /* 0 a good ring, 1 none, 2 an unsealed memfd, 3 a pipe */
	} lies[] = {
		{ "V2V2 7 5 80 -", 0 },
		{ "V2V2 3 5 80 web", 0 },
		{ "V2V2 3 0 80 -", 0 },
		{ "V2V2 3 5 80", 0 },
		{ "V2V2 3 5 80 - x", 0 },
		{ "V2V1 3 5 80 -", 0 },
		{ "", 0 },
		{ "V2V2 3 5 80 -", 1 },
		{ "V2V2 3 5 80 -", 2 },
		{ "V2V2 3 5 80 -", 3 },
	};
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct vsock_handshake hs = { 0 };
		int fds[] = { r->rx_fd, -1, loose, p[0] };
		uint32_t gp, pp;
		uint64_t pc;
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/4.sock", f->grp);
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		if (!lies[i].hello[0])
			assert_int_equal(send(fd, "", 0, 0), 0);
		else
			send_with_fd(fd, lies[i].hello, fds[lies[i].which]);
		bfd = b->ops->accept(b);
		assert_true(bfd >= 0);
		br = NULL;
		if (b->ops->handshake(b, bfd, &hs, &gp, &pc, &pp, &br) != -1)
			fail_msg("hello '%s' (ring %d) accepted", lies[i].hello, lies[i].which);
		assert_null(br);
		close(bfd);
		close(fd);
	}
	assert_false(vsock_ring_fd_ok(loose));
	assert_false(vsock_ring_fd_ok(p[0]));
	assert_true(vsock_ring_fd_ok(r->rx_fd));
	close(loose);
	close(p[0]);
	close(p[1]);
	vsock_ring_free(r);
	vsock_backend_destroy(b);
	vsock_backend_destroy(a);
}

static void test_policy(void **state)
{
	struct fix *f = *state;
	char err[512], pol[200];
	struct vsock_backend *web, *db, *evil;
	bool pending;
	FILE *fp;
	int fd, bfd;

	snprintf(pol, sizeof(pol), "%s/policy", f->dir);
	fp = fopen(pol, "w");
	fputs("allow db web\nconflict web evil\n", fp);
	fclose(fp);
	web = join(f, 3, "web", pol, err, sizeof(err));
	if (!web)
		fail_msg("web: %s", err);
	db = join(f, 4, "db", pol, err, sizeof(err));
	assert_non_null(db);
	/* web -> db: the policy has no 'allow web db'. */
	struct vsock_ring *ring = NULL, *ring2 = NULL;
	assert_int_equal(web->ops->connect(web, 4, 80, 50000, &pending, &ring), -1);
	assert_null(ring);
	/* db -> web: allowed, and web's side agrees. */
	fd = db->ops->connect(db, 3, 80, 50000, &pending, &ring);
	assert_true(fd >= 0);
	bfd = web->ops->accept(web);
	uint32_t gp, pp;
	uint64_t pc;
	struct vsock_handshake hs = { 0 };
	assert_int_equal(web->ops->handshake(web, bfd, &hs, &gp, &pc, &pp, &ring2), 1);
	close(bfd);
	close(fd);
	vsock_ring_free(ring);
	vsock_ring_free(ring2);
	/* The accepting side applies its own policy: with one that allows
	 * nothing in, db drops what web's policy let out. */
	char pol2[220];
	snprintf(pol2, sizeof(pol2), "%s/policy-web", f->dir);
	fp = fopen(pol2, "w");
	fputs("allow web db\n", fp);
	fclose(fp);
	vsock_backend_destroy(web);
	web = join(f, 3, "web", pol2, err, sizeof(err));
	assert_non_null(web);
	fd = web->ops->connect(web, 4, 81, 50001, &pending, &ring);
	assert_true(fd >= 0);
	bfd = db->ops->accept(db);
	assert_true(bfd >= 0);
	assert_int_equal(db->ops->handshake(db, bfd, &hs, &gp, &pc, &pp, &ring2), -1);
	close(bfd);
	assert_int_equal(web->ops->reply(web, fd, ring), -1); /* refused */
	close(fd);
	vsock_ring_free(ring);
	/* A label in conflict with a running VM's refuses to start... */
	assert_int_equal(vsock_group_check(5, f->grp, "evil", pol, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--label evil: conflicts with the running VM labelled web"));
	assert_null(join(f, 5, "evil", pol, err, sizeof(err)));
	/* ... until that VM is gone. */
	vsock_backend_destroy(web);
	evil = join(f, 5, "evil", pol, err, sizeof(err));
	if (!evil)
		fail_msg("evil after web left: %s", err);
	vsock_backend_destroy(evil);
	vsock_backend_destroy(db);
	/* A bad policy file names its line. */
	fp = fopen(pol, "w");
	fputs("allow db web\nallow db\n", fp);
	fclose(fp);
	assert_int_equal(vsock_group_check(5, f->grp, "x", pol, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "policy:2: expected 'allow FROM TO'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
