/* bzImage: the Linux x86 boot image (Documentation/arch/x86/boot.rst).
 * Instead of running the kernel's real-mode setup and its decompressor in
 * the guest, the loader reads the setup header, inflates the payload (the
 * vmlinux ELF) on the host and hands it to the 64-bit boot protocol in
 * linux.c, with the image's setup header as the boot_params header. */
#include <inttypes.h>
#include <stdlib.h>

#include "boot/boot_int.h"

#define HDR_SETUP_SECTS    0x1f1
#define HDR_BOOT_FLAG      0x1fe
#define HDR_JUMP           0x200
#define HDR_HEADER         0x202
#define HDR_VERSION        0x206
#define HDR_LOADFLAGS      0x211
#define HDR_XLOADFLAGS     0x236
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_INIT_SIZE      0x260
#define HDR_MIN_END        0x264 /* through init_size: what protocol 2.12 has */

#define LOADED_HIGH   0x01
#define XLF_KERNEL_64 0x01

int bzimage_probe(const uint8_t *k, size_t klen)
{
	return klen >= HDR_HEADER + 4 && le16(k + HDR_BOOT_FLAG) == 0xaa55 && !memcmp(k + HDR_HEADER, "HdrS", 4);
}

/* Checks the setup header and finds the compressed payload: its offset and
 * length in the file, and where the setup header ends. */
static int bzimage_payload(const uint8_t *k, size_t klen, uint64_t *payload_off, uint64_t *payload_len,
                           uint64_t *header_end, char *err, size_t errlen)
{
	uint64_t hdr_end, pm_off, poff, plen;
	uint16_t version;

	if (klen < HDR_MIN_END)
		return boot_err(err, errlen, "kernel: bzImage is truncated (%zu bytes)", klen);
	version = le16(k + HDR_VERSION);
	if (version < 0x020c)
		return boot_err(err, errlen, "kernel: bzImage boot protocol %u.%02u is too old (2.12 or newer needed)",
		                version >> 8, version & 0xff);
	/* The header ends where the jump at 0x200 lands. */
	hdr_end = HDR_JUMP + 2 + (uint64_t)k[HDR_JUMP + 1];
	if (hdr_end < HDR_MIN_END || hdr_end > klen)
		return boot_err(err, errlen, "kernel: bzImage setup header ends at 0x%" PRIx64 ", outside 0x%x..0x%zx",
		                hdr_end, HDR_MIN_END, klen);
	if (!(k[HDR_LOADFLAGS] & LOADED_HIGH))
		return boot_err(err, errlen, "kernel: zImage (loaded low) kernels are not supported");
	if (!(le16(k + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return boot_err(err, errlen, "kernel: bzImage is not a 64-bit kernel (xloadflags lacks XLF_KERNEL_64)");

	/* The protected-mode code follows the setup sectors (0 means 4);
	 * payload_offset counts from there. */
	pm_off = ((uint64_t)(k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4) + 1) * 512;
	poff = le32(k + HDR_PAYLOAD_OFFSET);
	plen = le32(k + HDR_PAYLOAD_LENGTH);
	if (pm_off > klen)
		return boot_err(err, errlen, "kernel: bzImage setup code (%" PRIu64 " bytes) is longer than the file",
		                pm_off);
	if (plen == 0 || !in_buf(pm_off + poff, plen, klen))
		return boot_err(err, errlen,
		                "kernel: bzImage payload [0x%" PRIx64 ", +0x%" PRIx64
		                ") lies outside the file (%zu bytes)",
		                pm_off + poff, plen, klen);
	*payload_off = pm_off + poff;
	*payload_len = plen;
	*header_end = hdr_end;
	return 0;
}

/* Inflates the payload into a malloc'd vmlinux ELF64 of at most max bytes. */
static int inflate_vmlinux(const uint8_t *payload, size_t plen, size_t max, uint8_t **elf, size_t *elflen, char *err,
                           size_t errlen)
{
	if (boot_decompress(payload, plen, max, elf, elflen, err, errlen))
		return -1;
	if (elf_bits(*elf, *elflen) != 64) {
		free(*elf);
		*elf = NULL;
		*elflen = 0;
		return boot_err(err, errlen, "kernel: decompressed bzImage payload is not an ELF64 vmlinux");
	}
	return 0;
}

int bzimage_vmlinux(const uint8_t *k, size_t klen, size_t max, uint8_t **elf, size_t *elflen, char *err, size_t errlen)
{
	uint64_t poff, plen, hdr_end;

	*elf = NULL;
	*elflen = 0;
	if (bzimage_payload(k, klen, &poff, &plen, &hdr_end, err, errlen))
		return -1;
	return inflate_vmlinux(k + poff, plen, max, elf, elflen, err, errlen);
}

int bzimage_load(struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
                 const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen)
{
	uint64_t poff, plen, hdr_end, max;
	uint8_t *elf;
	size_t elflen;
	int r;

	if (bzimage_payload(k, klen, &poff, &plen, &hdr_end, err, errlen))
		return -1;
	/* The vmlinux must fit in guest RAM, so a payload that inflates past
	 * that (plus slack for the appended relocations) is refused early. */
	max = m->size + (16ULL << 20);
	if (max > BOOT_MAX_DECOMPRESSED)
		max = BOOT_MAX_DECOMPRESSED;
	if (inflate_vmlinux(k + poff, plen, max, &elf, &elflen, err, errlen))
		return -1;
	r = linux_boot(m, k + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS, elf, elflen, initrd, ilen, bi, bsp, err,
	               errlen);
	free(elf);
	return r;
}
