/* Shared by the virtio device fuzzers: a bare VM with 16 MiB of RAM and a
 * PCI bus, a driver that brings a device up through its BAR, and a way to
 * turn fuzz input into rings and buffers.
 *
 * Input layout: byte 0 picks the feature bits to accept, bytes 1..4 are
 * the avail indexes of queues 0..3, the rest is copied to guest RAM at
 * VF_AREA, where queue q's rings sit at VF_AREA + q * 0x400 (16 entries)
 * and buffers anywhere after.  Descriptor addresses with bit 63 clear are
 * folded into the area so most chains point somewhere real; with it set
 * they stay wild. */
#ifndef SYMBIONT_FUZZ_VFUZZ_H
#define SYMBIONT_FUZZ_VFUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci.h"
#include "hw/virtio/virtio.h"

#define VF_AREA      0x100000ull
#define VF_AREA_SIZE 0x10000ull
#define VF_QSIZE     16

static void vf_set_irq(void *chip, unsigned gsi, int level)
{
	(void)chip, (void)gsi, (void)level;
}
static void vf_msi(void *chip, uint64_t addr, uint32_t data)
{
	(void)chip, (void)addr, (void)data;
}
static const struct irqchip_ops vf_chip = { .set_irq = vf_set_irq, .msi = vf_msi };

static struct vm *vf_vm(struct pci_host **h)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		abort();
	vm->wake_fd = -1;
	pthread_mutex_init(&vm->io_lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	vm->irqchip = &vf_chip;
	if (guest_mem_init(&vm->mem, 16 << 20))
		abort();
	*h = pci_host_create(vm);
	if (!*h)
		abort();
	return vm;
}

static void vf_wr(struct virtio_dev *vd, unsigned off, uint64_t v, unsigned size)
{
	pthread_mutex_lock(&vd->vm->io_lock);
	io_bus_write(&vd->vm->mmio, pci_bar_addr(&vd->pci, VIRTIO_BAR_MODERN) + off, v, size);
	pthread_mutex_unlock(&vd->vm->io_lock);
}

/* Resets the device, lays the input into RAM and brings it to DRIVER_OK. */
static void vf_setup(struct virtio_dev *vd, const uint8_t *data, size_t size)
{
	uint8_t *ram = vd->vm->mem.host;
	size_t n = size > 5 ? size - 5 : 0;

	vf_wr(vd, VIRTIO_PCI_COMMON_STATUS, 0, 1);
	memset(ram + VF_AREA, 0, VF_AREA_SIZE);
	if (n > VF_AREA_SIZE)
		n = VF_AREA_SIZE;
	if (n)
		memcpy(ram + VF_AREA, data + 5, n);
	for (unsigned q = 0; q < vd->nqueues && q < 4; q++) {
		struct vring_desc *d = (struct vring_desc *)(ram + VF_AREA + q * 0x400);
		uint16_t *avail = (uint16_t *)(ram + VF_AREA + q * 0x400 + 16 * VF_QSIZE);
		for (unsigned i = 0; i < VF_QSIZE; i++)
			if (!(d[i].addr >> 63))
				d[i].addr = VF_AREA + (d[i].addr % VF_AREA_SIZE);
		avail[1] = size > 1 + q ? data[1 + q] : 0;
	}
	vf_wr(vd, VIRTIO_PCI_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vf_wr(vd, VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	vf_wr(vd, VIRTIO_PCI_COMMON_GF, size ? (uint32_t)data[0] << 24 | (uint32_t)data[0] << 8 : 0, 4);
	vf_wr(vd, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	vf_wr(vd, VIRTIO_PCI_COMMON_GF, 1, 4); /* VERSION_1 */
	vf_wr(vd, VIRTIO_PCI_COMMON_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	for (unsigned q = 0; q < vd->nqueues; q++) {
		uint64_t base = VF_AREA + q * 0x400;
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_SIZE, VF_QSIZE, 2);
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_DESCLO, base, 4);
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_AVAILLO, base + 16 * VF_QSIZE, 4);
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_USEDLO, base + 16 * VF_QSIZE + 0x40, 4);
		vf_wr(vd, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	}
	vf_wr(vd, VIRTIO_PCI_COMMON_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
	      1);
}

static void vf_kick(struct virtio_dev *vd, unsigned q)
{
	vf_wr(vd, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * q, q, 2);
}

#endif
