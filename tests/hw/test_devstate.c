/* Device lifecycle (symbiont/device.h) on every device the builder makes:
 * the board's (PIC, IOAPIC, PIT, RTC, UART, i8042, debug exit, PCI host,
 * ACPI PM) and the virtio ones (blk, net, console, rng, vsock).
 *
 * Each is driven into a state that is not its power-on one, saved, loaded
 * into the same device of a freshly built machine and saved again: the two
 * blobs must be equal.  Truncated, bit-flipped and checksum-valid garbage
 * blobs must be refused (or, for garbage a device can hold, accepted)
 * without a crash and, when refused, without changing the device.  Run
 * under `make asan` this is also the memory-safety check of every load. */
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include "hw/board.h"
#include "hw/pci.h"
#include "hw/vdrv.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/vsock.h"
#include "host/net.h"

#define MEM_MB 64

/* A network backend that never has a frame and drops what it is sent. */
struct quiet_be {
	struct net_backend be;
};

static int qb_send(struct net_backend *be, const void *f, size_t len)
{
	(void)be, (void)f, (void)len;
	return 0;
}

static ssize_t qb_recv(struct net_backend *be, void *buf, size_t len)
{
	(void)be, (void)buf, (void)len;
	return 0;
}

static void qb_destroy(struct net_backend *be)
{
	close(be->rx_fd);
	free(be);
}

static const struct net_backend_ops qb_ops = { qb_send, qb_recv, qb_destroy };

struct mach {
	struct test_vm *t;
	uint64_t now;
	struct board *b;
	struct virtio_blk *blk;
	void *net, *vsock;
	struct virtio_console *con;
	struct virtio_rng *rng;
	char img[64];
};

static const char *const kinds[] = { "pic",        "ioapic",         "pit",        "rtc",         "uart",
	                             "i8042",      "debug-exit",     "pci-host",   "acpi-pm",     "virtio-blk",
	                             "virtio-net", "virtio-console", "virtio-rng", "virtio-vsock" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static struct mach *build(void)
{
	struct mach *m = calloc(1, sizeof(*m));
	struct quiet_be *qb = calloc(1, sizeof(*qb));
	char err[256] = "", spec[96];
	int fd;

	assert_non_null(m);
	assert_non_null(qb);
	m->t = tvm_new(MEM_MB);
	m->now = 7000000000ULL;
	m->t->vm->clock = (struct vm_clock){ fake_clock, &m->now };
	m->t->vm->cfg.serial = "null";
	m->t->vm->ncpus = 1;
	m->b = board_init(m->t->vm, true, err, sizeof(err));
	if (!m->b)
		fail_msg("board_init: %s", err);

	snprintf(m->img, sizeof(m->img), "/tmp/symbiont-devstate-XXXXXX");
	fd = mkstemp(m->img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	snprintf(spec, sizeof(spec), "%s,serial=state", m->img);
	m->blk = virtio_blk_create(m->t->vm, m->b->pci, spec, err, sizeof(err));
	if (!m->blk)
		fail_msg("virtio_blk_create: %s", err);
	qb->be.ops = &qb_ops;
	qb->be.kind = "quiet";
	qb->be.rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->net = virtio_net_new(m->t->vm, m->b->pci, &qb->be, err, sizeof(err));
	if (!m->net)
		fail_msg("virtio_net_new: %s", err);
	m->con = virtio_console_create(m->t->vm, m->b->pci, m->b->console, err, sizeof(err));
	if (!m->con)
		fail_msg("virtio_console_create: %s", err);
	m->rng = virtio_rng_create(m->t->vm, m->b->pci, err, sizeof(err));
	if (!m->rng)
		fail_msg("virtio_rng_create: %s", err);
	m->vsock = virtio_vsock_new(m->t->vm, m->b->pci, 3, NULL, false, err, sizeof(err));
	if (!m->vsock)
		fail_msg("virtio_vsock_new: %s", err);
	return m;
}

static void teardown(struct mach *m)
{
	virtio_vsock_destroy(m->vsock);
	virtio_rng_destroy(m->rng);
	virtio_console_destroy(m->con);
	virtio_net_destroy(m->net);
	virtio_blk_destroy(m->blk);
	board_destroy(m->b);
	assert_int_equal(vm_device_count(m->t->vm), 0);
	unlink(m->img);
	tvm_free(m->t);
	free(m);
}

/* Moves every device away from its power-on state the way a guest would. */
static void drive(struct mach *m)
{
	struct test_vm *t = m->t;
	static const uint8_t icw[2][4] = { { 0x11, 0x20, 0x04, 0x01 }, { 0x11, 0x28, 0x02, 0x01 } };
	struct virtio_dev *vds[] = { virtio_blk_dev(m->blk), virtio_net_vdev(m->net), virtio_console_dev(m->con),
		                     virtio_rng_dev(m->rng), virtio_vsock_vdev(m->vsock) };

	pthread_mutex_lock(&t->vm->io_lock);
	for (int c = 0; c < 2; c++) {
		uint16_t base = c ? 0xa0 : 0x20;
		outb(t, base, icw[c][0]);
		for (int i = 1; i < 4; i++)
			outb(t, base + 1, icw[c][i]);
		outb(t, base + 1, c ? 0xbf : 0xf8);
	}
	outb(t, 0x4d0, 0x20); /* IRQ5 level */
	outb(t, 0x43, 0x34);  /* PIT ch0 lobyte/hibyte, mode 2 */
	outb(t, 0x40, 0x34);
	outb(t, 0x40, 0x12);
	outb(t, 0x43, 0xb6); /* ch2 mode 3, half loaded */
	outb(t, 0x42, 0x55);
	outb(t, 0x61, 0x01);
	outb(t, 0x70, 0x0b); /* RTC: periodic interrupts on */
	outb(t, 0x71, 0x42);
	outb(t, 0x70, 0x3c); /* a CMOS byte */
	outb(t, 0x71, 0xa5);
	outb(t, BOARD_COM1_PORT + 3, 0x83); /* UART: divisor 3, 8N1, FIFO, interrupts */
	outb(t, BOARD_COM1_PORT + 0, 0x03);
	outb(t, BOARD_COM1_PORT + 3, 0x03);
	outb(t, BOARD_COM1_PORT + 2, 0xc7);
	outb(t, BOARD_COM1_PORT + 1, 0x03);
	outb(t, BOARD_COM1_PORT + 4, 0x1b); /* loopback, so a byte comes back */
	outb(t, BOARD_COM1_PORT + 0, 'x');
	outb(t, BOARD_COM1_PORT + 7, 0x5a);
	outb(t, 0x64, 0x60); /* i8042 command byte, then an echo */
	outb(t, 0x60, 0x47);
	outb(t, 0x60, 0xee);
	mmio_wr(t, BOARD_IOAPIC_BASE, 0x10 + 2 * 5, 4);
	mmio_wr(t, BOARD_IOAPIC_BASE + 0x10, 0x8000 | 0x35, 4);
	pout(t, ACPI_PM1A_EVT + 2, 0x0120, 2);
	pout(t, ACPI_PM1A_CNT, 0x0001, 2);
	pout(t, 0xcf8, 0x80001804, 4);
	pthread_mutex_unlock(&t->vm->io_lock);
	m->now += 123456789; /* counts move on */

	for (unsigned i = 0; i < sizeof(vds) / sizeof(vds[0]); i++) {
		struct vdrv d;
		vdrv_init(&d, t, vds[i], ~0ULL);
	}
}

static uint8_t *save(struct mach *m, const char *id, size_t *len)
{
	const struct vm_device *d = vm_device_find(m->t->vm, id);
	uint8_t *blob;
	char err[256] = "";

	assert_non_null(d);
	pthread_mutex_lock(&m->t->vm->io_lock);
	if (device_save(d->ops, d->dev, &blob, len, err, sizeof(err)))
		fail_msg("%s: save: %s", id, err);
	pthread_mutex_unlock(&m->t->vm->io_lock);
	return blob;
}

static int load(struct mach *m, const char *id, const void *blob, size_t len, char *err, size_t errlen)
{
	const struct vm_device *d = vm_device_find(m->t->vm, id);
	int r;

	assert_non_null(d);
	pthread_mutex_lock(&m->t->vm->io_lock);
	r = device_load(d->ops, d->dev, blob, len, err, errlen);
	pthread_mutex_unlock(&m->t->vm->io_lock);
	return r;
}

static void test_every_device_is_listed(void **state)
{
	(void)state;
	struct mach *m = build();
	assert_int_equal(vm_device_count(m->t->vm), NKINDS);
	for (unsigned k = 0; k < NKINDS; k++)
		assert_non_null(vm_device_find(m->t->vm, kinds[k]));
	for (int i = 0; i < vm_device_count(m->t->vm); i++)
		for (int j = i + 1; j < vm_device_count(m->t->vm); j++)
			assert_string_not_equal(vm_device_at(m->t->vm, i)->id, vm_device_at(m->t->vm, j)->id);
	teardown(m);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct mach *a = build(), *b = build();

	drive(a);
	b->now = a->now;
	for (unsigned k = 0; k < NKINDS; k++) {
		size_t n1, n2, n0;
		uint8_t *s1 = save(a, kinds[k], &n1), *s0 = save(b, kinds[k], &n0), *s2;
		char err[256] = "";
		/* The driven state differs from power-on (debug-exit has none). */
		if (strcmp(kinds[k], "debug-exit"))
			assert_true(n0 != n1 || memcmp(s0, s1, n1));
		if (load(b, kinds[k], s1, n1, err, sizeof(err)))
			fail_msg("%s: load: %s", kinds[k], err);
		s2 = save(b, kinds[k], &n2);
		if (n1 != n2 || memcmp(s1, s2, n1)) {
			for (size_t i = 0; i < n1; i++)
				fprintf(stderr, "%02x%s", s1[i], i + 1 == n1 ? "\n" : "");
			for (size_t i = 0; i < n2; i++)
				fprintf(stderr, "%02x%s", s2[i], i + 1 == n2 ? "\n" : "");
			fail_msg("%s: saved again after a load, the state differs", kinds[k]);
		}
		free(s0);
		free(s1);
		free(s2);
	}
	/* The loaded machine behaves like the saved one: COM1's looped-back
	 * byte and the i8042's echo answer are there to read. */
	pthread_mutex_lock(&b->t->vm->io_lock);
	assert_int_equal(inb(b->t, BOARD_COM1_PORT + 5) & 1, 1);
	assert_int_equal(inb(b->t, BOARD_COM1_PORT + 0), 'x');
	assert_int_equal(inb(b->t, 0x60), 0xee);
	pthread_mutex_unlock(&b->t->vm->io_lock);
	teardown(a);
	teardown(b);
}

/* Rebuilds a blob around a payload with a valid checksum: garbage that
 * passes the envelope and reaches the device's own checks. */
static uint8_t *wrap(const char *name, uint16_t version, const uint8_t *payload, size_t plen, size_t *len)
{
	size_t nl = strlen(name), n = 4 + 1 + nl + 2 + 4 + plen + 4;
	uint8_t *b = malloc(n);
	uint32_t crc;
	size_t o = 0;

	assert_non_null(b);
	memcpy(b, "SYMD", 4);
	o = 4;
	b[o++] = (uint8_t)nl;
	memcpy(b + o, name, nl);
	o += nl;
	b[o++] = (uint8_t)version;
	b[o++] = (uint8_t)(version >> 8);
	for (int i = 0; i < 4; i++)
		b[o++] = (uint8_t)(plen >> (8 * i));
	if (plen)
		memcpy(b + o, payload, plen);
	o += plen;
	crc = (uint32_t)crc32(0, b, (uInt)o);
	for (int i = 0; i < 4; i++)
		b[o++] = (uint8_t)(crc >> (8 * i));
	*len = n;
	return b;
}

static void expect_refused_unchanged(struct mach *m, const char *id, const void *blob, size_t len)
{
	size_t n0, n1;
	uint8_t *before = save(m, id, &n0), *after;
	char err[256] = "";

	assert_int_equal(load(m, id, blob, len, err, sizeof(err)), -1);
	assert_true(err[0] != 0);
	assert_null(strchr(err, '\n'));
	after = save(m, id, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
}

static void test_bad_blobs_refused(void **state)
{
	(void)state;
	struct mach *a = build(), *b = build();
	uint64_t x = 0x243f6a8885a308d3ULL;

	drive(a);
	drive(b);
	for (unsigned k = 0; k < NKINDS; k++) {
		const struct vm_device *d = vm_device_find(a->t->vm, kinds[k]);
		size_t n;
		uint8_t *good = save(a, kinds[k], &n), *bad = malloc(n + 16);

		assert_non_null(bad);
		/* Every truncation. */
		for (size_t l = 0; l < n; l += l < 64 ? 1 : 61)
			expect_refused_unchanged(b, kinds[k], good, l);
		/* A byte too many. */
		memcpy(bad, good, n);
		bad[n] = 0;
		expect_refused_unchanged(b, kinds[k], bad, n + 1);
		/* Single flipped bytes anywhere: the checksum catches them. */
		for (int i = 0; i < 64; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(bad, good, n);
			bad[x % n] ^= (uint8_t)(1 + (x >> 32) % 255);
			expect_refused_unchanged(b, kinds[k], bad, n);
		}
		/* Another device's state, and a newer version of this one's. */
		{
			size_t wl;
			const char *other = strcmp(kinds[k], "pic") ? "pic" : "rtc";
			uint8_t *w = wrap(other, 1, good, 0, &wl);
			expect_refused_unchanged(b, kinds[k], w, wl);
			free(w);
			w = wrap(kinds[k], (uint16_t)(d->ops->version + 1), good, 0, &wl);
			expect_refused_unchanged(b, kinds[k], w, wl);
			free(w);
		}
		/* Checksum-valid random payloads of every plausible length: the
		 * device's own checks decide; no crash either way, and a refusal
		 * leaves the device as it was. */
		for (int i = 0; i < 200; i++) {
			size_t plen = i < 100 ? (size_t)i : (size_t)(x % (n + 64)), wl;
			uint8_t *p = malloc(plen + 1), *w;
			for (size_t j = 0; j < plen; j++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				p[j] = (uint8_t)x;
			}
			w = wrap(kinds[k], d->ops->version, p, plen, &wl);
			{
				size_t n0;
				uint8_t *before = save(b, kinds[k], &n0);
				char err[256] = "";
				if (load(b, kinds[k], w, wl, err, sizeof(err)) < 0) {
					size_t n1;
					uint8_t *after = save(b, kinds[k], &n1);
					assert_true(err[0] != 0);
					assert_int_equal(n0, n1);
					assert_memory_equal(before, after, n0);
					free(after);
				} else {
					/* Accepted: then put the good state back. */
					assert_int_equal(load(b, kinds[k], good, n, err, sizeof(err)), 0);
				}
				free(before);
			}
			free(w);
			free(p);
		}
		free(bad);
		free(good);
	}
	teardown(a);
	teardown(b);
}

/* Fields the devices divide by or index with are range-checked, even in a
 * blob whose checksum is right. */
static void test_dangerous_fields_refused(void **state)
{
	(void)state;
	struct mach *a = build();
	size_t n, wl;
	uint8_t *good = save(a, "pit", &n), *w;
	size_t hdr = 4 + 1 + strlen("pit") + 2 + 4;
	uint8_t *p = malloc(n);

	/* PIT channel 0's count (the first field) of 0 would divide by zero. */
	memcpy(p, good + hdr, n - hdr - 4);
	memset(p, 0, 4);
	w = wrap("pit", 1, p, n - hdr - 4, &wl);
	expect_refused_unchanged(a, "pit", w, wl);
	free(w);
	free(p);
	free(good);
	teardown(a);
}

static void count_stat(void *ctx, const char *key, uint64_t val)
{
	(void)val;
	assert_non_null(key);
	(*(int *)ctx)++;
}

static void test_reset_and_stats(void **state)
{
	(void)state;
	struct mach *a = build(), *b = build();

	drive(a);
	b->now = a->now;
	for (int i = 0; i < vm_device_count(a->t->vm); i++) {
		const struct vm_device *d = vm_device_at(a->t->vm, i);
		int n = 0;
		d->ops->stats(d->dev, count_stat, &n);
		assert_true(n > 0);
	}
	/* After a reset the virtio devices and the interrupt controllers are
	 * back at their power-on state: what a fresh machine saves. */
	pthread_mutex_lock(&a->t->vm->io_lock);
	for (int i = 0; i < vm_device_count(a->t->vm); i++)
		vm_device_at(a->t->vm, i)->ops->reset(vm_device_at(a->t->vm, i)->dev);
	pthread_mutex_unlock(&a->t->vm->io_lock);
	{
		static const char *const same[] = { "ioapic", "i8042", "virtio-rng", "virtio-console" };
		for (unsigned k = 0; k < sizeof(same) / sizeof(same[0]); k++) {
			size_t n1, n2;
			uint8_t *s1 = save(a, same[k], &n1), *s2 = save(b, same[k], &n2);
			if (n1 != n2 || memcmp(s1, s2, n1))
				fail_msg("%s: not at its power-on state after a reset", same[k]);
			free(s1);
			free(s2);
		}
	}
	teardown(a);
	teardown(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_device_is_listed), cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_blobs_refused),      cmocka_unit_test(test_dangerous_fields_refused),
		cmocka_unit_test(test_reset_and_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
