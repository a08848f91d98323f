/* Loader entry points: read the files, recognise the kernel format and hand
 * it to the loader for its boot protocol, plus the helpers they share. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot_int.h"

#define KERNEL_FILE_MAX (1ULL << 30)

int boot_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int boot_check_kernel_range(const struct guest_mem *m, uint64_t start, uint64_t end, uint64_t low, const char *what,
                            char *err, size_t errlen)
{
	bool conventional = low && start >= low && end <= BOOT_EBDA;
	if (end < start || (start < BOOT_HIGH && !conventional) || !gpa_to_host(m, start, end - start)) {
		if (low)
			return boot_err(err, errlen,
			                "kernel: %s [0x%" PRIx64 ", 0x%" PRIx64
			                ") is not in guest RAM between 0x%" PRIx64 " and 0x%" PRIx64
			                " or above 1 MiB (guest has %" PRIu64 " MiB)",
			                what, start, end, low, (uint64_t)BOOT_EBDA, m->size >> 20);
		return boot_err(err, errlen,
		                "kernel: %s [0x%" PRIx64 ", 0x%" PRIx64
		                ") is not in guest RAM above 1 MiB (guest has %" PRIu64 " MiB)",
		                what, start, end, m->size >> 20);
	}
	return 0;
}

uint64_t boot_place_high(const struct guest_mem *m, uint64_t len, uint64_t limit, uint64_t kstart, uint64_t kend)
{
	uint64_t top = limit < m->low_size ? limit : m->low_size, addr;

	if (len == 0 || len > top)
		return 0;
	addr = (top - len) & ~0xfffULL;
	if (addr < kend && kstart < addr + len) { /* collides with the kernel: try below it */
		if (kstart < len)
			return 0;
		addr = (kstart - len) & ~0xfffULL;
	}
	if (addr < BOOT_HIGH || !gpa_to_host(m, addr, len))
		return 0;
	return addr;
}

int boot_load_image(struct guest_mem *mem, const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen,
                    const struct boot_info *bi, struct x86_state *bsp, char *err, size_t errlen)
{
	static const struct boot_info none;
	int bits;

	if (!bi)
		bi = &none;
	if (!kernel || klen == 0)
		return boot_err(err, errlen, "kernel: image is empty");
	if (ilen && !initrd)
		return boot_err(err, errlen, "initrd: no data");
	if (bzimage_probe(kernel, klen))
		return bzimage_load(mem, kernel, klen, initrd, ilen, bi, bsp, err, errlen);
	if (multiboot_find(kernel, klen) >= 0)
		return multiboot_load(mem, kernel, klen, initrd, ilen, bi, bsp, err, errlen);
	bits = elf_bits(kernel, klen);
	if (bits == 64)
		return linux_boot(mem, NULL, 0, kernel, klen, initrd, ilen, bi, bsp, err, errlen);
	if (bits == 32)
		return boot_err(err, errlen,
		                "kernel: 32-bit ELF without a multiboot header (symbiont boots bzImage, "
		                "64-bit vmlinux and multiboot kernels)");
	return boot_err(err, errlen, "kernel: unrecognised format (not a bzImage, ELF vmlinux or multiboot kernel)");
}

int boot_vmlinux(const uint8_t *kernel, size_t klen, uint8_t **elf, size_t *elflen, char *err, size_t errlen)
{
	*elf = NULL;
	*elflen = 0;
	if (!kernel || klen == 0)
		return boot_err(err, errlen, "kernel: image is empty");
	if (bzimage_probe(kernel, klen))
		return bzimage_vmlinux(kernel, klen, BOOT_MAX_DECOMPRESSED, elf, elflen, err, errlen);
	if (multiboot_find(kernel, klen) >= 0)
		return boot_err(err, errlen, "kernel: a multiboot kernel, not Linux");
	if (elf_bits(kernel, klen) != 64)
		return boot_err(err, errlen, "kernel: not a Linux bzImage or 64-bit vmlinux");
	*elf = malloc(klen);
	if (!*elf)
		return boot_err(err, errlen, "kernel: out of memory for %zu bytes", klen);
	memcpy(*elf, kernel, klen);
	*elflen = klen;
	return 0;
}

/* Reads a whole regular file into a malloc'd buffer. */
static int read_file(const char *what, const char *path, uint64_t max, uint8_t **out, size_t *outlen, char *err,
                     size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return boot_err(err, errlen, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return boot_err(err, errlen, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return boot_err(err, errlen, "%s %s: %s", what, path,
		                S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
	}
	if (st.st_size == 0) {
		close(fd);
		return boot_err(err, errlen, "%s %s: file is empty", what, path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return boot_err(err, errlen, "%s %s: %" PRIu64 " bytes is larger than the %" PRIu64 " MiB limit", what,
		                path, (uint64_t)st.st_size, max >> 20);
	}
	buf = malloc(st.st_size);
	if (!buf) {
		close(fd);
		return boot_err(err, errlen, "%s %s: out of memory for %" PRIu64 " bytes", what, path,
		                (uint64_t)st.st_size);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return boot_err(err, errlen, "%s %s: read failed: %s", what, path,
			                r < 0 ? strerror(e) : "file shrank while reading");
		}
		got += r;
	}
	close(fd);
	*out = buf;
	*outlen = got;
	return 0;
}

int boot_load_files(struct guest_mem *mem, const char *kernel, const char *initrd, const struct boot_info *bi,
                    struct x86_state *bsp, char *err, size_t errlen)
{
	uint8_t *k = NULL, *i = NULL;
	size_t klen = 0, ilen = 0;
	int r;

	if (!kernel)
		return boot_err(err, errlen, "kernel: no file given");
	if (read_file("kernel", kernel, KERNEL_FILE_MAX, &k, &klen, err, errlen))
		return -1;
	if (initrd && read_file("initrd", initrd, mem->size, &i, &ilen, err, errlen)) {
		free(k);
		return -1;
	}
	r = boot_load_image(mem, k, klen, i, ilen, bi, bsp, err, errlen);
	free(k);
	free(i);
	return r;
}

int boot_vmlinux_file(const char *kernel, uint8_t **elf, size_t *elflen, char *err, size_t errlen)
{
	uint8_t *k = NULL;
	size_t klen = 0;
	int r;

	*elf = NULL;
	*elflen = 0;
	if (!kernel)
		return boot_err(err, errlen, "kernel: no file given");
	if (read_file("kernel", kernel, KERNEL_FILE_MAX, &k, &klen, err, errlen))
		return -1;
	r = boot_vmlinux(k, klen, elf, elflen, err, errlen);
	free(k);
	return r;
}
