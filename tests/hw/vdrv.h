/* A tiny virtio 1.0 driver for device tests: negotiates features through the
 * modern common-config structure in BAR 4, lays out split rings in guest
 * RAM, posts chains, kicks, and reads the used rings back, exactly as a
 * guest would (everything through MMIO and guest memory). */
#ifndef SYMBIONT_TESTS_VDRV_H
#define SYMBIONT_TESTS_VDRV_H

#include "hw/hwtest.h"
#include "hw/pci.h"
#include "hw/virtio/virtio.h"

#define VDRV_QSIZE     16
#define VDRV_RING_BASE 0x100000 /* queue q at RING_BASE + q * 0x2000 */
#define VDRV_BUF_BASE  0x200000 /* bump-allocated buffers */

struct vdrv_q {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
};

struct vdrv {
	struct test_vm *t;
	struct virtio_dev *vd;
	uint64_t bar;
	uint64_t brk;
	unsigned nq;
	struct vdrv_q q[8];
};

static inline void *vd_host(struct vdrv *d, uint64_t gpa)
{
	return d->t->vm->mem.host + gpa;
}

static inline void vdrv_wr(struct vdrv *d, unsigned off, uint64_t v, unsigned size)
{
	pthread_mutex_lock(&d->t->vm->io_lock);
	mmio_wr(d->t, d->bar + off, v, size);
	pthread_mutex_unlock(&d->t->vm->io_lock);
}

static inline uint64_t vdrv_rd(struct vdrv *d, unsigned off, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&d->t->vm->io_lock);
	v = mmio_rd(d->t, d->bar + off, size);
	pthread_mutex_unlock(&d->t->vm->io_lock);
	return v;
}

static inline uint64_t vdrv_alloc(struct vdrv *d, size_t len)
{
	uint64_t a = d->brk;

	d->brk = (d->brk + len + 15) & ~15ull;
	assert_true(d->brk < d->t->vm->mem.size);
	return a;
}

/* Drives the device to DRIVER_OK with VERSION_1 plus want (masked by what it
 * offers); returns the device feature bits it offered. */
static inline uint64_t vdrv_init(struct vdrv *d, struct test_vm *t, struct virtio_dev *vd, uint64_t want)
{
	uint64_t offered;

	d->t = t;
	d->vd = vd;
	d->bar = pci_bar_addr(&vd->pci, VIRTIO_BAR_MODERN);
	assert_true(d->bar != 0);
	d->brk = VDRV_BUF_BASE;
	vdrv_wr(d, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	vdrv_wr(d, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vdrv_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 0, 4);
	offered = vdrv_rd(d, VIRTIO_PCI_COMMON_DF, 4);
	vdrv_wr(d, VIRTIO_PCI_COMMON_DFSELECT, 1, 4);
	offered |= vdrv_rd(d, VIRTIO_PCI_COMMON_DF, 4) << 32;
	want = (want & offered) | 1ull << VIRTIO_F_VERSION_1;
	vdrv_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	vdrv_wr(d, VIRTIO_PCI_COMMON_GF, (uint32_t)want, 4);
	vdrv_wr(d, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	vdrv_wr(d, VIRTIO_PCI_COMMON_GF, want >> 32, 4);
	vdrv_wr(d, VIRTIO_PCI_COMMON_STATUS,
	        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	assert_true(vdrv_rd(d, VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
	d->nq = (unsigned)vdrv_rd(d, VIRTIO_PCI_COMMON_NUMQ, 2);
	assert_true(d->nq <= 8);
	for (unsigned q = 0; q < d->nq; q++) {
		struct vdrv_q *vq = &d->q[q];
		uint64_t base = VDRV_RING_BASE + q * 0x2000ull;

		memset(vq, 0, sizeof(*vq));
		vq->desc = base;
		vq->avail = base + 16 * VDRV_QSIZE;
		vq->used = base + 0x1000;
		memset(vd_host(d, base), 0, 0x2000);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_SIZE, VDRV_QSIZE, 2);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_DESCHI, 0, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_AVAILLO, vq->avail, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_AVAILHI, 0, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_USEDLO, vq->used, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_USEDHI, 0, 4);
		vdrv_wr(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	vdrv_wr(d, VIRTIO_PCI_COMMON_STATUS,
	        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
	        1);
	return offered;
}

/* Posts a chain of nout device-readable then nin device-writable buffers
 * (guest addresses and lengths) on queue q without kicking; returns the
 * head descriptor. */
static inline uint16_t vdrv_post(struct vdrv *d, unsigned q, unsigned nout, unsigned nin, const uint64_t *addr,
                                 const uint32_t *len)
{
	struct vdrv_q *vq = &d->q[q];
	struct vring_desc *desc = vd_host(d, vq->desc);
	uint16_t *avail = vd_host(d, vq->avail);
	uint16_t head = vq->next_desc % VDRV_QSIZE;

	for (unsigned i = 0; i < nout + nin; i++) {
		uint16_t n = (vq->next_desc++) % VDRV_QSIZE;
		desc[n].addr = addr[i];
		desc[n].len = len[i];
		desc[n].flags = (i >= nout ? VRING_DESC_F_WRITE : 0) | (i + 1 < nout + nin ? VRING_DESC_F_NEXT : 0);
		desc[n].next = (vq->next_desc) % VDRV_QSIZE;
	}
	avail[2 + vq->avail_idx % VDRV_QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++vq->avail_idx;
	return head;
}

static inline void vdrv_kick(struct vdrv *d, unsigned q)
{
	vdrv_wr(d, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
}

/* 1 with the next used entry's head and length, 0 if there is none. */
static inline int vdrv_used(struct vdrv *d, unsigned q, uint16_t *head, uint32_t *len)
{
	struct vdrv_q *vq = &d->q[q];
	volatile uint16_t *used = vd_host(d, vq->used);
	uint8_t *ring = (uint8_t *)vd_host(d, vq->used) + 4;
	unsigned slot;

	if (used[1] == vq->used_seen)
		return 0;
	slot = vq->used_seen++ % VDRV_QSIZE;
	memcpy(head, ring + 8 * slot, 2);
	memcpy(len, ring + 8 * slot + 4, 4);
	return 1;
}

static inline uint8_t vdrv_status(struct vdrv *d)
{
	return (uint8_t)vdrv_rd(d, VIRTIO_PCI_COMMON_STATUS, 1);
}

#endif
