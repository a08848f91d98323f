/* The Linux x86 64-bit boot protocol (Documentation/arch/x86/boot.rst,
 * "64-bit Boot Protocol") applied to an already decompressed vmlinux: the
 * ELF's segments go to their physical addresses, and the CPU starts at
 * startup_64 in long mode with an identity map, a GDT holding __BOOT_CS and
 * __BOOT_DS, interrupts off and RSI pointing at boot_params. */
#include <inttypes.h>
#include <stdio.h>

#include "boot/boot_int.h"

/* boot_params (the zero page) offsets we fill. */
#define BP_ACPI_RSDP         0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_ALT_MEM_K         0x1e0
#define BP_E820_ENTRIES      0x1e8
#define BP_HDR               0x1f1
#define BP_E820_TABLE        0x2d0
#define BP_E820_MAX          128
/* Setup header fields, at the same offsets in the image and the zero page. */
#define HDR_BOOT_FLAG        0x1fe
#define HDR_HEADER           0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_HARDWARE_SUBARCH 0x23c
#define HDR_SETUP_DATA       0x250
#define HDR_INIT_SIZE        0x260
#define HDR_END_MAX          0x290 /* edd_mbr_sig_buffer follows the header */

#define LOADED_HIGH   0x01
#define KASLR_FLAG    0x02
#define XLF_KERNEL_64 0x01

#define BOOT_CS 0x10
#define BOOT_DS 0x18

/* A header for a plain vmlinux, which has none: what boot.rst says a
 * 64-bit kernel of protocol 2.15 would carry, with the x86 kernel's
 * COMMAND_LINE_SIZE of 2048. */
static void default_header(uint8_t *bp, uint64_t extent)
{
	put16(bp + HDR_BOOT_FLAG, 0xaa55);
	memcpy(bp + HDR_HEADER, "HdrS", 4);
	put16(bp + HDR_VERSION, 0x020f);
	bp[HDR_LOADFLAGS] = LOADED_HIGH;
	put32(bp + HDR_INITRD_ADDR_MAX, 0x7fffffff);
	put32(bp + HDR_KERNEL_ALIGNMENT, 0x200000);
	put16(bp + HDR_XLOADFLAGS, XLF_KERNEL_64);
	put32(bp + HDR_CMDLINE_SIZE, 2047);
	put32(bp + HDR_INIT_SIZE, extent > UINT32_MAX ? UINT32_MAX : (uint32_t)extent);
}

/* Identity map of the first 4 GiB with 2 MiB pages: PML4, one PDPT, four
 * page directories. */
static void write_page_tables(struct guest_mem *m)
{
	uint64_t *pml4 = gpa_to_host(m, BOOT_PML4, 6 * 4096);

	memset(pml4, 0, 6 * 4096);
	uint64_t *pdpt = pml4 + 512, *pd = pdpt + 512;
	pml4[0] = (BOOT_PML4 + 0x1000) | 0x3; /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PML4 + 0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
}

static void seg64(struct x86_seg *s, uint16_t sel, uint8_t type, bool code)
{
	*s = (struct x86_seg){ .base = 0,
		               .limit = 0xffffffff,
		               .sel = sel,
		               .type = type,
		               .s = 1,
		               .present = 1,
		               .db = !code,
		               .l = code,
		               .g = 1 };
}

int linux_boot(struct guest_mem *m, const uint8_t *hdr, size_t hdrlen, const uint8_t *elf, size_t elflen,
               const uint8_t *initrd, size_t ilen, const struct boot_info *bi, struct x86_state *bsp, char *err,
               size_t errlen)
{
	uint8_t bp[4096] = { 0 };
	struct boot_e820 e820[BOOT_E820_MAX];
	struct elf_image img;
	const char *cmdline = bi->cmdline ? bi->cmdline : "";
	size_t cmdlen = strlen(cmdline);
	uint64_t kend, initrd_max, initrd_addr = 0;
	uint32_t cmdline_size;
	int n;

	if (m->low_size < BOOT_HIGH)
		return boot_err(err, errlen, "kernel: guest memory is too small");
	if (hdr) {
		if (hdrlen > HDR_END_MAX - BP_HDR)
			hdrlen = HDR_END_MAX - BP_HDR;
		memcpy(bp + BP_HDR, hdr, hdrlen);
	}
	cmdline_size = hdr ? le32(bp + HDR_CMDLINE_SIZE) : 2047;
	if (cmdlen > cmdline_size || cmdlen >= BOOT_CMDLINE_MAX)
		return boot_err(err, errlen, "kernel: command line (%zu bytes) is longer than the kernel's limit of %u",
		                cmdlen, cmdline_size);
	if (elf_load(m, elf, elflen, 64, 0, &img, err, errlen))
		return -1;
	if (img.end > MEM_4G)
		return boot_err(err, errlen, "kernel: vmlinux ends at 0x%" PRIx64 ", above the 4 GiB identity map",
		                img.end);
	if (!hdr)
		default_header(bp, img.end - img.start);

	/* The kernel owns init_size bytes from its load address (its brk and
	 * early page tables live there); keep the initrd out of that. */
	kend = img.start + le32(bp + HDR_INIT_SIZE);
	if (kend < img.end)
		kend = img.end;
	initrd_max = le32(bp + HDR_INITRD_ADDR_MAX);
	if (!initrd_max)
		initrd_max = 0x37ffffff; /* protocol < 2.03 default */
	if (ilen) {
		uint64_t limit = initrd_max + 1 < m->low_size ? initrd_max + 1 : m->low_size;
		initrd_addr = boot_place_high(m, ilen, limit, img.start, kend);
		if (!initrd_addr)
			return boot_err(err, errlen, "initrd (%zu bytes) does not fit in guest memory below 0x%" PRIx64,
			                ilen, limit);
		memcpy(gpa_to_host(m, initrd_addr, ilen), initrd, ilen);
	}

	bp[HDR_TYPE_OF_LOADER] = 0xff; /* undefined loader */
	/* What the image's header may carry but only a loader may claim: no
	 * setup_data chain, a plain PC, and no KASLR (the decompressor that
	 * would have randomised the kernel does not run). */
	put64(bp + HDR_SETUP_DATA, 0);
	put32(bp + HDR_HARDWARE_SUBARCH, 0);
	bp[HDR_LOADFLAGS] &= ~KASLR_FLAG;
	put32(bp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE);
	put32(bp + BP_EXT_CMD_LINE_PTR, 0);
	put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	put32(bp + HDR_RAMDISK_SIZE, (uint32_t)ilen);
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)ilen >> 32));
	put64(bp + BP_ACPI_RSDP, bi->acpi_rsdp);
	put32(bp + BP_ALT_MEM_K, (uint32_t)((m->low_size - BOOT_HIGH) >> 10));
	n = boot_e820(m, e820, BOOT_E820_MAX);
	bp[BP_E820_ENTRIES] = n;
	for (int i = 0; i < n && i < BP_E820_MAX; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;
		put64(e, e820[i].addr);
		put64(e + 8, e820[i].size);
		put32(e + 16, e820[i].type);
	}

	/* Everything below lies in low RAM below the EBDA, which the kernel
	 * range check above keeps free of the kernel. */
	gpa_write(m, BOOT_ZERO_PAGE, bp, sizeof(bp));
	gpa_write(m, BOOT_CMDLINE, cmdline, cmdlen + 1);
	uint64_t gdt[4] = {
		0, 0x00cf9b000000ffffULL, /* 0x08: flat 32-bit code, for completeness */
		0x00af9b000000ffffULL,    /* 0x10: __BOOT_CS, 64-bit code */
		0x00cf93000000ffffULL,    /* 0x18: __BOOT_DS, flat data */
	};
	gpa_write(m, BOOT_GDT, gdt, sizeof(gdt));
	write_page_tables(m);

	x86_state_reset(bsp);
	seg64(&bsp->seg[SEG_CS], BOOT_CS, 0xb, true);
	for (int i = 0; i < SEG_COUNT; i++)
		if (i != SEG_CS)
			seg64(&bsp->seg[i], BOOT_DS, 0x3, false);
	bsp->gdt = (struct x86_dtable){ BOOT_GDT, sizeof(gdt) - 1 };
	bsp->idt = (struct x86_dtable){ 0, 0 };
	bsp->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	bsp->cr3 = BOOT_PML4;
	bsp->cr4 = CR4_PAE;
	bsp->efer = EFER_LME | EFER_LMA;
	bsp->rflags = RFLAGS_FIXED; /* IF clear */
	bsp->rip = img.entry;
	for (int i = 0; i < 16; i++)
		bsp->gpr[i] = 0;
	bsp->gpr[X86_RSI] = BOOT_ZERO_PAGE;
	bsp->gpr[X86_RSP] = BOOT_ZERO_PAGE; /* startup_64 sets its own; this one grows into free low memory */
	return 0;
}
