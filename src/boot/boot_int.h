/* Private interface between the loader files in src/boot/.  The
 * low-memory plan the protocols share (BOOT_*) is in symbiont/layout.h. */
#ifndef SYMBIONT_BOOT_INT_H
#define SYMBIONT_BOOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot/boot.h"
#include "symbiont/layout.h"

#define BOOT_MAX_DECOMPRESSED (512ULL << 20)

/* Formats "kernel: ..." style messages; always returns -1. */
int boot_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline uint16_t le16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static inline uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* True if [off, off+len) lies within a buffer of size total, without overflow. */
static inline bool in_buf(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

/* e820 map of the guest_mem layout. */
#define E820_RAM      1
#define E820_RESERVED 2
#define BOOT_E820_MAX 8
struct boot_e820 {
	uint64_t addr, size;
	uint32_t type;
};
int boot_e820(const struct guest_mem *m, struct boot_e820 *e, int max);

/* ELF: loads every PT_LOAD segment at p_paddr after checking them all (so a
 * refused file leaves guest memory untouched).  bits is 32, 64 or 0 (any);
 * machine is EM_386/EM_X86_64 or 0 (either). */
struct elf_image {
	int bits;
	uint64_t entry;      /* physical entry point */
	uint64_t start, end; /* physical extent of the loaded segments */
	int nload;
};
int elf_bits(const uint8_t *buf, size_t len); /* 32, 64, or 0 if not ELF */
int elf_load(struct guest_mem *m, const uint8_t *buf, size_t len, int bits, uint64_t low, struct elf_image *img,
             char *err, size_t errlen);

/* Checks that [start, end) is guest RAM at or above 1 MiB, or (low nonzero)
 * in conventional memory [low, BOOT_EBDA): multiboot kernels may load
 * there (real-mode test programs do), above the loader's own pages. */
int boot_check_kernel_range(const struct guest_mem *m, uint64_t start, uint64_t end, uint64_t low, const char *what,
                            char *err, size_t errlen);
/* The lowest address a multiboot kernel may use: above the boot GDT and the
 * multiboot information page the loader writes. */
#define BOOT_MB_LOW (BOOT_MBI + 0x1000)

/* Picks the highest page-aligned address for len bytes in [BOOT_HIGH, limit)
 * that is RAM and does not overlap [kstart, kend).  0 if none. */
uint64_t boot_place_high(const struct guest_mem *m, uint64_t len, uint64_t limit, uint64_t kstart, uint64_t kend);

/* Payload decompression: recognises the format by its magic and inflates into
 * a malloc'd buffer of at most max bytes.  The caller frees *out. */
int boot_decompress(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* The Linux 64-bit boot protocol for a vmlinux ELF.  hdr is the setup header
 * of the bzImage it came from (bytes from 0x1f1, hdrlen of them), or NULL for
 * a plain vmlinux. */
int linux_boot(struct guest_mem *m, const uint8_t *hdr, size_t hdrlen, const uint8_t *elf, size_t elflen,
               const uint8_t *initrd, size_t ilen, const struct boot_info *bi, struct x86_state *bsp, char *err,
               size_t errlen);
int bzimage_probe(const uint8_t *k, size_t klen);
int bzimage_load(struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
                 const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen);
/* The bzImage's payload inflated on the host: a malloc'd ELF64 vmlinux of at
 * most max bytes. */
int bzimage_vmlinux(const uint8_t *k, size_t klen, size_t max, uint8_t **elf, size_t *elflen, char *err, size_t errlen);
/* Offset of the multiboot v1 header, or -1. */
long multiboot_find(const uint8_t *k, size_t klen);
int multiboot_load(struct guest_mem *m, const uint8_t *k, size_t klen, const uint8_t *initrd, size_t ilen,
                   const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen);

#endif
