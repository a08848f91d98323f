/* The PC board: creates the devices and wires them to the buses and IRQ
 * lines.
 *
 * Interrupt wiring.  With the emu engine (no in-kernel irqchip) the board's
 * 8259A pair and IOAPIC are the irqchip: board_irqchip sends GSI n < 16 to
 * PIC input n and every GSI to IOAPIC pin n, which is also KVM's default
 * routing, so the ACPI tables describe both engines alike: ISA IRQ n =
 * GSI n (the PIT on pin 0, no IRQ0→2 override), SCI on GSI 9, PCI INTx on
 * GSIs 16-19 (pci_slot_gsi). */
#include <stdio.h>
#include <stdlib.h>

#include "hw/acpi.h"
#include "hw/board.h"
#include "hw/debugexit.h"
#include "hw/i8042.h"
#include "hw/ioapic.h"
#include "hw/pci.h"
#include "hw/pic.h"
#include "hw/pit.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "host/chardev.h"

static void board_set_irq(void *chip, unsigned gsi, int level)
{
	struct board *b = chip;
	if (gsi < 16)
		pic_set_irq(b->pic, gsi, level);
	ioapic_set_irq(b->ioapic, gsi, level);
}

/* MSIs from PCI devices go where the IOAPIC's messages go: its output. */
static void board_msi(void *chip, uint64_t addr, uint32_t data)
{
	struct board *b = chip;
	ioapic_send_msi(b->ioapic, addr, data);
}

/* INTA and EOI from the engine's local APICs. */
static int board_ack(void *chip)
{
	struct board *b = chip;
	return pic_ack(b->pic);
}

static void board_eoi(void *chip, uint8_t vector)
{
	struct board *b = chip;
	ioapic_eoi(b->ioapic, vector);
}

static const struct irqchip_ops board_irqchip = {
	.set_irq = board_set_irq,
	.msi = board_msi,
	.ack = board_ack,
	.eoi = board_eoi,
};

/* The chips' outputs towards the CPUs. */
static void pic_intr(void *ctx, int level)
{
	vm_cpu_extint(ctx, level);
}

static void ioapic_msi(void *ctx, uint64_t addr, uint32_t data)
{
	vm_cpu_msi(ctx, addr, data);
}

#define CREATE(field, expr, what)                                                                              \
	do {                                                                                                   \
		if (!(b->field = (expr))) {                                                                    \
			snprintf(err, errlen, "board: cannot create the %s (port or address conflict)", what); \
			goto fail;                                                                             \
		}                                                                                              \
	} while (0)

static void press_power_button(void *ctx)
{
	acpi_pm_power_button(ctx);
}

struct board *board_init(struct vm *vm, bool irqchip, char *err, size_t errlen)
{
	struct board *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->vm = vm;
	if (irqchip) {
		CREATE(pic, pic_create(vm), "8259A PIC");
		CREATE(ioapic, ioapic_create(vm, BOARD_IOAPIC_BASE), "IOAPIC");
		pic_set_output(b->pic, pic_intr, vm);
		ioapic_set_output(b->ioapic, ioapic_msi, vm);
		vm->irqchip = &board_irqchip;
		vm->irqchip_ctx = b;
	}
	CREATE(pit, pit_create(vm, 0), "PIT");
	CREATE(rtc, rtc_create(vm, 8), "RTC");
	b->console = chardev_create(vm, vm->cfg.serial ? vm->cfg.serial : "stdio", err, errlen);
	if (!b->console)
		goto fail;
	CREATE(com1, uart_create(vm, BOARD_COM1_PORT, BOARD_COM1_IRQ, b->console), "COM1 UART");
	CREATE(i8042, i8042_create(vm, 1, 12), "i8042");
	CREATE(debugexit, debugexit_create(vm, BOARD_DEBUG_EXIT_PORT), "debug exit port");
	CREATE(pci, pci_host_create(vm), "PCI host bridge");
	CREATE(acpi_pm, acpi_pm_create(vm), "ACPI PM registers");
	vm->power_button = press_power_button;
	vm->power_button_ctx = b->acpi_pm;
	b->acpi_rsdp = acpi_build_tables(vm, vm->ncpus > 0 ? vm->ncpus : 1, err, errlen);
	if (!b->acpi_rsdp)
		goto fail;
	return b;
fail:
	board_destroy(b);
	return NULL;
}

void board_destroy(struct board *b)
{
	struct vm *vm;
	if (!b)
		return;
	vm = b->vm;
	acpi_pm_destroy(b->acpi_pm);
	pci_host_destroy(b->pci);
	debugexit_destroy(b->debugexit);
	i8042_destroy(b->i8042);
	uart_destroy(b->com1);
	chardev_destroy(b->console);
	rtc_destroy(b->rtc);
	pit_destroy(b->pit);
	if (vm->irqchip == &board_irqchip) {
		vm->irqchip = NULL;
		vm->irqchip_ctx = NULL;
	}
	ioapic_destroy(b->ioapic);
	pic_destroy(b->pic);
	free(b);
}
