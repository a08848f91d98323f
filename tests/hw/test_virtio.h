/* An in-test virtio driver: finds the device's capabilities through PCI
 * config space, negotiates features, lays out split rings in guest memory
 * and submits chains exactly as a guest driver would (modern interface in
 * BAR 4, or the legacy registers in I/O BAR 0).  Every device access goes
 * through the buses under vm->io_lock, as from a vCPU. */
#ifndef SYMBIONT_TESTS_VIRTIO_H
#define SYMBIONT_TESTS_VIRTIO_H

#include "hwtest.h"

#include "hw/pci.h"
#include "hw/virtio/virtio.h"

#define DRV_MEM_MB    16
#define DRV_RING_BASE 0x100000ull /* queue q's rings at base + q * 0x10000 */
#define DRV_BUF_BASE  0x400000ull /* data buffers, bump-allocated */
#define DRV_QSIZE     16

struct drv_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

struct drv_queue {
	uint64_t desc, avail, used;
	uint16_t size, avail_idx, used_seen, next_desc;
};

struct drv {
	struct test_vm *t;
	struct pci_device *pd;
	bool legacy;
	uint64_t bar4;
	uint16_t io;
	unsigned common, notify, isr, devcfg; /* offsets in BAR 4 */
	unsigned pcicfg;                      /* config offset of the PCI_CFG capability */
	uint32_t notify_mult;
	uint64_t features;
	uint64_t heap;
	struct drv_queue q[4];
};

static inline uint8_t *gmem(struct drv *d, uint64_t gpa)
{
	return d->t->vm->mem.host + gpa;
}

static inline uint64_t drv_rd(struct drv *d, unsigned off, unsigned size)
{
	if (d->legacy)
		return vm_pio_read(d->t->vm, d->io + off, size);
	return vm_mmio_read(d->t->vm, d->bar4 + off, size);
}

static inline void drv_wr(struct drv *d, unsigned off, uint64_t v, unsigned size)
{
	if (d->legacy)
		vm_pio_write(d->t->vm, d->io + off, v, size);
	else
		vm_mmio_write(d->t->vm, d->bar4 + off, v, size);
}

static inline uint64_t common_rd(struct drv *d, unsigned off, unsigned size)
{
	return drv_rd(d, d->common + off, size);
}

static inline void common_wr(struct drv *d, unsigned off, uint64_t v, unsigned size)
{
	drv_wr(d, d->common + off, v, size);
}

static inline uint8_t drv_status(struct drv *d)
{
	return d->legacy ? drv_rd(d, VIRTIO_LEGACY_STATUS, 1) : common_rd(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

static inline void drv_set_status(struct drv *d, uint8_t s)
{
	if (d->legacy)
		drv_wr(d, VIRTIO_LEGACY_STATUS, s, 1);
	else
		common_wr(d, VIRTIO_PCI_COMMON_STATUS, s, 1);
}

static inline uint64_t drv_cfg(struct drv *d, unsigned off, unsigned size)
{
	if (d->legacy)
		return drv_rd(d, (pci_msix_enabled(d->pd) ? VIRTIO_LEGACY_CONFIG_MSIX : VIRTIO_LEGACY_CONFIG) + off,
		              size);
	return drv_rd(d, d->devcfg + off, size);
}

static inline uint8_t drv_isr(struct drv *d)
{
	return d->legacy ? drv_rd(d, VIRTIO_LEGACY_ISR, 1) : drv_rd(d, d->isr, 1);
}

/* Walks the capability list for the virtio structures. */
static inline void drv_probe(struct drv *d, struct test_vm *t, struct pci_device *pd)
{
	memset(d, 0, sizeof(*d));
	d->t = t;
	d->pd = pd;
	d->heap = DRV_BUF_BASE;
	assert_int_equal(pci_cfg_read(pd, PCI_VENDOR_ID, 2), 0x1af4);
	assert_true(pci_cfg_read(pd, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	d->bar4 = pci_bar_addr(pd, 4);
	d->io = pci_bar_addr(pd, 0);
	assert_true(d->bar4 != 0);
	int seen = 0;
	for (unsigned c = pci_cfg_read(pd, PCI_CAPABILITY_LIST, 1); c; c = pci_cfg_read(pd, c + 1, 1)) {
		if (pci_cfg_read(pd, c, 1) != PCI_CAP_ID_VNDR)
			continue;
		unsigned type = pci_cfg_read(pd, c + 3, 1), off = pci_cfg_read(pd, c + 8, 4);
		seen |= 1 << type;
		if (type == VIRTIO_PCI_CAP_PCI_CFG) {
			d->pcicfg = c;
			continue;
		}
		assert_int_equal(pci_cfg_read(pd, c + 4, 1), 4); /* BAR */
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG: d->common = off; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = off;
			d->notify_mult = pci_cfg_read(pd, c + 16, 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG: d->isr = off; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: d->devcfg = off; break;
		}
	}
	assert_int_equal(seen & 0x2e, 0x2e); /* common, notify, isr, pci_cfg */
}

/* Switches to the legacy registers (a transitional device's I/O BAR). */
static inline void drv_use_legacy(struct drv *d)
{
	assert_true(d->io != 0);
	d->legacy = true;
	d->common = 0;
}

static inline uint64_t drv_device_features(struct drv *d)
{
	if (d->legacy)
		return drv_rd(d, VIRTIO_LEGACY_HOST_FEATURES, 4);
	common_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	uint64_t f = common_rd(d, VIRTIO_PCI_COMMON_DF, 4);
	common_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	return f | common_rd(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
}

/* Reset, negotiate want & offered, set up nq queues of qsize, DRIVER_OK.
 * Returns the status after FEATURES_OK (to let tests check refusals). */
static inline uint8_t drv_init(struct drv *d, uint64_t want, unsigned nq, uint16_t qsize)
{
	drv_set_status(d, 0);
	assert_int_equal(drv_status(d), 0);
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	drv_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t f = drv_device_features(d) & want;
	d->features = f;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	if (d->legacy) {
		drv_wr(d, VIRTIO_LEGACY_GUEST_FEATURES, f, 4);
	} else {
		common_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
		common_wr(d, VIRTIO_PCI_COMMON_GF, (uint32_t)f, 4);
		common_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
		common_wr(d, VIRTIO_PCI_COMMON_GF, f >> 32, 4);
		st |= VIRTIO_STATUS_FEATURES_OK;
		drv_set_status(d, st);
		if (!(drv_status(d) & VIRTIO_STATUS_FEATURES_OK))
			return drv_status(d);
	}
	for (unsigned q = 0; q < nq; q++) {
		struct drv_queue *dq = &d->q[q];
		memset(dq, 0, sizeof(*dq));
		uint64_t base = DRV_RING_BASE + q * 0x10000ull;
		memset(gmem(d, base), 0, 0x10000);
		if (d->legacy) {
			drv_wr(d, VIRTIO_LEGACY_QUEUE_SEL, q, 2);
			dq->size = drv_rd(d, VIRTIO_LEGACY_QUEUE_NUM, 2);
			dq->desc = base;
			dq->avail = base + 16 * dq->size;
			dq->used = (dq->avail + 6 + 2 * dq->size + 4095) & ~4095ull;
			assert_true(dq->used + 6 + 8 * dq->size <= base + 0x10000);
			drv_wr(d, VIRTIO_LEGACY_QUEUE_PFN, base >> 12, 4);
		} else {
			common_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
			assert_true(common_rd(d, VIRTIO_PCI_COMMON_Q_SIZE, 2) >= qsize);
			common_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, qsize, 2);
			dq->size = qsize;
			dq->desc = base;
			dq->avail = base + 0x4000;
			dq->used = base + 0x8000;
			common_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)dq->desc, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_DESCHI, dq->desc >> 32, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILLO, (uint32_t)dq->avail, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_AVAILHI, 0, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)dq->used, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
			common_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
			assert_int_equal(common_rd(d, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
		}
	}
	st |= VIRTIO_STATUS_DRIVER_OK;
	drv_set_status(d, st);
	return drv_status(d);
}

static inline uint64_t drv_alloc(struct drv *d, uint32_t len)
{
	uint64_t a = d->heap;
	d->heap = (d->heap + len + 15) & ~15ull;
	assert_true(d->heap < ((uint64_t)DRV_MEM_MB << 20));
	return a;
}

static inline void put_desc(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* Makes the chain visible (avail ring) without kicking; returns the head. */
static inline uint16_t drv_post_raw(struct drv *d, unsigned q, uint16_t head)
{
	struct drv_queue *dq = &d->q[q];
	uint16_t *avail = (uint16_t *)gmem(d, dq->avail);
	avail[2 + dq->avail_idx % dq->size] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	dq->avail_idx++;
	avail[1] = dq->avail_idx;
	return head;
}

/* Writes n buffers as a chain (or, indirect, as one indirect descriptor
 * pointing at a table) and posts it. */
static inline uint16_t drv_post(struct drv *d, unsigned q, const struct drv_buf *b, unsigned n, bool indirect)
{
	struct drv_queue *dq = &d->q[q];
	uint16_t head = dq->next_desc;
	if (indirect) {
		uint64_t tab = drv_alloc(d, 16 * n);
		for (unsigned i = 0; i < n; i++)
			put_desc(gmem(d, tab + 16 * i), b[i].gpa, b[i].len,
			         (b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0), i + 1);
		put_desc(gmem(d, dq->desc + 16 * head), tab, 16 * n, VRING_DESC_F_INDIRECT, 0);
		dq->next_desc = (head + 1) % dq->size;
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t idx = (head + i) % dq->size, nx = (head + i + 1) % dq->size;
			put_desc(gmem(d, dq->desc + 16 * idx), b[i].gpa, b[i].len,
			         (b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0), nx);
		}
		dq->next_desc = (head + n) % dq->size;
	}
	return drv_post_raw(d, q, head);
}

static inline void drv_kick(struct drv *d, unsigned q)
{
	if (d->legacy)
		drv_wr(d, VIRTIO_LEGACY_QUEUE_NOTIFY, q, 2);
	else
		drv_wr(d, d->notify + q * d->notify_mult, q, 2);
}

static inline uint16_t drv_used_idx(struct drv *d, unsigned q)
{
	return __atomic_load_n((uint16_t *)gmem(d, d->q[q].used + 2), __ATOMIC_ACQUIRE);
}

/* Takes the next used entry: 1 with id/len, 0 if none. */
static inline int drv_get_used(struct drv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct drv_queue *dq = &d->q[q];
	if (drv_used_idx(d, q) == dq->used_seen)
		return 0;
	uint8_t *e = gmem(d, dq->used + 4 + 8 * (dq->used_seen % dq->size));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	dq->used_seen++;
	return 1;
}

/* used_event (driver's interrupt threshold, EVENT_IDX). */
static inline void drv_set_used_event(struct drv *d, unsigned q, uint16_t v)
{
	uint16_t *avail = (uint16_t *)gmem(d, d->q[q].avail);
	avail[2 + d->q[q].size] = v;
}

/* MSI-X on: vector v of the table gets address 0xfee00000, data 0x40+v. */
static inline void drv_enable_msix(struct drv *d, unsigned nvec)
{
	struct pci_device *pd = d->pd;
	uint64_t tab = pci_bar_addr(pd, pd->msix_bar);
	assert_true(tab != 0);
	for (unsigned v = 0; v < nvec; v++) {
		vm_mmio_write(d->t->vm, tab + 16 * v, 0xfee00000u, 4);
		vm_mmio_write(d->t->vm, tab + 16 * v + 4, 0, 4);
		vm_mmio_write(d->t->vm, tab + 16 * v + 8, 0x40 + v, 4);
		vm_mmio_write(d->t->vm, tab + 16 * v + 12, 0, 4);
	}
	pthread_mutex_lock(&d->t->vm->io_lock);
	pci_cfg_write(pd, pd->msix_cap + 2, 2, PCI_MSIX_FLAGS_ENABLE);
	pthread_mutex_unlock(&d->t->vm->io_lock);
}

/* Count of MSIs with data 0x40+v so far. */
static inline int msi_count(struct test_vm *t, unsigned v)
{
	int n = 0;
	pthread_mutex_lock(&t->vm->io_lock);
	for (int i = 0; i < t->chip.nmsi && i < FAKE_MSIS; i++)
		n += t->chip.msi_data[i] == 0x40 + v;
	pthread_mutex_unlock(&t->vm->io_lock);
	return n;
}

#endif
