/* virtio-blk: one request queue served by a worker thread.  See blk.h.
 *
 * Life of a request: the driver kicks (vCPU thread, io_lock held), blk_notify
 * pops every available chain, checks it has a 16-byte header and a status
 * byte, and submits it to the disk's worker (host/worker.h).  The worker
 * does the host I/O through the block backend (host/block.h) without
 * io_lock, then takes io_lock to write the status byte, push the chain to
 * the used ring and interrupt.  A device reset bumps the
 * generation, so requests popped before it are finished but never pushed
 * into the new rings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/block.h"
#include "host/worker.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/virtio.h"
#include "symbiont/device.h"
#include "symbiont/event.h"

#define SECTOR              512
#define QUEUE_SIZE          256
#define SEG_MAX             (QUEUE_SIZE - 2) /* data buffers beside header and status */
#define SIZE_MAX_BYTES      (1u << 20)       /* largest single buffer we advertise */
#define DISCARD_MAX_SECTORS 0x3fffffu
#define CONFIG_LEN          0x3c

/* virtio_blk_config offsets. */
#define CFG_CAPACITY            0x00
#define CFG_SIZE_MAX            0x08
#define CFG_SEG_MAX             0x0c
#define CFG_BLK_SIZE            0x14
#define CFG_MAX_DISCARD_SECTORS 0x24
#define CFG_MAX_DISCARD_SEG     0x28
#define CFG_DISCARD_ALIGN       0x2c
#define CFG_MAX_WZ_SECTORS      0x30
#define CFG_MAX_WZ_SEG          0x34
#define CFG_WZ_MAY_UNMAP        0x38

struct blk_req {
	struct worker_job job; /* first: the worker hands it back */
	unsigned gen;
	uint64_t start_ns; /* host clock, when popped: latency includes queueing */
	uint32_t type;     /* set by do_request */
	uint64_t bytes;    /* data moved, set by do_request */
	struct vq_elem e;
};

/* Request latency buckets (host time from pop to completion), upper
 * bounds in microseconds; the last counts everything slower. */
static const uint32_t lat_bounds_us[] = { 16, 64, 256, 1000, 4000, 16000, 64000 };
#define LAT_BUCKETS (sizeof(lat_bounds_us) / sizeof(lat_bounds_us[0]) + 1)

struct virtio_blk {
	struct virtio_dev vd;
	struct vm *vm;
	struct block_backend *be;
	bool ro, registered;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint64_t sectors;
	unsigned gen;      /* bumped by reset; under io_lock */
	unsigned inflight; /* popped, not yet completed; under io_lock */
	bool deferred;     /* chains left in the ring at the in-flight bound */
	struct worker *worker;
	/* metrics, under io_lock (symbiont ctl metrics, --metrics) */
	uint64_t reads, writes, flushes, others, errors, read_bytes, write_bytes;
	uint64_t lat[LAT_BUCKETS];
};

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return &b->vd;
}

/* ---- requests (on the worker thread) ------------------------------------ */

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	if (bytes % SECTOR)
		return false;
	uint64_t n = bytes / SECTOR;
	return sector <= b->sectors && n <= b->sectors - sector;
}

/* DISCARD and WRITE_ZEROES: a list of {le64 sector, le32 num, le32 flags}. */
static uint8_t do_segments(struct virtio_blk *b, const struct vq_elem *e, uint32_t type)
{
	size_t len = e->out_len - 16;
	if (b->ro)
		return VIRTIO_BLK_S_IOERR;
	if (!len || len % 16 || len / 16 > 1)
		return VIRTIO_BLK_S_UNSUPP; /* max_*_seg is 1 */
	uint8_t seg[16];
	iov_to_buf(e->iov, e->nout, 16, seg, sizeof(seg));
	uint64_t sector = 0;
	uint32_t num = 0, flags = 0;
	for (int i = 0; i < 8; i++)
		sector |= (uint64_t)seg[i] << (8 * i);
	for (int i = 0; i < 4; i++) {
		num |= (uint32_t)seg[8 + i] << (8 * i);
		flags |= (uint32_t)seg[12 + i] << (8 * i);
	}
	if (flags & ~1u)
		return VIRTIO_BLK_S_UNSUPP;
	if (type == VIRTIO_BLK_T_DISCARD && (flags & 1))
		return VIRTIO_BLK_S_UNSUPP; /* unmap is for WRITE_ZEROES only */
	if (num > DISCARD_MAX_SECTORS || !range_ok(b, sector, (uint64_t)num * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	uint64_t off = sector * SECTOR, n = (uint64_t)num * SECTOR;
	if (type == VIRTIO_BLK_T_DISCARD) /* advisory: the backend may keep the data */
		return b->be->ops->discard(b->be, off, n) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	return b->be->ops->write_zeroes(b->be, off, n, flags & 1) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

/* Does the request; returns the status and sets *written (bytes put into
 * the writable buffers, status byte included). */
static uint8_t do_request(struct virtio_blk *b, struct blk_req *r, uint32_t *written)
{
	struct vq_elem *e = &r->e;
	uint8_t hdr[16];
	iov_to_buf(e->iov, e->nout, 0, hdr, sizeof(hdr));
	uint32_t type = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	uint64_t sector = 0;
	for (int i = 0; i < 8; i++)
		sector |= (uint64_t)hdr[8 + i] << (8 * i);
	struct iovec *in = e->iov + e->nout;
	size_t in_data = e->in_len - 1;
	struct iovec v[VQ_MAX_SEGS];
	int n;

	*written = 1;
	r->type = type;
	r->bytes = 0;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (!range_ok(b, sector, in_data))
			return VIRTIO_BLK_S_IOERR;
		n = iov_slice(in, e->nin, 0, in_data, v, VQ_MAX_SEGS);
		if (n < 0 || b->be->ops->readv(b->be, v, n, sector * SECTOR))
			return VIRTIO_BLK_S_IOERR;
		*written = in_data + 1;
		r->bytes = in_data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (b->ro || !range_ok(b, sector, e->out_len - 16))
			return VIRTIO_BLK_S_IOERR;
		n = iov_slice(e->iov, e->nout, 16, e->out_len - 16, v, VQ_MAX_SEGS);
		if (n < 0 || b->be->ops->writev(b->be, v, n, sector * SECTOR))
			return VIRTIO_BLK_S_IOERR;
		r->bytes = e->out_len - 16;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH: return b->be->ops->flush(b->be) < 0 && !b->ro ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t k = in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES;
		buf_to_iov(in, e->nin, 0, b->serial, k);
		*written = k + 1;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: return do_segments(b, e, type);
	default: return VIRTIO_BLK_S_UNSUPP;
	}
}

static void blk_notify(struct virtio_dev *vd, unsigned q);

static void account(struct virtio_blk *b, const struct blk_req *r, uint8_t status)
{
	uint64_t us = (host_clock_ns() - r->start_ns) / 1000;
	unsigned i = 0;

	if (status != VIRTIO_BLK_S_OK)
		b->errors++;
	else if (r->type == VIRTIO_BLK_T_IN)
		b->reads++, b->read_bytes += r->bytes;
	else if (r->type == VIRTIO_BLK_T_OUT)
		b->writes++, b->write_bytes += r->bytes;
	else if (r->type == VIRTIO_BLK_T_FLUSH)
		b->flushes++;
	else
		b->others++;
	while (i < LAT_BUCKETS - 1 && us > lat_bounds_us[i])
		i++;
	b->lat[i]++;
}

/* SYM_EV_BLOCK for a subscriber (Geiger, monitoring): which sectors went to
 * or came from which guest memory.  io_lock held. */
static void block_event(struct virtio_blk *b, struct blk_req *r, uint8_t status)
{
	struct sym_gpa_range ranges[VQ_MAX_SEGS];
	struct sym_event ev = { .type = SYM_EV_BLOCK, .cpu = -1 };
	uint8_t hdr[16];
	const struct iovec *iov = r->e.iov;
	unsigned n = r->e.nout, skip = 16; /* WRITE: data after the header */
	size_t left = r->bytes;

	iov_to_buf(r->e.iov, r->e.nout, 0, hdr, sizeof(hdr));
	for (int i = 0; i < 8; i++)
		ev.block.sector |= (uint64_t)hdr[8 + i] << (8 * i);
	ev.block.device = vm_device_id(b->vm, b);
	switch (r->type) {
	case VIRTIO_BLK_T_IN: ev.block.op = SYM_BLOCK_READ; break;
	case VIRTIO_BLK_T_OUT: ev.block.op = SYM_BLOCK_WRITE; break;
	case VIRTIO_BLK_T_FLUSH: ev.block.op = SYM_BLOCK_FLUSH; break;
	default: ev.block.op = SYM_BLOCK_OTHER; break;
	}
	ev.block.bytes = r->bytes;
	ev.block.ok = status == VIRTIO_BLK_S_OK;
	if (r->type == VIRTIO_BLK_T_IN)
		iov = r->e.iov + r->e.nout, n = r->e.nin, skip = 0;
	for (unsigned i = 0; i < n && left; i++) {
		size_t len = iov[i].iov_len;
		const uint8_t *base = iov[i].iov_base;
		if (skip >= len) {
			skip -= (unsigned)len;
			continue;
		}
		base += skip, len -= skip, skip = 0;
		if (len > left)
			len = left;
		ranges[ev.block.nranges++] = (struct sym_gpa_range){ host_to_gpa(&b->vm->mem, base), (uint32_t)len };
		left -= len;
	}
	ev.block.ranges = ranges;
	sym_event_deliver(b->vm, &ev);
}

static void complete_locked(struct virtio_blk *b, struct blk_req *r, uint8_t status, uint32_t written)
{
	b->inflight--;
	account(b, r, status);
	if (vm_events_wanted(b->vm, SYM_EV_BLOCK))
		block_event(b, r, status);
	if (r->gen == b->gen && b->vd.vq[0].enabled) {
		/* The status byte is the last writable byte. */
		buf_to_iov(r->e.iov + r->e.nout, r->e.nin, r->e.in_len - 1, &status, 1);
		if (r->e.nin) { /* the status byte may lie past `written` (a failed read): log it too */
			const struct iovec *l = &r->e.iov[r->e.nout + r->e.nin - 1];
			vm_mem_dirty(b->vm, host_to_gpa(&b->vm->mem, (const uint8_t *)l->iov_base + l->iov_len - 1), 1);
		}
		vq_push(&b->vd.vq[0], &r->e, written);
		virtio_notify(&b->vd, 0);
	}
	if (b->deferred && virtio_queue_ready(&b->vd, 0)) {
		b->deferred = false;
		blk_notify(&b->vd, 0);
	}
}

static void complete(struct virtio_blk *b, struct blk_req *r, uint8_t status, uint32_t written)
{
	pthread_mutex_lock(&b->vm->io_lock);
	complete_locked(b, r, status, written);
	pthread_mutex_unlock(&b->vm->io_lock);
}

static void run_request(struct worker_job *job, void *ctx)
{
	struct virtio_blk *b = ctx;
	struct blk_req *r = (struct blk_req *)job;
	uint32_t written;
	uint8_t status = do_request(b, r, &written);
	complete(b, r, status, written);
	free(r);
}

void virtio_blk_drain(struct virtio_blk *b)
{
	worker_drain(b->worker);
}

/* ---- virtio side (io_lock held) ----------------------------------------- */

static void blk_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_blk *b = vd->opaque;
	struct virtqueue *vq = &vd->vq[q];
	struct blk_req *first = NULL, *last = NULL;

	for (;;) {
		/* A driver can republish descriptors it never got back; the
		 * bound keeps host memory per disk finite. */
		if (b->inflight >= vq->size) {
			b->deferred = true;
			break;
		}
		struct blk_req *r = malloc(sizeof(*r));
		if (!r)
			break; /* retried at the next kick */
		int rc = vq_pop(vq, &r->e);
		if (rc <= 0) {
			free(r);
			if (rc < 0)
				virtio_dev_error(vd, "malformed descriptor chain");
			break;
		}
		if (r->e.out_len < 16 || r->e.in_len < 1) {
			free(r);
			virtio_dev_error(vd, "request without header or status byte");
			break;
		}
		r->gen = b->gen;
		r->start_ns = host_clock_ns();
		b->inflight++;
		if (last)
			last->job.next = &r->job;
		else
			first = r;
		last = r;
	}
	if (first && b->vm->replay) {
		/* Recording: the requests run here, on the vCPU's thread inside
		 * its notify write, so what they write into guest RAM is logged
		 * at this instruction (docs/replay.md). */
		for (struct blk_req *r = first, *next; r; r = next) {
			uint32_t written;
			next = r == last ? NULL : (struct blk_req *)r->job.next;
			uint8_t status = do_request(b, r, &written);
			complete_locked(b, r, status, written);
			free(r);
		}
	} else if (first) {
		worker_submit(b->worker, &first->job, &last->job);
	}
}

static void blk_reset(struct virtio_dev *vd)
{
	struct virtio_blk *b = vd->opaque;
	b->gen++;
	b->deferred = false;
}

/* ---- lifecycle (symbiont/device.h) --------------------------------------- */

static void blk_dev_reset(void *dev)
{
	struct virtio_blk *b = dev;
	virtio_dev_reset(&b->vd);
}

/* Requests on the worker are host work that cannot be written down: the
 * caller drains them (lets the VM run until none are in flight) first. */
static int blk_save(void *dev, struct state_buf *buf, char *err, size_t errlen)
{
	struct virtio_blk *b = dev;
	if (b->inflight) {
		snprintf(err, errlen, "virtio-blk: %u requests in flight", b->inflight);
		return -1;
	}
	virtio_state_save(&b->vd, buf);
	st_put_bool(buf, b->deferred);
	return 0;
}

static int blk_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct virtio_blk *b = dev;
	struct virtio_state *s = malloc(sizeof(*s));
	bool deferred;

	if (!s) {
		snprintf(err, errlen, "virtio-blk: out of memory");
		return -1;
	}
	if (b->inflight) {
		free(s);
		snprintf(err, errlen, "virtio-blk: %u requests in flight", b->inflight);
		return -1;
	}
	virtio_state_read(&b->vd, r, s);
	deferred = st_get_bool(r);
	if (!st_ok(r)) {
		free(s);
		return -1;
	}
	b->gen++; /* nothing from before the load completes into the rings */
	virtio_state_apply(&b->vd, s);
	free(s);
	/* Chains left behind at the in-flight bound have no completion left
	 * to pick them up: take them now. */
	b->deferred = false;
	if (deferred && virtio_queue_ready(&b->vd, 0))
		blk_notify(&b->vd, 0);
	return 0;
}

static void blk_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct virtio_blk *b = dev;
	virtio_stats(&b->vd, emit, ctx);
	emit(ctx, "inflight", b->inflight);
	emit(ctx, "sectors", b->sectors);
	emit(ctx, "reads", b->reads);
	emit(ctx, "writes", b->writes);
	emit(ctx, "flushes", b->flushes);
	emit(ctx, "other_requests", b->others);
	emit(ctx, "errors", b->errors);
	emit(ctx, "read_bytes", b->read_bytes);
	emit(ctx, "write_bytes", b->write_bytes);
	if (b->be->ops->stats)
		b->be->ops->stats(b->be, emit, ctx);
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		char key[40];
		if (i < LAT_BUCKETS - 1)
			snprintf(key, sizeof(key), "latency_le_%uus", lat_bounds_us[i]);
		else
			snprintf(key, sizeof(key), "latency_gt_%uus", lat_bounds_us[i - 1]);
		emit(ctx, key, b->lat[i]);
	}
}

/* Migration to another process on this host: the image's writer lock goes
 * with the machine (the VM is paused and saved, nothing is in flight). */
static int blk_handover(void *dev, bool release, char *err, size_t errlen)
{
	struct virtio_blk *b = dev;
	if (!b->be->ops->lock)
		return 0;
	if (b->be->ops->lock(b->be, !release) < 0) {
		snprintf(err, errlen, "virtio-blk: %s the disk's lock: %s", release ? "releasing" : "taking back",
		         strerror(errno));
		return -1;
	}
	return 0;
}

/* The guest's cache dropped these blocks (Geiger says): a cache backend
 * may keep them. */
static void blk_block_evicted(void *dev, uint64_t sector, uint64_t bytes)
{
	struct virtio_blk *b = dev;
	if (b->be->ops->evicted && sector < b->sectors && bytes <= (b->sectors - sector) * SECTOR)
		b->be->ops->evicted(b->be, sector * SECTOR, bytes);
}

static const struct device_ops blk_device_ops = {
	.name = "virtio-blk",
	.version = 1,
	.block_evicted = blk_block_evicted,
	.reset = blk_dev_reset,
	.save = blk_save,
	.load = blk_load,
	.stats = blk_stats,
	.handover = blk_handover,
};

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.type = VIRTIO_ID_BLOCK,
	.pci_class = 0x018000,
	.notify = blk_notify,
	.reset = blk_reset,
	.lifecycle = &blk_device_ops,
};

/* ---- creation ----------------------------------------------------------- */

struct disk_cache_opt {
	bool on;
	enum block_cache_mode mode;
	uint64_t bytes;
};

/* "lru:SIZE" or "exclusive:SIZE", SIZE a number with K, M or G. */
static bool parse_cache(const char *v, struct disk_cache_opt *c)
{
	char *end;
	unsigned long long n;
	if (!strncmp(v, "lru:", 4))
		c->mode = BLOCK_CACHE_LRU, v += 4;
	else if (!strncmp(v, "exclusive:", 10))
		c->mode = BLOCK_CACHE_EXCLUSIVE, v += 10;
	else
		return false;
	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
	if (shift)
		end++;
	if (errno || *end || n == 0 || n > (1ULL << 44) >> shift)
		return false;
	c->bytes = (uint64_t)n << shift;
	c->on = true;
	return true;
}

static int parse_spec(const char *spec, char **path, bool *ro, char *serial, struct disk_cache_opt *cache, char *err,
                      size_t errlen)
{
	char *s = strdup(spec), *save = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char *tok = strtok_r(s, ",", &save);
	if (!tok || !*tok || spec[0] == ',') {
		snprintf(err, errlen, "--disk %s: expected PATH[,ro][,serial=ID][,cache=lru|exclusive:SIZE]", spec);
		free(s);
		return -1;
	}
	*path = strdup(tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strcmp(tok, "ro")) {
			*ro = true;
		} else if (!strncmp(tok, "serial=", 7)) {
			if (strlen(tok + 7) > VIRTIO_BLK_ID_BYTES || !tok[7]) {
				snprintf(err, errlen, "--disk %s: serial must be 1 to %d characters", spec,
				         VIRTIO_BLK_ID_BYTES);
				goto bad;
			}
			memset(serial, 0, VIRTIO_BLK_ID_BYTES);
			memcpy(serial, tok + 7, strlen(tok + 7));
		} else if (!strncmp(tok, "cache=", 6)) {
			if (!parse_cache(tok + 6, cache)) {
				snprintf(err, errlen, "--disk %s: cache must be lru:SIZE or exclusive:SIZE (e.g. 64M)",
				         spec);
				goto bad;
			}
		} else {
			snprintf(err, errlen,
			         "--disk %s: unknown option '%s' (expected ro, serial=ID or cache=MODE:SIZE)", spec,
			         tok);
			goto bad;
		}
	}
	free(s);
	if (!*path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
bad:
	free(*path);
	*path = NULL;
	free(s);
	return -1;
}

int virtio_blk_spec_check(const char *spec, char *err, size_t errlen)
{
	char *path = NULL, serial[VIRTIO_BLK_ID_BYTES];
	struct disk_cache_opt cache = { 0 };
	bool ro = false;
	int r = parse_spec(spec, &path, &ro, serial, &cache, err, errlen);
	free(path);
	return r;
}

struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_host *h, const char *spec, char *err, size_t errlen)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	char *path = NULL;
	struct disk_cache_opt cache = { 0 };
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->vm = vm;
	if (parse_spec(spec, &path, &b->ro, b->serial, &cache, err, errlen))
		goto fail;
	if (!(b->be = block_raw_open(path, b->ro, spec, err, errlen)))
		goto fail;
	if (cache.on && !(b->be = block_cache_wrap(b->be, cache.mode, cache.bytes, err, errlen)))
		goto fail;
	b->sectors = b->be->size / SECTOR;

	uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
	             1ull << VIRTIO_BLK_F_FLUSH;
	f |= b->ro ? 1ull << VIRTIO_BLK_F_RO : 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	if (virtio_dev_init(&b->vd, vm, &blk_ops, b, 1, QUEUE_SIZE, CONFIG_LEN, f)) {
		snprintf(err, errlen, "--disk %s: cannot set up the virtio device", spec);
		goto fail;
	}
	virtio_cfg_put(&b->vd, CFG_CAPACITY, b->sectors, 8);
	virtio_cfg_put(&b->vd, CFG_SIZE_MAX, SIZE_MAX_BYTES, 4);
	virtio_cfg_put(&b->vd, CFG_SEG_MAX, SEG_MAX, 4);
	virtio_cfg_put(&b->vd, CFG_BLK_SIZE, SECTOR, 4);
	if (!b->ro) {
		virtio_cfg_put(&b->vd, CFG_MAX_DISCARD_SECTORS, DISCARD_MAX_SECTORS, 4);
		virtio_cfg_put(&b->vd, CFG_MAX_DISCARD_SEG, 1, 4);
		virtio_cfg_put(&b->vd, CFG_DISCARD_ALIGN, 8, 4);
		virtio_cfg_put(&b->vd, CFG_MAX_WZ_SECTORS, DISCARD_MAX_SECTORS, 4);
		virtio_cfg_put(&b->vd, CFG_MAX_WZ_SEG, 1, 4);
		virtio_cfg_put(&b->vd, CFG_WZ_MAY_UNMAP, 1, 1);
	}
	if (!(b->worker = worker_start(run_request, b))) {
		snprintf(err, errlen, "--disk %s: cannot start the I/O thread", spec);
		goto fail;
	}
	if (virtio_dev_register(&b->vd, h, err, errlen))
		goto fail;
	b->registered = true;
	free(path);
	return b;
fail:
	free(path);
	virtio_blk_destroy(b);
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	worker_stop(b->worker); /* what is queued still runs */
	if (b->registered)
		virtio_dev_unregister(&b->vd);
	virtio_dev_free(&b->vd);
	block_backend_destroy(b->be);
	free(b);
}
