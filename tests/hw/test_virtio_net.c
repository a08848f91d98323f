/* virtio-net driven through its PCI BAR by the test driver: config space,
 * transmit, receive with and without guest buffers, undersized buffers,
 * malformed chains, and a DHCP exchange with the real user-network backend. */
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hw/vdrv.h"
#include "hw/virtio/net.h"
#include "host/net.h"
#include "host/netpkt.h"
#include "symbiont/event.h"

#define RXQ 0
#define TXQ 1
#define HDR 12

/* A backend the test feeds and inspects. */
struct fake_be {
	struct net_backend be;
	uint8_t rx[8][2048];
	size_t rxlen[8];
	unsigned rxhead, rxcount;
	uint8_t tx[8][2048];
	size_t txlen[8];
	unsigned ntx;
	bool *destroyed;
};

static int fake_send(struct net_backend *be, const void *f, size_t len)
{
	struct fake_be *b = (struct fake_be *)be;

	if (b->ntx < 8 && len <= 2048) {
		memcpy(b->tx[b->ntx], f, len);
		b->txlen[b->ntx] = len;
	}
	b->ntx++;
	return 0;
}

static ssize_t fake_recv(struct net_backend *be, void *buf, size_t len)
{
	struct fake_be *b = (struct fake_be *)be;
	size_t n;

	if (!b->rxcount) {
		uint64_t v;
		if (read(be->rx_fd, &v, sizeof(v)) < 0) {
			/* already clear */
		}
		return 0;
	}
	n = b->rxlen[b->rxhead % 8];
	assert_true(n <= len);
	memcpy(buf, b->rx[b->rxhead % 8], n);
	b->rxhead++;
	b->rxcount--;
	return (ssize_t)n;
}

static void fake_destroy(struct net_backend *be)
{
	struct fake_be *b = (struct fake_be *)be;

	if (b->destroyed)
		*b->destroyed = true;
	close(be->rx_fd);
	free(b);
}

static const struct net_backend_ops fake_ops = { fake_send, fake_recv, fake_destroy };

static void fake_queue(struct fake_be *b, const void *f, size_t len)
{
	uint64_t one = 1;

	assert_true(b->rxcount < 8);
	memcpy(b->rx[(b->rxhead + b->rxcount) % 8], f, len);
	b->rxlen[(b->rxhead + b->rxcount) % 8] = len;
	b->rxcount++;
	assert_int_equal(write(b->be.rx_fd, &one, sizeof(one)), sizeof(one));
}

struct ctx {
	struct test_vm *t;
	struct pci_host *h;
	void *dev;
	struct fake_be *fb; /* NULL with the real backend */
	struct net_backend *be;
	struct vdrv d;
	uint64_t offered;
};

static struct ctx *setup_with(struct net_backend *be)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[128] = "";

	c->t = tvm_new(16);
	c->h = pci_host_create(c->t->vm);
	c->be = be;
	c->dev = virtio_net_new(c->t->vm, c->h, be, err, sizeof(err));
	if (!c->dev)
		fail_msg("virtio_net_new: %s", err);
	c->offered = vdrv_init(&c->d, c->t, virtio_net_vdev(c->dev), 0);
	return c;
}

static int setup(void **state)
{
	struct fake_be *b = calloc(1, sizeof(*b));

	b->be.ops = &fake_ops;
	b->be.kind = "fake";
	b->be.rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct ctx *c = setup_with(&b->be);
	c->fb = b;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	virtio_net_destroy(c->dev);
	pci_host_destroy(c->h);
	tvm_free(c->t);
	free(c);
	return 0;
}

/* Runs the event loop's callback for rx_fd, if the device watches it. */
static bool rx_event(struct ctx *c)
{
	struct vm *vm = c->t->vm;

	for (int i = 0; i < vm->nfds; i++) {
		if (vm->fds[i].fd == c->be->rx_fd) {
			pthread_mutex_lock(&vm->io_lock);
			vm->fds[i].ready(vm->fds[i].opaque);
			pthread_mutex_unlock(&vm->io_lock);
			return true;
		}
	}
	return false;
}

static uint16_t post_rx(struct ctx *c, uint64_t *gpa, uint32_t size)
{
	uint32_t len = size;

	*gpa = vdrv_alloc(&c->d, size);
	memset(vd_host(&c->d, *gpa), 0xee, size);
	return vdrv_post(&c->d, RXQ, 0, 1, gpa, &len);
}

static void test_config(void **state)
{
	struct ctx *c = *state;
	uint8_t mac[6];

	assert_true(c->offered & 1ull << 5);  /* MAC */
	assert_true(c->offered & 1ull << 16); /* STATUS */
	assert_false(c->offered & 1ull << 0); /* no CSUM: nothing to offload */
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)vdrv_rd(&c->d, VIRTIO_DEVCFG_OFF + i, 1);
	assert_memory_equal(mac, "\x52\x54\x00\x12\x34", 5);
	assert_false(mac[0] & 1);
	assert_int_equal(vdrv_rd(&c->d, VIRTIO_DEVCFG_OFF + 6, 2), 1); /* LINK_UP */
	assert_true(pci_cfg_read(&c->d.vd->pci, PCI_DEVICE_ID, 2) == 0x1000 ||
	            pci_cfg_read(&c->d.vd->pci, PCI_DEVICE_ID, 2) == 0x1041);
	assert_int_equal(pci_cfg_read(&c->d.vd->pci, PCI_CLASS_PROG + 2, 1), 0x02); /* network */
}

static void test_tx_strips_header(void **state)
{
	struct ctx *c = *state;
	uint8_t f[60];
	uint64_t a[2];
	uint32_t l[2] = { HDR, 60 };
	uint16_t head, h;
	uint32_t len;

	for (int i = 0; i < 60; i++)
		f[i] = (uint8_t)(i * 7);
	a[0] = vdrv_alloc(&c->d, HDR);
	a[1] = vdrv_alloc(&c->d, 60);
	memset(vd_host(&c->d, a[0]), 0, HDR);
	memcpy(vd_host(&c->d, a[1]), f, 60);
	head = vdrv_post(&c->d, TXQ, 2, 0, a, l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(c->fb->ntx, 1);
	assert_int_equal(c->fb->txlen[0], 60);
	assert_memory_equal(c->fb->tx[0], f, 60);
	assert_int_equal(vdrv_used(&c->d, TXQ, &h, &len), 1);
	assert_int_equal(h, head);
	assert_int_equal(len, 0);
	assert_true(c->t->chip.nmsi + c->t->chip.rises[pci_slot_gsi(c->d.vd->pci.slot, 1)] > 0);
}

static void test_tx_runt_dropped(void **state)
{
	struct ctx *c = *state;
	uint64_t a = vdrv_alloc(&c->d, HDR + 4);
	uint32_t l = HDR + 4;
	uint16_t h;
	uint32_t len;

	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_int_equal(c->fb->ntx, 0);
	assert_int_equal(vdrv_used(&c->d, TXQ, &h, &len), 1); /* returned all the same */
	assert_false(vdrv_status(&c->d) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_rx_delivers_frame(void **state)
{
	struct ctx *c = *state;
	uint8_t f[100];
	uint64_t gpa;
	uint16_t head, h;
	uint32_t len;
	uint8_t *p;

	for (int i = 0; i < 100; i++)
		f[i] = (uint8_t)(0xa0 ^ i);
	head = post_rx(c, &gpa, 1526);
	vdrv_kick(&c->d, RXQ);
	fake_queue(c->fb, f, 100);
	assert_true(rx_event(c));
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 1);
	assert_int_equal(h, head);
	assert_int_equal(len, HDR + 100);
	p = vd_host(&c->d, gpa);
	assert_int_equal(p[0], 0);  /* flags */
	assert_int_equal(p[1], 0);  /* gso none */
	assert_int_equal(p[10], 1); /* num_buffers */
	assert_int_equal(p[11], 0);
	assert_memory_equal(p + HDR, f, 100);
}

/* SYM_EV_PACKET sees frames both ways with their bytes, and a subscriber
 * that returns SYM_SKIP drops them (here: those starting 0xff), counted as
 * filtered; the rest go on as before. */
struct seen {
	int n, to_guest;
	uint32_t last_len;
	uint8_t first;
};

static enum sym_action on_packet(void *opaque, struct sym_event *ev)
{
	struct seen *s = opaque;
	s->n++;
	s->to_guest += ev->packet.to_guest;
	s->last_len = ev->packet.len;
	s->first = ev->packet.frame[0];
	return ev->packet.frame[0] == 0xff ? SYM_SKIP : SYM_CONTINUE;
}

static void send_frame(struct ctx *c, uint8_t first)
{
	uint64_t a[2];
	uint32_t l[2] = { HDR, 60 };
	a[0] = vdrv_alloc(&c->d, HDR);
	a[1] = vdrv_alloc(&c->d, 60);
	memset(vd_host(&c->d, a[0]), 0, HDR);
	memset(vd_host(&c->d, a[1]), first, 60);
	vdrv_post(&c->d, TXQ, 2, 0, a, l);
	vdrv_kick(&c->d, TXQ);
}

static void test_packet_events(void **state)
{
	struct ctx *c = *state;
	struct sym_filter f = { .type = SYM_EV_PACKET };
	struct seen s = { 0 };
	uint8_t frame[80];
	uint64_t gpa;
	uint16_t h;
	uint32_t len;
	char err[128];

	struct sym_sub *sub = sym_subscribe(c->t->vm, &f, on_packet, &s, err, sizeof(err));
	assert_non_null(sub);
	send_frame(c, 0x11);
	assert_int_equal(c->fb->ntx, 1);
	send_frame(c, 0xff); /* dropped by the subscriber */
	assert_int_equal(c->fb->ntx, 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.to_guest, 0);
	assert_int_equal(s.last_len, 60);

	post_rx(c, &gpa, 1526);
	vdrv_kick(&c->d, RXQ);
	memset(frame, 0xff, sizeof(frame));
	fake_queue(c->fb, frame, sizeof(frame)); /* filtered: the buffer stays free */
	assert_true(rx_event(c));
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 0);
	memset(frame, 0x22, sizeof(frame));
	fake_queue(c->fb, frame, sizeof(frame));
	assert_true(rx_event(c));
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 1);
	assert_int_equal(len, HDR + sizeof(frame));
	assert_int_equal(s.n, 4);
	assert_int_equal(s.to_guest, 2);
	assert_int_equal(s.first, 0x22);
	sym_unsubscribe(sub);
	send_frame(c, 0xff); /* nobody filters now */
	assert_int_equal(c->fb->ntx, 2);
	assert_int_equal(s.n, 4);
	vm_event_hub_free(c->t->vm);
}

/* With no rx buffer the device holds the frame and stops watching; the
 * guest's next rx kick delivers everything in order. */
static void test_rx_waits_for_buffers(void **state)
{
	struct ctx *c = *state;
	uint8_t f[3][64];
	uint64_t gpa[3];
	uint16_t h;
	uint32_t len;

	for (int k = 0; k < 3; k++) {
		memset(f[k], 0x10 + k, 64);
		fake_queue(c->fb, f[k], 64);
	}
	assert_true(rx_event(c));
	assert_false(rx_event(c)); /* no longer watched */
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 0);
	for (int k = 0; k < 3; k++)
		post_rx(c, &gpa[k], 1526);
	vdrv_kick(&c->d, RXQ);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 1);
		assert_int_equal(len, HDR + 64);
		assert_memory_equal((uint8_t *)vd_host(&c->d, gpa[k]) + HDR, f[k], 64);
	}
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 0);
	assert_true(rx_event(c)); /* watched again */
}

/* A buffer too small for the frame is returned empty; the frame is lost and
 * the next one lands in the next buffer. */
static void test_rx_small_buffer(void **state)
{
	struct ctx *c = *state;
	uint8_t big[1000], small[40];
	uint64_t g1, g2;
	uint16_t h1, h2, h;
	uint32_t len;

	memset(big, 1, sizeof(big));
	memset(small, 2, sizeof(small));
	h1 = post_rx(c, &g1, 200);
	h2 = post_rx(c, &g2, 200);
	vdrv_kick(&c->d, RXQ);
	fake_queue(c->fb, big, sizeof(big));
	fake_queue(c->fb, small, sizeof(small));
	assert_true(rx_event(c));
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 1);
	assert_int_equal(h, h1);
	assert_int_equal(len, 0);
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 1);
	assert_int_equal(h, h2);
	assert_int_equal(len, HDR + 40);
	assert_memory_equal((uint8_t *)vd_host(&c->d, g2) + HDR, small, 40);
}

/* A chain pointing outside guest RAM breaks the device, not the VMM. */
static void test_malformed_chain(void **state)
{
	struct ctx *c = *state;
	uint64_t a = 0xfff00000ull; /* in the MMIO hole, far above 16 MiB of RAM */
	uint32_t l = 100;

	vdrv_post(&c->d, TXQ, 1, 0, &a, &l);
	vdrv_kick(&c->d, TXQ);
	assert_true(vdrv_status(&c->d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(c->fb->ntx, 0);
	/* After a reset the device works again. */
	vdrv_init(&c->d, c->t, c->d.vd, 0);
	assert_false(vdrv_status(&c->d) & VIRTIO_STATUS_NEEDS_RESET);
	test_tx_strips_header(state);
}

/* Frames arriving while no driver runs are dropped, not kept stale. */
static void test_rx_without_driver(void **state)
{
	struct ctx *c = *state;
	uint8_t f[64] = { 0x33 };
	uint64_t gpa;
	uint16_t h;
	uint32_t len;

	vdrv_wr(&c->d, VIRTIO_PCI_COMMON_STATUS, 0, 1); /* reset */
	fake_queue(c->fb, f, 64);
	fake_queue(c->fb, f, 64);
	assert_true(rx_event(c));
	assert_int_equal(c->fb->rxcount, 0);
	vdrv_init(&c->d, c->t, c->d.vd, 0);
	post_rx(c, &gpa, 1526);
	vdrv_kick(&c->d, RXQ);
	assert_int_equal(vdrv_used(&c->d, RXQ, &h, &len), 0);
}

static int setup_user(void **state)
{
	char err[128] = "";
	struct net_backend *be = net_backend_create("user", NULL, err, sizeof(err));

	if (!be)
		fail_msg("user backend: %s", err);
	*state = setup_with(be);
	return 0;
}

/* The guest's DHCP DISCOVER leaves by the tx queue and libslirp's OFFER comes
 * back in an rx buffer. */
static void test_dhcp_through_device(void **state)
{
	struct ctx *c = *state;
	uint8_t frame[600];
	size_t n = np_dhcp(frame, 1, 0xabcd);
	uint64_t a[2], rx[4];
	uint32_t l[2] = { HDR, (uint32_t)n };
	uint16_t h;
	uint32_t len = 0;
	bool offer = false;

	for (int k = 0; k < 4; k++)
		post_rx(c, &rx[k], 1526);
	vdrv_kick(&c->d, RXQ);
	a[0] = vdrv_alloc(&c->d, HDR);
	a[1] = vdrv_alloc(&c->d, n);
	memset(vd_host(&c->d, a[0]), 0, HDR);
	memcpy(vd_host(&c->d, a[1]), frame, n);
	vdrv_post(&c->d, TXQ, 2, 0, a, l);
	vdrv_kick(&c->d, TXQ);
	for (int k = 0; k < 4 && !offer; k++) {
		while (!vdrv_used(&c->d, RXQ, &h, &len)) {
			struct pollfd p = { .fd = c->be->rx_fd, .events = POLLIN };
			assert_true(poll(&p, 1, 5000) == 1);
			assert_true(rx_event(c));
		}
		/* Whichever buffer it was: look for the OFFER in all of them. */
		for (int j = 0; j < 4; j++) {
			uint8_t *p = (uint8_t *)vd_host(&c->d, rx[j]) + HDR;
			struct np_view w = np_parse(p, len - HDR);
			if (w.ip && w.proto == 17 && w.l4len > 8 + 240 && np_get16(w.l4 + 2) == 68 &&
			    np_get32(w.l4 + 8 + 4) == 0xabcd && np_get32(w.l4 + 8 + 16) == NP_GUEST_IP)
				offer = true;
		}
	}
	assert_true(offer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_strips_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_runt_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_delivers_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packet_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_small_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_without_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_through_device, setup_user, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
