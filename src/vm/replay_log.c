/* The record/replay log's format (replay_log.h, docs/replay.md): writer and
 * hostile-input parser.  Integers are little-endian; event fields are
 * LEB128 varints, the instruction count as the delta from the previous
 * event's, a TSC value as the zigzag delta from the previous TSC's, so that
 * most events take a few bytes before zstd sees them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "vm/replay_log.h"

enum { TAG_KERNEL = 1, TAG_INITRD, TAG_APPEND, TAG_MEM, TAG_NCPUS, TAG_KERNEL_HASH, TAG_INITRD_HASH };

#define RAW_CAP (64u << 10)

struct rr_writer {
	FILE *f;
	ZSTD_CCtx *z;
	uint8_t raw[RAW_CAP];
	size_t used;
	uint8_t *out;
	size_t out_cap;
	uint64_t last_count, last_tsc, bytes;
	int error; /* errno of the first failure, or -1 for a compressor error */
};

uint64_t rr_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

int rr_file_hash(const char *path, uint64_t *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	uint64_t h = RR_HASH_INIT;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		h = rr_hash(h, buf, n);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = h;
	return 0;
}

/* ---- writer ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t put_field(uint8_t *p, unsigned tag, const void *data, size_t len)
{
	p[0] = (uint8_t)tag;
	put_le(p + 1, len, 2);
	memcpy(p + 3, data, len);
	return 3 + len;
}

static size_t put_u64_field(uint8_t *p, unsigned tag, uint64_t v, unsigned n)
{
	uint8_t b[8];
	put_le(b, v, n);
	return put_field(p, tag, b, n);
}

static void compress(struct rr_writer *w, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { w->raw, w->used, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { w->out, w->out_cap, 0 };
		left = ZSTD_compressStream2(w->z, &out, &in, mode);
		if (ZSTD_isError(left)) {
			if (!w->error)
				w->error = -1;
			break;
		}
		if (out.pos && fwrite(w->out, 1, out.pos, w->f) != out.pos && !w->error)
			w->error = errno ? errno : EIO;
		w->bytes += out.pos;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	w->used = 0;
}

struct rr_writer *rr_writer_open(const char *path, const struct rr_header *h, char *err, size_t errlen)
{
	uint8_t *hdr = NULL;
	struct rr_writer *w;
	const char *strs[3] = { h->kernel, h->initrd, h->append };
	size_t n = 16;

	for (int i = 0; i < 3; i++)
		if (strs[i] && strlen(strs[i]) > RR_STRING_MAX) {
			snprintf(err, errlen, "%s: longer than %d bytes, cannot be logged",
			         i == 2 ? "--append" : "a path", RR_STRING_MAX);
			return NULL;
		}
	w = calloc(1, sizeof(*w));
	hdr = malloc(16 + 3 * (3 + RR_STRING_MAX) + 4 * 11 + 8);
	if (!w || !hdr || !(w->z = ZSTD_createCCtx()) || !(w->out = malloc(w->out_cap = ZSTD_CStreamOutSize()))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(w->z, ZSTD_c_checksumFlag, 1);
	memcpy(hdr, RR_MAGIC, 8);
	put_le(hdr + 8, RR_VERSION, 4);
	for (int i = 0; i < 3; i++)
		if (strs[i])
			n += put_field(hdr + n, TAG_KERNEL + i, strs[i], strlen(strs[i]));
	n += put_u64_field(hdr + n, TAG_MEM, h->mem_size, 8);
	n += put_u64_field(hdr + n, TAG_NCPUS, h->ncpus, 4);
	n += put_u64_field(hdr + n, TAG_KERNEL_HASH, h->kernel_hash, 8);
	if (h->initrd)
		n += put_u64_field(hdr + n, TAG_INITRD_HASH, h->initrd_hash, 8);
	put_le(hdr + 12, n - 16, 4);
	put_le(hdr + n, rr_hash(RR_HASH_INIT, hdr, n), 8);
	n += 8;
	if (!(w->f = fopen(path, "wb"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fwrite(hdr, 1, n, w->f) != n) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	w->bytes = n;
	free(hdr);
	return w;
fail:
	free(hdr);
	if (w) {
		if (w->f)
			fclose(w->f);
		ZSTD_freeCCtx(w->z);
		free(w->out);
		free(w);
	}
	return NULL;
}

void rr_writer_add(struct rr_writer *w, const struct rr_event *e)
{
	uint8_t *p;
	uint64_t delta = e->count >= w->last_count ? e->count - w->last_count : 0;

	if (w->used > RAW_CAP - 64)
		compress(w, ZSTD_e_continue);
	p = w->raw + w->used;
	*p++ = e->type;
	p += put_varint(p, delta);
	w->last_count += delta;
	switch (e->type) {
	case RR_READ:
		*p++ = (uint8_t)(e->space << 4 | e->size);
		p += put_varint(p, e->addr);
		p += put_varint(p, e->value);
		break;
	case RR_IRQ:
		*p++ = e->kind;
		*p++ = e->vector;
		p += put_varint(p, e->rip);
		break;
	case RR_POLL: p += put_varint(p, e->rip); break;
	case RR_DMA: {
		/* The header here, the data straight after it, through raw in
		 * pieces (it may be far larger than raw). */
		p += put_varint(p, e->addr);
		p += put_varint(p, e->len);
		w->used = (size_t)(p - w->raw);
		for (uint32_t done = 0; done < e->len;) {
			if (w->used == RAW_CAP)
				compress(w, ZSTD_e_continue);
			size_t k = RAW_CAP - w->used < e->len - done ? RAW_CAP - w->used : e->len - done;
			memcpy(w->raw + w->used, e->data + done, k);
			w->used += k;
			done += (uint32_t)k;
		}
		return;
	}
	case RR_TSC: {
		int64_t d = (int64_t)(e->value - w->last_tsc);
		p += put_varint(p, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
		w->last_tsc = e->value;
		break;
	}
	default: /* RR_HASH, RR_END */
		put_le(p, e->value, 8);
		p += 8;
		p += put_varint(p, e->rip);
		break;
	}
	w->used = (size_t)(p - w->raw);
}

uint64_t rr_writer_bytes(const struct rr_writer *w)
{
	return w->bytes;
}

int rr_writer_close(struct rr_writer *w, char *err, size_t errlen)
{
	int rc = 0;

	compress(w, ZSTD_e_end);
	if (fclose(w->f) != 0 && !w->error)
		w->error = errno ? errno : EIO;
	if (w->error) {
		snprintf(err, errlen, "writing the replay log: %s",
		         w->error < 0 ? "compression failed" : strerror(w->error));
		rc = -1;
	}
	ZSTD_freeCCtx(w->z);
	free(w->out);
	free(w);
	return rc;
}

/* ---- parser ---- */

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return false;
		uint8_t b = *(*p)++;
		if (shift == 63 && b > 1)
			return false; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

static int parse_header(const uint8_t *p, size_t len, struct rr_header *h, char *err, size_t errlen)
{
	const uint8_t *end = p + len;
	unsigned seen = 0;

	while (p < end) {
		if (end - p < 3) {
			snprintf(err, errlen, "replay log: truncated header field");
			return -1;
		}
		unsigned tag = p[0], flen = (unsigned)get_le(p + 1, 2);
		p += 3;
		if ((size_t)(end - p) < flen) {
			snprintf(err, errlen, "replay log: header field %u runs past the header", tag);
			return -1;
		}
		if (tag < TAG_KERNEL || tag > TAG_INITRD_HASH || (seen & (1u << tag))) {
			snprintf(err, errlen, "replay log: unknown or repeated header field %u", tag);
			return -1;
		}
		seen |= 1u << tag;
		if (tag <= TAG_APPEND) {
			char **dst = tag == TAG_KERNEL ? &h->kernel : tag == TAG_INITRD ? &h->initrd : &h->append;
			if (flen > RR_STRING_MAX || memchr(p, 0, flen)) {
				snprintf(err, errlen, "replay log: header string %u is malformed", tag);
				return -1;
			}
			if (!(*dst = strndup((const char *)p, flen))) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		} else {
			unsigned want = tag == TAG_NCPUS ? 4 : 8;
			if (flen != want) {
				snprintf(err, errlen, "replay log: header field %u has %u bytes, not %u", tag, flen,
				         want);
				return -1;
			}
			uint64_t v = get_le(p, want);
			if (tag == TAG_MEM)
				h->mem_size = v;
			else if (tag == TAG_NCPUS)
				h->ncpus = (uint32_t)v;
			else if (tag == TAG_KERNEL_HASH)
				h->kernel_hash = v;
			else
				h->initrd_hash = v;
		}
		p += flen;
	}
	unsigned need = 1u << TAG_KERNEL | 1u << TAG_MEM | 1u << TAG_NCPUS | 1u << TAG_KERNEL_HASH;
	if ((seen & need) != need || !!(seen & (1u << TAG_INITRD)) != !!(seen & (1u << TAG_INITRD_HASH))) {
		snprintf(err, errlen, "replay log: the header lacks the kernel, memory, vCPUs or a file hash");
		return -1;
	}
	return 0;
}

/* The events' zstd frame: one frame with a content checksum, ending the file. */
static int decompress(const uint8_t *p, size_t len, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	ZSTD_DCtx *z;
	uint8_t *buf = NULL;
	size_t cap = 0, used = 0, ret = 1;
	ZSTD_inBuffer in = { p, len, 0 };

	/* A zstd frame's magic, then its descriptor: bit 2 is the content checksum. */
	if (len < 5 || get_le(p, 4) != 0xfd2fb528u || !(p[4] & 0x04)) {
		snprintf(err, errlen, "replay log: the events are not a checksummed zstd frame");
		return -1;
	}
	if (!(z = ZSTD_createDCtx())) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, 27);
	while (ret != 0) {
		if (used == cap) {
			size_t ncap = cap ? cap * 2 : 1 << 16;
			uint8_t *nb;
			if (ncap > RR_BODY_MAX || !(nb = realloc(buf, ncap))) {
				snprintf(err, errlen, "replay log: the events are larger than %llu bytes",
				         (unsigned long long)RR_BODY_MAX);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		ZSTD_outBuffer o = { buf, cap, used };
		ret = ZSTD_decompressStream(z, &o, &in);
		used = o.pos;
		if (ZSTD_isError(ret)) {
			snprintf(err, errlen, "replay log: the events are corrupt (%s)", ZSTD_getErrorName(ret));
			goto fail;
		}
		if (ret != 0 && in.pos == in.size && o.pos < o.size) {
			snprintf(err, errlen, "replay log: the events are truncated");
			goto fail;
		}
	}
	if (in.pos != in.size) {
		snprintf(err, errlen, "replay log: %zu bytes after the events", in.size - in.pos);
		goto fail;
	}
	ZSTD_freeDCtx(z);
	*out = buf;
	*outlen = used;
	return 0;
fail:
	ZSTD_freeDCtx(z);
	free(buf);
	return -1;
}

/* Decodes the event at c (false: malformed or the end of the events). */
bool rr_next(struct rr_cursor *c, struct rr_event *out)
{
	const uint8_t *p = c->p, *end = c->end;
	struct rr_event e;
	uint64_t v;

	if (p >= end)
		return false;
	e = (struct rr_event){ .type = *p++ };
	if (!get_varint(&p, end, &v) || v > UINT64_MAX - c->count)
		return false;
	e.count = c->count + v;
	switch (e.type) {
	case RR_READ:
		if (p >= end)
			return false;
		e.space = *p >> 4;
		e.size = *p++ & 0xf;
		if (e.space > RR_MSR || (e.size != 1 && e.size != 2 && e.size != 4 && e.size != 8))
			return false;
		if (!get_varint(&p, end, &e.addr) || !get_varint(&p, end, &e.value))
			return false;
		break;
	case RR_IRQ:
		if (end - p < 2)
			return false;
		e.kind = *p++;
		e.vector = *p++;
		if (e.kind > RR_IRQ_NMI || !get_varint(&p, end, &e.rip))
			return false;
		break;
	case RR_POLL:
		if (!get_varint(&p, end, &e.rip))
			return false;
		break;
	case RR_DMA:
		if (!get_varint(&p, end, &e.addr) || !get_varint(&p, end, &v) || !v || v > RR_DMA_MAX ||
		    v > (uint64_t)(end - p) || e.addr + v < e.addr)
			return false;
		e.len = (uint32_t)v;
		e.data = p;
		p += v;
		break;
	case RR_TSC:
		if (!get_varint(&p, end, &v))
			return false;
		e.value = c->tsc + ((v >> 1) ^ (0 - (v & 1)));
		c->tsc = e.value;
		break;
	case RR_HASH:
	case RR_END:
		if (end - p < 8)
			return false;
		e.value = get_le(p, 8);
		p += 8;
		if (!get_varint(&p, end, &e.rip))
			return false;
		break;
	default: return false;
	}
	c->p = p;
	c->count = e.count;
	c->index++;
	*out = e;
	return true;
}

void rr_cursor_init(const struct rr_log *log, struct rr_cursor *c)
{
	*c = (struct rr_cursor){ .p = log->body, .end = log->body + log->body_len };
}

/* Every event decodes, and the last, only it, is the end. */
static int check_events(struct rr_log *log, char *err, size_t errlen)
{
	struct rr_cursor c;
	struct rr_event e = { 0 };

	rr_cursor_init(log, &c);
	while (c.p < c.end) {
		if (c.index && e.type == RR_END) {
			snprintf(err, errlen, "replay log: events after the end");
			return -1;
		}
		if (!rr_next(&c, &e)) {
			snprintf(err, errlen, "replay log: malformed event %zu", c.index);
			return -1;
		}
	}
	if (!c.index || e.type != RR_END) {
		snprintf(err, errlen, "replay log: no end record (the recording did not finish)");
		return -1;
	}
	log->n = c.index;
	log->end = e;
	return 0;
}

int rr_log_parse(const uint8_t *data, size_t len, struct rr_log *out, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t hlen, blen;

	memset(out, 0, sizeof(*out));
	if (len < 16 || memcmp(data, RR_MAGIC, 8)) {
		snprintf(err, errlen, "not a symbiont replay log");
		return -1;
	}
	if (get_le(data + 8, 4) != RR_VERSION && get_le(data + 8, 4) != 1) {
		snprintf(err, errlen, "replay log version %u, this symbiont reads %d", (unsigned)get_le(data + 8, 4),
		         RR_VERSION);
		return -1;
	}
	hlen = get_le(data + 12, 4);
	if (hlen > RR_HEADER_MAX || len - 16 < hlen + 8) {
		snprintf(err, errlen, "replay log: truncated header");
		return -1;
	}
	if (get_le(data + 16 + hlen, 8) != rr_hash(RR_HASH_INIT, data, 16 + hlen)) {
		snprintf(err, errlen, "replay log: the header's checksum does not match (the file was changed)");
		return -1;
	}
	if (parse_header(data + 16, hlen, &out->hdr, err, errlen) < 0)
		goto fail;
	if (decompress(data + 24 + hlen, len - 24 - hlen, &body, &blen, err, errlen) < 0)
		goto fail;
	out->body = body;
	out->body_len = blen;
	body = NULL;
	if (check_events(out, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	free(body);
	rr_log_free(out);
	return -1;
}

int rr_log_load(const char *path, struct rr_log *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    (unsigned long)len > RR_BODY_MAX || !(buf = malloc(len ? (size_t)len : 1)) ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, errlen, "%s: cannot read the replay log", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	rc = rr_log_parse(buf, (size_t)len, out, err, errlen);
	free(buf);
	return rc;
}

void rr_log_free(struct rr_log *log)
{
	free(log->hdr.kernel);
	free(log->hdr.initrd);
	free(log->hdr.append);
	free(log->body);
	memset(log, 0, sizeof(*log));
}
