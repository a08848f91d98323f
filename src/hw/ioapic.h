/* 82093AA-style I/O APIC at BOARD_IOAPIC_BASE: 24 pins, IOREGSEL/IOWIN and
 * the version-0x20 EOI register.  A redirection entry is delivered as the
 * MSI it is architecturally equivalent to (destination in address bits
 * 19:12, destination mode in bit 2; vector, delivery mode and trigger mode
 * in data) through the output callback; the emu engine routes MSIs to its
 * local APICs and calls ioapic_eoi() when a level-triggered vector is
 * EOIed. */
#ifndef SYMBIONT_HW_IOAPIC_H
#define SYMBIONT_HW_IOAPIC_H

#include <stdint.h>

#define IOAPIC_PINS 24

struct vm;
struct ioapic;
struct device_ops;

extern const struct device_ops ioapic_device_ops;

struct ioapic *ioapic_create(struct vm *vm, uint64_t base);
void ioapic_destroy(struct ioapic *io);
void ioapic_set_output(struct ioapic *io, void (*msi)(void *ctx, uint64_t addr, uint32_t data), void *ctx);
/* Sends an MSI through the output callback (the board routes PCI MSIs of
 * the emu engine here too).  Dropped if no callback is set. */
void ioapic_send_msi(struct ioapic *io, uint64_t addr, uint32_t data);
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* A local APIC EOI for vector: clears remote IRR of the level-triggered
 * entries with that vector and redelivers those whose line is still high. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

#endif
