/* PCI: the host bridge (configuration mechanism #1 on ports 0xCF8/0xCFC,
 * bus 0) and the device model a PCI device embeds.
 *
 * A device (e.g. virtio-pci) embeds a struct pci_device, then:
 *
 *	pci_device_init(&d->pci, vm, vendor, device, class, subsys_vendor, subsys_id);
 *	pci_bar_init(&d->pci, 0, PCI_BAR_MEM64, 0x4000, &my_bar_ops, d);
 *	pci_msix_init(&d->pci, nvec, 2);           // optional: table+PBA in BAR 2
 *	int cap = pci_add_capability(&d->pci, PCI_CAP_ID_VNDR, 16);
 *	... fill d->pci.cfg[cap + 2 ...], mark guest-writable bytes in d->pci.wmask ...
 *	d->pci.cfg_write = my_cfg_write;           // optional hooks
 *	pci_register(pci, &d->pci, err, errlen);         // the bus the builder handed in
 *
 * pci_register() picks the next free slot, places the BARs (MMIO from
 * BOARD_PCI_MMIO_BASE upward, I/O from 0xc000 upward, each aligned to its
 * size), enables decoding and maps them, so the guest needn't assign
 * anything.  When the guest later moves a BAR or flips the command
 * register's I/O / memory enable, the region is unmapped and remapped on
 * vm->pio / vm->mmio with the BAR's own io_ops; offsets seen by the ops are
 * relative to the BAR's base.
 *
 * Interrupts: pci_set_irq() drives INTA# (level), which reaches
 * GSI pci_slot_gsi(slot, pin); the ACPI _PRT says the same.  With MSI-X
 * enabled, pci_msix_notify() sends the vector's message instead (or sets
 * its pending bit while masked).
 *
 * Everything runs under vm->io_lock like all device code. */
#ifndef SYMBIONT_HW_PCI_H
#define SYMBIONT_HW_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/vm.h"

#define PCI_CFG_SIZE 256
#define PCI_SLOTS    32

/* Standard header offsets. */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_HEADER_TYPE         0x0e
#define PCI_BAR0                0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO           0x0001
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_MASTER       0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT     0x0008
#define PCI_STATUS_CAP_LIST      0x0010

#define PCI_CAP_ID_MSI  0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability layout: +2 message control, +4 table offset|BIR,
 * +8 PBA offset|BIR. */
#define PCI_MSIX_FLAGS_ENABLE  0x8000
#define PCI_MSIX_FLAGS_MASKALL 0x4000

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_device;
struct pci_host;

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size; /* power of two; 0 = unused */
	const struct io_ops *ops;
	void *opaque;
	uint64_t mapped; /* base currently registered on a bus */
	bool is_mapped;
};

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_device {
	struct vm *vm;
	struct pci_host *host;
	int slot; /* -1 until registered */
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];   /* bits the guest may change */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* write-1-to-clear bits (status) */
	unsigned cap_next_free;        /* where the next capability goes */
	struct pci_bar bar[6];
	struct irq_line intx;
	int intx_level; /* what the device asks for */
	int intx_out;   /* what it drives (after INTx disable) */

	/* Hooks for device-specific fields.  cfg_read may replace the value the
	 * generic code read from cfg[] (val, off and size as accessed); cfg_write
	 * is called after the generic write has updated cfg[]. */
	uint32_t (*cfg_read)(struct pci_device *d, unsigned off, unsigned size, uint32_t val);
	void (*cfg_write)(struct pci_device *d, unsigned off, unsigned size, uint32_t val);
	void *opaque;

	/* MSI-X state (pci_msix_init). */
	int msix_cap; /* config offset, 0 if none */
	int msix_bar;
	unsigned msix_nvec;
	struct pci_msix_entry *msix_table;
	uint8_t *msix_pba;
};

/* ---- host bridge (the board) ----------------------------------------- */

struct pci_host *pci_host_create(struct vm *vm);
void pci_host_destroy(struct pci_host *h);
/* GSI that INTx pin (1 = INTA .. 4 = INTD) of a device in slot reaches:
 * 16 + (slot + pin - 1) mod 4, IOAPIC pins with no ISA user. */
unsigned pci_slot_gsi(int slot, int pin);
/* Looks up a device (tests, ACPI). */
struct pci_device *pci_host_device(struct pci_host *h, int slot);

/* ---- device side ------------------------------------------------------ */

/* class_code is the 24-bit class/subclass/prog-if, e.g. 0x020000. */
void pci_device_init(struct pci_device *d, struct vm *vm, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares BAR n (a 64-bit BAR also takes n+1).  size is rounded up to a
 * power of two (at least 16 bytes for MMIO... 4 bytes for I/O). */
int pci_bar_init(struct pci_device *d, int n, enum pci_bar_type type, uint64_t size, const struct io_ops *ops,
                 void *opaque);
/* Current guest-physical (or port) base of BAR n, 0 if not mapped. */
uint64_t pci_bar_addr(const struct pci_device *d, int n);
/* Appends a capability of len bytes (id and next pointer filled in);
 * returns its config-space offset, or -1 when space runs out. */
int pci_add_capability(struct pci_device *d, uint8_t id, uint8_t len);
/* Places the device in the next free slot, assigns BARs and maps them.
 * 0, or -1 with a reason. */
int pci_register(struct pci_host *h, struct pci_device *d, char *err, size_t errlen);
/* Removes the device's mappings (VM teardown or hot-unplug). */
void pci_unregister(struct pci_device *d);

/* INTx: level-triggered INTA#.  Ignored while the command register's INTx
 * disable bit is set; reflected in the status register's interrupt bit. */
void pci_set_irq(struct pci_device *d, int level);

/* MSI-X with nvec vectors: table at offset 0 and PBA at 0x800 of BAR
 * bar_n, a 4 KiB 32-bit memory BAR owned by pci.c.  0 or -1. */
int pci_msix_init(struct pci_device *d, unsigned nvec, int bar_n);
void pci_msix_free(struct pci_device *d);
bool pci_msix_enabled(const struct pci_device *d);
/* Signals vector: delivers its message through vm_signal_msi unless the
 * vector or the function is masked, in which case the pending bit is set
 * and the message goes out when it is unmasked. */
void pci_msix_notify(struct pci_device *d, unsigned vector);

/* ---- saved state (symbiont/device.h) ---------------------------------- */

#define PCI_MSIX_MAX_VEC 128 /* the table below the PBA at 0x800 */

/* A function's guest-visible state: config space, INTx level, MSI-X table
 * and pending bits.  Devices that embed a pci_device save it with theirs:
 * read it into a pci_state first (checked: the read-only config bytes must
 * be this very device's), apply it only once the rest has been checked. */
struct pci_state {
	uint8_t cfg[PCI_CFG_SIZE];
	bool intx_level;
	struct pci_msix_entry table[PCI_MSIX_MAX_VEC];
	uint8_t pba[PCI_MSIX_MAX_VEC / 8];
};
void pci_state_save(const struct pci_device *d, struct state_buf *b);
void pci_state_read(const struct pci_device *d, struct state_reader *r, struct pci_state *s);
/* BAR mappings and the INTx line follow the loaded registers. */
void pci_state_apply(struct pci_device *d, const struct pci_state *s);

extern const struct device_ops pci_host_device_ops;

/* Config-space accessors (the host bridge uses them; tests too). */
uint32_t pci_cfg_read(struct pci_device *d, unsigned off, unsigned size);
void pci_cfg_write(struct pci_device *d, unsigned off, unsigned size, uint32_t val);

#endif
