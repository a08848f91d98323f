/* The PC board: every device that is not virtio, created and wired by
 * board_init().  Devices see only the buses, guest memory and their IRQ
 * lines; the board is the one place that wires the machine's layout
 * (symbiont/layout.h) to devices. */
#ifndef SYMBIONT_BOARD_H
#define SYMBIONT_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/layout.h"
#include "symbiont/vm.h"

/* Addresses and ports: include/symbiont/layout.h. */
#define BOARD_COM1_IRQ 4

struct pic;
struct ioapic;
struct pit;
struct rtc;
struct uart;
struct i8042;
struct pci_host;
struct chardev;
struct debugexit;
struct acpi_pm;

struct board {
	struct vm *vm;
	struct pic *pic;       /* NULL when the engine has its own irqchip */
	struct ioapic *ioapic; /* likewise */
	struct pit *pit;
	struct rtc *rtc;
	struct uart *com1;
	struct chardev *console; /* COM1's host side */
	struct i8042 *i8042;
	struct pci_host *pci;
	uint64_t acpi_rsdp; /* guest-physical address of the RSDP */
	struct debugexit *debugexit;
	struct acpi_pm *acpi_pm;
};

/* Creates and wires the devices, writes the ACPI tables into guest memory.
 * irqchip: the board's PIC and IOAPIC models become vm->irqchip, their
 * outputs going to the CPUs through vm_cpu_extint()/vm_cpu_msi(); false
 * when the engine brought its own (KVM) and installed it already. */
struct board *board_init(struct vm *vm, bool irqchip, char *err, size_t errlen);
void board_destroy(struct board *b);

#endif
