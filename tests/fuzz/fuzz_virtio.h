/* Shared body of the virtio libFuzzer targets: the input becomes a driver's
 * view of one queue, and the device must cope with whatever it finds.
 *
 * Input: byte 0 flags (bit 0 legacy interface, bit 1 EVENT_IDX, bit 2
 * INDIRECT_DESC, bit 3 MSI-X on), byte 1 queue size (log2, or a raw odd
 * value when bit 7 is set), byte 2 number of kicks, byte 3 the queue to
 * kick; the rest is copied to guest RAM at FZ_WIN (descriptor table at
 * FZ_WIN, avail ring at +0x1000, used ring at +0x2000: the legacy layout of
 * a 256-entry queue, so both interfaces see the same rings).  Descriptors
 * may point anywhere: any address below 16 MiB is guest RAM. */
#ifndef SYMBIONT_FUZZ_VIRTIO_H
#define SYMBIONT_FUZZ_VIRTIO_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci.h"
#include "hw/virtio/virtio.h"

#define FZ_MEM     (16u << 20)
#define FZ_WIN     0x1000u
#define FZ_WIN_MAX 0x10000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct vm *vm;
	struct pci_host *h;
	struct virtio_dev *vd;
	uint64_t bar4;
	uint16_t io;
};

static inline void fz_vm(struct fz *f)
{
	f->vm = calloc(1, sizeof(*f->vm));
	if (!f->vm)
		abort();
	f->vm->wake_fd = -1;
	pthread_mutex_init(&f->vm->io_lock, NULL);
	io_bus_init(&f->vm->pio);
	io_bus_init(&f->vm->mmio);
	if (guest_mem_init(&f->vm->mem, FZ_MEM))
		abort();
	f->h = pci_host_create(f->vm); /* no irqchip: interrupts go nowhere */
	if (!f->h)
		abort();
}

static inline void fz_attach(struct fz *f, struct virtio_dev *vd)
{
	f->vd = vd;
	vd->quiet = true;
	f->bar4 = pci_bar_addr(&vd->pci, VIRTIO_BAR_MODERN);
	f->io = pci_bar_addr(&vd->pci, VIRTIO_BAR_LEGACY);
}

static inline void fz_w(struct fz *f, bool legacy, unsigned off, uint64_t v, unsigned size)
{
	if (legacy)
		vm_pio_write(f->vm, f->io + off, v, size);
	else
		vm_mmio_write(f->vm, f->bar4 + off, v, size);
}

static inline uint64_t fz_r(struct fz *f, bool legacy, unsigned off, unsigned size)
{
	return legacy ? vm_pio_read(f->vm, f->io + off, size) : vm_mmio_read(f->vm, f->bar4 + off, size);
}

/* Runs one input; drain() waits for asynchronous completions. */
static inline void fz_run(struct fz *f, const uint8_t *data, size_t size, void (*drain)(void *), void *opaque)
{
	if (size < 4)
		return;
	uint8_t flags = data[0], qs = data[1], kicks = data[2] % 5, q = data[3] % (f->vd->nqueues + 1);
	bool legacy = (flags & 1) && f->io;
	data += 4;
	size -= 4;
	uint8_t *win = f->vm->mem.host + FZ_WIN;
	memset(win, 0, FZ_WIN_MAX);
	memcpy(win, data, size < FZ_WIN_MAX ? size : FZ_WIN_MAX);

	/* Interrupt delivery matters for coverage, not for safety. */
	pthread_mutex_lock(&f->vm->io_lock);
	pci_cfg_write(&f->vd->pci, f->vd->pci.msix_cap + 2, 2, flags & 8 ? PCI_MSIX_FLAGS_ENABLE : 0);
	pthread_mutex_unlock(&f->vm->io_lock);

	uint64_t feat = 1ull << VIRTIO_F_VERSION_1;
	if (flags & 2)
		feat |= 1ull << VIRTIO_F_RING_EVENT_IDX;
	if (flags & 4)
		feat |= 1ull << VIRTIO_F_RING_INDIRECT_DESC;
	unsigned st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	if (legacy) {
		fz_w(f, true, VIRTIO_LEGACY_STATUS, 0, 1);
		fz_w(f, true, VIRTIO_LEGACY_STATUS, st, 1);
		fz_w(f, true, VIRTIO_LEGACY_GUEST_FEATURES, (uint32_t)feat, 4);
		for (unsigned i = 0; i < f->vd->nqueues; i++) {
			fz_w(f, true, VIRTIO_LEGACY_QUEUE_SEL, i, 2);
			fz_w(f, true, VIRTIO_LEGACY_QUEUE_PFN, FZ_WIN >> 12, 4);
		}
		fz_w(f, true, VIRTIO_LEGACY_STATUS, st | VIRTIO_STATUS_DRIVER_OK, 1);
	} else {
		fz_w(f, false, VIRTIO_PCI_COMMON_STATUS, 0, 1);
		fz_w(f, false, VIRTIO_PCI_COMMON_STATUS, st, 1);
		fz_w(f, false, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
		fz_w(f, false, VIRTIO_PCI_COMMON_GF, (uint32_t)feat, 4);
		fz_w(f, false, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
		fz_w(f, false, VIRTIO_PCI_COMMON_GF, feat >> 32, 4);
		st |= VIRTIO_STATUS_FEATURES_OK;
		fz_w(f, false, VIRTIO_PCI_COMMON_STATUS, st, 1);
		uint16_t n = qs & 0x80 ? qs & 0x7f : 1u << (qs % 9);
		for (unsigned i = 0; i < f->vd->nqueues; i++) {
			/* Every queue shares the window: aliasing rings is
			 * one more thing a hostile driver can do. */
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_SELECT, i, 2);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_SIZE, n, 2);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_MSIX, i, 2);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_DESCLO, FZ_WIN, 4);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_AVAILLO, FZ_WIN + 0x1000, 4);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_USEDLO, FZ_WIN + 0x2000, 4);
			fz_w(f, false, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
		}
		fz_w(f, false, VIRTIO_PCI_COMMON_STATUS, st | VIRTIO_STATUS_DRIVER_OK, 1);
	}
	for (unsigned k = 0; k < kicks; k++) {
		if (legacy)
			fz_w(f, true, VIRTIO_LEGACY_QUEUE_NOTIFY, q, 2);
		else
			fz_w(f, false, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
		if (drain)
			drain(opaque);
	}
	(void)fz_r(f, legacy, legacy ? VIRTIO_LEGACY_ISR : VIRTIO_ISR_OFF, 1);
	fz_w(f, legacy, legacy ? VIRTIO_LEGACY_STATUS : VIRTIO_PCI_COMMON_STATUS, 0, 1);
	if (drain)
		drain(opaque);
}

#endif
