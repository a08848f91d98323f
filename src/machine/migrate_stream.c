/* The live migration stream: see migrate_stream.h and docs/snapshot.md.
 *
 * header  "SYMBMIGR" u32 version u32 flags (0)
 * record  u32 tag  u32 length  payload[length]  u32 CRC-32 of tag, length, payload
 *
 * The receiver trusts nothing: a record's length is checked against its
 * tag's bounds before its payload is read, page ranges against the RAM
 * size, records against the order they must come in. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zlib.h>

#include "machine/migrate_stream.h"
#include "machine/snapshot_format.h"
#include "symbiont/memory.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* sendmsg with MSG_NOSIGNAL: a receiver that went away is an error
 * (EPIPE), never a SIGPIPE for the VM's process. */
static int writev_all(int fd, struct iovec *v, int n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++, n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* One record: a fixed head of the payload (hlen bytes) and a body. */
static int put_record(int fd, uint32_t tag, const void *head, size_t hlen, const void *body, size_t blen)
{
	uint8_t th[8], tail[4];
	put32(th, tag);
	put32(th + 4, (uint32_t)(hlen + blen));
	uint32_t crc = (uint32_t)crc32(0, th, 8);
	if (hlen)
		crc = (uint32_t)crc32(crc, head, (uInt)hlen);
	if (blen)
		crc = (uint32_t)crc32_z(crc, body, blen);
	put32(tail, crc);
	struct iovec v[4] = { { th, 8 }, { (void *)head, hlen }, { (void *)body, blen }, { tail, 4 } };
	return writev_all(fd, v, 4);
}

int mig_write_header(int fd)
{
	uint8_t h[16];
	memcpy(h, MIG_MAGIC, 8);
	put32(h + 8, MIG_VERSION);
	put32(h + 12, 0);
	struct iovec v = { h, sizeof(h) };
	return writev_all(fd, &v, 1);
}

int mig_write_mems(int fd, uint64_t mem_size)
{
	uint8_t p[12];
	put64(p, mem_size);
	put32(p + 8, MIG_PAGE_SIZE);
	return put_record(fd, MIG_MEMS, p, sizeof(p), NULL, 0);
}

int mig_write_pages(int fd, uint64_t first, uint32_t n, const uint8_t *data)
{
	uint8_t p[12];
	put64(p, first);
	put32(p + 8, n);
	return put_record(fd, MIG_PAGS, p, sizeof(p), data, (size_t)n * MIG_PAGE_SIZE);
}

int mig_write_zero(int fd, uint64_t first, uint32_t n)
{
	uint8_t p[12];
	put64(p, first);
	put32(p + 8, n);
	return put_record(fd, MIG_ZERO, p, sizeof(p), NULL, 0);
}

int mig_write_state(int fd, const uint8_t *state, size_t len)
{
	return put_record(fd, MIG_STAT, NULL, 0, state, len);
}

int mig_write_verify(int fd, uint32_t ram_crc)
{
	uint8_t p[4];
	put32(p, ram_crc);
	return put_record(fd, MIG_VRFY, p, sizeof(p), NULL, 0);
}

int mig_write_end(int fd)
{
	return put_record(fd, MIG_END, NULL, 0, NULL, 0);
}

uint32_t mig_ram_crc(const uint8_t *ram, uint64_t size)
{
	return (uint32_t)crc32_z(0, ram, size);
}

/* ---- reading ---- */

void mig_reader_release(struct mig_reader *r)
{
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
	free(r->state);
	r->state = NULL;
	r->state_len = 0;
}

/* The CRC of the RAM received so far, read back from the memfd. */
static int memfd_crc(int fd, uint64_t size, uint32_t *out)
{
	uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	*out = mig_ram_crc(p, size);
	munmap(p, size);
	return 0;
}

static const char *tag_name(uint32_t tag, char buf[16])
{
	for (int i = 0; i < 4; i++) {
		uint8_t c = (uint8_t)(tag >> (8 * i));
		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[4] = 0;
	return buf;
}

/* The largest payload a tag may have (0: not a tag of this version). */
static uint64_t max_len(uint32_t tag)
{
	switch (tag) {
	case MIG_MEMS: return 12;
	case MIG_PAGS: return 12 + (uint64_t)MIG_MAX_RUN * MIG_PAGE_SIZE;
	case MIG_ZERO: return 12;
	case MIG_STAT: return SNAP_MAX_STATE;
	case MIG_VRFY: return 4;
	case MIG_END: return 0;
	default: return UINT64_MAX;
	}
}

int mig_read_stream(struct mig_reader *r, char *err, size_t errlen)
{
	uint8_t h[16], *buf = NULL;
	char tn[16];
	bool have_mems = false, have_vrfy = false;
	uint32_t want_crc = 0;
	int rc = -1;

	r->mem_fd = -1;
	r->state = NULL;
	r->state_len = 0;
	r->pages = r->zero_pages = r->records = 0;
	r->verified = false;
	if (r->read(r->ctx, h, sizeof(h)) < 0) {
		snprintf(err, errlen, "migration stream: no header (the sender went away)");
		return -1;
	}
	if (memcmp(h, MIG_MAGIC, 8)) {
		snprintf(err, errlen, "migration stream: not a symbiont migration (bad magic)");
		return -1;
	}
	if (get32(h + 8) != MIG_VERSION || get32(h + 12) != 0) {
		snprintf(err, errlen, "migration stream: version %u flags %#x, this symbiont reads version %u",
		         get32(h + 8), get32(h + 12), MIG_VERSION);
		return -1;
	}
	for (;;) {
		uint8_t th[8], tail[4];
		if (r->read(r->ctx, th, 8) < 0) {
			snprintf(err, errlen, "migration stream: cut short after %llu records",
			         (unsigned long long)r->records);
			goto out;
		}
		uint32_t tag = get32(th), len = get32(th + 4);
		uint64_t max = max_len(tag);
		if (max == UINT64_MAX) {
			snprintf(err, errlen, "migration stream: unknown record '%s'", tag_name(tag, tn));
			goto out;
		}
		if (len > max) {
			snprintf(err, errlen, "migration stream: record '%s' of %u bytes (at most %llu)",
			         tag_name(tag, tn), len, (unsigned long long)max);
			goto out;
		}
		if (tag != MIG_MEMS && !have_mems) {
			snprintf(err, errlen, "migration stream: record '%s' before the RAM's size", tag_name(tag, tn));
			goto out;
		}
		if (have_vrfy && tag != MIG_END) {
			snprintf(err, errlen, "migration stream: record '%s' after the RAM's checksum",
			         tag_name(tag, tn));
			goto out;
		}
		free(buf);
		if (!(buf = malloc(len ? len : 1))) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if ((len && r->read(r->ctx, buf, len) < 0) || r->read(r->ctx, tail, 4) < 0) {
			snprintf(err, errlen, "migration stream: cut short in record '%s'", tag_name(tag, tn));
			goto out;
		}
		uint32_t crc = (uint32_t)crc32(0, th, 8);
		crc = (uint32_t)crc32_z(crc, buf, len);
		if (crc != get32(tail)) {
			snprintf(err, errlen, "migration stream: record '%s' fails its checksum", tag_name(tag, tn));
			goto out;
		}
		r->records++;
		switch (tag) {
		case MIG_MEMS: {
			uint64_t size = len == 12 ? get64(buf) : 0;
			if (have_mems || len != 12 || get32(buf + 8) != MIG_PAGE_SIZE || size < MEM_MIN_SIZE ||
			    size > r->max_mem || size % MIG_PAGE_SIZE) {
				snprintf(err, errlen, "migration stream: bad RAM description (%llu bytes)",
				         (unsigned long long)size);
				goto out;
			}
			r->mem_fd = memfd_create("symbiont-incoming", MFD_CLOEXEC);
			if (r->mem_fd < 0 || ftruncate(r->mem_fd, (off_t)size) < 0) {
				snprintf(err, errlen, "guest RAM for the incoming machine: %s", strerror(errno));
				goto out;
			}
			r->mem_size = size;
			have_mems = true;
			break;
		}
		case MIG_PAGS:
		case MIG_ZERO: {
			uint64_t first = len >= 12 ? get64(buf) : 0, n = len >= 12 ? get32(buf + 8) : 0;
			uint64_t npages = r->mem_size / MIG_PAGE_SIZE;
			bool ok = len >= 12 && n >= 1 && first < npages && n <= npages - first &&
			          (tag == MIG_PAGS ? n <= MIG_MAX_RUN && len == 12 + n * MIG_PAGE_SIZE
			                           : n <= MIG_MAX_ZERO && len == 12);
			if (!ok) {
				snprintf(err, errlen, "migration stream: record '%s' with a bad page range",
				         tag_name(tag, tn));
				goto out;
			}
			int w;
			if (tag == MIG_PAGS) {
				ssize_t k =
				        pwrite(r->mem_fd, buf + 12, n * MIG_PAGE_SIZE, (off_t)(first * MIG_PAGE_SIZE));
				w = k == (ssize_t)(n * MIG_PAGE_SIZE) ? 0 : -1;
				r->pages += n;
			} else {
				w = fallocate(r->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				              (off_t)(first * MIG_PAGE_SIZE), (off_t)(n * MIG_PAGE_SIZE));
				r->zero_pages += n;
			}
			if (w < 0) {
				snprintf(err, errlen, "writing incoming guest RAM: %s", strerror(errno));
				goto out;
			}
			break;
		}
		case MIG_STAT:
			if (r->state || len < 16) {
				snprintf(err, errlen, "migration stream: %s machine state",
				         r->state ? "a second" : "a truncated");
				goto out;
			}
			r->state = buf;
			r->state_len = len;
			buf = NULL;
			break;
		case MIG_VRFY:
			if (!r->state || len != 4) {
				snprintf(err, errlen, "migration stream: RAM checksum before the machine state");
				goto out;
			}
			want_crc = get32(buf);
			have_vrfy = true;
			break;
		case MIG_END: {
			if (!r->state) {
				snprintf(err, errlen, "migration stream: ends without the machine state");
				goto out;
			}
			if (have_vrfy) {
				uint32_t got;
				if (memfd_crc(r->mem_fd, r->mem_size, &got) < 0) {
					snprintf(err, errlen, "checking incoming guest RAM: %s", strerror(errno));
					goto out;
				}
				if (got != want_crc) {
					snprintf(err, errlen,
					         "migration stream: guest RAM received differs from the sender's "
					         "(CRC %08x, sent %08x)",
					         got, want_crc);
					goto out;
				}
				r->verified = true;
			}
			rc = 0;
			goto out;
		}
		}
	}
out:
	free(buf);
	if (rc < 0)
		mig_reader_release(r);
	return rc;
}
