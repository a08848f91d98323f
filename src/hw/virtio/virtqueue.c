/* Split virtqueues: chain walking with every guest value checked.  See
 * virtqueue.h for the rules. */
#include <string.h>

#include "hw/virtio/virtqueue.h"
#include "symbiont/vm.h"

/* Guest memory is shared with running vCPUs: each field is read once into
 * a local and ordered with explicit fences, as on real hardware. */
static inline uint16_t ld16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void st16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static inline void st32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

void vq_reset(struct virtqueue *vq)
{
	const struct guest_mem *mem = vq->mem;
	struct vm *vm = vq->vm;
	uint16_t max = vq->max_size;
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->vm = vm;
	vq->max_size = max;
	vq->size = max;
	vq->msix_vector = 0xffff;
}

int vq_map(struct virtqueue *vq)
{
	uint16_t n = vq->size;
	if (!n || n > vq->max_size || (n & (n - 1)))
		return -1;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -1;
	vq->desc = gpa_to_host(vq->mem, vq->desc_gpa, 16ull * n);
	vq->avail = gpa_to_host(vq->mem, vq->avail_gpa, 6 + 2ull * n);
	vq->used = gpa_to_host(vq->mem, vq->used_gpa, 6 + 8ull * n);
	if (!vq->desc || !vq->avail || !vq->used)
		return -1;
	return 0;
}

int vq_start(struct virtqueue *vq)
{
	vq->enabled = false;
	if (vq_map(vq))
		return -1;
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	vq->broken = false;
	vq->enabled = true;
	return 0;
}

static int fail(struct virtqueue *vq)
{
	vq->broken = true;
	return -1;
}

/* Adds one buffer of a chain to e. */
static int add_buf(struct virtqueue *vq, struct vq_elem *e, const struct vring_desc *d)
{
	bool w = d->flags & VRING_DESC_F_WRITE;
	if (!w && e->nin)
		return -1; /* readable after writable */
	if (e->nout + e->nin >= VQ_MAX_SEGS)
		return -1;
	if (d->len > VQ_MAX_CHAIN_BYTES - e->out_len - e->in_len)
		return -1;
	if (!d->len)
		return 0; /* nothing to map; harmless */
	void *p = gpa_to_host(vq->mem, d->addr, d->len);
	if (!p)
		return -1;
	struct iovec *v = &e->iov[e->nout + e->nin];
	v->iov_base = p;
	v->iov_len = d->len;
	if (w) {
		e->nin++;
		e->in_len += d->len;
	} else {
		e->nout++;
		e->out_len += d->len;
	}
	return 0;
}

static int walk(struct virtqueue *vq, uint16_t head, struct vq_elem *e)
{
	const struct vring_desc *table = vq->desc;
	unsigned max = vq->size, count = 0, i = head;
	bool indirect = false;

	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	for (;;) {
		struct vring_desc d;
		if (i >= max || ++count > max)
			return -1; /* out of the table, or a loop */
		memcpy(&d, &table[i], sizeof(d));
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || !vq->indirect || (d.flags & VRING_DESC_F_NEXT))
				return -1;
			if (!d.len || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VQ_MAX_SEGS)
				return -1;
			table = gpa_to_host(vq->mem, d.addr, d.len);
			if (!table)
				return -1;
			max = d.len / sizeof(struct vring_desc);
			indirect = true;
			i = 0;
			count = 0;
			continue;
		}
		if (add_buf(vq, e, &d))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_elem *e)
{
	if (!vq->enabled || vq->broken)
		return 0;
	uint16_t n = vq->size;
	uint16_t avail_idx = ld16(&vq->avail[1]);
	if (avail_idx == vq->last_avail && vq->event_idx) {
		/* Ask to be kicked for the next buffer, then look once more so
		 * one added meanwhile is not missed. */
		st16(vq->used + 4 + 8 * n, vq->last_avail);
		if (vq->vm)
			vm_mem_dirty(vq->vm, vq->used_gpa + 4 + 8ull * n, 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = ld16(&vq->avail[1]);
	}
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > n)
		return fail(vq);                 /* driver claims more buffers than the ring holds */
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* ring entry after idx */
	uint16_t head = ld16(&vq->avail[2 + vq->last_avail % n]);
	if (head >= n || walk(vq, head, e))
		return fail(vq);
	vq->last_avail++;
	if (vq->event_idx) {
		st16(vq->used + 4 + 8 * n, vq->last_avail);
		if (vq->vm)
			vm_mem_dirty(vq->vm, vq->used_gpa + 4 + 8ull * n, 2);
	}
	return 1;
}

static void mark_written(struct virtqueue *vq, const struct vq_elem *e, size_t len)
{
	for (unsigned i = 0; i < e->nin && len; i++) {
		const struct iovec *v = &e->iov[e->nout + i];
		size_t k = v->iov_len < len ? v->iov_len : len;
		vm_mem_written(vq->vm, host_to_gpa(vq->mem, v->iov_base), k);
		len -= k;
	}
}

void vq_push(struct virtqueue *vq, const struct vq_elem *e, uint32_t len)
{
	if (!vq->enabled)
		return;
	if (vq->vm)
		mark_written(vq, e, len);
	uint8_t *u = vq->used + 4 + 8 * (vq->used_idx % vq->size);
	st32(u, e->head);
	st32(u + 4, len);
	__atomic_thread_fence(__ATOMIC_RELEASE); /* entry before idx */
	vq->used_idx++;
	st16(vq->used + 2, vq->used_idx);
	if (vq->vm) { /* the ring is guest RAM the device wrote: the entry and the index */
		vm_mem_dirty(vq->vm, vq->used_gpa + (uint64_t)(u - vq->used), 8);
		vm_mem_dirty(vq->vm, vq->used_gpa + 2, 2);
	}
}

bool vq_should_notify(struct virtqueue *vq)
{
	if (!vq->enabled)
		return false;
	/* The used idx store must be visible before reading the driver's
	 * suppression state, or both sides can decide to wait. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(ld16(&vq->avail[0]) & VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_valid;
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	uint16_t event = ld16(&vq->avail[2 + vq->size]);
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* ---- iovec helpers ---------------------------------------------------- */

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - skip;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, k);
		done += k;
		skip = 0;
	}
	return done;
}

size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - skip;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, k);
		done += k;
		skip = 0;
	}
	return done;
}

int iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *dst, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - skip;
		if (c > len)
			c = len;
		if (k == max)
			return -1;
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		dst[k].iov_len = c;
		k++;
		len -= c;
		skip = 0;
	}
	return len ? -1 : (int)k;
}
