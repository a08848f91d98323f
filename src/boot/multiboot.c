/* Multiboot v1 (the Multiboot Specification 0.6.96).  The kernel carries a
 * header in its first 8 KiB; it is loaded either by the header's address
 * fields (the "a.out kludge", flags bit 16) or as an ELF file, and entered in
 * flat 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX
 * pointing at the multiboot information structure.  The initrd, if any, is
 * module 0.
 *
 * Flags bits 0-15 are requirements a loader must refuse when it cannot meet
 * them.  Bit 0 (page-aligned modules) and bit 1 (memory information) are
 * always met; bit 2 (a video mode) is refused because the board has no
 * framebuffer to describe, as is any other bit in 3-15, which the spec leaves
 * undefined. */
#include <inttypes.h>

#include "boot/boot_int.h"

#define MB_MAGIC            0x1BADB002u
#define MB_BOOT_MAGIC       0x2BADB002u
#define MB_SEARCH           8192
#define MB_F_VIDEO          (1u << 2)
#define MB_F_AOUT           (1u << 16)
#define MB_REQUIRED_UNKNOWN 0xfff8u /* bits 3-15 */

/* Multiboot information flags. */
#define MBI_MEM         (1u << 0)
#define MBI_CMDLINE     (1u << 2)
#define MBI_MODS        (1u << 3)
#define MBI_MMAP        (1u << 6)
#define MBI_LOADER_NAME (1u << 9)

/* Where the information lives: one page at BOOT_MBI (see boot_int.h). */
#define MBI_SIZE      116
#define MBI_MODS_AT   (BOOT_MBI + 0x80)
#define MBI_MMAP_AT   (BOOT_MBI + 0x100)
#define MBI_NAME_AT   (BOOT_MBI + 0x400)
#define MBI_MODSTR_AT (BOOT_MBI + 0x440)

long multiboot_find(const uint8_t *k, size_t klen)
{
	size_t lim = klen < MB_SEARCH ? klen : MB_SEARCH;

	for (size_t off = 0; off + 12 <= lim; off += 4)
		if (le32(k + off) == MB_MAGIC && (uint32_t)(le32(k + off) + le32(k + off + 4) + le32(k + off + 8)) == 0)
			return (long)off;
	return -1;
}

/* The a.out kludge: the header says where the file goes. */
static int load_aout(struct guest_mem *m, const uint8_t *k, size_t klen, size_t off, struct elf_image *img, char *err,
                     size_t errlen)
{
	uint64_t header_addr, load_addr, load_end, bss_end, entry, file_off;

	if (off + 32 > klen)
		return boot_err(err, errlen, "kernel: multiboot header is truncated");
	header_addr = le32(k + off + 12);
	load_addr = le32(k + off + 16);
	load_end = le32(k + off + 20);
	bss_end = le32(k + off + 24);
	entry = le32(k + off + 28);
	if (load_addr > header_addr || header_addr - load_addr > off)
		return boot_err(err, errlen,
		                "kernel: multiboot load_addr 0x%" PRIx64 " does not fit header_addr 0x%" PRIx64
		                " at file offset 0x%zx",
		                load_addr, header_addr, off);
	file_off = off - (header_addr - load_addr);
	if (load_end == 0)
		load_end = load_addr + (klen - file_off);
	else if (load_end < load_addr || load_end - load_addr > klen - file_off)
		return boot_err(err, errlen, "kernel: multiboot load_end_addr 0x%" PRIx64 " lies outside the file",
		                load_end);
	if (bss_end == 0)
		bss_end = load_end;
	else if (bss_end < load_end)
		return boot_err(err, errlen, "kernel: multiboot bss_end_addr 0x%" PRIx64 " is below load_end_addr",
		                bss_end);
	if (bss_end == load_addr)
		return boot_err(err, errlen, "kernel: multiboot header describes an empty image");
	if (boot_check_kernel_range(m, load_addr, bss_end, BOOT_MB_LOW, "multiboot image", err, errlen))
		return -1;
	if (entry < load_addr || entry >= bss_end)
		return boot_err(err, errlen, "kernel: multiboot entry 0x%" PRIx64 " is outside the image", entry);
	uint8_t *dst = gpa_to_host(m, load_addr, bss_end - load_addr);
	memcpy(dst, k + file_off, load_end - load_addr);
	memset(dst + (load_end - load_addr), 0, bss_end - load_end);
	*img = (struct elf_image){ .bits = 32, .entry = entry, .start = load_addr, .end = bss_end, .nload = 1 };
	return 0;
}

int multiboot_load(struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
                   const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen)
{
	long off = multiboot_find(k, klen);
	uint8_t mbi[MBI_SIZE] = { 0 };
	struct boot_e820 e820[BOOT_E820_MAX];
	struct elf_image img;
	const char *cmdline = bi->cmdline ? bi->cmdline : "";
	size_t cmdlen = strlen(cmdline);
	uint64_t mod_addr = 0;
	uint32_t flags;
	int n;

	if (off < 0)
		return boot_err(err, errlen, "kernel: no multiboot header");
	if (m->low_size < BOOT_HIGH)
		return boot_err(err, errlen, "kernel: guest memory is too small");
	flags = le32(k + off + 4);
	if (flags & MB_F_VIDEO)
		return boot_err(err, errlen,
		                "kernel: multiboot kernel requires a video mode (flags bit 2), but "
		                "symbiont has no framebuffer");
	if (flags & MB_REQUIRED_UNKNOWN)
		return boot_err(err, errlen, "kernel: multiboot kernel requires unsupported features (flags 0x%x)",
		                flags & MB_REQUIRED_UNKNOWN);
	if (cmdlen >= BOOT_CMDLINE_MAX)
		return boot_err(err, errlen, "kernel: command line (%zu bytes) is too long", cmdlen);
	if (flags & MB_F_AOUT) {
		if (load_aout(m, k, klen, off, &img, err, errlen))
			return -1;
	} else {
		if (!elf_bits(k, klen))
			return boot_err(err, errlen,
			                "kernel: multiboot kernel is not ELF and has no address fields "
			                "(flags bit 16)");
		if (elf_load(m, k, klen, 0, BOOT_MB_LOW, &img, err, errlen))
			return -1;
	}
	if (img.end > MEM_4G || img.entry >= MEM_4G)
		return boot_err(err, errlen, "kernel: multiboot kernel must lie below 4 GiB");
	/* The command line goes at BOOT_CMDLINE unless a kernel below 1 MiB is
	 * there: then just above the kernel, or below it. */
	uint64_t cmdline_at = BOOT_CMDLINE;
	if (img.start < BOOT_CMDLINE + cmdlen + 1 && BOOT_CMDLINE < img.end) {
		uint64_t above = (img.end + 15) & ~15ULL;
		if (above + cmdlen + 1 <= BOOT_EBDA)
			cmdline_at = above;
		else if (img.start >= BOOT_MB_LOW + cmdlen + 1)
			cmdline_at = BOOT_MB_LOW;
		else
			return boot_err(err, errlen, "kernel: no room for the %zu-byte command line beside the kernel",
			                cmdlen);
	}

	if (ilen) {
		mod_addr = boot_place_high(m, ilen, m->low_size, img.start, img.end);
		if (!mod_addr)
			return boot_err(err, errlen, "initrd (%zu bytes) does not fit in guest memory below 0x%" PRIx64,
			                ilen, m->low_size);
		memcpy(gpa_to_host(m, mod_addr, ilen), initrd, ilen);
		uint8_t mod[16] = { 0 };
		put32(mod, (uint32_t)mod_addr);
		put32(mod + 4, (uint32_t)(mod_addr + ilen));
		put32(mod + 8, (uint32_t)MBI_MODSTR_AT);
		gpa_write(m, MBI_MODS_AT, mod, sizeof(mod));
		gpa_write(m, MBI_MODSTR_AT, "initrd", 7);
	}

	/* The memory map: entries of a u32 size (not counting itself) and
	 * base, length, type. */
	n = boot_e820(m, e820, BOOT_E820_MAX);
	for (int i = 0; i < n; i++) {
		uint8_t e[24];
		put32(e, 20);
		put64(e + 4, e820[i].addr);
		put64(e + 12, e820[i].size);
		put32(e + 20, e820[i].type);
		gpa_write(m, MBI_MMAP_AT + 24 * i, e, sizeof(e));
	}
	flags = MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME;
	put32(mbi + 0, flags);
	put32(mbi + 4, (uint32_t)(BOOT_EBDA >> 10));
	put32(mbi + 8, (uint32_t)((m->low_size - BOOT_HIGH) >> 10));
	put32(mbi + 16, (uint32_t)cmdline_at);
	put32(mbi + 20, ilen ? 1 : 0);
	put32(mbi + 24, (uint32_t)MBI_MODS_AT);
	put32(mbi + 44, 24 * n);
	put32(mbi + 48, (uint32_t)MBI_MMAP_AT);
	put32(mbi + 64, (uint32_t)MBI_NAME_AT);
	gpa_write(m, BOOT_MBI, mbi, sizeof(mbi));
	gpa_write(m, MBI_NAME_AT, "symbiont", 9);
	gpa_write(m, cmdline_at, cmdline, cmdlen + 1);

	/* A GDT matching x86_state_flat32's selectors, so a kernel that reloads
	 * a segment register before its own lgdt still gets flat segments. */
	uint64_t gdt[3] = { 0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL };
	gpa_write(m, BOOT_GDT, gdt, sizeof(gdt));

	x86_state_flat32(bsp);
	bsp->gdt = (struct x86_dtable){ BOOT_GDT, sizeof(gdt) - 1 };
	bsp->rip = img.entry;
	bsp->gpr[X86_RAX] = MB_BOOT_MAGIC;
	bsp->gpr[X86_RBX] = BOOT_MBI;
	return 0;
}
