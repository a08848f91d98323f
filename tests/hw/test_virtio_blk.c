/* virtio-blk through the PCI transport, driven by the in-test driver
 * (test_virtio.h) over a temporary raw image: identity and features, read,
 * write, flush, get-id, discard, write-zeroes, read-only refusal, bounds,
 * indirect chains, interrupt suppression (event idx, MSI-X, INTx/ISR), the
 * legacy interface, start-up errors, and malformed chains, which must put
 * the device in NEEDS_RESET without touching anything outside guest RAM. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_virtio.h"

#include "hw/virtio/blk.h"
#include "symbiont/event.h"
#include "cpu/engine.h"

#define IMG_SECTORS 2048 /* 1 MiB */
#define WANT                                                                                                  \
	(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_EVENT_IDX | 1ull << VIRTIO_F_RING_INDIRECT_DESC | \
	 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH |          \
	 1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES |         \
	 1ull << VIRTIO_BLK_F_SIZE_MAX)

struct ctx {
	struct test_vm *t;
	struct pci_host *h;
	struct virtio_blk *b;
	struct drv d;
	char path[64];
	int fd; /* host view of the image */
};

static void make_image(struct ctx *c)
{
	strcpy(c->path, "/tmp/symbiont-vblk-XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	uint8_t sec[512];
	for (unsigned s = 0; s < IMG_SECTORS; s++) {
		for (unsigned i = 0; i < sizeof(sec); i++)
			sec[i] = (uint8_t)(s * 7 + i);
		assert_int_equal(pwrite(c->fd, sec, sizeof(sec), (off_t)s * 512), 512);
	}
}

static struct ctx *open_dev(const char *opts)
{
	struct ctx *c = calloc(1, sizeof(*c));
	char spec[160], err[256] = "";
	c->t = tvm_new(DRV_MEM_MB);
	c->h = pci_host_create(c->t->vm);
	assert_non_null(c->h);
	make_image(c);
	snprintf(spec, sizeof(spec), "%s%s", c->path, opts);
	c->b = virtio_blk_create(c->t->vm, c->h, spec, err, sizeof(err));
	if (!c->b)
		fail_msg("virtio_blk_create: %s", err);
	drv_probe(&c->d, c->t, &virtio_blk_dev(c->b)->pci);
	return c;
}

static int setup(void **state)
{
	*state = open_dev(",serial=disk-serial-01");
	return 0;
}

static int setup_ro(void **state)
{
	*state = open_dev(",ro");
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	virtio_blk_destroy(c->b);
	pci_host_destroy(c->h);
	assert_int_equal(c->t->vm->pio.n, 0);
	assert_int_equal(c->t->vm->mmio.n, 0);
	tvm_free(c->t);
	close(c->fd);
	unlink(c->path);
	free(c);
	return 0;
}

/* One request: header, optional data buffer, status; returns the status
 * byte and the used length. */
struct req {
	uint64_t hdr, data, status;
};

static uint8_t do_req(struct ctx *c, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool data_write,
                      bool indirect, uint32_t *used_len)
{
	struct drv *d = &c->d;
	uint64_t hdr = drv_alloc(d, 16), st = drv_alloc(d, 1);
	memcpy(gmem(d, hdr), &type, 4);
	memset(gmem(d, hdr + 4), 0, 4);
	memcpy(gmem(d, hdr + 8), &sector, 8);
	*gmem(d, st) = 0xee;
	struct drv_buf b[3];
	unsigned n = 0;
	b[n++] = (struct drv_buf){ hdr, 16, false };
	if (len)
		b[n++] = (struct drv_buf){ data, len, data_write };
	b[n++] = (struct drv_buf){ st, 1, true };
	uint16_t head = drv_post(d, 0, b, n, indirect);
	drv_kick(d, 0);
	virtio_blk_drain(c->b);
	uint32_t id = 0, ulen = 0;
	assert_int_equal(drv_get_used(d, 0, &id, &ulen), 1);
	assert_int_equal(id, head);
	if (used_len)
		*used_len = ulen;
	return *gmem(d, st);
}

static void ready(struct ctx *c)
{
	uint8_t st = drv_init(&c->d, WANT, 1, DRV_QSIZE);
	assert_true(st & VIRTIO_STATUS_DRIVER_OK);
	assert_false(st & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_identity(void **state)
{
	struct ctx *c = *state;
	struct pci_device *pd = c->d.pd;
	assert_int_equal(pci_cfg_read(pd, PCI_DEVICE_ID, 2), 0x1001); /* transitional block */
	assert_int_equal(pci_cfg_read(pd, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_BLOCK);
	assert_int_equal(pci_cfg_read(pd, PCI_REVISION_ID, 1), 0);
	assert_true(pci_bar_addr(pd, 0) >= PCI_IO_BASE); /* legacy I/O BAR */
	assert_true(pd->msix_cap != 0);
	uint64_t f = drv_device_features(&c->d);
	assert_true(f >> VIRTIO_F_VERSION_1 & 1);
	assert_true(f >> VIRTIO_F_RING_EVENT_IDX & 1);
	assert_true(f >> VIRTIO_F_RING_INDIRECT_DESC & 1);
	assert_true(f >> VIRTIO_BLK_F_FLUSH & 1);
	assert_true(f >> VIRTIO_BLK_F_SEG_MAX & 1);
	assert_true(f >> VIRTIO_BLK_F_DISCARD & 1);
	assert_false(f >> VIRTIO_BLK_F_RO & 1);
	assert_int_equal(drv_cfg(&c->d, 0, 8), IMG_SECTORS);
	assert_int_equal(drv_cfg(&c->d, 0x14, 4), 512);
	assert_true(drv_cfg(&c->d, 0x0c, 4) >= 2);
	assert_int_equal(common_rd(&c->d, VIRTIO_PCI_COMMON_NUMQ, 2), 1);
}

static void test_pci_cfg_window(void **state)
{
	/* The PCI_CFG capability reaches BAR 4 through config space. */
	struct ctx *c = *state;
	struct pci_device *pd = c->d.pd;
	unsigned cap = c->d.pcicfg;
	assert_true(cap != 0);
	pci_cfg_write(pd, cap + 4, 1, 4);
	pci_cfg_write(pd, cap + 8, 4, c->d.devcfg); /* capacity, low half */
	pci_cfg_write(pd, cap + 12, 4, 4);
	assert_int_equal(pci_cfg_read(pd, cap + 16, 4), IMG_SECTORS);
	pci_cfg_write(pd, cap + 8, 4, c->d.common + VIRTIO_PCI_COMMON_STATUS);
	pci_cfg_write(pd, cap + 12, 4, 1);
	pci_cfg_write(pd, cap + 16, 4, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(drv_status(&c->d), VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(pci_cfg_read(pd, cap + 16, 4) & 0xff, VIRTIO_STATUS_ACKNOWLEDGE);
	/* Another BAR, or a bad length, reads back plain config bytes. */
	pci_cfg_write(pd, cap + 4, 1, 0);
	pci_cfg_write(pd, cap + 16, 4, 0x12345678);
	assert_int_equal(pci_cfg_read(pd, cap + 16, 4), 0x12345678);
	assert_int_equal(drv_status(&c->d), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void test_features_ok_refused_without_version1(void **state)
{
	struct ctx *c = *state;
	uint8_t st = drv_init(&c->d, WANT & ~(1ull << VIRTIO_F_VERSION_1), 1, DRV_QSIZE);
	assert_false(st & VIRTIO_STATUS_FEATURES_OK);
}

static void test_read_write(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t buf = drv_alloc(d, 4096);
	uint32_t ulen;
	/* Read 8 sectors at 100: the image's pattern. */
	memset(gmem(d, buf), 0, 4096);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 100, buf, 4096, true, false, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 4097);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(gmem(d, buf)[i], (uint8_t)((100 + i / 512) * 7 + i % 512));
	/* Write 2 sectors at 7, then the host file has them. */
	for (unsigned i = 0; i < 1024; i++)
		gmem(d, buf)[i] = (uint8_t)(0xa5 ^ i);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_OUT, 7, buf, 1024, false, false, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 1);
	uint8_t host[1024];
	assert_int_equal(pread(c->fd, host, sizeof(host), 7 * 512), 1024);
	assert_memory_equal(host, gmem(d, buf), 1024);
	/* Read back through an indirect table. */
	uint64_t buf2 = drv_alloc(d, 1024);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 7, buf2, 1024, true, true, &ulen), VIRTIO_BLK_S_OK);
	assert_memory_equal(gmem(d, buf2), host, 1024);
	/* Flush and an unknown request type. */
	assert_int_equal(do_req(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(c, 99, 0, 0, 0, false, false, NULL), VIRTIO_BLK_S_UNSUPP);
}

/* An engine that records what devices report as written (DMA). */
static struct {
	uint64_t gpa[16], len[16];
	int n;
} dma;

static void rec_mem_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	(void)vm;
	if (dma.n < 16) {
		dma.gpa[dma.n] = gpa;
		dma.len[dma.n] = len;
	}
	dma.n++;
}

static const struct engine_ops rec_engine = { .name = "recorder", .mem_written = rec_mem_written };

static void test_dma_reported(void **state)
{
	/* Data a read puts in guest RAM is reported to the engine (the emu
	 * engine drops code it decoded from there): exactly the bytes
	 * written, data and status, nothing for a write request's buffers. */
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	c->t->vm->engine = &rec_engine;
	uint64_t buf = drv_alloc(d, 1024);
	memset(&dma, 0, sizeof(dma));
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 0, buf, 1024, true, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(dma.n, 2);
	assert_int_equal(dma.gpa[0], buf);
	assert_int_equal(dma.len[0], 1024);
	assert_int_equal(dma.len[1], 1); /* the status byte */
	memset(&dma, 0, sizeof(dma));
	assert_int_equal(do_req(c, VIRTIO_BLK_T_OUT, 0, buf, 512, false, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(dma.n, 1);
	assert_int_equal(dma.len[0], 1);
	c->t->vm->engine = NULL;
}

/* SYM_EV_BLOCK: what a subscriber (Geiger) learns of each request. */
static struct {
	int n;
	enum sym_block_op op;
	uint64_t sector, bytes;
	bool ok;
	unsigned nranges;
	struct sym_gpa_range r[4];
	char device[32];
} blkev;

static enum sym_action rec_block(void *opaque, struct sym_event *ev)
{
	(void)opaque;
	blkev.n++;
	blkev.op = ev->block.op;
	blkev.sector = ev->block.sector;
	blkev.bytes = ev->block.bytes;
	blkev.ok = ev->block.ok;
	blkev.nranges = ev->block.nranges;
	for (unsigned i = 0; i < ev->block.nranges && i < 4; i++)
		blkev.r[i] = ev->block.ranges[i];
	snprintf(blkev.device, sizeof(blkev.device), "%s", ev->block.device);
	return SYM_CONTINUE;
}

static void test_block_events(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	struct sym_filter f = { .type = SYM_EV_BLOCK };
	char err[128];
	ready(c);
	struct sym_sub *s = sym_subscribe(c->t->vm, &f, rec_block, NULL, err, sizeof(err));
	assert_non_null(s);
	uint64_t buf = drv_alloc(d, 4096);
	memset(&blkev, 0, sizeof(blkev));
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 100, buf, 4096, true, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(blkev.n, 1);
	assert_int_equal(blkev.op, SYM_BLOCK_READ);
	assert_int_equal(blkev.sector, 100);
	assert_int_equal(blkev.bytes, 4096);
	assert_true(blkev.ok);
	assert_int_equal(blkev.nranges, 1);
	assert_int_equal(blkev.r[0].gpa, buf); /* the guest page the data went to */
	assert_int_equal(blkev.r[0].len, 4096);
	assert_string_equal(blkev.device, "virtio-blk");
	assert_int_equal(do_req(c, VIRTIO_BLK_T_OUT, 9, buf + 512, 1024, false, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(blkev.n, 2);
	assert_int_equal(blkev.op, SYM_BLOCK_WRITE);
	assert_int_equal(blkev.sector, 9);
	assert_int_equal(blkev.r[0].gpa, buf + 512); /* where it came from, past the header */
	assert_int_equal(blkev.r[0].len, 1024);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 1ULL << 40, buf, 512, true, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_false(blkev.ok);
	sym_unsubscribe(s);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(blkev.n, 3); /* no more once unsubscribed */
}

static void test_split_buffers(void **state)
{
	/* No framing assumptions: header split over two buffers, data over
	 * three, status in the same buffer as the end of the data. */
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t h1 = drv_alloc(d, 5), h2 = drv_alloc(d, 11), b1 = drv_alloc(d, 100), b2 = drv_alloc(d, 400),
	         b3 = drv_alloc(d, 13);
	uint32_t type = VIRTIO_BLK_T_IN;
	uint64_t sector = 3;
	uint8_t hdr[16] = { 0 };
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memcpy(gmem(d, h1), hdr, 5);
	memcpy(gmem(d, h2), hdr + 5, 11);
	struct drv_buf b[] = {
		{ h1, 5, false }, { h2, 11, false }, { b1, 100, true }, { b2, 400, true }, { b3, 13, true }
	};
	drv_post(d, 0, b, 5, false);
	drv_kick(d, 0);
	virtio_blk_drain(c->b);
	uint32_t id = 0, len = 0;
	assert_int_equal(drv_get_used(d, 0, &id, &len), 1);
	assert_int_equal(len, 513);
	assert_int_equal(*gmem(d, b3 + 12), VIRTIO_BLK_S_OK);
	uint8_t want[512], got[512];
	assert_int_equal(pread(c->fd, want, 512, 3 * 512), 512);
	memcpy(got, gmem(d, b1), 100);
	memcpy(got + 100, gmem(d, b2), 400);
	memcpy(got + 500, gmem(d, b3), 12);
	assert_memory_equal(got, want, 512);
}

static void test_bounds(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t buf = drv_alloc(d, 1024);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, buf, 1024, true, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_OUT, IMG_SECTORS, buf, 512, false, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, ~0ull, buf, 512, true, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 0, buf, 100, true, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, buf, 512, true, false, NULL), VIRTIO_BLK_S_OK);
	struct stat st;
	assert_int_equal(fstat(c->fd, &st), 0);
	assert_int_equal(st.st_size, IMG_SECTORS * 512); /* nothing written past the end */
}

static void test_get_id(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t buf = drv_alloc(d, 20);
	memset(gmem(d, buf), 'x', 20);
	uint32_t ulen;
	assert_int_equal(do_req(c, VIRTIO_BLK_T_GET_ID, 0, buf, 20, true, false, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 21);
	assert_memory_equal(gmem(d, buf), "disk-serial-01\0\0\0\0\0\0", 20);
}

static void test_discard_write_zeroes(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t seg = drv_alloc(d, 16);
	uint64_t sector = 16;
	uint32_t num = 8, flags = 0;
	memcpy(gmem(d, seg), &sector, 8);
	memcpy(gmem(d, seg + 8), &num, 4);
	memcpy(gmem(d, seg + 12), &flags, 4);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, false, NULL), VIRTIO_BLK_S_OK);
	uint8_t host[8 * 512], zero[8 * 512] = { 0 };
	assert_int_equal(pread(c->fd, host, sizeof(host), 16 * 512), (ssize_t)sizeof(host));
	assert_memory_equal(host, zero, sizeof(host));
	assert_int_equal(pread(c->fd, host, 512, 24 * 512), 512);
	assert_int_equal(host[0], (uint8_t)(24 * 7)); /* neighbour untouched */
	sector = 64;
	memcpy(gmem(d, seg), &sector, 8);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, false, NULL), VIRTIO_BLK_S_OK);
	/* Discard with the unmap flag is not allowed; a range past the end fails. */
	flags = 1;
	memcpy(gmem(d, seg + 12), &flags, 4);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, false, NULL), VIRTIO_BLK_S_UNSUPP);
	flags = 0;
	sector = IMG_SECTORS - 4;
	memcpy(gmem(d, seg), &sector, 8);
	memcpy(gmem(d, seg + 12), &flags, 4);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, false, NULL), VIRTIO_BLK_S_IOERR);
}

static void test_read_only(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	uint64_t f = drv_device_features(d);
	assert_true(f >> VIRTIO_BLK_F_RO & 1);
	assert_false(f >> VIRTIO_BLK_F_DISCARD & 1);
	ready(c);
	uint64_t buf = drv_alloc(d, 512);
	memset(gmem(d, buf), 0x11, 512);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_OUT, 0, buf, 512, false, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_WRITE_ZEROES, 0, buf, 16, false, false, NULL), VIRTIO_BLK_S_IOERR);
	uint8_t host[512];
	assert_int_equal(pread(c->fd, host, 512, 0), 512);
	assert_int_equal(host[0], 0);
	assert_int_equal(host[1], 1);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 0, buf, 512, true, false, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(gmem(d, buf), host, 512);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, false, NULL), VIRTIO_BLK_S_OK);
}

static void test_msix_and_event_idx(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_enable_msix(d, 2);
	ready(c);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
	assert_int_equal(common_rd(d, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, 77, 2); /* no such vector */
	assert_int_equal(common_rd(d, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	common_wr(d, VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
	common_wr(d, VIRTIO_PCI_COMMON_MSIX, 0, 2);
	assert_true(d->features >> VIRTIO_F_RING_EVENT_IDX & 1);
	uint64_t buf = drv_alloc(d, 512);
	/* First completion always interrupts. */
	drv_set_used_event(d, 0, 0);
	do_req(c, VIRTIO_BLK_T_IN, 0, buf, 512, true, false, NULL);
	assert_int_equal(msi_count(c->t, 1), 1);
	/* used_event far ahead: suppressed. */
	drv_set_used_event(d, 0, 100);
	do_req(c, VIRTIO_BLK_T_IN, 0, buf, 512, true, false, NULL);
	assert_int_equal(msi_count(c->t, 1), 1);
	/* used_event = the index of the next entry: interrupt. */
	drv_set_used_event(d, 0, d->q[0].used_seen);
	do_req(c, VIRTIO_BLK_T_IN, 0, buf, 512, true, false, NULL);
	assert_int_equal(msi_count(c->t, 1), 2);
	assert_int_equal(msi_count(c->t, 0), 0);
	/* The device publishes avail_event = next avail index it will read. */
	uint16_t avail_event;
	memcpy(&avail_event, gmem(d, d->q[0].used + 4 + 8 * d->q[0].size), 2);
	assert_int_equal(avail_event, d->q[0].avail_idx);
}

static void test_inflight_bound(void **state)
{
	/* A driver that republishes descriptors without waiting for them gets
	 * at most a queue's worth of requests in flight; the rest wait in the
	 * ring and are served as earlier ones complete. */
	struct ctx *c = *state;
	struct drv *d = &c->d;
	struct virtqueue *vq = &virtio_blk_dev(c->b)->vq[0];
	ready(c);
	uint64_t hdr = drv_alloc(d, 16), st = drv_alloc(d, 1);
	memset(gmem(d, hdr), 0, 16); /* IN, sector 0, no data: a tiny request */
	struct drv_buf b[] = { { hdr, 16, false }, { st, 1, true } };
	drv_post(d, 0, b, 2, false);
	/* Hold io_lock like a busy vCPU: the worker cannot complete anything. */
	pthread_mutex_lock(&c->t->vm->io_lock);
	for (int i = 1; i < DRV_QSIZE; i++)
		drv_post_raw(d, 0, 0);
	io_bus_write(&c->t->vm->mmio, d->bar4 + d->notify, 0, 2);
	assert_int_equal(vq->last_avail, DRV_QSIZE);
	for (int i = 0; i < DRV_QSIZE; i++)
		drv_post_raw(d, 0, 0);
	io_bus_write(&c->t->vm->mmio, d->bar4 + d->notify, 0, 2);
	assert_int_equal(vq->last_avail, DRV_QSIZE); /* deferred */
	pthread_mutex_unlock(&c->t->vm->io_lock);
	virtio_blk_drain(c->b);
	assert_int_equal(drv_used_idx(d, 0), 2 * DRV_QSIZE);
	assert_false(drv_status(d) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_intx_isr(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	unsigned gsi = pci_slot_gsi(d->pd->slot, 1);
	uint64_t buf = drv_alloc(d, 512);
	do_req(c, VIRTIO_BLK_T_IN, 0, buf, 512, true, false, NULL);
	assert_int_equal(c->t->chip.level[gsi], 1);
	assert_int_equal(drv_isr(d), VIRTIO_ISR_QUEUE);
	assert_int_equal(c->t->chip.level[gsi], 0);
	assert_int_equal(drv_isr(d), 0);
}

static void test_legacy(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_use_legacy(d);
	uint64_t f = drv_device_features(d);
	assert_true(f >> VIRTIO_BLK_F_FLUSH & 1);
	assert_true(f >> VIRTIO_F_RING_INDIRECT_DESC & 1);
	uint8_t st = drv_init(d, WANT, 1, 0);
	assert_true(st & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(d->q[0].size, 256);
	assert_int_equal(drv_cfg(d, 0, 8), IMG_SECTORS);
	assert_int_equal(drv_rd(d, VIRTIO_LEGACY_QUEUE_PFN, 4), DRV_RING_BASE >> 12);
	uint64_t buf = drv_alloc(d, 512);
	uint32_t ulen;
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 5, buf, 512, true, true, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 513);
	assert_int_equal(gmem(d, buf)[0], (uint8_t)(5 * 7));
	assert_int_equal(drv_isr(d), VIRTIO_ISR_QUEUE);
	/* With MSI-X on, the config moves to 0x18 and the vector registers appear. */
	drv_enable_msix(d, 2);
	assert_int_equal(drv_cfg(d, 0, 8), IMG_SECTORS);
	drv_wr(d, VIRTIO_LEGACY_MSI_QUEUE, 1, 2);
	assert_int_equal(drv_rd(d, VIRTIO_LEGACY_MSI_QUEUE, 2), 1);
	drv_set_used_event(d, 0, d->q[0].used_seen);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 5, buf, 512, true, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(msi_count(c->t, 1), 1);
	/* Reset through the legacy status register. */
	drv_set_status(d, 0);
	assert_int_equal(drv_rd(d, VIRTIO_LEGACY_QUEUE_PFN, 4), 0);
}

/* ---- malformed chains ------------------------------------------------- */

static void expect_needs_reset(struct ctx *c)
{
	struct drv *d = &c->d;
	drv_kick(d, 0);
	virtio_blk_drain(c->b);
	assert_true(drv_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(drv_isr(d) & VIRTIO_ISR_CONFIG);
	uint32_t id = 0, len = 0;
	assert_int_equal(drv_get_used(d, 0, &id, &len), 0);
	/* The queue stays stopped: a good request now is not served. */
	uint64_t hdr = drv_alloc(d, 16), st = drv_alloc(d, 1);
	memset(gmem(d, hdr), 0, 16);
	struct drv_buf b[] = { { hdr, 16, false }, { st, 1, true } };
	d->q[0].next_desc = 8;
	drv_post(d, 0, b, 2, false);
	drv_kick(d, 0);
	virtio_blk_drain(c->b);
	assert_int_equal(drv_get_used(d, 0, &id, &len), 0);
	/* After a reset the device works again. */
	ready(c);
	uint64_t buf = drv_alloc(d, 512);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 1, buf, 512, true, false, NULL), VIRTIO_BLK_S_OK);
}

static void post_descs(struct ctx *c, const uint64_t (*descs)[4], unsigned n, uint16_t head)
{
	struct drv *d = &c->d;
	for (unsigned i = 0; i < n; i++)
		put_desc(gmem(d, d->q[0].desc + 16 * i), descs[i][0], descs[i][1], descs[i][2], descs[i][3]);
	drv_post_raw(d, 0, head);
}

static void test_bad_loop(void **state)
{
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 }, { a + 16, 16, VRING_DESC_F_NEXT, 0 } };
	post_descs(c, ds, 2, 0);
	expect_needs_reset(c);
}

static void test_bad_zero_length_loop(void **state)
{
	/* Empty buffers add nothing to the chain, so only the walk bound
	 * stops this one. */
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 },
		                   { a, 0, VRING_DESC_F_NEXT, 2 },
		                   { a, 0, VRING_DESC_F_NEXT, 1 } };
	post_descs(c, ds, 3, 0);
	expect_needs_reset(c);
}

static void test_bad_zero_length_indirect_loop(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t t = drv_alloc(d, 32);
	put_desc(gmem(d, t), t, 0, VRING_DESC_F_NEXT, 1);
	put_desc(gmem(d, t + 16), t, 0, VRING_DESC_F_NEXT, 0);
	const uint64_t ds[][4] = { { t, 32, VRING_DESC_F_INDIRECT, 0 } };
	post_descs(c, ds, 1, 0);
	expect_needs_reset(c);
}

static void test_bad_address(void **state)
{
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 },
		                   { (DRV_MEM_MB << 20) - 256, 512, VRING_DESC_F_WRITE, 0 } };
	post_descs(c, ds, 2, 0);
	expect_needs_reset(c);
}

static void test_bad_mmio_address(void **state)
{
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	/* The device's own BAR and the wrap-around end of the address space. */
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 },
		                   { c->d.bar4, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 },
		                   { ~0ull - 7, 16, VRING_DESC_F_WRITE, 0 } };
	post_descs(c, ds, 3, 0);
	expect_needs_reset(c);
}

static void test_bad_huge_length(void **state)
{
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 }, { 0, 0xffffffffu, VRING_DESC_F_WRITE, 0 } };
	post_descs(c, ds, 2, 0);
	expect_needs_reset(c);
}

static void test_bad_read_after_write(void **state)
{
	struct ctx *c = *state;
	ready(c);
	uint64_t a = drv_alloc(&c->d, 64);
	const uint64_t ds[][4] = { { a, 16, VRING_DESC_F_NEXT, 1 },
		                   { a + 16, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 },
		                   { a + 32, 16, 0, 0 } };
	post_descs(c, ds, 3, 0);
	expect_needs_reset(c);
}

static void test_bad_nested_indirect(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	/* The inner table holds a well-formed request: only the nesting is
	 * wrong. */
	uint64_t t1 = drv_alloc(d, 32), t2 = drv_alloc(d, 32), a = drv_alloc(d, 32);
	memset(gmem(d, a), 0, 32);
	put_desc(gmem(d, t2), a, 16, VRING_DESC_F_NEXT, 1);
	put_desc(gmem(d, t2 + 16), a + 16, 1, VRING_DESC_F_WRITE, 0);
	put_desc(gmem(d, t1), t2, 32, VRING_DESC_F_INDIRECT, 0);
	const uint64_t ds[][4] = { { t1, 16, VRING_DESC_F_INDIRECT, 0 } };
	post_descs(c, ds, 1, 0);
	expect_needs_reset(c);
}

static void test_bad_indirect_loop(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t t = drv_alloc(d, 32), a = drv_alloc(d, 32);
	put_desc(gmem(d, t), a, 16, VRING_DESC_F_NEXT, 1);
	put_desc(gmem(d, t + 16), a, 16, VRING_DESC_F_NEXT, 0);
	const uint64_t ds[][4] = { { t, 32, VRING_DESC_F_INDIRECT, 0 } };
	post_descs(c, ds, 1, 0);
	expect_needs_reset(c);
}

static void test_bad_indirect_next_out_of_table(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t t = drv_alloc(d, 32), a = drv_alloc(d, 32);
	put_desc(gmem(d, t), a, 16, VRING_DESC_F_NEXT, 5);
	const uint64_t ds[][4] = { { t, 16, VRING_DESC_F_INDIRECT, 0 } };
	post_descs(c, ds, 1, 0);
	expect_needs_reset(c);
}

static void test_bad_head_and_avail_idx(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	drv_post_raw(d, 0, DRV_QSIZE + 3); /* head outside the table */
	expect_needs_reset(c);
	/* An avail idx that claims more entries than the ring holds. */
	uint16_t *avail = (uint16_t *)gmem(d, d->q[0].avail);
	d->q[0].avail_idx += DRV_QSIZE + 1;
	avail[1] = d->q[0].avail_idx;
	expect_needs_reset(c);
}

static void test_bad_rings(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	drv_init(d, WANT, 0, DRV_QSIZE); /* no queues yet */
	common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
	common_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, (DRV_MEM_MB << 20) - 64, 4); /* table runs off RAM */
	common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILLO, 0x2000, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_USEDLO, 0x3000, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(common_rd(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(drv_status(d) & VIRTIO_STATUS_NEEDS_RESET);
	/* A size that is not a power of two is refused too. */
	drv_init(d, WANT, 0, DRV_QSIZE);
	common_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, 12, 2);
	common_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000, 4);
	common_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(common_rd(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
}

static void test_missing_header(void **state)
{
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	uint64_t st = drv_alloc(d, 1);
	struct drv_buf b[] = { { st, 1, true } };
	drv_post(d, 0, b, 1, false);
	expect_needs_reset(c);
}

/* ---- start-up errors -------------------------------------------------- */

static void test_bad_specs(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(DRV_MEM_MB);
	struct pci_host *h = pci_host_create(t->vm);
	char err[256], img[] = "/tmp/symbiont-vblk-spec-XXXXXX", spec[128];
	int fd = mkstemp(img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_null(virtio_blk_create(t->vm, h, "/nonexistent/disk.img", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(strchr(err, '\n'));
	snprintf(spec, sizeof(spec), "%s,bogus", img);
	assert_null(virtio_blk_create(t->vm, h, spec, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown option"));
	snprintf(spec, sizeof(spec), "%s,serial=123456789012345678901", img);
	assert_null(virtio_blk_create(t->vm, h, spec, err, sizeof(err)));
	assert_non_null(strstr(err, "serial"));
	assert_null(virtio_blk_create(t->vm, h, "", err, sizeof(err)));
	assert_null(virtio_blk_create(t->vm, h, "/tmp", err, sizeof(err)));
	/* A file that exists but cannot be written (a read-only sysfs
	 * attribute refuses O_RDWR even to root): the error says ",ro". */
	if (access("/sys/kernel/notes", R_OK) == 0) {
		assert_null(virtio_blk_create(t->vm, h, "/sys/kernel/notes", err, sizeof(err)));
		assert_non_null(strstr(err, ",ro"));
	}
	/* A second writer of the same image is refused; a reader is not. */
	struct virtio_blk *b1 = virtio_blk_create(t->vm, h, img, err, sizeof(err));
	assert_non_null(b1);
	assert_null(virtio_blk_create(t->vm, h, img, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	virtio_blk_destroy(b1);
	snprintf(spec, sizeof(spec), "%s,ro", img);
	b1 = virtio_blk_create(t->vm, h, spec, err, sizeof(err));
	assert_non_null(b1);
	struct virtio_blk *b2 = virtio_blk_create(t->vm, h, spec, err, sizeof(err));
	assert_non_null(b2);
	virtio_blk_destroy(b2);
	virtio_blk_destroy(b1);
	assert_int_equal(t->vm->mmio.n, 0);
	pci_host_destroy(h);
	tvm_free(t);
	close(fd);
	unlink(img);
}

static void test_host_eio(void **state)
{
	/* A host I/O error reaches the guest as IOERR, and the device goes on. */
	struct ctx *c = *state;
	struct drv *d = &c->d;
	ready(c);
	assert_int_equal(ftruncate(c->fd, 512 * 4), 0); /* the image shrinks under the VM */
	uint64_t buf = drv_alloc(d, 512);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 100, buf, 512, true, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(c, VIRTIO_BLK_T_IN, 1, buf, 512, true, false, NULL), VIRTIO_BLK_S_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_ok_refused_without_version1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_msix_and_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_isr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_zero_length_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_zero_length_indirect_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_mmio_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_huge_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_read_after_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_nested_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_next_out_of_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_head_and_avail_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_eio, setup, teardown),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
