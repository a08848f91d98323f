/* Decompression of a bzImage payload on the host, so neither engine spends
 * guest time in the kernel's own decompressor.  The kernel's build appends
 * the uncompressed size as a little-endian u32 after every compressed
 * stream; it is only a hint for the first allocation.  The output is bounded
 * by the caller's max so a crafted payload cannot exhaust host memory. */
#include <bzlib.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/boot_int.h"

#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20) /* largest output of one legacy chunk */
#define XZ_MEMLIMIT      (256ULL << 20)

struct obuf {
	uint8_t *p;
	size_t len, cap, max;
	const char *fmt; /* format name for messages */
	char *err;
	size_t errlen;
};

/* Makes room for at least `want` more bytes (fewer if max is reached, but
 * never none). */
static int reserve(struct obuf *o, size_t want)
{
	size_t cap = o->cap ? o->cap : 1 << 16;
	uint8_t *p;

	if (o->cap - o->len >= want && o->cap > o->len)
		return 0;
	if (o->cap >= o->max) {
		if (o->cap > o->len)
			return 0;
		return boot_err(o->err, o->errlen, "kernel: %s payload decompresses to more than %zu MiB", o->fmt,
		                o->max >> 20);
	}
	while (cap - o->len < want && cap < o->max)
		cap = cap > o->max / 2 ? o->max : cap * 2;
	if (cap > o->max)
		cap = o->max;
	p = realloc(o->p, cap);
	if (!p)
		return boot_err(o->err, o->errlen, "kernel: out of memory decompressing %zu MiB", cap >> 20);
	o->p = p;
	o->cap = cap;
	return 0;
}

/* Bytes of output space to offer the library in one call. */
static size_t room(const struct obuf *o, size_t lim)
{
	size_t r = o->cap - o->len;
	return r < lim ? r : lim;
}

static int corrupt(struct obuf *o, const char *why)
{
	return boot_err(o->err, o->errlen, "kernel: %s payload is corrupt (%s)", o->fmt, why);
}

static int truncated(struct obuf *o)
{
	return boot_err(o->err, o->errlen, "kernel: %s payload is truncated", o->fmt);
}

static int do_gzip(struct obuf *o, const uint8_t *in, size_t len)
{
	z_stream zs = { 0 };
	int r, ret = -1;

	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return boot_err(o->err, o->errlen, "kernel: zlib initialisation failed");
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	for (;;) {
		if (reserve(o, 1 << 16))
			break;
		zs.next_out = o->p + o->len;
		zs.avail_out = room(o, UINT_MAX);
		size_t before = zs.avail_out;
		r = inflate(&zs, Z_NO_FLUSH);
		o->len += before - zs.avail_out;
		if (r == Z_STREAM_END) {
			ret = 0;
			break;
		}
		if (r == Z_BUF_ERROR || (r == Z_OK && zs.avail_in == 0 && zs.avail_out)) {
			if (zs.avail_out == 0)
				continue;
			truncated(o);
			break;
		}
		if (r != Z_OK) {
			corrupt(o, zs.msg ? zs.msg : "inflate failed");
			break;
		}
	}
	inflateEnd(&zs);
	return ret;
}

static int do_lzma(struct obuf *o, const uint8_t *in, size_t len, bool alone)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;
	int ret = -1;

	r = alone ? lzma_alone_decoder(&s, XZ_MEMLIMIT) : lzma_stream_decoder(&s, XZ_MEMLIMIT, 0);
	if (r != LZMA_OK)
		return boot_err(o->err, o->errlen, "kernel: liblzma initialisation failed (%d)", (int)r);
	s.next_in = in;
	s.avail_in = len;
	for (;;) {
		if (reserve(o, 1 << 16))
			break;
		s.next_out = o->p + o->len;
		s.avail_out = room(o, SIZE_MAX);
		size_t before = s.avail_out;
		r = lzma_code(&s, s.avail_in ? LZMA_RUN : LZMA_FINISH);
		o->len += before - s.avail_out;
		if (r == LZMA_STREAM_END) {
			ret = 0;
			break;
		}
		if (r == LZMA_OK)
			continue;
		if (r == LZMA_BUF_ERROR)
			truncated(o);
		else if (r == LZMA_MEMLIMIT_ERROR)
			corrupt(o, "dictionary larger than 256 MiB");
		else
			corrupt(o, r == LZMA_DATA_ERROR     ? "data error"
			           : r == LZMA_FORMAT_ERROR ? "bad header"
			                                    : "lzma error");
		break;
	}
	lzma_end(&s);
	return ret;
}

static int do_bzip2(struct obuf *o, const uint8_t *in, size_t len)
{
	bz_stream bs = { 0 };
	int r, ret = -1;

	if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
		return boot_err(o->err, o->errlen, "kernel: libbz2 initialisation failed");
	bs.next_in = (char *)in;
	bs.avail_in = len;
	for (;;) {
		if (reserve(o, 1 << 16))
			break;
		bs.next_out = (char *)o->p + o->len;
		bs.avail_out = room(o, UINT_MAX);
		unsigned before = bs.avail_out, in_before = bs.avail_in;
		r = BZ2_bzDecompress(&bs);
		o->len += before - bs.avail_out;
		if (r == BZ_STREAM_END) {
			ret = 0;
			break;
		}
		if (r != BZ_OK) {
			corrupt(o, "bzip2 data error");
			break;
		}
		if (bs.avail_out && (bs.avail_in == 0 || (bs.avail_in == in_before && bs.avail_out == before))) {
			truncated(o);
			break;
		}
	}
	BZ2_bzDecompressEnd(&bs);
	return ret;
}

static int do_zstd(struct obuf *o, const uint8_t *in, size_t len)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	int ret = -1;

	if (!ds)
		return boot_err(o->err, o->errlen, "kernel: libzstd initialisation failed");
	ZSTD_initDStream(ds);
	for (;;) {
		if (reserve(o, 1 << 16))
			break;
		ZSTD_outBuffer ob = { o->p + o->len, room(o, SIZE_MAX), 0 };
		size_t in_before = ib.pos;
		size_t r = ZSTD_decompressStream(ds, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(r)) {
			corrupt(o, ZSTD_getErrorName(r));
			break;
		}
		if (r == 0) { /* frame complete */
			ret = 0;
			break;
		}
		if (ob.pos < ob.size && (ib.pos == ib.size || (ib.pos == in_before && ob.pos == 0))) {
			truncated(o);
			break;
		}
	}
	ZSTD_freeDStream(ds);
	return ret;
}

/* The kernel's lz4 is the legacy frame: a magic, then chunks of a le32
 * compressed length and an LZ4 block that inflates to at most 8 MiB. */
static int do_lz4(struct obuf *o, const uint8_t *in, size_t len)
{
	size_t pos = 4;
	int chunks = 0;

	while (len - pos >= 4) {
		uint32_t csize = le32(in + pos);
		if (csize == LZ4_LEGACY_MAGIC) { /* concatenated stream */
			pos += 4;
			continue;
		}
		if (len - pos == 4 && chunks) /* the appended uncompressed size */
			break;
		pos += 4;
		if (csize == 0 || csize > len - pos || csize > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK))
			return corrupt(o, "bad chunk length");
		/* An LZ4 block expands at most ~255 times. */
		size_t want = (uint64_t)csize * 255 < LZ4_LEGACY_BLOCK ? (size_t)csize * 255 : LZ4_LEGACY_BLOCK;
		if (reserve(o, want))
			return -1;
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)o->p + o->len, (int)csize,
		                            (int)room(o, want));
		if (n < 0) {
			if (room(o, want) < want)
				return boot_err(o->err, o->errlen,
				                "kernel: lz4 payload is corrupt or decompresses to "
				                "more than %zu MiB",
				                o->max >> 20);
			return corrupt(o, "bad block");
		}
		o->len += n;
		pos += csize;
		chunks++;
	}
	if (!chunks)
		return truncated(o);
	return 0;
}

int boot_decompress(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	struct obuf o = { .max = max, .fmt = "compressed", .err = err, .errlen = errlen };
	int r;

	*out = NULL;
	*outlen = 0;
	if (len < 4)
		return boot_err(err, errlen, "kernel: compressed payload is only %zu bytes", len);
	if (len > UINT_MAX)
		return boot_err(err, errlen, "kernel: compressed payload is larger than 4 GiB");
	/* First allocation from the appended size when it is plausible (kernels
	 * compress 2-10 times). */
	uint32_t hint = le32(in + len - 4);
	if (hint && hint <= max && hint / 64 <= len)
		o.cap = 0, reserve(&o, (size_t)hint + 4096 < max ? (size_t)hint + 4096 : max);
	if (in[0] == 0x1f && in[1] == 0x8b)
		o.fmt = "gzip", r = do_gzip(&o, in, len);
	else if (len >= 6 && !memcmp(in,
	                             "\xfd"
	                             "7zXZ\0",
	                             6))
		o.fmt = "xz", r = do_lzma(&o, in, len, false);
	else if (in[0] == 0x5d && in[1] == 0 && in[2] == 0)
		o.fmt = "lzma", r = do_lzma(&o, in, len, true);
	else if (!memcmp(in, "BZh", 3))
		o.fmt = "bzip2", r = do_bzip2(&o, in, len);
	else if (le32(in) == LZ4_LEGACY_MAGIC)
		o.fmt = "lz4", r = do_lz4(&o, in, len);
	else if (!memcmp(in, "\x28\xb5\x2f\xfd", 4))
		o.fmt = "zstd", r = do_zstd(&o, in, len);
	else if (!memcmp(in, "\x89LZO", 4))
		r = boot_err(err, errlen, "kernel: LZO-compressed payloads are not supported");
	else if (!memcmp(in,
	                 "\x7f"
	                 "ELF",
	                 4)) { /* CONFIG_KERNEL_UNCOMPRESSED */
		o.fmt = "uncompressed";
		r = len > max ? boot_err(err, errlen, "kernel: payload is larger than %zu MiB", max >> 20)
		              : reserve(&o, len);
		if (!r)
			memcpy(o.p, in, len), o.len = len;
	} else
		r = boot_err(err, errlen, "kernel: payload compression not recognised (magic %02x %02x %02x %02x)",
		             in[0], in[1], in[2], in[3]);
	if (r) {
		free(o.p);
		return -1;
	}
	*out = o.p;
	*outlen = o.len;
	return 0;
}
