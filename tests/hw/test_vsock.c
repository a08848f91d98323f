/* virtio-vsock driven through its BAR by the test driver, with real unix
 * sockets on the host side: the CONNECT/OK handshake, guest connections to
 * <uds>_<port>, data both ways, credit, shutdown, and malformed packets;
 * and, with the test as a (hostile) peer VMM of a group, the shared rings. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hw/vdrv.h"
#include "host/vsock.h"
#include "host/vsock_ring.h"
#include "hw/virtio/vsock.h"

#define RXQ    0
#define TXQ    1
#define HDRLEN 44
#define RXBUF  (HDRLEN + 4096)
#define CID    3

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct ctx {
	struct test_vm *t;
	struct pci_host *h;
	void *dev;
	struct vdrv d;
	char dir[64], uds[96];
	uint64_t rxgpa[VDRV_QSIZE];
	uint8_t data[70000];
};

static void post_rx(struct ctx *c)
{
	uint64_t a = vdrv_alloc(&c->d, RXBUF);
	uint32_t l = RXBUF;
	uint16_t head = vdrv_post(&c->d, RXQ, 0, 1, &a, &l);

	c->rxgpa[head] = a;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[160] = "";

	snprintf(c->dir, sizeof(c->dir), "/tmp/symbiont-vsock-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->uds, sizeof(c->uds), "%s/v.sock", c->dir);
	c->t = tvm_new(16);
	c->h = pci_host_create(c->t->vm);
	c->dev = virtio_vsock_new(c->t->vm, c->h, CID, c->uds, false, err, sizeof(err));
	if (!c->dev)
		fail_msg("virtio_vsock_new: %s", err);
	vdrv_init(&c->d, c->t, virtio_vsock_vdev(c->dev), 0);
	/* Rx buffers: half the ring, reposted as they are used, so head ids
	 * (one descriptor each) never collide. */
	for (int i = 0; i < VDRV_QSIZE / 2; i++)
		post_rx(c);
	vdrv_kick(&c->d, RXQ);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char p[128];

	virtio_vsock_destroy(c->dev);
	pci_host_destroy(c->h);
	tvm_free(c->t);
	snprintf(p, sizeof(p), "%s/v.sock_5000", c->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/group", c->dir);
	rmdir(p); /* test_group_rings' */
	rmdir(c->dir);
	free(c);
	return 0;
}

/* The guest sends one packet (header + data in separate descriptors) to
 * dst_cid. */
static void gsend_to(struct ctx *c, uint64_t dst_cid, uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags,
                     const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct hdr h = { .src_cid = CID,
		         .dst_cid = dst_cid,
		         .src_port = src_port,
		         .dst_port = dst_port,
		         .len = len,
		         .type = 1,
		         .op = op,
		         .flags = flags,
		         .buf_alloc = buf_alloc,
		         .fwd_cnt = fwd_cnt };
	uint64_t a[2];
	uint32_t l[2] = { HDRLEN, len };
	uint16_t head, uh;
	uint32_t ul;

	a[0] = vdrv_alloc(&c->d, HDRLEN);
	memcpy(vd_host(&c->d, a[0]), &h, HDRLEN);
	if (len) {
		a[1] = vdrv_alloc(&c->d, len);
		memcpy(vd_host(&c->d, a[1]), data, len);
	}
	head = vdrv_post(&c->d, TXQ, len ? 2 : 1, 0, a, l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(vdrv_used(&c->d, TXQ, &uh, &ul), 1);
	assert_int_equal(uh, head);
	/* Keep the bump allocator inside RAM over long tests. */
	if (c->d.brk > 12u << 20)
		c->d.brk = VDRV_BUF_BASE + (VDRV_QSIZE + 2) * RXBUF;
}

static void gsend(struct ctx *c, uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags, const void *data,
                  uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	gsend_to(c, 2, op, src_port, dst_port, flags, data, len, buf_alloc, fwd_cnt);
}

/* Lets the device serve host sockets for a moment. */
static void pump(struct ctx *c, int rounds)
{
	for (int i = 0; i < rounds; i++)
		virtio_vsock_poll(c->dev, 20);
}

/* The next packet the device put in an rx buffer, if any (pumping the host
 * side while waiting); data gets the payload. */
static int grecv(struct ctx *c, struct hdr *h, void *data)
{
	uint16_t head;
	uint32_t len;

	for (int i = 0; i < 25; i++) {
		if (vdrv_used(&c->d, RXQ, &head, &len)) {
			uint8_t *p = vd_host(&c->d, c->rxgpa[head]);
			assert_true(len >= HDRLEN);
			memcpy(h, p, HDRLEN);
			assert_int_equal(h->len, len - HDRLEN);
			if (data)
				memcpy(data, p + HDRLEN, h->len);
			/* Repost the same buffer. */
			uint32_t l = RXBUF;
			uint64_t a = c->rxgpa[head];
			uint16_t nh = vdrv_post(&c->d, RXQ, 0, 1, &a, &l);
			c->rxgpa[nh] = a;
			vdrv_kick(&c->d, RXQ);
			return 1;
		}
		virtio_vsock_poll(c->dev, 20);
	}
	return 0;
}

static int host_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads what the host socket has within a short wait (pumping the device). */
static ssize_t host_read(struct ctx *c, int fd, void *buf, size_t len)
{
	for (int i = 0; i < 100; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 1)
			return read(fd, buf, len);
		pump(c, 1);
	}
	return -2;
}

static void test_config(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vdrv_rd(&c->d, VIRTIO_DEVCFG_OFF, 4), CID);
	assert_int_equal(vdrv_rd(&c->d, VIRTIO_DEVCFG_OFF + 4, 4), 0);
	assert_int_equal(pci_cfg_read(&c->d.vd->pci, PCI_DEVICE_ID, 2), 0x1040 + 19);
}

/* Host CONNECT 1234 -> REQUEST to the guest; RESPONSE -> "OK <port>". */
static uint32_t open_from_host(struct ctx *c, int *fd, uint32_t guest_buf)
{
	struct hdr h;
	char line[64], want[64];
	ssize_t n;

	*fd = host_connect(c->uds);
	assert_int_equal(write(*fd, "CONNECT 1234\n", 13), 13);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_REQUEST);
	assert_int_equal(h.src_cid, 2);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(h.type, 1);
	assert_true(h.buf_alloc > 0);
	gsend(c, OP_RESPONSE, 1234, h.src_port, 0, NULL, 0, guest_buf, 0);
	n = host_read(c, *fd, line, sizeof(line) - 1);
	assert_true(n > 0);
	line[n] = 0;
	snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	assert_string_equal(line, want);
	return h.src_port;
}

static void test_host_connect_and_data(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	char buf[64];
	int fd;
	uint32_t hp = open_from_host(c, &fd, 65536);

	assert_int_equal(write(fd, "ping", 4), 4);
	assert_int_equal(grecv(c, &h, buf), 1);
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_port, hp);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "ping", 4);

	gsend(c, OP_RW, 1234, hp, 0, "pong!", 5, 65536, 4);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "pong!", 5);
	close(fd);
}

static void test_host_connect_refused(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	char buf[8];
	int fd = host_connect(c->uds);

	assert_int_equal(write(fd, "CONNECT 99\n", 11), 11);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_REQUEST);
	gsend(c, OP_RST, 99, h.src_port, 0, NULL, 0, 0, 0);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 0); /* EOF, no OK */
	close(fd);
}

static void test_host_bad_handshake(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	char buf[8];
	int fd = host_connect(c->uds);

	assert_int_equal(write(fd, "HELLO 12\n", 9), 9);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 0);
	close(fd);
	assert_int_equal(grecv(c, &h, NULL), 0); /* the guest saw nothing */
}

static int host_listen(struct ctx *c, uint32_t port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", c->uds, port);
	unlink(a.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void test_guest_connect(void **state)
{
	struct ctx *c = *state;
	int lfd = host_listen(c, 5000), fd;
	struct hdr h;
	char buf[64];

	gsend(c, OP_REQUEST, 777, 5000, 0, NULL, 0, 65536, 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RESPONSE);
	assert_int_equal(h.src_port, 5000);
	assert_int_equal(h.dst_port, 777);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);

	gsend(c, OP_RW, 777, 5000, 0, "hello host", 10, 65536, 0);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "hello host", 10);
	assert_int_equal(write(fd, "hi guest", 8), 8);
	assert_int_equal(grecv(c, &h, buf), 1);
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.len, 8);
	assert_memory_equal(buf, "hi guest", 8);

	/* The guest closes: RST back, and the host sees EOF. */
	gsend(c, OP_SHUTDOWN, 777, 5000, 3, NULL, 0, 65536, 8);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 0);
	close(fd);
	close(lfd);
}

static void test_guest_connect_refused(void **state)
{
	struct ctx *c = *state;
	struct hdr h;

	gsend(c, OP_REQUEST, 778, 4999, 0, NULL, 0, 65536, 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.src_port, 4999);
	assert_int_equal(h.dst_port, 778);
}

/* The device never sends more than the guest's buf_alloc allows. */
static void test_credit_to_guest(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	int fd;
	uint32_t hp = open_from_host(c, &fd, 100), got = 0;

	memset(c->data, 'x', 300);
	assert_int_equal(write(fd, c->data, 300), 300);
	while (grecv(c, &h, c->data))
		got += h.len;
	assert_int_equal(got, 100);
	/* The guest consumed it: the next 100 flow. */
	gsend(c, OP_CREDIT_UPDATE, 1234, hp, 0, NULL, 0, 100, 100);
	got = 0;
	while (grecv(c, &h, c->data)) {
		assert_int_equal(h.op, OP_RW);
		got += h.len;
	}
	assert_int_equal(got, 100);
	/* CREDIT_REQUEST is answered with our window. */
	gsend(c, OP_CREDIT_REQUEST, 1234, hp, 0, NULL, 0, 100, 200);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_CREDIT_UPDATE);
	assert_int_equal(h.buf_alloc, 256 << 10);
	close(fd);
}

/* A guest sending beyond the window the host has not drained gets RST. */
static void test_guest_overrun(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	int fd, rst = 0;
	uint32_t hp = open_from_host(c, &fd, 65536);

	memset(c->data, 'y', 65536);
	for (int i = 0; i < 40 && !rst; i++) {
		gsend(c, OP_RW, 1234, hp, 0, c->data, 65536, 65536, 0);
		while (grecv(c, &h, NULL))
			rst |= h.op == OP_RST;
	}
	assert_true(rst);
	close(fd);
}

/* The host half-closes: SHUTDOWN(SEND) to the guest, which can still send;
 * its own SHUTDOWN(SEND) then ends the connection. */
static void test_half_close(void **state)
{
	struct ctx *c = *state;
	struct hdr h;
	char buf[16];
	int fd;
	uint32_t hp = open_from_host(c, &fd, 65536);

	shutdown(fd, SHUT_WR);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_SHUTDOWN);
	assert_int_equal(h.flags, 2);
	gsend(c, OP_RW, 1234, hp, 0, "late", 4, 65536, 0);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 4);
	gsend(c, OP_SHUTDOWN, 1234, hp, 2, NULL, 0, 65536, 0);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	close(fd);
}

static void test_malformed_packets(void **state)
{
	struct ctx *c = *state;
	struct hdr h = {
		.src_cid = CID, .dst_cid = 2, .src_port = 9, .dst_port = 10, .len = 1000, .type = 1, .op = OP_RW
	};
	uint64_t a;
	uint32_t l;
	uint16_t uh;
	uint32_t ul;
	int fd;
	uint32_t hp;

	/* Unknown op, wrong type, len beyond the payload, RW without a
	 * connection: each answered with RST. */
	gsend(c, 42, 9, 10, 0, NULL, 0, 0, 0);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 1);
	assert_int_equal(((struct hdr *)c->data)->op, OP_RST);
	a = vdrv_alloc(&c->d, HDRLEN + 10);
	memcpy(vd_host(&c->d, a), &h, HDRLEN);
	l = HDRLEN + 10;
	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(vdrv_used(&c->d, TXQ, &uh, &ul), 1);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 1);
	assert_int_equal(((struct hdr *)c->data)->op, OP_RST);
	h.len = 0;
	h.type = 2; /* SEQPACKET: not offered */
	memcpy(vd_host(&c->d, a), &h, HDRLEN);
	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(vdrv_used(&c->d, TXQ, &uh, &ul), 1);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 1);
	assert_int_equal(((struct hdr *)c->data)->op, OP_RST);
	gsend(c, OP_RW, 9, 10, 0, "z", 1, 0, 0);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 1);
	assert_int_equal(((struct hdr *)c->data)->op, OP_RST);
	/* A header cut short, and a packet for another CID: ignored. */
	l = 10;
	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(vdrv_used(&c->d, TXQ, &uh, &ul), 1);
	h.type = 1;
	h.src_cid = 7;
	memcpy(vd_host(&c->d, a), &h, HDRLEN);
	l = HDRLEN;
	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(vdrv_used(&c->d, TXQ, &uh, &ul), 1);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 0);
	/* A live connection hit by an unknown op is reset, host sees EOF. */
	hp = open_from_host(c, &fd, 65536);
	gsend(c, 99, 1234, hp, 0, NULL, 0, 65536, 0);
	assert_int_equal(grecv(c, (struct hdr *)c->data, NULL), 1);
	assert_int_equal(((struct hdr *)c->data)->op, OP_RST);
	assert_int_equal(host_read(c, fd, c->data, 16), 0);
	close(fd);
	assert_false(vdrv_status(&c->d) & VIRTIO_STATUS_NEEDS_RESET);
}

/* A device reset drops every connection: the host sees EOF. */
static void test_reset_closes(void **state)
{
	struct ctx *c = *state;
	char buf[8];
	int fd;

	open_from_host(c, &fd, 65536);
	vdrv_wr(&c->d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	assert_int_equal(host_read(c, fd, buf, sizeof(buf)), 0);
	close(fd);
}

/* The test as the other VMM of a group (CID 4), hostile when it likes:
 * accepts the guest's connection to port 80; the rings carry data both
 * ways; counts outside the ring, a close without the end marker reset the
 * guest's connection; after the end marker the ring's data still arrives,
 * then SHUTDOWN. */
#define PEER 4
struct peer_conn {
	int fd;
	struct vsock_ring *ring;
};

static void peer_accept(struct ctx *c, struct vsock_backend *peer, uint32_t guest_port, struct peer_conn *pc)
{
	struct vsock_handshake hs = { 0 };
	uint32_t gp = 0, pp = 0;
	uint64_t pcid = 0;
	struct hdr h;

	gsend_to(c, PEER, OP_REQUEST, guest_port, 80, 0, NULL, 0, 65536, 0);
	pc->fd = peer->ops->accept(peer);
	assert_true(pc->fd >= 0);
	assert_int_equal(peer->ops->handshake(peer, pc->fd, &hs, &gp, &pcid, &pp, &pc->ring), 1);
	assert_int_equal(gp, 80);
	assert_int_equal(pcid, CID);
	assert_int_equal(pp, guest_port);
	assert_int_equal(peer->ops->confirm(peer, pc->fd, gp, pc->ring), 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RESPONSE);
	assert_int_equal(h.src_cid, PEER);
	assert_int_equal(h.dst_port, guest_port);
}

static void peer_put(struct peer_conn *pc, const char *p, size_t len)
{
	uint32_t head;
	size_t n;

	assert_int_equal(vsock_ring_tx_consumed(pc->ring, &head), 0);
	assert_true(len <= vsock_ring_tx_room(pc->ring));
	uint8_t *d = vsock_ring_tx_span(pc->ring, &n);
	assert_true(n >= len);
	memcpy(d, p, len);
	vsock_ring_tx_advance(pc->ring, len);
}

static void test_group_rings(void **state)
{
	struct ctx *c = *state;
	char gdir[96], err[256], buf[64];
	struct vsock_backend *peer;
	struct peer_conn pc;
	struct hdr h;
	size_t n;
	bool usage;

	snprintf(gdir, sizeof(gdir), "%s/group", c->dir);
	assert_int_equal(mkdir(gdir, 0700), 0);
	if (virtio_vsock_join_group(c->dev, gdir, err, sizeof(err)) < 0)
		fail_msg("join: %s", err);
	peer = vsock_group_open(NULL, PEER, gdir, "", NULL, &usage, err, sizeof(err));
	if (!peer)
		fail_msg("peer: %s", err);

	/* Data both ways, through the rings. */
	peer_accept(c, peer, 5000, &pc);
	gsend_to(c, PEER, OP_RW, 5000, 80, 0, "ping", 4, 65536, 0);
	assert_int_equal(vsock_ring_rx_avail(pc.ring), 4);
	const uint8_t *got = vsock_ring_rx_span(pc.ring, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(got, "ping", 4);
	vsock_ring_rx_advance(pc.ring, 4);
	assert_int_equal(peer->ops->recv(peer, pc.fd, NULL, 0), -1); /* the doorbell, taken */
	peer_put(&pc, "pong!", 5);
	assert_int_equal(peer->ops->kick(peer, pc.fd), 0);
	assert_int_equal(grecv(c, &h, buf), 1);
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_cid, PEER);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "pong!", 5);
	assert_int_equal(h.fwd_cnt, 4); /* what the peer took from its ring */
	/* A producer's count more than a ring ahead: RST, and the ring is
	 * not read. */
	__atomic_store_n((uint32_t *)pc.ring->tx, pc.ring->tx_tail + 3 * VSOCK_RING_SIZE, __ATOMIC_RELEASE);
	assert_int_equal(peer->ops->kick(peer, pc.fd), 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 5000);
	close(pc.fd);
	vsock_ring_free(pc.ring);

	/* A consumer's count that goes back: RST when the guest sends next. */
	peer_accept(c, peer, 5001, &pc);
	gsend_to(c, PEER, OP_RW, 5001, 80, 0, "abc", 3, 65536, 0);
	__atomic_store_n((uint32_t *)(pc.ring->rx + 64), 2u, __ATOMIC_RELEASE);
	gsend_to(c, PEER, OP_RW, 5001, 80, 0, "d", 1, 65536, 0);
	__atomic_store_n((uint32_t *)(pc.ring->rx + 64), 1u, __ATOMIC_RELEASE);
	gsend_to(c, PEER, OP_RW, 5001, 80, 0, "e", 1, 65536, 0);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 5001);
	close(pc.fd);
	vsock_ring_free(pc.ring);

	/* A peer VMM that vanishes (no end marker): RST. */
	peer_accept(c, peer, 5002, &pc);
	close(pc.fd);
	vsock_ring_free(pc.ring);
	pump(c, 2);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 5002);

	/* An orderly end: what the ring holds arrives, then SHUTDOWN, even
	 * with the socket closed right after the marker. */
	peer_accept(c, peer, 5003, &pc);
	peer_put(&pc, "bye", 3);
	assert_int_equal(peer->ops->shut_wr(peer, pc.fd), 0);
	close(pc.fd);
	vsock_ring_free(pc.ring);
	assert_int_equal(grecv(c, &h, buf), 1);
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.len, 3);
	assert_memory_equal(buf, "bye", 3);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_SHUTDOWN);
	assert_int_equal(h.flags & 2, 2);
	assert_int_equal(h.dst_port, 5003);
	/* ... and the guest's data after that finds the peer gone: RST. */
	gsend_to(c, PEER, OP_RW, 5003, 80, 0, "late", 4, 65536, 0);
	pump(c, 1);
	assert_int_equal(grecv(c, &h, NULL), 1);
	assert_int_equal(h.op, OP_RST);

	vsock_backend_destroy(peer); /* the device's member files go in teardown */
}

static void test_bad_specs(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(0);
	char err[160];
	const char *bad[] = { "", "2", "x", "3,foo=1", "3,uds=", "4294967295", "-5" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_null(virtio_vsock_create(t->vm, NULL, bad[i], NULL, NULL, err, sizeof(err)));
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
	}
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_and_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_bad_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_to_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_packets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_rings, setup, teardown),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
