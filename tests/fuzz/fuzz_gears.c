/* libFuzzer target: the GEARS decoder, formatter and envp rewrite
 * (src/services/gears/) on process memory and arguments a hostile guest
 * controls.  The input is a header and a memory image:
 *
 *   bytes 0-1    syscall number (mod 512)
 *   bytes 2-49   six arguments; an argument whose top byte is 0xAA points
 *                into the memory image at its low 16 bits, any other is used
 *                as it is (wild, NULL, kernel addresses)
 *   byte 50      return value selector: -errno, a byte count, or a pointer
 *   bytes 51-54  one bit per page: mapped; bytes 55-58: writable
 *   bytes 59-60  the stack pointer's offset into the image (for the rewrite)
 *   the rest     the memory image (at most 32 pages at MEM_BASE)
 *
 * The trap-call buffers of exec/push/pull (trapio.c) get args[2] and
 * args[3] as their buffer and length.
 *
 * Every call must return, with a NUL-terminated line within its buffer,
 * reading and writing nothing outside the image's mapped (and, to write,
 * writable) pages. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/decode.h"
#include "services/gears/envp.h"
#include "services/gears/rules.h"
#include "services/gears/trapio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_BASE 0x7ffd00000000ULL
#define PAGES    32
#define HEADER   61

struct image {
	uint8_t *bytes;
	size_t len;
	uint32_t mapped, writable;
};

static bool ok(const struct image *im, uint64_t va, size_t len, bool write)
{
	if (va < MEM_BASE || va - MEM_BASE > im->len || len > im->len - (va - MEM_BASE))
		return false;
	for (uint64_t p = (va - MEM_BASE) / 4096; len && p <= (va - MEM_BASE + len - 1) / 4096; p++)
		if (!(im->mapped >> p & 1) || (write && !(im->writable >> p & 1)))
			return false;
	return true;
}

static int img_read(void *ctx, uint64_t va, void *buf, size_t len)
{
	struct image *im = ctx;
	if (!ok(im, va, len, false))
		return -1;
	memcpy(buf, im->bytes + (va - MEM_BASE), len);
	return 0;
}

static int img_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
	struct image *im = ctx;
	if (len > 4096 || !ok(im, va, len, true))
		return -1;
	memcpy(im->bytes + (va - MEM_BASE), buf, len);
	return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image im;
	struct gears_mem m = { .read = img_read, .write = img_write, .ctx = &im };
	uint64_t args[6], nr, new_envp;
	int64_t ret;
	char line[GEARS_LINE_MAX], small[40], result[96], path[GEARS_PATH_MAX];
	static const char *const vars[] = { "LD_PRELOAD=/x.so", "A=1", "HOME=/nowhere" };

	if (size < HEADER)
		return 0;
	im.len = size - HEADER < PAGES * 4096 ? size - HEADER : PAGES * 4096;
	/* a private copy: the rewrite writes into it */
	im.bytes = malloc(im.len ? im.len : 1);
	if (!im.bytes)
		return 0;
	memcpy(im.bytes, data + HEADER, im.len);
	im.mapped = (uint32_t)le(data + 51, 4);
	im.writable = (uint32_t)le(data + 55, 4);
	nr = le(data, 2) % 512;
	for (int i = 0; i < 6; i++) {
		uint64_t a = le(data + 2 + 8 * i, 8);
		args[i] = (a >> 56) == 0xAA ? MEM_BASE + (a & 0xffff) : a;
	}
	switch (data[50] % 3) {
	case 0: ret = -(int64_t)(data[50] % 140); break;
	case 1: ret = data[50] * 17; break;
	default: ret = (int64_t)args[0]; break;
	}

	for (int exited = 0; exited < 2; exited++) {
		gears_format_call(line, sizeof(line), nr, args, exited, ret, &m);
		if (strlen(line) >= sizeof(line))
			abort();
		gears_format_call(small, sizeof(small), nr, args, exited, ret, &m);
		if (strlen(small) >= sizeof(small))
			abort();
		gears_format_result(result, sizeof(result), nr, exited, ret);
	}
	if (gears_read_string(&m, args[0], path, sizeof(path)) >= 0) {
		if (strlen(path) >= sizeof(path))
			abort();
		gears_path_under(path, "/secret");
		gears_exec_selected("sh", "", path);
	}
	uint64_t rsp = MEM_BASE + le(data + 59, 2);
	if (!gears_env_rewrite(&m, rsp, args[2], vars, 3, &new_envp) &&
	    (new_envp >= rsp || rsp - new_envp > GEARS_ENV_MAX_BYTES))
		abort(); /* it must stay below the stack pointer, within its bound */
	/* the trap calls of exec/push/pull: a buffer and a length from the guest */
	{
		static uint8_t io[65536];
		int64_t n = gears_trap_read(&m, args[2], args[3], io, sizeof(io));
		if (n > 0 && (uint64_t)n != args[3])
			abort();
		n = gears_trap_write(&m, args[2], args[3], io, (size_t)(args[4] % (sizeof(io) + 1)));
		if (n > 0 && ((uint64_t)n > args[3] || (uint64_t)n > args[4] % (sizeof(io) + 1)))
			abort();
	}
	free(im.bytes);
	return 0;
}
