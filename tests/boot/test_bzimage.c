/* bzImage: a synthetic image whose payload is a tiny vmlinux compressed with
 * each of the kernel's formats (by the same Debian libraries), the setup
 * header handed to the kernel, initrd placement around init_size, bounded
 * decompression, malformed headers and payloads, and the real default guest
 * kernel when it has been built. */
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <zlib.h>
#include <zstd.h>

#include "boot_test.h"

#define KBASE       0x1000000ULL
#define KVIRT       0xffffffff81000000ULL
#define SETUP_SECTS 3
#define PM_OFF      ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_OFF 0x80
#define INIT_SIZE   0x800000

enum fmt { GZIP, XZ, LZMA, BZIP2, LZ4, ZSTD, NFMT };
static const char *fmt_name[NFMT] = { "gzip", "xz", "lzma", "bzip2", "lz4", "zstd" };

static uint8_t text[4096];

struct buf {
	uint8_t *p;
	size_t len;
};

/* Compresses like the kernel's build: the stream, then the uncompressed
 * size as le32. */
static struct buf pack(enum fmt f, const uint8_t *in, size_t len)
{
	size_t cap = len + len / 2 + (1 << 16);
	struct buf o = { malloc(cap + 4), 0 };
	assert_non_null(o.p);
	switch (f) {
	case GZIP: {
		z_stream zs = { 0 };
		assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = (Bytef *)in, zs.avail_in = len, zs.next_out = o.p, zs.avail_out = cap;
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		o.len = zs.total_out;
		deflateEnd(&zs);
		break;
	}
	case XZ:
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, o.p, &o.len, cap),
		                 LZMA_OK);
		break;
	case LZMA: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma opt;
		lzma_lzma_preset(&opt, 6);
		assert_int_equal(lzma_alone_encoder(&s, &opt), LZMA_OK);
		s.next_in = in, s.avail_in = len, s.next_out = o.p, s.avail_out = cap;
		assert_int_equal(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
		o.len = s.total_out;
		lzma_end(&s);
		break;
	}
	case BZIP2: {
		unsigned dl = cap;
		assert_int_equal(BZ2_bzBuffToBuffCompress((char *)o.p, &dl, (char *)in, len, 9, 0, 0), BZ_OK);
		o.len = dl;
		break;
	}
	case LZ4: { /* legacy frame: magic, then le32 length + block per 8 MiB */
		put32(o.p, 0x184C2102);
		o.len = 4;
		for (size_t off = 0; off < len; off += 8 * MiB) {
			size_t n = len - off < 8 * MiB ? len - off : 8 * MiB;
			int c = LZ4_compress_default((const char *)in + off, (char *)o.p + o.len + 4, n,
			                             cap - o.len - 4);
			assert_true(c > 0);
			put32(o.p + o.len, c);
			o.len += 4 + c;
		}
		break;
	}
	case ZSTD: {
		size_t r = ZSTD_compress(o.p, cap, in, len, 19);
		assert_false(ZSTD_isError(r));
		o.len = r;
		break;
	}
	default: fail();
	}
	put32(o.p + o.len, (uint32_t)len);
	o.len += 4;
	return o;
}

/* A bzImage around a compressed payload, with a 2.15 setup header. */
static uint8_t *bzimage(const struct buf *payload, size_t *len)
{
	size_t total = PM_OFF + PAYLOAD_OFF + payload->len + 64;
	uint8_t *b = calloc(1, total);
	assert_non_null(b);
	b[0x1f1] = SETUP_SECTS;
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, 0x020f);
	b[0x211] = 0x03; /* LOADED_HIGH, and KASLR_FLAG the loader must clear */
	put32(b + 0x214, 0x100000);
	put32(b + 0x22c, 0x7fffffff);
	put32(b + 0x230, 0x200000);
	b[0x234] = 1;
	put16(b + 0x236, 0x03); /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	put32(b + 0x238, 2047);
	put32(b + 0x248, PAYLOAD_OFF);
	put32(b + 0x24c, payload->len);
	put64(b + 0x250, 0x12345678); /* setup_data: the loader must not pass it on */
	put64(b + 0x258, KBASE);
	put32(b + 0x260, INIT_SIZE);
	memset(b + PM_OFF, 0xcc, PAYLOAD_OFF); /* the decompressor stub */
	memcpy(b + PM_OFF + PAYLOAD_OFF, payload->p, payload->len);
	*len = total;
	return b;
}

static uint8_t *vmlinux(size_t *len, uint64_t textsz)
{
	uint8_t *t = textsz > sizeof(text) ? malloc(textsz) : text;
	for (uint64_t i = 0; i < textsz; i++)
		t[i] = (uint8_t)(i * 13 + (i >> 12));
	struct tseg s[2] = {
		{ KVIRT, KBASE, t, textsz, textsz + 0x1000, 0 },
		{ 0, 0, NULL, 0, 0, PT_NOTE },
	};
	uint8_t *e = build_elf(64, KBASE, s, 2, len);
	if (t != text)
		free(t);
	return e;
}

static uint8_t *make(enum fmt f, size_t *len)
{
	size_t elen;
	uint8_t *elf = vmlinux(&elen, sizeof(text));
	struct buf c = pack(f, elf, elen);
	uint8_t *b = bzimage(&c, len);
	free(c.p);
	free(elf);
	return b;
}

static int setup(void **state)
{
	struct guest_mem *m = calloc(1, sizeof(*m));
	assert_int_equal(guest_mem_init(m, 128 * MiB), 0);
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	guest_mem_free(*state);
	free(*state);
	return 0;
}

static void every_format(void **state)
{
	struct guest_mem *m = *state;
	struct boot_info bi = { .cmdline = "console=ttyS0 quiet", .acpi_rsdp = 0xe0010 };
	uint8_t initrd[3000];
	char err[256];

	memset(initrd, 0x42, sizeof(initrd));
	for (int f = 0; f < NFMT; f++) {
		struct x86_state s;
		size_t len;
		uint8_t *b = make(f, &len);
		memset(gp(m, KBASE, sizeof(text)), 0, sizeof(text));
		if (boot_load_image(m, b, len, initrd, sizeof(initrd), &bi, &s, err, sizeof(err)))
			fail_msg("%s: %s", fmt_name[f], err);
		free(b);
		uint8_t *t = gp(m, KBASE, sizeof(text));
		for (size_t i = 0; i < sizeof(text); i++)
			if (t[i] != (uint8_t)(i * 13))
				fail_msg("%s: byte %zu of the kernel is wrong", fmt_name[f], i);
		assert_int_equal(s.rip, KBASE);
		assert_int_equal(s.cr3 & ~0xfffULL, s.cr3);
		assert_int_equal(walk(m, s.cr3, KBASE), KBASE);
		assert_true(s.efer & EFER_LMA);
		assert_int_equal(s.seg[SEG_CS].sel, 0x10);

		/* The image's header became boot_params.hdr, with the loader's fields. */
		uint8_t *bp = gp(m, s.gpr[X86_RSI], 4096);
		assert_int_equal(bp[0x1f1], SETUP_SECTS);
		assert_int_equal(le16(bp + 0x206), 0x020f);
		assert_int_equal(le32(bp + 0x260), INIT_SIZE);
		assert_int_equal(le64(bp + 0x258), KBASE);
		assert_int_equal(bp[0x211] & 3, 1);
		assert_int_equal(le64(bp + 0x250), 0);
		assert_int_equal(bp[0x210], 0xff);
		assert_int_equal(bp[0x1ef], 0); /* sentinel */
		assert_string_equal((char *)gp(m, le32(bp + 0x228), 32), bi.cmdline);
		assert_int_equal(le64(bp + 0x070), 0xe0010);
		uint32_t ia = le32(bp + 0x218);
		assert_int_equal(le32(bp + 0x21c), sizeof(initrd));
		assert_true(ia >= KBASE + INIT_SIZE); /* above the kernel's init_size */
		assert_memory_equal(gp(m, ia, sizeof(initrd)), initrd, sizeof(initrd));
		assert_int_equal(bp[0x1e8], 3);
	}
}

/* lz4's legacy frame splits at 8 MiB: a 9 MiB kernel needs two chunks. */
static void lz4_two_chunks(void **state)
{
	struct guest_mem *m = *state;
	struct boot_info bi = { 0 };
	struct x86_state s;
	char err[256];
	size_t elen, len, tsz = 9 * MiB;
	uint8_t *elf = vmlinux(&elen, tsz);
	struct buf c = pack(LZ4, elf, elen);
	assert_true(le32(c.p + 4) < c.len); /* first chunk length is sane */
	uint8_t *b = bzimage(&c, &len);

	assert_int_equal(boot_load_image(m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	uint8_t *t = gp(m, KBASE, tsz);
	for (uint64_t i = 0; i < tsz; i += 4093)
		assert_int_equal(t[i], (uint8_t)(i * 13 + (i >> 12)));
	assert_int_equal(t[tsz - 1], (uint8_t)((tsz - 1) * 13 + ((tsz - 1) >> 12)));
	free(b);
	free(c.p);
	free(elf);
}

/* The initrd avoids [load address, load address + init_size): above when
 * there is room, else below. */
static void initrd_around_init_size(void **state)
{
	struct guest_mem m;
	struct boot_info bi = { 0 };
	struct x86_state s;
	char err[256];
	size_t len;
	uint8_t *b = make(GZIP, &len), *initrd = calloc(1, 20 * MiB);
	(void)state;

	put32(b + 0x260, 40 * MiB); /* kernel owns [16, 56) MiB */
	assert_int_equal(guest_mem_init(&m, 64 * MiB), 0);
	assert_int_equal(boot_load_image(&m, b, len, initrd, 4 * MiB, &bi, &s, err, sizeof(err)), 0);
	assert_int_equal(le32(gp(&m, s.gpr[X86_RSI] + 0x218, 4)), 60 * MiB);
	assert_int_equal(boot_load_image(&m, b, len, initrd, 10 * MiB, &bi, &s, err, sizeof(err)), 0);
	assert_int_equal(le32(gp(&m, s.gpr[X86_RSI] + 0x218, 4)), 6 * MiB);
	assert_boot_fails(boot_load_image(&m, b, len, initrd, 20 * MiB, &bi, &s, err, sizeof(err)), err,
	                  "initrd (20971520 bytes) does not fit in guest memory below 0x4000000");
	/* initrd_addr_max lowers the ceiling. */
	put32(b + 0x22c, 48 * MiB - 1);
	put32(b + 0x260, 0x100000);
	assert_int_equal(boot_load_image(&m, b, len, initrd, 4 * MiB, &bi, &s, err, sizeof(err)), 0);
	assert_int_equal(le32(gp(&m, s.gpr[X86_RSI] + 0x218, 4)), 44 * MiB);
	guest_mem_free(&m);
	free(initrd);
	free(b);
}

static void malformed_header(void **state)
{
	struct guest_mem *m = *state;
	struct boot_info bi = { 0 };
	struct x86_state s;
	char err[256];
	size_t glen, len;
	uint8_t *good = make(GZIP, &glen), *b = malloc(glen);

#define BAD(mutation, want)                                                                                   \
	do {                                                                                                  \
		memcpy(b, good, glen);                                                                        \
		len = glen;                                                                                   \
		mutation;                                                                                     \
		assert_boot_fails(boot_load_image(m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), err, want); \
	} while (0)

	BAD(len = 0x240, "truncated");
	BAD(put16(b + 0x206, 0x0206), "2.06 is too old");
	BAD(put16(b + 0x236, 0), "XLF_KERNEL_64");
	BAD(b[0x211] = 0, "zImage");
	BAD(b[0x201] = 0, "setup header ends");
	BAD(b[0x1f1] = 200, "longer than the file");
	BAD(put32(b + 0x248, 0x7fffffff), "lies outside the file");
	BAD(put32(b + 0x24c, 0xffffffff), "lies outside the file");
	BAD((put32(b + 0x248, 0xffffff00), put32(b + 0x24c, 0x200)), "lies outside the file");
	BAD(put32(b + 0x24c, 0), "lies outside the file");
	BAD(put32(b + 0x24c, 3), "only 3 bytes");
	BAD(memset(b + PM_OFF + PAYLOAD_OFF, 0x11, 4), "compression not recognised");
	BAD(memcpy(b + PM_OFF + PAYLOAD_OFF, "\x89LZO", 4), "LZO");
	BAD(put32(b + 0x24c, le32(b + 0x24c) / 2), "gzip payload is truncated");
	BAD(memset(b + PM_OFF + PAYLOAD_OFF + 40, 0xff, 64), "gzip payload is corrupt");
	{
		struct buf c = { (uint8_t *)"hello, not a kernel", 19 };
		free(good);
		struct buf z = pack(GZIP, c.p, c.len);
		good = bzimage(&z, &glen);
		free(z.p);
		b = realloc(b, glen);
		BAD((void)0, "not an ELF64 vmlinux");
	}
	{
		struct tseg seg = { 0x100000, 0x100000, text, 64, 64, 0 };
		size_t elen;
		uint8_t *e32 = build_elf(32, 0x100000, &seg, 1, &elen);
		struct buf z = pack(ZSTD, e32, elen);
		free(good);
		good = bzimage(&z, &glen);
		b = realloc(b, glen);
		BAD((void)0, "not an ELF64 vmlinux");
		free(z.p);
		free(e32);
	}
#undef BAD
	free(b);
	free(good);
}

/* Truncated and corrupted streams of every format fail cleanly. */
static void bad_streams(void **state)
{
	struct guest_mem *m = *state;
	struct boot_info bi = { 0 };
	struct x86_state s;
	char err[256], want[64];

	for (int f = 0; f < NFMT; f++) {
		size_t len;
		uint8_t *b = make(f, &len);
		uint32_t plen = le32(b + 0x24c);
		snprintf(want, sizeof(want), "kernel: %s", fmt_name[f]);
		for (uint32_t cut = 8; cut < plen - 4; cut += (plen - 4) / 7 + 1) {
			put32(b + 0x24c, cut);
			assert_boot_fails(boot_load_image(m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), err, want);
		}
		put32(b + 0x24c, plen);
		if (f == GZIP || f == XZ || f == BZIP2) { /* the formats with a checksum */
			for (uint32_t i = plen / 3; i < plen / 3 + 8; i++)
				b[PM_OFF + PAYLOAD_OFF + i] ^= 0x5a;
			assert_boot_fails(boot_load_image(m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), err, want);
		}
		free(b);
	}
}

/* A payload that inflates past guest RAM (+16 MiB) stops there. */
static void decompression_bomb(void **state)
{
	struct guest_mem m;
	struct boot_info bi = { 0 };
	struct x86_state s;
	char err[256];
	size_t n = 64 * MiB;
	uint8_t *zeros = calloc(1, n);
	(void)state;

	assert_int_equal(guest_mem_init(&m, 16 * MiB), 0);
	static const enum fmt fs[] = { GZIP, XZ, ZSTD, LZ4, BZIP2 };
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		size_t len;
		struct buf c = pack(fs[i], zeros, n);
		put32(c.p + c.len - 4, 0x1000); /* a lying size hint */
		uint8_t *b = bzimage(&c, &len);
		assert_boot_fails(boot_load_image(&m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), err,
		                  "more than 32 MiB");
		free(b);
		free(c.p);
	}
	guest_mem_free(&m);
	free(zeros);
}

/* The Debian kernel the default guest uses, when it has been built. */
static void real_vmlinuz(void **state)
{
	const char *path = "build/guest/vmlinuz";
	struct guest_mem m;
	struct boot_info bi = { .cmdline = "console=ttyS0", .acpi_rsdp = 0xe0000 };
	struct x86_state s;
	char err[512];
	FILE *f = fopen(path, "rb");
	(void)state;

	if (!f) {
		skip();
		return;
	}
	fclose(f);
	assert_int_equal(guest_mem_init(&m, 512 * MiB), 0);
	if (boot_load_files(&m, path, NULL, &bi, &s, err, sizeof(err)))
		fail_msg("%s", err);
	/* Entered at startup_64 at the physical load address (16 MiB on
	 * Debian), in long mode with boot_params in RSI. */
	assert_true(s.rip >= 16 * MiB && s.rip < 64 * MiB);
	assert_int_equal(walk(&m, s.cr3, s.rip), s.rip);
	uint8_t *bp = gp(&m, s.gpr[X86_RSI], 4096);
	assert_true(le16(bp + 0x206) >= 0x020c);
	assert_true(le16(bp + 0x236) & 1);
	/* Decompression worked: the banner is in guest memory. */
	uint32_t init_size = le32(bp + 0x260);
	uint8_t *k = gp(&m, 16 * MiB, init_size);
	assert_non_null(memmem(k, init_size, "Linux version ", 14));
	guest_mem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_format, setup, teardown),
		cmocka_unit_test_setup_teardown(lz4_two_chunks, setup, teardown),
		cmocka_unit_test(initrd_around_init_size),
		cmocka_unit_test_setup_teardown(malformed_header, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_streams, setup, teardown),
		cmocka_unit_test(decompression_bomb),
		cmocka_unit_test(real_vmlinuz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
