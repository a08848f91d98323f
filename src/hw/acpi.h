/* ACPI: tables in guest memory and the fixed-hardware PM registers.
 *
 * Tables (at BOARD_ACPI_BASE): RSDP rev 2 → XSDT/RSDT → FADT (rev 6, full
 * hardware model: PM1a event/control, 32-bit PM timer, reset register at
 * 0xCF9) → FACS, DSDT; MADT.  The DSDT is generated AML: \_SB.PCI0 (a
 * PNP0A03 host bridge with _CRS windows and a _PRT that matches
 * pci_slot_gsi()), \_SB.COM1 and \_S5.
 *
 * PM registers (I/O ports): PM1a_EVT 0x600 (status, enable), PM1a_CNT
 * 0x604, PM_TMR 0x608 (3.579545 MHz).  Writing PM1a_CNT with SLP_EN and
 * SLP_TYP = ACPI_S5_SLP_TYP powers the VM off (exit status 0).  The power
 * button is a fixed feature (PM1 PWRBTN_STS/EN) raising the SCI, IRQ 9. */
#ifndef SYMBIONT_HW_ACPI_H
#define SYMBIONT_HW_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "symbiont/layout.h"

#define ACPI_SCI_IRQ     9
#define ACPI_S5_SLP_TYP  5
#define ACPI_PM_TIMER_HZ 3579545ULL

struct vm;
struct acpi_pm;
struct device_ops;

extern const struct device_ops acpi_pm_device_ops;

/* Writes the tables for ncpus vCPUs into guest memory; returns the RSDP's
 * guest-physical address, or 0 with a reason in err. */
uint64_t acpi_build_tables(struct vm *vm, int ncpus, char *err, size_t errlen);

struct acpi_pm *acpi_pm_create(struct vm *vm);
/* A press of the power button: PWRBTN_STS, and the SCI if the guest
 * enabled it (io_lock held). */
void acpi_pm_power_button(struct acpi_pm *pm);
void acpi_pm_destroy(struct acpi_pm *pm);

#endif
