/* virtio-vsock (virtio 1.2 §5.10): stream sockets between the guest (CID
 * >= 3) and the host (CID 2), carried to host processes over AF_UNIX, and
 * with ",group=G" between the guests of a group (by their CIDs), carried
 * VMM to VMM (host/vsock.h, docs/vsock.md).
 *
 * Queues: rx (device -> guest packets), tx (guest -> device), event (the
 * transport reset a restored or migrated machine announces: its host
 * sockets stayed behind, so the guest's connections are reset, and its
 * sockets see ECONNRESET).  Every packet starts with a 44-byte
 * little-endian header; RW packets carry data.
 *
 * A connection is one stream fd on the host side, from the host backend
 * (host/vsock.h; unix sockets for --vsock CID,uds=PATH):
 *   - host-initiated: the backend accepts a stream and reads its handshake
 *     (the guest port); we send REQUEST to the guest, and its RESPONSE makes
 *     the backend confirm to the host side (its RST closes the stream);
 *   - guest-initiated: the guest's REQUEST to host port P asks the backend
 *     for a stream to P; RESPONSE on success, RST otherwise.  A peer VM's
 *     backend answers later (the far guest must accept first): the
 *     connection waits in C_CONNECTING for the backend's reply.
 * A connection is named by (peer CID, peer port, guest port); the peer is
 * the host (CID 2, through the uds backend) or another guest of the group.
 *
 * Flow control is the protocol's credit scheme.  Towards the guest we send
 * at most what its buf_alloc/fwd_cnt allow; towards the host we advertise
 * CONN_BUF bytes and count as forwarded what the socket has taken.  A guest
 * that sends beyond our credit, or anything malformed, gets RST: nothing the
 * guest sends can make us buffer without bound or crash.
 *
 * Threads: queue kicks run on vCPU threads with io_lock held; an I/O thread
 * polls the host sockets and does its work under io_lock too, so all state
 * here is guarded by io_lock. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/vsock.h"
#include "host/vsock_ring.h"

#include "hw/virtio/virtio.h"
#include "hw/virtio/vsock.h"
#include "symbiont/clock.h"
#include "symbiont/iothreads.h"

#define RXQ        0
#define TXQ        1
#define EVQ        2
#define QUEUE_SIZE 128
#define CONFIG_LEN 8 /* guest_cid, le64 */

#define HOST_CID             2
#define MAX_CONNS            256
#define GROUP_LISTEN         UINT64_MAX   /* pfd_id of the group's listener */
#define PEER_CONNS           64           /* connections one peer VM may open to us */
#define CONN_BUF             (256u << 10) /* our receive window per connection */
#define RING_DOORBELL_ROUNDS 4            /* backend reads (up to 64 doorbells each) per readable socket per pass */
#define RX_CHUNK             4096         /* host bytes read per packet to the guest */
#define CTRL_MAX             512          /* control packets waiting for rx buffers */
#define HOST_PORT_BASE       0x40000000u

enum {
	OP_INVALID,
	OP_REQUEST,
	OP_RESPONSE,
	OP_RST,
	OP_SHUTDOWN,
	OP_RW,
	OP_CREDIT_UPDATE,
	OP_CREDIT_REQUEST,
};
#define TYPE_STREAM 1
#define SHUT_RCV    1 /* the sender will receive no more */
#define SHUT_SEND   2 /* the sender will send no more */

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");

enum conn_state {
	C_HANDSHAKE,  /* host connected, reading "CONNECT <port>\n" */
	C_REQUESTED,  /* REQUEST sent to the guest, waiting for RESPONSE */
	C_CONNECTING, /* the guest's REQUEST went to a peer VM: waiting for it */
	C_OPEN,
};

struct vconn {
	uint64_t id; /* tells a reused fd number apart in the poll thread */
	int fd;
	struct vsock_backend *be; /* whose stream fd is */
	enum conn_state state;
	uint64_t peer_cid;              /* HOST_CID or a peer guest's */
	uint32_t host_port, guest_port; /* host_port: the peer's port */
	struct vsock_handshake hs;      /* of a host-initiated stream */
	/* Towards the guest. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	bool readable; /* the socket said POLLIN since we last hit EAGAIN */
	bool host_eof; /* the host will send no more (SHUTDOWN sent) */
	bool peer_no_rcv;
	uint8_t *rxbuf; /* read from the host, not yet in a guest buffer */
	size_t rxlen, rxoff;
	/* Towards the host. */
	uint8_t *out; /* guest data the socket has not taken yet */
	size_t outlen;
	uint32_t fwd_cnt, fwd_cnt_sent;
	bool peer_no_send;
	bool wr_shut;
	bool closing; /* drain out[] then close */
	bool dead;    /* the peer vanished: reset at the end of this pass */
	/* A peer VM's connection: the data moves through shared rings (one
	 * copy each way: guest buffer to ring, ring to guest buffer) and the
	 * fd carries doorbells and the end marker.  NULL: a byte stream. */
	struct vsock_ring *ring;
	bool kick;      /* we filled the peer's ring: ring its doorbell */
	bool far_end;   /* the peer sends no more: SHUTDOWN once the ring is empty */
	bool sock_done; /* ... and its socket closed after that */
};

/* The guest's credit towards a peer VM is the ring: what it may have in
 * flight always fits. */
_Static_assert(CONN_BUF == VSOCK_RING_SIZE, "the credit we advertise is the ring's size");

struct vsock {
	struct virtio_dev vd;
	bool registered;
	uint64_t cid;
	struct vsock_backend *be;    /* NULL: no host side (guest connections are refused) */
	struct vsock_backend *group; /* NULL: no peer VMs */
	int wake_fd;
	pthread_t thread;
	bool threaded, stop;
	bool polling; /* the I/O thread is handling what its poll returned */

	struct vconn *conns[MAX_CONNS];
	unsigned nconns, rr; /* rr: where the next rx round starts */
	uint64_t next_id;
	uint32_t next_host_port;

	struct vsock_hdr ctrl[CTRL_MAX];
	unsigned ctrl_head, ctrl_count;

	struct vq_elem e;
	bool reset_pending; /* a transport reset to announce on the event queue */
	/* Announces it once the machine runs: at load the vCPUs' interrupt
	 * state is not loaded yet and would drop the interrupt. */
	struct vm_timer reset_timer;
	struct pollfd pfd[3 + MAX_CONNS];
	uint64_t pfd_id[3 + MAX_CONNS];
	uint64_t bytes_to_guest, bytes_from_guest; /* stream payload, for metrics */
	/* From the peer VMM's last publish into a ring to our RW packet in the
	 * guest's rx queue (the host's part of a one-way trip while one message
	 * is in flight, as in a ping-pong): count and sum for metrics. */
	uint64_t ring_hops, ring_hop_ns;
};

struct virtio_dev *virtio_vsock_vdev(void *dev)
{
	return &((struct vsock *)dev)->vd;
}

static void wake(struct vsock *v)
{
	uint64_t one = 1;

	if (v->wake_fd >= 0 && write(v->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("symbiont: vsock: eventfd");
}

/* ---- connections -------------------------------------------------------- */

static struct vconn *find(struct vsock *v, uint64_t cid, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < v->nconns; i++)
		if (v->conns[i]->host_port == host_port && v->conns[i]->guest_port == guest_port &&
		    v->conns[i]->peer_cid == cid)
			return v->conns[i];
	return NULL;
}

static struct vconn *conn_new(struct vsock *v, struct vsock_backend *be, int fd, enum conn_state st, uint64_t cid,
                              uint32_t host_port, uint32_t guest_port)
{
	struct vconn *c;

	if (v->nconns == MAX_CONNS || !(c = calloc(1, sizeof(*c))))
		return NULL;
	c->id = ++v->next_id;
	c->fd = fd;
	c->be = be;
	c->peer_cid = cid;
	c->state = st;
	c->host_port = host_port;
	c->guest_port = guest_port;
	v->conns[v->nconns++] = c;
	wake(v);
	return c;
}

static void conn_free(struct vsock *v, struct vconn *c)
{
	for (unsigned i = 0; i < v->nconns; i++) {
		if (v->conns[i] == c) {
			v->conns[i] = v->conns[--v->nconns];
			break;
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	vsock_ring_free(c->ring);
	free(c->rxbuf);
	free(c->out);
	free(c);
	wake(v);
}

static uint32_t credit_to_guest(const struct vconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* ---- packets to the guest ------------------------------------------------- */

static void fill_hdr(struct vsock *v, struct vsock_hdr *h, uint16_t op, uint64_t cid, uint32_t host_port,
                     uint32_t guest_port, uint32_t flags)
{
	*h = (struct vsock_hdr){ .src_cid = cid,
		                 .dst_cid = v->cid,
		                 .src_port = host_port,
		                 .dst_port = guest_port,
		                 .type = TYPE_STREAM,
		                 .op = op,
		                 .flags = flags,
		                 .buf_alloc = CONN_BUF };
}

/* Queues a control packet (no payload); dropped if the guest lets CTRL_MAX
 * of them pile up without posting rx buffers. */
static void send_ctrl(struct vsock *v, uint16_t op, uint64_t cid, uint32_t host_port, uint32_t guest_port,
                      uint32_t flags)
{
	struct vsock_hdr *h;

	if (v->ctrl_count == CTRL_MAX)
		return;
	h = &v->ctrl[(v->ctrl_head + v->ctrl_count++) % CTRL_MAX];
	fill_hdr(v, h, op, cid, host_port, guest_port, flags);
}

static void conn_ctrl(struct vsock *v, struct vconn *c, uint16_t op, uint32_t flags)
{
	send_ctrl(v, op, c->peer_cid, c->host_port, c->guest_port, flags);
}

static void send_rst(struct vsock *v, uint64_t cid, uint32_t host_port, uint32_t guest_port)
{
	send_ctrl(v, OP_RST, cid, host_port, guest_port, 0);
}

/* Ends a connection with RST to the guest. */
static void conn_reset(struct vsock *v, struct vconn *c)
{
	conn_ctrl(v, c, OP_RST, 0);
	conn_free(v, c);
}

/* The stream fd through its backend (plain socket calls for the uds one). */
static ssize_t conn_recv(struct vconn *c, void *buf, size_t cap)
{
	ssize_t n;

	if (c->be && c->be->ops->recv)
		return c->be->ops->recv(c->be, c->fd, buf, cap);
	n = read(c->fd, buf, cap);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return 0; /* an error ends what the host sends, as EOF does */
	return n;
}

static ssize_t conn_send(struct vconn *c, const void *buf, size_t len)
{
	if (c->be && c->be->ops->send)
		return c->be->ops->send(c->be, c->fd, buf, len);
	return send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Tells the far end the guest sends no more; false to retry on POLLOUT. */
static bool conn_shut_wr(struct vconn *c)
{
	if (c->wr_shut)
		return true;
	if (c->be && c->be->ops->shut_wr && c->be->ops->shut_wr(c->be, c->fd) < 0)
		return false;
	if (!c->be || !c->be->ops->shut_wr)
		shutdown(c->fd, SHUT_WR);
	c->wr_shut = true;
	return true;
}

static bool rx_ok(struct vsock *v)
{
	return virtio_queue_ready(&v->vd, RXQ) && (v->vd.status & VIRTIO_STATUS_DRIVER_OK);
}

/* Pops an rx chain able to take a header; 1, 0 (none), -1 (broken). */
static int pop_rx(struct vsock *v)
{
	for (;;) {
		int rc = vq_pop(&v->vd.vq[RXQ], &v->e);
		if (rc < 0)
			virtio_dev_error(&v->vd, "malformed rx descriptor chain");
		if (rc <= 0)
			return rc;
		if (v->e.in_len >= sizeof(struct vsock_hdr))
			return 1;
		vq_push(&v->vd.vq[RXQ], &v->e, 0); /* useless buffer: hand it back */
	}
}

/* What the peer VMM took from its ring is what we forwarded. */
static void ring_fwd(struct vconn *c)
{
	uint32_t head;

	if (!c->ring)
		return;
	if (vsock_ring_tx_consumed(c->ring, &head) < 0)
		c->dead = true; /* a count outside the ring: the peer is broken */
	else
		c->fwd_cnt = head;
}

static void put_pkt(struct vsock *v, struct vsock_hdr *h, const void *data, size_t len)
{
	struct vconn *c = find(v, h->src_cid, h->src_port, h->dst_port);

	/* Credit fields are current as of sending, not of queueing. */
	if (c) {
		ring_fwd(c);
		h->fwd_cnt = c->fwd_cnt;
		c->fwd_cnt_sent = c->fwd_cnt;
	}
	h->len = (uint32_t)len;
	buf_to_iov(v->e.iov + v->e.nout, v->e.nin, 0, h, sizeof(*h));
	if (len)
		buf_to_iov(v->e.iov + v->e.nout, v->e.nin, sizeof(*h), data, len);
	vq_push(&v->vd.vq[RXQ], &v->e, (uint32_t)(sizeof(*h) + len));
}

/* Reads more host data for c if it may; false when nothing can be sent. */
static bool fill_rxbuf(struct vsock *v, struct vconn *c)
{
	uint32_t credit = credit_to_guest(c);
	ssize_t n;

	if (c->dead)
		return false;
	if (c->rxlen)
		return credit > 0;
	if (c->state != C_OPEN || c->host_eof || c->peer_no_rcv || c->closing || !c->readable || !credit)
		return false;
	/* A message backend hands over whole messages (up to VSOCK_MSG_MAX);
	 * what the credit does not cover yet waits in rxbuf. */
	bool msgs = c->be && c->be->ops->recv;
	if (!c->rxbuf && !(c->rxbuf = malloc(msgs ? VSOCK_MSG_MAX : RX_CHUNK)))
		return false;
	n = conn_recv(c, c->rxbuf, msgs ? VSOCK_MSG_MAX : credit < RX_CHUNK ? credit : RX_CHUNK);
	if (n > 0) {
		c->rxlen = (size_t)n;
		c->rxoff = 0;
		return true;
	}
	if (n == -1) {
		c->readable = false;
		return false;
	}
	if (n < -1) { /* the peer vanished: RST, after this pass */
		c->dead = true;
		return false;
	}
	/* EOF: the host sends no more. */
	c->host_eof = true;
	conn_ctrl(v, c, OP_SHUTDOWN, SHUT_SEND);
	return false;
}

/* Whether c's ring has data the guest may take now; at the end of the
 * ring after the peer's end marker, SHUTDOWN instead. */
static bool ring_ready(struct vsock *v, struct vconn *c)
{
	int64_t avail;

	if (c->dead || c->state != C_OPEN || c->host_eof || c->peer_no_rcv || c->closing)
		return false;
	avail = vsock_ring_rx_avail(c->ring);
	if (avail < 0) {
		c->dead = true;
		return false;
	}
	if (avail == 0 && c->far_end) {
		c->host_eof = true;
		conn_ctrl(v, c, OP_SHUTDOWN, SHUT_SEND);
		return false;
	}
	return avail > 0 && credit_to_guest(c) > 0;
}

/* One RW packet from c's ring straight into the rx buffer in v->e: the
 * one copy on this side. */
static void ring_to_guest(struct vsock *v, struct vconn *c)
{
	struct vsock_hdr h;
	size_t chunk = c->ring->rx_tail - c->ring->rx_head, done = 0;
	bool kick = false;

	if (chunk > v->e.in_len - sizeof(h))
		chunk = v->e.in_len - sizeof(h);
	if (chunk > credit_to_guest(c))
		chunk = credit_to_guest(c);
	while (done < chunk) {
		size_t n;
		const uint8_t *p = vsock_ring_rx_span(c->ring, &n);
		if (!n)
			break;
		if (n > chunk - done)
			n = chunk - done;
		buf_to_iov(v->e.iov + v->e.nout, v->e.nin, sizeof(h) + done, p, n);
		kick |= vsock_ring_rx_advance(c->ring, n);
		done += n;
	}
	fill_hdr(v, &h, OP_RW, c->peer_cid, c->host_port, c->guest_port, 0);
	ring_fwd(c);
	h.fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
	h.len = (uint32_t)done;
	buf_to_iov(v->e.iov + v->e.nout, v->e.nin, 0, &h, sizeof(h));
	vq_push(&v->vd.vq[RXQ], &v->e, (uint32_t)(sizeof(h) + done));
	c->tx_cnt += (uint32_t)done;
	v->bytes_to_guest += done;
	uint64_t stamp = vsock_ring_rx_stamp(c->ring), now = host_clock_ns();
	if (stamp && now >= stamp && now - stamp < 1000000000u) { /* the peer's word: only a plausible one */
		v->ring_hops++;
		v->ring_hop_ns += now - stamp;
	}
	/* The producer hears of the room in steps, so its guest gets credit. */
	if (kick && c->be->ops->kick(c->be, c->fd) < 0)
		c->dead = true;
}

/* Moves control packets, then host data, into the guest's rx buffers. */
static bool reap_dead(struct vsock *v)
{
	bool any = false;

	for (unsigned i = 0; i < v->nconns;) {
		if (v->conns[i]->dead) {
			conn_reset(v, v->conns[i]);
			any = true;
		} else {
			i++;
		}
	}
	return any;
}

static void rx_flush(struct vsock *v)
{
	bool pushed = false;
	int rc;

	if (!rx_ok(v))
		return;
again:
	rc = 1;
	while (v->ctrl_count && (rc = pop_rx(v)) > 0) {
		put_pkt(v, &v->ctrl[v->ctrl_head], NULL, 0);
		v->ctrl_head = (v->ctrl_head + 1) % CTRL_MAX;
		v->ctrl_count--;
		pushed = true;
	}
	/* Round-robin over connections, one packet each per pass, so one busy
	 * stream cannot starve the rest. */
	for (bool progress = true; rc > 0 && !v->ctrl_count && progress;) {
		progress = false;
		for (unsigned k = 0; k < v->nconns && rc > 0; k++) {
			struct vconn *c = v->conns[(v->rr + k) % v->nconns];
			struct vsock_hdr h;
			size_t chunk;

			if (c->ring ? !ring_ready(v, c) : !fill_rxbuf(v, c))
				continue;
			if ((rc = pop_rx(v)) <= 0)
				break;
			if (c->ring) {
				ring_to_guest(v, c);
				pushed = progress = true;
				continue;
			}
			chunk = c->rxlen - c->rxoff;
			if (chunk > v->e.in_len - sizeof(h))
				chunk = v->e.in_len - sizeof(h);
			if (chunk > credit_to_guest(c))
				chunk = credit_to_guest(c);
			fill_hdr(v, &h, OP_RW, c->peer_cid, c->host_port, c->guest_port, 0);
			put_pkt(v, &h, c->rxbuf + c->rxoff, chunk);
			c->tx_cnt += (uint32_t)chunk;
			v->bytes_to_guest += chunk;
			c->rxoff += chunk;
			if (c->rxoff == c->rxlen)
				c->rxlen = 0;
			pushed = progress = true;
		}
		if (v->nconns)
			v->rr = (v->rr + 1) % v->nconns;
		/* EOF found while filling queued a SHUTDOWN: send it now. */
		while (v->ctrl_count && rc > 0 && (rc = pop_rx(v)) > 0) {
			put_pkt(v, &v->ctrl[v->ctrl_head], NULL, 0);
			v->ctrl_head = (v->ctrl_head + 1) % CTRL_MAX;
			v->ctrl_count--;
			pushed = progress = true;
		}
	}
	if (reap_dead(v))
		goto again;
	if (pushed)
		virtio_notify(&v->vd, RXQ);
	/* Poll interests may have changed: the I/O thread must poll afresh.
	 * Not when it is the I/O thread: it builds them anew before it polls,
	 * and a wake from itself would make every poll return at once. */
	if (!v->polling)
		wake(v);
}

/* ---- host side: writing guest data ---------------------------------------- */

static void maybe_close(struct vsock *v, struct vconn *c);

/* Writes what the socket takes; -1 if the host side is gone. */
static int flush_out(struct vconn *c)
{
	while (c->outlen) {
		ssize_t n = conn_send(c, c->out, c->outlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->outlen - n);
		c->outlen -= n;
		c->fwd_cnt += (uint32_t)n;
	}
	return 0;
}

/* After the socket took data: tell the guest about new credit once enough
 * accumulated, and finish a half-closed or closing connection. */
static void after_write(struct vsock *v, struct vconn *c)
{
	if (!c->outlen && c->peer_no_send)
		conn_shut_wr(c);
	if (c->fwd_cnt - c->fwd_cnt_sent >= CONN_BUF / 4 && !c->closing)
		conn_ctrl(v, c, OP_CREDIT_UPDATE, 0);
	maybe_close(v, c);
}

/* Both directions finished (or the guest asked to close and all its data
 * went out): RST tells the guest the host side is gone. */
static void maybe_close(struct vsock *v, struct vconn *c)
{
	if (c->outlen)
		return;
	/* The far end hears of the end before the stream closes (a peer VM
	 * tells an orderly end from a vanished VMM by it). */
	if ((c->closing || c->peer_no_send) && !conn_shut_wr(c))
		return; /* on POLLOUT */
	if (c->closing || (c->peer_no_send && c->host_eof))
		conn_reset(v, c);
}

/* The guest's data straight into the peer's ring: the one copy on this
 * side.  Its credit is the ring, so it fits unless the guest overran the
 * credit or the peer lied about what it took; either resets. */
static void ring_from_guest(struct vsock *v, struct vconn *c, size_t len)
{
	size_t done = 0;

	ring_fwd(c);
	if (c->dead || len > vsock_ring_tx_room(c->ring)) {
		conn_reset(v, c);
		return;
	}
	while (done < len) {
		size_t n;
		uint8_t *p = vsock_ring_tx_span(c->ring, &n);
		if (n > len - done)
			n = len - done;
		iov_to_buf(v->e.iov, v->e.nout, sizeof(struct vsock_hdr) + done, p, n);
		vsock_ring_tx_advance(c->ring, n);
		done += n;
	}
	c->kick = true; /* once this batch of tx packets is done */
	after_write(v, c);
}

static void guest_data(struct vsock *v, struct vconn *c, const struct vsock_hdr *h)
{
	size_t len = h->len;

	if (c->peer_no_send || c->closing || c->wr_shut) {
		conn_reset(v, c);
		return;
	}
	if (c->ring) {
		ring_from_guest(v, c, len);
		return;
	}
	/* The guest may have at most CONN_BUF bytes we have not forwarded. */
	if (c->outlen + len > CONN_BUF) {
		conn_reset(v, c);
		return;
	}
	if (!c->out && !(c->out = malloc(CONN_BUF))) {
		conn_reset(v, c);
		return;
	}
	iov_to_buf(v->e.iov, v->e.nout, sizeof(*h), c->out + c->outlen, len);
	c->outlen += len;
	if (flush_out(c) < 0) {
		conn_reset(v, c);
		return;
	}
	after_write(v, c);
	wake(v); /* out[] non-empty: poll for POLLOUT */
}

/* ---- packets from the guest ------------------------------------------------- */

static struct vsock_backend *backend_for(struct vsock *v, uint64_t cid)
{
	return cid == HOST_CID ? v->be : v->group;
}

static void guest_request(struct vsock *v, const struct vsock_hdr *h)
{
	struct vsock_backend *be = backend_for(v, h->dst_cid);
	struct vsock_ring *ring = NULL;
	bool pending = false;
	struct vconn *c;
	int fd;

	if (!be || v->nconns == MAX_CONNS || find(v, h->dst_cid, h->dst_port, h->src_port) ||
	    (fd = be->ops->connect(be, h->dst_cid, h->dst_port, h->src_port, &pending, &ring)) < 0) {
		send_rst(v, h->dst_cid, h->dst_port, h->src_port);
		return;
	}
	c = conn_new(v, be, fd, pending ? C_CONNECTING : C_OPEN, h->dst_cid, h->dst_port, h->src_port);
	if (!c) {
		close(fd);
		vsock_ring_free(ring);
		send_rst(v, h->dst_cid, h->dst_port, h->src_port);
		return;
	}
	c->ring = ring;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (!pending)
		conn_ctrl(v, c, OP_RESPONSE, 0);
}

/* A peer VM answered a pending connect (fd readable). */
static void peer_reply(struct vsock *v, struct vconn *c)
{
	int r = c->be->ops->reply ? c->be->ops->reply(c->be, c->fd, c->ring) : -1;

	if (r == 0)
		return;
	if (r < 0) {
		conn_reset(v, c);
		return;
	}
	c->state = C_OPEN;
	conn_ctrl(v, c, OP_RESPONSE, 0);
}

static void guest_response(struct vsock *v, struct vconn *c)
{
	if (c->state != C_REQUESTED) {
		conn_reset(v, c);
		return;
	}
	if (c->be->ops->confirm(c->be, c->fd, c->host_port, c->ring) < 0) {
		conn_reset(v, c);
		return;
	}
	c->state = C_OPEN;
}

static void guest_shutdown(struct vsock *v, struct vconn *c, uint32_t flags)
{
	if (flags & SHUT_RCV)
		c->peer_no_rcv = true;
	if (flags & SHUT_SEND)
		c->peer_no_send = true;
	if (c->peer_no_rcv && c->peer_no_send)
		c->closing = true; /* after out[] drains: RST and close */
	else if (c->peer_no_send && !c->outlen)
		conn_shut_wr(c);
	maybe_close(v, c);
}

static void tx_packet(struct vsock *v)
{
	struct vsock_hdr h;
	struct vconn *c;
	size_t payload;

	if (iov_to_buf(v->e.iov, v->e.nout, 0, &h, sizeof(h)) < sizeof(h))
		return; /* not even a header: nothing to answer */
	payload = v->e.out_len - sizeof(h);
	if (h.src_cid != v->cid)
		return; /* not ours to answer: a wrong cid gets no RST either */
	if (h.dst_cid != HOST_CID && (!v->group || h.dst_cid < 3 || h.dst_cid >= 0xffffffffu || h.dst_cid == v->cid))
		return;
	if (h.type != TYPE_STREAM || h.len > payload || (h.op != OP_RW && h.len) || h.len > CONN_BUF) {
		if (h.op != OP_RST) {
			if ((c = find(v, h.dst_cid, h.dst_port, h.src_port)))
				conn_reset(v, c);
			else
				send_rst(v, h.dst_cid, h.dst_port, h.src_port);
		}
		return;
	}
	if (h.op == OP_REQUEST) {
		guest_request(v, &h);
		return;
	}
	c = find(v, h.dst_cid, h.dst_port, h.src_port);
	if (!c) {
		if (h.op != OP_RST)
			send_rst(v, h.dst_cid, h.dst_port, h.src_port);
		return;
	}
	if (c->state == C_HANDSHAKE) { /* the guest cannot know this port yet */
		send_rst(v, h.dst_cid, h.dst_port, h.src_port);
		return;
	}
	if (c->state == C_CONNECTING && h.op != OP_RST) {
		conn_reset(v, c); /* nothing but RST before our RESPONSE */
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case OP_RESPONSE: guest_response(v, c); break;
	case OP_RST: conn_free(v, c); break;
	case OP_SHUTDOWN: guest_shutdown(v, c, h.flags); break;
	case OP_RW:
		if (c->state != C_OPEN)
			conn_reset(v, c);
		else
			guest_data(v, c, &h), v->bytes_from_guest += h.len;
		break;
	case OP_CREDIT_UPDATE: break; /* credit taken above; rx_flush will use it */
	case OP_CREDIT_REQUEST: conn_ctrl(v, c, OP_CREDIT_UPDATE, 0); break;
	default: conn_reset(v, c); break;
	}
}

static void tx_flush(struct vsock *v)
{
	bool pushed = false;
	int rc;

	while ((rc = vq_pop(&v->vd.vq[TXQ], &v->e)) > 0) {
		tx_packet(v);
		vq_push(&v->vd.vq[TXQ], &v->e, 0);
		pushed = true;
	}
	if (rc < 0)
		virtio_dev_error(&v->vd, "malformed tx descriptor chain");
	/* One doorbell per connection for the whole batch. */
	for (unsigned i = 0; i < v->nconns; i++) {
		struct vconn *c = v->conns[i];
		if (c->kick && c->be->ops->kick(c->be, c->fd) < 0)
			c->dead = true; /* the peer is gone: RST in rx_flush */
		c->kick = false;
	}
	if (pushed)
		virtio_notify(&v->vd, TXQ);
	rx_flush(v); /* answers, new credit */
}

/* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (id 0) into the guest's next event
 * buffer; with none there yet, it waits for the guest to add one. */
static void send_reset_event(struct vsock *v)
{
	struct vq_elem e;
	static const uint8_t ev[4] = { 0 };

	if (!v->reset_pending || vq_pop(&v->vd.vq[EVQ], &e) <= 0)
		return;
	if (e.in_len >= sizeof(ev)) {
		buf_to_iov(e.iov + e.nout, e.nin, 0, ev, sizeof(ev));
		vq_push(&v->vd.vq[EVQ], &e, sizeof(ev));
		v->reset_pending = false;
	} else {
		vq_push(&v->vd.vq[EVQ], &e, 0); /* too small for an event: handed back */
	}
	virtio_notify(&v->vd, EVQ);
}

static void reset_timer_fired(void *opaque)
{
	send_reset_event(opaque);
}

static void vsock_notify(struct virtio_dev *vd, unsigned q)
{
	struct vsock *v = vd->opaque;

	if (q == TXQ)
		tx_flush(v);
	else if (q == RXQ)
		rx_flush(v);
	else if (q == EVQ)
		send_reset_event(v);
}

static void vsock_reset(struct virtio_dev *vd)
{
	struct vsock *v = vd->opaque;

	/* The guest's sockets are gone with its driver: so are ours. */
	while (v->nconns)
		conn_free(v, v->conns[0]);
	v->ctrl_count = 0;
	v->reset_pending = false;
}

static void vsock_driver_ok(struct virtio_dev *vd)
{
	rx_flush(vd->opaque);
}

/* ---- lifecycle (symbiont/device.h) --------------------------------------- */

static void vsock_dev_reset(void *dev)
{
	struct vsock *v = dev;
	virtio_dev_reset(&v->vd);
}

/* An open connection is a host socket: it cannot be written down or move
 * to another process.  So the saved machine carries a transport reset
 * instead: the restored one announces it, and the guest resets every
 * connection (its sockets see ECONNRESET), as after a migration.  Here
 * they stay open (the machine saved may run on).  Without connections the
 * control packets not yet delivered are saved; with them they belong to
 * the connections being reset and are dropped. */
static int vsock_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct vsock *v = dev;
	bool reset = v->nconns || v->reset_pending;
	(void)err, (void)errlen;
	virtio_state_save(&v->vd, b);
	st_put64(b, v->cid);
	st_put32(b, v->next_host_port);
	st_put_bool(b, reset);
	st_put16(b, (uint16_t)(reset ? 0 : v->ctrl_count));
	for (unsigned i = 0; !reset && i < v->ctrl_count; i++)
		st_put_bytes(b, &v->ctrl[(v->ctrl_head + i) % CTRL_MAX], sizeof(struct vsock_hdr));
	return 0;
}

static int vsock_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct vsock *v = dev;
	struct virtio_state *s = malloc(sizeof(*s));
	struct vsock_hdr *ctrl = malloc(sizeof(v->ctrl));
	uint32_t next_port;
	unsigned n;

	if (!s || !ctrl) {
		free(s);
		free(ctrl);
		snprintf(err, errlen, "virtio-vsock: out of memory");
		return -1;
	}
	if (v->nconns) {
		free(s);
		free(ctrl);
		snprintf(err, errlen, "virtio-vsock: %u connections open", v->nconns);
		return -1;
	}
	virtio_state_read(&v->vd, r, s);
	st_check(r, st_get64(r) == v->cid); /* the guest's address is configuration */
	next_port = st_get32(r);
	bool reset = st_get_bool(r);
	n = st_get16(r);
	st_check(r, !reset || n == 0);
	st_check(r, n <= CTRL_MAX);
	for (unsigned i = 0; i < n && !r->bad; i++)
		st_get_bytes(r, &ctrl[i], sizeof(ctrl[i]));
	if (!st_ok(r)) {
		free(s);
		free(ctrl);
		return -1;
	}
	virtio_state_apply(&v->vd, s);
	v->next_host_port = next_port;
	memcpy(v->ctrl, ctrl, n * sizeof(ctrl[0]));
	v->ctrl_head = 0;
	v->ctrl_count = n;
	v->reset_pending = reset;
	free(s);
	free(ctrl);
	if (reset)
		timer_arm(&v->reset_timer, vm_now(v->vd.vm)); /* fires once the VM's loop runs */
	return 0;
}

static void vsock_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct vsock *v = dev;
	virtio_stats(&v->vd, emit, ctx);
	emit(ctx, "connections", v->nconns);
	emit(ctx, "bytes_to_guest", v->bytes_to_guest);
	emit(ctx, "bytes_from_guest", v->bytes_from_guest);
	emit(ctx, "ctrl_queued", v->ctrl_count);
	emit(ctx, "ring_hops", v->ring_hops);
	emit(ctx, "ring_hop_ns", v->ring_hop_ns);
}

static const struct device_ops vsock_device_ops = {
	.name = "virtio-vsock",
	.version = 2, /* 2: the transport reset flag */
	.reset = vsock_dev_reset,
	.save = vsock_save,
	.load = vsock_load,
	.stats = vsock_stats,
};

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.type = VIRTIO_ID_VSOCK,
	.pci_class = 0xff0000,
	.notify = vsock_notify,
	.reset = vsock_reset,
	.driver_ok = vsock_driver_ok,
	.lifecycle = &vsock_device_ops,
};

/* ---- host side: sockets ------------------------------------------------------ */

static void host_accept(struct vsock *v, struct vsock_backend *be)
{
	int fd = be->ops->accept(be);

	if (fd < 0)
		return;
	if (!(v->vd.status & VIRTIO_STATUS_DRIVER_OK) || !conn_new(v, be, fd, C_HANDSHAKE, 0, 0, 0))
		close(fd); /* no driver yet, or too many: the host sees EOF */
}

static void host_handshake(struct vsock *v, struct vconn *c)
{
	uint32_t port, peer_port;
	uint64_t peer_cid;
	int r = c->be->ops->handshake(c->be, c->fd, &c->hs, &port, &peer_cid, &peer_port, &c->ring);

	if (r == 0)
		return;
	if (r < 0 || !rx_ok(v)) {
		conn_free(v, c);
		return;
	}
	if (peer_port) {
		unsigned from_peer = 0;

		for (unsigned i = 0; i < v->nconns; i++)
			from_peer += v->conns[i]->peer_cid == peer_cid && v->conns[i]->state != C_CONNECTING;
		/* A peer guest's port: taken twice is the peer's mistake; one peer
		 * may not take every connection slot from the rest. */
		if (find(v, peer_cid, peer_port, port) || from_peer > PEER_CONNS) {
			conn_free(v, c);
			return;
		}
		c->host_port = peer_port;
	} else {
		do
			c->host_port = HOST_PORT_BASE + (v->next_host_port++ & 0x3fffffff);
		while (find(v, peer_cid, c->host_port, port));
	}
	c->peer_cid = peer_cid;
	c->guest_port = port;
	c->state = C_REQUESTED;
	conn_ctrl(v, c, OP_REQUEST, 0);
	rx_flush(v);
}

static short interest(const struct vconn *c)
{
	short ev = 0;

	if (c->state == C_HANDSHAKE || c->state == C_CONNECTING)
		return POLLIN;
	if (c->ring) {
		/* Doorbells and the end marker, whatever the guest's credit: the
		 * data waits in the ring, not in the socket. */
		if (c->state == C_OPEN && !c->sock_done)
			ev |= POLLIN;
		if (c->state == C_OPEN && (c->peer_no_send || c->closing) && !c->wr_shut)
			ev |= POLLOUT;
		return ev;
	}
	if (c->outlen || (c->state == C_OPEN && (c->peer_no_send || c->closing) && !c->wr_shut))
		ev |= POLLOUT;
	/* Read only when the data has somewhere to go; else POLLIN would spin. */
	if (c->state == C_OPEN && !c->readable && !c->host_eof && !c->rxlen && credit_to_guest(c))
		ev |= POLLIN;
	return ev;
}

/* A peer's socket was readable: doorbells (look at the rings: rx_flush
 * does for ours), its end marker, or its close. */
static void ring_doorbells(struct vsock *v, struct vconn *c)
{
	for (int i = 0; i < RING_DOORBELL_ROUNDS; i++) {
		ssize_t r = c->be->ops->recv(c->be, c->fd, NULL, 0);
		if (r == -1)
			break;
		if (r == 0) {
			c->far_end = true;
			continue;
		}
		/* Closed: after its end marker that is the peer's orderly close
		 * (what is in the ring still goes to the guest); before it, the
		 * peer vanished. */
		if (c->far_end)
			c->sock_done = true;
		else
			c->dead = true;
		break;
	}
	/* The peer took from our side's ring: new credit for our guest. */
	ring_fwd(c);
	if (!c->dead && c->fwd_cnt - c->fwd_cnt_sent >= CONN_BUF / 4 && !c->closing)
		conn_ctrl(v, c, OP_CREDIT_UPDATE, 0);
}

void virtio_vsock_poll(void *dev, int timeout_ms)
{
	struct vsock *v = dev;
	pthread_mutex_t *lock = &v->vd.vm->io_lock;
	int n = 0, r;

	pthread_mutex_lock(lock);
	v->pfd[n++] = (struct pollfd){ .fd = v->wake_fd, .events = POLLIN };
	if (v->be && v->be->listen_fd >= 0) {
		v->pfd_id[n] = 0;
		v->pfd[n++] = (struct pollfd){ .fd = v->be->listen_fd, .events = POLLIN };
	}
	if (v->group && v->group->listen_fd >= 0) {
		v->pfd_id[n] = GROUP_LISTEN;
		v->pfd[n++] = (struct pollfd){ .fd = v->group->listen_fd, .events = POLLIN };
	}
	for (unsigned i = 0; i < v->nconns; i++) {
		struct vconn *c = v->conns[i];
		short ev = interest(c);
		if (!ev)
			continue;
		v->pfd_id[n] = c->id;
		v->pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	pthread_mutex_unlock(lock);

	r = poll(v->pfd, n, timeout_ms);
	if (r <= 0)
		return;

	pthread_mutex_lock(lock);
	v->polling = true;
	if (v->pfd[0].revents) {
		uint64_t x;
		if (read(v->wake_fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
			perror("symbiont: vsock: eventfd");
	}
	for (int i = 1; i < n; i++) {
		short re = v->pfd[i].revents;
		struct vconn *c = NULL;

		if (!re)
			continue;
		if (v->be && v->pfd[i].fd == v->be->listen_fd && v->pfd_id[i] == 0) {
			host_accept(v, v->be);
			continue;
		}
		if (v->group && v->pfd[i].fd == v->group->listen_fd && v->pfd_id[i] == GROUP_LISTEN) {
			host_accept(v, v->group);
			continue;
		}
		for (unsigned k = 0; k < v->nconns; k++)
			if (v->conns[k]->id == v->pfd_id[i])
				c = v->conns[k];
		if (!c)
			continue; /* closed meanwhile */
		if (c->state == C_HANDSHAKE) {
			host_handshake(v, c);
			continue;
		}
		if (c->state == C_CONNECTING) {
			peer_reply(v, c);
			continue;
		}
		if ((re & (POLLOUT | POLLERR | POLLHUP)) && !c->outlen && c->state == C_OPEN && !c->wr_shut &&
		    (c->peer_no_send || c->closing)) {
			after_write(v, c); /* the end marker may go now */
			continue;
		}
		if ((re & (POLLOUT | POLLERR | POLLHUP)) && c->outlen) {
			if (flush_out(c) < 0) {
				conn_reset(v, c);
				continue;
			}
			after_write(v, c);
			continue; /* c may be gone; its POLLIN is seen next round */
		}
		if (c->ring && (re & (POLLIN | POLLHUP | POLLERR)))
			ring_doorbells(v, c);
		else if (re & (POLLIN | POLLHUP | POLLERR))
			c->readable = true;
	}
	rx_flush(v);
	v->polling = false;
	pthread_mutex_unlock(lock);
}

static void *vsock_thread(void *arg)
{
	struct vsock *v = arg;

	io_thread_enter();
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE))
		virtio_vsock_poll(v, -1);
	io_thread_leave();
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------- */

static int vsock_start_thread(struct vsock *v, char *err, size_t errlen)
{
	sigset_t all, old;
	bool ok;

	/* Signals belong to the VM's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ok = pthread_create(&v->thread, NULL, vsock_thread, v) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		snprintf(err, errlen, "--vsock: cannot start the I/O thread");
		return -1;
	}
	v->threaded = true;
	return 0;
}

void *virtio_vsock_new(struct vm *vm, struct pci_host *h, uint64_t cid, const char *uds, bool threaded, char *err,
                       size_t errlen)
{
	struct vsock *v;

	if (cid < 3 || cid >= 0xffffffffu) {
		snprintf(err, errlen, "--vsock: guest CID must be between 3 and 4294967294");
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->cid = cid;
	timer_init(&v->reset_timer, &vm->timers, reset_timer_fired, v);
	v->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->wake_fd < 0) {
		snprintf(err, errlen, "--vsock: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (uds && !(v->be = vsock_uds_open(uds, err, errlen)))
		goto fail;
	if (virtio_dev_init(&v->vd, vm, &vsock_ops, v, 3, QUEUE_SIZE, CONFIG_LEN, 0)) {
		snprintf(err, errlen, "virtio-vsock: cannot set up the device");
		goto fail;
	}
	virtio_cfg_put(&v->vd, 0, cid, 8);
	if (virtio_dev_register(&v->vd, h, err, errlen))
		goto fail;
	v->registered = true;
	if (threaded && vsock_start_thread(v, err, errlen) < 0)
		goto fail;
	return v;
fail:
	virtio_vsock_destroy(v);
	return NULL;
}

struct vsock_spec {
	uint64_t cid;
	char uds[256], group[256]; /* "" when not given */
};

/* One "key=VALUE" of a spec: VALUE runs to the next ",uds=" or ",group="
 * (a path may hold other commas).  The position after it, or NULL. */
static const char *spec_value(const char *p, char *out, size_t len)
{
	const char *end = p + strlen(p), *a = strstr(p, ",uds="), *b = strstr(p, ",group=");

	if (a && a < end)
		end = a;
	if (b && b < end)
		end = b;
	if (end == p || (size_t)(end - p) >= len)
		return NULL;
	memcpy(out, p, end - p);
	out[end - p] = 0;
	return end;
}

/* "CID[,uds=PATH][,group=NAME|DIR]". */
static int parse_spec(const char *spec, struct vsock_spec *s, char *err, size_t errlen)
{
	const char *p;
	char *end;

	memset(s, 0, sizeof(*s));
	errno = 0;
	s->cid = strtoull(spec, &end, 10);
	p = end;
	if (!isdigit((unsigned char)*spec) || errno || (*p && *p != ','))
		goto bad;
	while (*p) {
		if (!strncmp(p, ",uds=", 5) && !s->uds[0])
			p = spec_value(p + 5, s->uds, sizeof(s->uds));
		else if (!strncmp(p, ",group=", 7) && !s->group[0])
			p = spec_value(p + 7, s->group, sizeof(s->group));
		else
			goto bad;
		if (!p)
			goto bad;
	}
	if (s->cid < 3 || s->cid >= 0xffffffffu) {
		/* 0-2 are the hypervisor, local and host addresses; -1 is "any" */
		snprintf(err, errlen, "--vsock %s: guest CID must be between 3 and 4294967294", spec);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "--vsock %s: expected CID[,uds=PATH][,group=NAME|DIR]", spec);
	return -1;
}

int virtio_vsock_spec_check(const char *spec, const char *label, const char *policy, char *err, size_t errlen)
{
	struct vsock_spec s;

	if (!spec) {
		if (label || policy) {
			snprintf(err, errlen, "%s: only with --vsock CID,group=NAME", label ? "--label" : "--policy");
			return -1;
		}
		return 0;
	}
	if (parse_spec(spec, &s, err, errlen) < 0)
		return -1;
	if ((label || policy) && !s.group[0]) {
		snprintf(err, errlen, "%s: only with --vsock CID,group=NAME", label ? "--label" : "--policy");
		return -1;
	}
	if (policy && !label) {
		snprintf(err, errlen, "--policy: give the VM a --label too");
		return -1;
	}
	return 0;
}

int virtio_vsock_host_check(const char *spec, const char *label, const char *policy, char *err, size_t errlen)
{
	struct vsock_spec s;

	if (!spec || parse_spec(spec, &s, err, errlen) < 0 || !s.group[0])
		return 0;
	return vsock_group_check(s.cid, s.group, label ? label : "", policy, err, errlen);
}

void virtio_vsock_publish_tcp(void *dev, const uint16_t (*fwd)[2], int n, const char *host_addr)
{
	struct vsock *v = dev;

	if (v && v->group && vsock_group_publish_tcp(v->group, fwd, n, host_addr) < 0)
		fprintf(stderr, "symbiont: vsock: cannot publish the TCP forwards in the group: %s\n", strerror(errno));
}

void virtio_vsock_control_register(void *dev)
{
	struct vsock *v = dev;

	if (v && v->group)
		vsock_group_control_register(v->group, v->vd.vm->control);
}

int virtio_vsock_join_group(void *dev, const char *group, char *err, size_t errlen)
{
	struct vsock *v = dev;
	bool usage;

	if (v->group || v->threaded) {
		snprintf(err, errlen, "virtio-vsock: already in a group, or threaded");
		return -1;
	}
	v->group = vsock_group_open(v->vd.vm, v->cid, group, "", NULL, &usage, err, errlen);
	return v->group ? 0 : -1;
}

void *virtio_vsock_create(struct vm *vm, struct pci_host *h, const char *spec, const char *label, const char *policy,
                          char *err, size_t errlen)
{
	struct vsock_spec s;
	struct vsock *v;
	bool usage;

	if (parse_spec(spec, &s, err, errlen) < 0)
		return NULL;
	v = virtio_vsock_new(vm, h, s.cid, s.uds[0] ? s.uds : NULL, false, err, errlen);
	if (!v)
		return NULL;
	if (s.group[0] &&
	    !(v->group = vsock_group_open(vm, s.cid, s.group, label ? label : "", policy, &usage, err, errlen))) {
		virtio_vsock_destroy(v);
		return NULL;
	}
	if (vsock_start_thread(v, err, errlen) < 0) {
		virtio_vsock_destroy(v);
		return NULL;
	}
	return v;
}

void virtio_vsock_destroy(void *dev)
{
	struct vsock *v = dev;

	if (!v)
		return;
	if (v->threaded) {
		__atomic_store_n(&v->stop, true, __ATOMIC_RELEASE);
		wake(v);
		pthread_join(v->thread, NULL);
	}
	while (v->nconns)
		conn_free(v, v->conns[0]);
	if (v->vd.vm) {
		pthread_mutex_lock(&v->vd.vm->io_lock);
		timer_cancel(&v->reset_timer);
		pthread_mutex_unlock(&v->vd.vm->io_lock);
	}
	if (v->registered)
		virtio_dev_unregister(&v->vd);
	virtio_dev_free(&v->vd);
	vsock_backend_destroy(v->be);
	vsock_backend_destroy(v->group);
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	free(v);
}
