/* The machine's layout: every fixed guest-physical address and I/O port the
 * VMM chooses, in one place, so a reader sees the whole map at once and two
 * users of one address cannot drift apart (the loaders, the board, the ACPI
 * tables, the e820 map and the KVM engine all read it from here).
 *
 * Guest-physical memory:
 *   0x0000_1000  GDT the loaders set up
 *   0x0000_2000  multiboot information, module list, memory map, strings
 *   0x0000_7000  Linux boot_params (zero page)
 *   0x0000_9000  Linux identity page tables: PML4, PDPT, 4 PDs (to 0xf000)
 *   0x0002_0000  kernel command line (to 0x9f000)
 *   0x0009_fc00  EBDA: start of the e820-reserved legacy area
 *   0x000e_0000  ACPI RSDP and tables (to 1 MiB)
 *   0x0010_0000  1 MiB: kernels and initrds, then RAM up to the hole
 *   0xc000_0000  3 GiB: the 32-bit MMIO hole, RAM resumes at 4 GiB
 *   0xd000_0000  PCI memory BARs (240 MiB)
 *   0xfec0_0000  IOAPIC
 *   0xfee0_0000  local APICs (APIC_BASE_DEFAULT, x86.h)
 *   0xfffb_c000  KVM's identity-map page and TSS (3 pages), below the BIOS
 *
 * The low-memory loader areas all lie below the EBDA, so a kernel, which
 * must sit at or above 1 MiB, can never overlap them.  Architectural ISA
 * ports (PIC, PIT, RTC, i8042, PCI config) stay with their device: they are
 * what the device is, not a choice of this machine. */
#ifndef SYMBIONT_LAYOUT_H
#define SYMBIONT_LAYOUT_H

#include "symbiont/x86.h"

/* RAM and the hole. */
#define MEM_HOLE_START 0xC0000000ULL /* 3 GiB: start of the 32-bit MMIO hole */
#define MEM_4G         0x100000000ULL

/* Low memory, written by the loaders. */
#define BOOT_GDT         0x1000ULL
#define BOOT_MBI         0x2000ULL
#define BOOT_ZERO_PAGE   0x7000ULL
#define BOOT_PML4        0x9000ULL
#define BOOT_CMDLINE     0x20000ULL
#define BOOT_CMDLINE_MAX (0x9f000ULL - BOOT_CMDLINE)
#define BOOT_EBDA        0x9fc00ULL  /* start of the e820-reserved legacy area */
#define BOOT_HIGH        0x100000ULL /* 1 MiB: kernels and initrds live above */

/* The board. */
#define BOARD_ACPI_BASE     0xE0000ULL    /* RSDP and tables: 0xE0000..0xFFFFF, e820-reserved */
#define ACPI_TABLES_SIZE    0x20000       /* BOARD_ACPI_BASE .. 1 MiB */
#define BOARD_PCI_MMIO_BASE 0xD0000000ULL /* BARs are placed here */
#define BOARD_PCI_MMIO_SIZE 0x0F000000ULL
#define BOARD_IOAPIC_BASE   0xFEC00000ULL
#define BOARD_LAPIC_BASE    APIC_BASE_DEFAULT

/* Three pages for the VMX real-mode TSS and one for the identity-mapped
 * page table KVM needs on CPUs without unrestricted guest; both sit in the
 * MMIO hole just below the 4 GiB boundary where nothing else lives. */
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define KVM_TSS_ADDR          0xfffbd000ULL

/* I/O ports this machine chooses. */
#define BOARD_DEBUG_EXIT_PORT 0xf4
#define BOARD_COM1_PORT       0x3f8
#define ACPI_PM1A_EVT         0x600
#define ACPI_PM1A_CNT         0x604
#define ACPI_PM_TMR           0x608
#define PCI_IO_BASE           0xc000 /* PCI I/O BARs: 0xc000..0xffff */
#define PCI_IO_END            0x10000

#endif
