/* Virtio over PCI: the transport every virtio device model embeds.
 *
 * One struct virtio_dev is one PCI function with
 *   - the virtio 1.0 ("modern") interface: vendor capabilities pointing at
 *     the common, notify, ISR and device-config structures in BAR 4 (64-bit
 *     memory), layout below;
 *   - MSI-X in BAR 1 (one vector per queue plus one for config changes);
 *   - INTA# with the ISR register for drivers without MSI-X;
 *   - the PCI_CFG capability, a window onto BAR 4 through config space;
 *   - for device types that have a transitional PCI id (net, blk, console,
 *     rng, ...), the legacy (0.9.5) register block in I/O BAR 0, so a legacy
 *     driver works too.  Drivers that know virtio 1.0 (Linux since 4.0) use
 *     the capabilities when they see them; VIRTIO_F_VERSION_1 is offered on
 *     the modern interface only.
 *
 * A device model:
 *
 *	static const struct virtio_dev_ops my_ops = { .name = "virtio-foo", .type = VIRTIO_ID_FOO,
 *		.pci_class = 0xff0000, .notify = my_notify, .reset = my_reset };
 *	virtio_dev_init(&d->vdev, vm, &my_ops, d, nqueues, queue_size, config_len, features);
 *	... fill d->vdev.config ...
 *	virtio_dev_register(&d->vdev, pci, err, errlen); // the PCI bus it was given
 *
 * ops->notify(vd, q) runs when the driver kicks queue q (on a vCPU thread,
 * io_lock held): pop chains with vq_pop(&vd->vq[q], ...), hand them back with
 * vq_push, then virtio_notify(vd, q) raises the interrupt if the driver wants
 * one.  Work finished on another thread must take vm->io_lock around
 * vq_push/virtio_notify.  vq_pop returning -1 means a malformed chain: call
 * virtio_dev_error(vd), which sets NEEDS_RESET and tells the driver.
 *
 * BAR 4 layout (offsets): 0x0000 common config, 0x1000 ISR, 0x2000 device
 * config, 0x3000 notify (queue q at 0x3000 + 4*q). */
#ifndef SYMBIONT_VIRTIO_H
#define SYMBIONT_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/pci.h"
#include "hw/virtio/virtqueue.h"

/* Device types (virtio 1.0 §5). */
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4
#define VIRTIO_ID_VSOCK   19

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* Transport feature bits. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_ISR_QUEUE  1
#define VIRTIO_ISR_CONFIG 2
#define VIRTIO_NO_VECTOR  0xffff

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_MAX_QUEUES 16

/* Modern BAR (4) layout. */
#define VIRTIO_BAR_MODERN      4
#define VIRTIO_BAR_LEGACY      0
#define VIRTIO_BAR_MSIX        1
#define VIRTIO_COMMON_OFF      0x0000
#define VIRTIO_ISR_OFF         0x1000
#define VIRTIO_DEVCFG_OFF      0x2000
#define VIRTIO_NOTIFY_OFF      0x3000
#define VIRTIO_NOTIFY_MULT     4
#define VIRTIO_MODERN_BAR_SIZE 0x4000

/* Common configuration structure offsets (virtio_pci_common_cfg). */
#define VIRTIO_PCI_COMMON_DFSELECT      0x00
#define VIRTIO_PCI_COMMON_DF            0x04
#define VIRTIO_PCI_COMMON_GFSELECT      0x08
#define VIRTIO_PCI_COMMON_GF            0x0c
#define VIRTIO_PCI_COMMON_MSIX          0x10
#define VIRTIO_PCI_COMMON_NUMQ          0x12
#define VIRTIO_PCI_COMMON_STATUS        0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT      0x16
#define VIRTIO_PCI_COMMON_Q_SIZE        0x18
#define VIRTIO_PCI_COMMON_Q_MSIX        0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE      0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF        0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO      0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI      0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO     0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI     0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO      0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI      0x34
#define VIRTIO_PCI_COMMON_SIZE          0x38

/* Legacy I/O BAR (0) registers. */
#define VIRTIO_LEGACY_HOST_FEATURES  0x00
#define VIRTIO_LEGACY_GUEST_FEATURES 0x04
#define VIRTIO_LEGACY_QUEUE_PFN      0x08
#define VIRTIO_LEGACY_QUEUE_NUM      0x0c
#define VIRTIO_LEGACY_QUEUE_SEL      0x0e
#define VIRTIO_LEGACY_QUEUE_NOTIFY   0x10
#define VIRTIO_LEGACY_STATUS         0x12
#define VIRTIO_LEGACY_ISR            0x13
#define VIRTIO_LEGACY_MSI_CONFIG     0x14 /* only while MSI-X is enabled */
#define VIRTIO_LEGACY_MSI_QUEUE      0x16
#define VIRTIO_LEGACY_CONFIG         0x14 /* device config without MSI-X ... */
#define VIRTIO_LEGACY_CONFIG_MSIX    0x18 /* ... and with */
#define VIRTIO_LEGACY_VRING_ALIGN    4096

/* Vendor capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint16_t type;      /* VIRTIO_ID_* */
	uint32_t pci_class; /* 24-bit class code */
	/* The driver kicked queue q. */
	void (*notify)(struct virtio_dev *vd, unsigned q);
	/* The driver reset the device: forget in-flight work (its completions
	 * must no longer touch the rings). */
	void (*reset)(struct virtio_dev *vd);
	/* Optional: the driver wrote device config bytes [off, off+size)
	 * (already stored in vd->config). */
	void (*config_write)(struct virtio_dev *vd, unsigned off, unsigned size);
	/* Optional: the driver set DRIVER_OK. */
	void (*driver_ok)(struct virtio_dev *vd);
	/* The device's lifecycle (symbiont/device.h), called with the device
	 * model (opaque); virtio_dev_register adds it to the VM's devices. */
	const struct device_ops *lifecycle;
};

struct virtio_dev {
	struct pci_device pci;
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	void *opaque;      /* the device model */
	bool transitional; /* has the legacy I/O BAR */
	bool legacy;       /* the driver uses the legacy interface */

	uint64_t host_features, guest_features;
	uint32_t dfselect, gfselect;
	uint8_t status, isr, config_generation;
	uint16_t msix_config, queue_sel;

	unsigned nqueues;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];

	uint8_t *config; /* device-specific config, little endian */
	unsigned config_len;
	uint32_t config_wmask_len; /* bytes at the start the driver may write */
	bool quiet;                /* no stderr line on virtio_dev_error (fuzzing) */
	unsigned pcicfg_cap;       /* config offset of the PCI_CFG access capability */
};

/* Sets up the PCI function, BARs and capabilities.  features are the
 * device-type bits; the transport adds VERSION_1, EVENT_IDX and
 * INDIRECT_DESC.  0, or -1 (bad arguments, out of memory). */
int virtio_dev_init(struct virtio_dev *vd, struct vm *vm, const struct virtio_dev_ops *ops, void *opaque,
                    unsigned nqueues, uint16_t queue_size, unsigned config_len, uint64_t features);
/* Places it on PCI bus h (the one the builder handed the device) and among
 * the VM's devices. */
int virtio_dev_register(struct virtio_dev *vd, struct pci_host *h, char *err, size_t errlen);
void virtio_dev_unregister(struct virtio_dev *vd);

/* ---- lifecycle helpers for the devices' device_ops ---------------------- */

/* A device reset as the driver's status write of 0 does it. */
void virtio_dev_reset(struct virtio_dev *vd);

/* The transport's guest-visible state: the PCI function, negotiated
 * features, status, the queues' layout and indices, the device config.
 * A device saves it first, then its own; loading reads it into a
 * virtio_state (checked: same features offered, same queues, rings inside
 * guest RAM), reads and checks its own part, and only then applies both. */
struct virtio_state {
	struct pci_state pci;
	bool legacy;
	uint64_t guest_features;
	uint32_t dfselect, gfselect;
	uint8_t status, isr, config_generation;
	uint16_t msix_config, queue_sel;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];
	uint8_t config[0x100];
};
void virtio_state_save(const struct virtio_dev *vd, struct state_buf *b);
void virtio_state_read(const struct virtio_dev *vd, struct state_reader *r, struct virtio_state *s);
void virtio_state_apply(struct virtio_dev *vd, const struct virtio_state *s);
/* Counters every virtio device reports. */
void virtio_stats(const struct virtio_dev *vd, device_stat_fn emit, void *ctx);
/* Lifecycle ops for a device whose whole guest state is the transport's
 * (its struct begins with its struct virtio_dev, so dev is one): console,
 * rng. */
void virtio_plain_reset(void *dev);
int virtio_plain_save(void *dev, struct state_buf *b, char *err, size_t errlen);
int virtio_plain_load(void *dev, struct state_reader *r, char *err, size_t errlen);
void virtio_plain_stats(void *dev, device_stat_fn emit, void *ctx);
void virtio_dev_free(struct virtio_dev *vd);

/* Interrupt for queue q, if the driver wants one (suppression applied). */
void virtio_notify(struct virtio_dev *vd, unsigned q);
/* Config-change interrupt; bump_generation after changing vd->config. */
void virtio_config_changed(struct virtio_dev *vd, bool bump_generation);
/* The driver broke the protocol (malformed chain...): NEEDS_RESET plus a
 * config interrupt; queues stop until the driver resets the device. */
void virtio_dev_error(struct virtio_dev *vd, const char *why);
bool virtio_has_feature(const struct virtio_dev *vd, unsigned bit);
/* True once the driver may be served (queue enabled, device not failed). */
bool virtio_queue_ready(const struct virtio_dev *vd, unsigned q);

/* Little-endian config helpers. */
void virtio_cfg_put(struct virtio_dev *vd, unsigned off, uint64_t v, unsigned size);

#endif
