/* virtio-net (virtio 1.0 §5.1): an rx and a tx queue, MAC and link status
 * in config space, no offloads (frames carry full checksums both ways), no
 * mergeable rx buffers: each rx chain takes one frame behind its header.
 *
 * Receive is pulled, not pushed: when the backend's rx_fd is readable the
 * device takes one frame, and if the guest has no rx buffer to put it in it
 * holds that frame and stops watching rx_fd until the guest posts buffers.
 * The backend's own bounded queue (or the kernel's, for TAP) absorbs and
 * drops what arrives meanwhile, as a wire would.
 *
 * Everything here runs under vm->io_lock: queue kicks on vCPU threads, the
 * rx_fd callback on the event loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virtio/net.h"
#include "hw/virtio/virtio.h"
#include "host/net.h"
#include "symbiont/event.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ        0
#define TXQ        1
#define QUEUE_SIZE 256
#define CONFIG_LEN 8  /* mac[6], status */
#define ETH_MIN    14 /* a frame shorter than its ethernet header is dropped */

struct virtio_net {
	struct virtio_dev vd;
	struct net_backend *be;
	bool registered;
	bool watching;   /* rx_fd is on the event loop */
	size_t held_len; /* a received frame waiting for an rx buffer */
	unsigned long rx_dropped, tx_dropped;
	unsigned long rx_filtered, tx_filtered;              /* dropped by a PACKET subscriber */
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes; /* delivered, for metrics */
	struct vq_elem e;
	uint8_t held[NET_FRAME_MAX];
	uint8_t txbuf[NET_FRAME_MAX];
};

struct virtio_dev *virtio_net_vdev(void *dev)
{
	return &((struct virtio_net *)dev)->vd;
}

/* The virtio_net_hdr: 10 bytes for a legacy driver without mergeable
 * buffers, 12 (with num_buffers) under VERSION_1. */
static size_t hdr_len(const struct virtio_net *n)
{
	return virtio_has_feature(&n->vd, VIRTIO_F_VERSION_1) ? 12 : 10;
}

static void rx_ready(void *opaque);

static void watch(struct virtio_net *n, bool on)
{
	if (on == n->watching)
		return;
	if (on) {
		if (vm_add_fd(n->vd.vm, n->be->rx_fd, rx_ready, n) < 0) {
			fprintf(stderr, "symbiont: virtio-net: too many watched fds; receive is off\n");
			return;
		}
	} else {
		vm_remove_fd(n->vd.vm, n->be->rx_fd);
	}
	n->watching = on;
}

/* Moves frames from the backend into the guest's rx buffers until one side
 * runs dry. */
/* SYM_EV_PACKET for a subscriber; false when it asked for the frame to be
 * dropped.  io_lock held. */
static bool packet_passes(struct virtio_net *n, const uint8_t *frame, size_t len, bool to_guest)
{
	struct sym_event ev = { .type = SYM_EV_PACKET, .cpu = -1 };
	if (!vm_events_wanted(n->vd.vm, SYM_EV_PACKET))
		return true;
	ev.packet.device = vm_device_id(n->vd.vm, n);
	ev.packet.to_guest = to_guest;
	ev.packet.frame = frame;
	ev.packet.len = (uint32_t)len;
	return sym_event_deliver(n->vd.vm, &ev) != SYM_SKIP;
}

static void rx_flush(struct virtio_net *n)
{
	struct virtio_dev *vd = &n->vd;
	struct virtqueue *vq = &vd->vq[RXQ];
	bool pushed = false;

	for (;;) {
		uint8_t hdr[12] = { 0 };
		size_t hl = hdr_len(n);
		int rc;

		if (!n->held_len) {
			ssize_t r = net_recv(n->be, n->held, sizeof(n->held));
			if (r <= 0) {
				watch(n, true);
				break;
			}
			n->held_len = (size_t)r;
		}
		if (!packet_passes(n, n->held, n->held_len, true)) {
			n->rx_filtered++;
			n->held_len = 0;
			continue;
		}
		if (!virtio_queue_ready(vd, RXQ) || !(vd->status & VIRTIO_STATUS_DRIVER_OK)) {
			/* No driver: the frame has nowhere to go, like on an unplugged
			 * port.  Keep draining so nothing stale waits for the next one. */
			n->rx_dropped++;
			n->held_len = 0;
			continue;
		}
		rc = vq_pop(vq, &n->e);
		if (rc < 0) {
			virtio_dev_error(vd, "malformed rx descriptor chain");
			watch(n, false);
			break;
		}
		if (rc == 0) {
			watch(n, false); /* resumed by the guest's next rx kick */
			break;
		}
		if (n->e.in_len < hl + n->held_len) {
			/* Too small for this frame: it is lost, the buffer returns empty
			 * (with a zero header, so the driver sees a 0-length frame). */
			n->rx_dropped++;
			vq_push(vq, &n->e, 0);
		} else {
			if (hl == 12)
				hdr[10] = 1; /* num_buffers */
			buf_to_iov(n->e.iov + n->e.nout, n->e.nin, 0, hdr, hl);
			buf_to_iov(n->e.iov + n->e.nout, n->e.nin, hl, n->held, n->held_len);
			vq_push(vq, &n->e, (uint32_t)(hl + n->held_len));
			n->rx_packets++;
			n->rx_bytes += n->held_len;
		}
		n->held_len = 0;
		pushed = true;
	}
	if (pushed)
		virtio_notify(vd, RXQ);
}

static void rx_flush_deferred(void *opaque)
{
	rx_flush(opaque);
}

static void rx_ready(void *opaque)
{
	struct virtio_net *n = opaque;
	/* Recording: the frames go into guest RAM on the vCPU's thread at its
	 * next interrupt check, logged there (docs/replay.md); until then the
	 * fd is not watched (it stays readable). */
	if (n->vd.vm && n->vd.vm->replay && replay_defer(n->vd.vm, rx_flush_deferred, n)) {
		watch(n, false);
		return;
	}
	rx_flush(n);
}

static void tx_flush(struct virtio_net *n)
{
	struct virtio_dev *vd = &n->vd;
	struct virtqueue *vq = &vd->vq[TXQ];
	bool pushed = false;
	int rc;

	while ((rc = vq_pop(vq, &n->e)) > 0) {
		size_t hl = hdr_len(n), len;

		/* Header flags ask for offloads we never offered: ignore them. */
		if (n->e.out_len < hl + ETH_MIN || n->e.out_len - hl > sizeof(n->txbuf)) {
			n->tx_dropped++;
		} else {
			len = iov_to_buf(n->e.iov, n->e.nout, hl, n->txbuf, n->e.out_len - hl);
			if (!packet_passes(n, n->txbuf, len, false)) {
				n->tx_filtered++;
			} else if (net_send(n->be, n->txbuf, len) < 0) {
				n->tx_dropped++;
			} else {
				n->tx_packets++;
				n->tx_bytes += len;
			}
		}
		vq_push(vq, &n->e, 0);
		pushed = true;
	}
	if (rc < 0)
		virtio_dev_error(vd, "malformed tx descriptor chain");
	if (pushed)
		virtio_notify(vd, TXQ);
}

static void net_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_net *n = vd->opaque;

	if (q == TXQ)
		tx_flush(n);
	else if (q == RXQ)
		rx_flush(n); /* new buffers: deliver what waits, watch again */
}

static void net_driver_ok(struct virtio_dev *vd)
{
	rx_flush(vd->opaque);
}

static void net_reset(struct virtio_dev *vd)
{
	struct virtio_net *n = vd->opaque;

	/* Keep watching: while no driver runs, frames are taken and dropped
	 * rather than left to pile up stale in the backend. */
	n->held_len = 0;
	watch(n, true);
}

/* ---- lifecycle (symbiont/device.h) --------------------------------------- */

static void net_dev_reset(void *dev)
{
	struct virtio_net *d = dev;
	virtio_dev_reset(&d->vd);
}

static int net_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct virtio_net *d = dev;
	(void)err, (void)errlen;
	virtio_state_save(&d->vd, b);
	/* A frame taken from the host and not yet in a guest buffer is the
	 * guest's next packet. */
	st_put32(b, (uint32_t)d->held_len);
	st_put_bytes(b, d->held, d->held_len);
	return 0;
}

static int net_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct virtio_net *d = dev;
	struct virtio_state *s = malloc(sizeof(*s));
	uint8_t *held = malloc(NET_FRAME_MAX);
	size_t held_len;

	if (!s || !held) {
		free(s);
		free(held);
		snprintf(err, errlen, "virtio-net: out of memory");
		return -1;
	}
	virtio_state_read(&d->vd, r, s);
	held_len = st_get32(r);
	st_check(r, held_len <= NET_FRAME_MAX);
	if (!r->bad)
		st_get_bytes(r, held, held_len);
	if (!st_ok(r)) {
		free(s);
		free(held);
		return -1;
	}
	virtio_state_apply(&d->vd, s);
	memcpy(d->held, held, held_len);
	d->held_len = held_len;
	free(s);
	free(held);
	return 0;
}

static void net_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct virtio_net *d = dev;
	virtio_stats(&d->vd, emit, ctx);
	emit(ctx, "rx_packets", d->rx_packets);
	emit(ctx, "rx_bytes", d->rx_bytes);
	emit(ctx, "tx_packets", d->tx_packets);
	emit(ctx, "tx_bytes", d->tx_bytes);
	emit(ctx, "rx_dropped", d->rx_dropped);
	emit(ctx, "tx_dropped", d->tx_dropped);
	emit(ctx, "rx_filtered", d->rx_filtered);
	emit(ctx, "tx_filtered", d->tx_filtered);
	emit(ctx, "held", d->held_len);
}

static const struct device_ops net_device_ops = {
	.name = "virtio-net",
	.version = 1,
	.reset = net_dev_reset,
	.save = net_save,
	.load = net_load,
	.stats = net_stats,
};

static const struct virtio_dev_ops net_ops = {
	.name = "virtio-net",
	.type = VIRTIO_ID_NET,
	.pci_class = 0x020000,
	.notify = net_notify,
	.reset = net_reset,
	.driver_ok = net_driver_ok,
	.lifecycle = &net_device_ops,
};

void *virtio_net_new(struct vm *vm, struct pci_host *h, struct net_backend *be, char *err, size_t errlen)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	uint64_t features = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS;

	if (!n) {
		net_backend_destroy(be);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->be = be;
	if (virtio_dev_init(&n->vd, vm, &net_ops, n, 2, QUEUE_SIZE, CONFIG_LEN, features)) {
		snprintf(err, errlen, "virtio-net: cannot set up the device");
		goto fail;
	}
	if (virtio_dev_register(&n->vd, h, err, errlen))
		goto fail;
	n->registered = true;
	/* QEMU's default MAC, told apart by PCI slot: 52:54:00:12:34:xx. */
	static const uint8_t mac[5] = { 0x52, 0x54, 0x00, 0x12, 0x34 };
	memcpy(n->vd.config, mac, 5);
	n->vd.config[5] = (uint8_t)(0x56 + n->vd.pci.slot);
	virtio_cfg_put(&n->vd, 6, VIRTIO_NET_S_LINK_UP, 2);
	watch(n, true);
	return n;
fail:
	virtio_net_destroy(n);
	return NULL;
}

void *virtio_net_create(struct vm *vm, struct pci_host *h, const char *spec, char *err, size_t errlen)
{
	struct net_backend *be = net_backend_create(spec, &vm->clock, err, errlen);

	if (!be)
		return NULL;
	return virtio_net_new(vm, h, be, err, errlen);
}

void virtio_net_destroy(void *dev)
{
	struct virtio_net *n = dev;

	if (!n)
		return;
	watch(n, false);
	if (n->registered)
		virtio_dev_unregister(&n->vd);
	virtio_dev_free(&n->vd);
	net_backend_destroy(n->be);
	free(n);
}
