/* virtio-console and virtio-rng through the PCI transport with the in-test
 * driver: hvc output reaches the chardev, receive buffers wait, random
 * bytes fill whole buffers, malformed chains set NEEDS_RESET. */
#include "test_virtio.h"

#include "hw/virtio/console.h"
#include "hw/virtio/rng.h"
#include "host/chardev.h"

#define WANT (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_EVENT_IDX | 1ull << VIRTIO_F_RING_INDIRECT_DESC)

struct ctx {
	struct test_vm *t;
	struct pci_host *h;
	struct chardev *chr;
	struct virtio_console *con;
	struct virtio_rng *rng;
	struct drv d;
};

static int setup_console(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[128];
	c->t = tvm_new(DRV_MEM_MB);
	c->h = pci_host_create(c->t->vm);
	c->chr = chardev_create_buffer(c->t->vm);
	c->con = virtio_console_create(c->t->vm, c->h, c->chr, err, sizeof(err));
	assert_non_null(c->con);
	drv_probe(&c->d, c->t, &virtio_console_dev(c->con)->pci);
	*state = c;
	return 0;
}

static int setup_rng(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char err[128];
	c->t = tvm_new(DRV_MEM_MB);
	c->h = pci_host_create(c->t->vm);
	c->rng = virtio_rng_create(c->t->vm, c->h, err, sizeof(err));
	assert_non_null(c->rng);
	drv_probe(&c->d, c->t, &virtio_rng_dev(c->rng)->pci);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_console_destroy(c->con);
	virtio_rng_destroy(c->rng);
	if (c->chr)
		chardev_destroy(c->chr);
	pci_host_destroy(c->h);
	assert_int_equal(c->t->vm->mmio.n, 0);
	assert_int_equal(c->t->vm->pio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static uint64_t put_str(struct drv *d, const char *s)
{
	uint64_t a = drv_alloc(d, strlen(s));
	memcpy(gmem(d, a), s, strlen(s));
	return a;
}

static void test_console_identity(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(pci_cfg_read(c->d.pd, PCI_DEVICE_ID, 2), 0x1003);
	assert_int_equal(pci_cfg_read(c->d.pd, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_CONSOLE);
	assert_int_equal(drv_init(&c->d, WANT, 2, DRV_QSIZE) & 0xf, 0xf);
	assert_int_equal(common_rd(&c->d, VIRTIO_PCI_COMMON_NUMQ, 2), 2);
}

static void test_console_output(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_init(d, WANT, 2, DRV_QSIZE);
	/* A receive buffer is posted and must stay unused (no input). */
	struct drv_buf rx = { drv_alloc(d, 64), 64, true };
	drv_post(d, 0, &rx, 1, false);
	drv_kick(d, 0);
	/* Two chains on transmit, one of two buffers, one indirect. */
	struct drv_buf tx[] = { { put_str(d, "hello "), 6, false }, { put_str(d, "from "), 5, false } };
	uint16_t h1 = drv_post(d, 1, tx, 2, false);
	struct drv_buf tx2 = { put_str(d, "hvc0\n"), 5, false };
	uint16_t h2 = drv_post(d, 1, &tx2, 1, true);
	drv_kick(d, 1);
	size_t n;
	const uint8_t *out = chardev_output(c->chr, &n);
	assert_int_equal(n, 16);
	assert_memory_equal(out, "hello from hvc0\n", 16);
	uint32_t id, len;
	assert_int_equal(drv_get_used(d, 1, &id, &len), 1);
	assert_int_equal(id, h1);
	assert_int_equal(len, 0);
	assert_int_equal(drv_get_used(d, 1, &id, &len), 1);
	assert_int_equal(id, h2);
	assert_int_equal(drv_get_used(d, 1, &id, &len), 0);
	assert_int_equal(drv_get_used(d, 0, &id, &len), 0);
	assert_int_equal(drv_isr(d), VIRTIO_ISR_QUEUE); /* INTx, no MSI-X */
}

static void test_console_malformed(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_init(d, WANT, 2, DRV_QSIZE);
	put_desc(gmem(d, d->q[1].desc), DRV_BUF_BASE, 4, VRING_DESC_F_NEXT, 0); /* loop onto itself */
	drv_post_raw(d, 1, 0);
	drv_kick(d, 1);
	assert_true(drv_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	size_t n;
	chardev_output(c->chr, &n);
	assert_int_equal(n, 0);
}

static void test_rng_fill(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	assert_int_equal(pci_cfg_read(d->pd, PCI_DEVICE_ID, 2), 0x1005);
	drv_enable_msix(d, 2);
	assert_int_equal(drv_init(d, WANT, 1, DRV_QSIZE) & 0xf, 0xf);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, 0, 2);
	uint64_t a = drv_alloc(d, 256), b = drv_alloc(d, 256);
	memset(gmem(d, a), 0, 256);
	memset(gmem(d, b), 0, 256);
	struct drv_buf bufs[] = { { a, 200, true }, { a + 200, 56, true } };
	drv_post(d, 0, bufs, 2, false);
	struct drv_buf one = { b, 256, true };
	drv_post(d, 0, &one, 1, true);
	drv_kick(d, 0);
	uint32_t id, len;
	assert_int_equal(drv_get_used(d, 0, &id, &len), 1);
	assert_int_equal(len, 256);
	assert_int_equal(drv_get_used(d, 0, &id, &len), 1);
	assert_int_equal(len, 256);
	/* 256 random bytes are all zero with probability 2^-2048, and two
	 * draws are equal likewise. */
	static const uint8_t zero[256];
	assert_memory_not_equal(gmem(d, a), zero, 256);
	assert_memory_not_equal(gmem(d, b), zero, 256);
	assert_memory_not_equal(gmem(d, a), gmem(d, b), 256);
	assert_true(msi_count(c->t, 0) >= 1);
}

static void test_rng_ignores_readable_refuses_outside_ram(void **state)
{
	/* A device-readable buffer in an rng chain is allowed by the ring
	 * rules (the device ignores it); out-of-RAM ones are not. */
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_init(d, WANT, 1, DRV_QSIZE);
	struct drv_buf bufs[] = { { drv_alloc(d, 8), 8, false }, { drv_alloc(d, 8), 8, true } };
	drv_post(d, 0, bufs, 2, false);
	drv_kick(d, 0);
	uint32_t id, len;
	assert_int_equal(drv_get_used(d, 0, &id, &len), 1);
	assert_int_equal(len, 8);
	struct drv_buf bad = { (DRV_MEM_MB << 20) - 4, 8, true };
	drv_post(d, 0, &bad, 1, false);
	drv_kick(d, 0);
	assert_true(drv_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(drv_get_used(d, 0, &id, &len), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_console_identity, setup_console, teardown),
		cmocka_unit_test_setup_teardown(test_console_output, setup_console, teardown),
		cmocka_unit_test_setup_teardown(test_console_malformed, setup_console, teardown),
		cmocka_unit_test_setup_teardown(test_rng_fill, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_rng_ignores_readable_refuses_outside_ram, setup_rng, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
