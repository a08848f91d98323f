/* Split virtqueues (virtio 1.0 §2.6) as the device sees them.
 *
 * The driver owns the descriptor table and the available ring, the device
 * the used ring; all three live in guest RAM.  Everything read from there is
 * copied before use and checked: a chain's buffers must lie in guest RAM
 * (gpa_to_host with their length), the walk is bounded by the queue size
 * (by the table's own size inside an indirect table), indirect tables do
 * not nest, the total length is bounded, and device-readable buffers come
 * before device-writable ones.  A chain that breaks any rule makes vq_pop()
 * return -1 and marks the queue broken; the transport then sets
 * NEEDS_RESET and stops serving it until the driver resets the device.
 *
 * A popped chain is a struct vq_elem: iov[0..nout) are the buffers the
 * device reads (driver → device), iov[nout..nout+nin) the ones it writes,
 * all pointing straight into guest memory.  vq_push() returns it to the
 * driver with the number of bytes written (and tells the engine those
 * guest bytes changed); vq_should_notify() applies the
 * driver's interrupt suppression (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event
 * with VIRTIO_F_EVENT_IDX).
 *
 * Callers hold vm->io_lock. */
#ifndef SYMBIONT_VIRTIO_VIRTQUEUE_H
#define SYMBIONT_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "symbiont/memory.h"

#define VQ_MAX_SIZE        256
#define VQ_MAX_SEGS        1024         /* buffers in one chain, indirect included */
#define VQ_MAX_CHAIN_BYTES (256u << 20) /* total length of one chain */

#define VRING_DESC_F_NEXT          1
#define VRING_DESC_F_WRITE         2
#define VRING_DESC_F_INDIRECT      4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY     1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq_elem {
	uint16_t head;
	unsigned nout, nin;
	size_t out_len, in_len;
	struct iovec iov[VQ_MAX_SEGS];
};

struct vm;

struct virtqueue {
	const struct guest_mem *mem;
	struct vm *vm; /* for vm_mem_written; NULL in bare tests */
	/* Driver-programmed layout. */
	uint16_t size; /* entries (power of two, <= max_size) */
	uint16_t max_size;
	uint16_t msix_vector; /* 0xffff: none */
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Negotiated features that change the ring format. */
	bool event_idx, indirect;
	/* Device state. */
	bool broken;
	uint16_t last_avail; /* next avail entry to take */
	uint16_t used_idx;   /* next used entry to fill */
	uint16_t signalled_used;
	bool signalled_valid;
	/* Host views of the rings, set by vq_start. */
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[size], used_event */
	uint8_t *used;   /* flags, idx, {id,len}[size], avail_event */
};

/* Forgets everything the driver programmed (device reset). */
void vq_reset(struct virtqueue *vq);
/* Checks the ring addresses and maps them; 0, or -1 (queue stays off). */
int vq_start(struct virtqueue *vq);
/* The checks and mapping alone, indices untouched (a queue being loaded
 * from saved state); 0 or -1. */
int vq_map(struct virtqueue *vq);
/* 1 with a chain in e, 0 when no buffer is available, -1 for a malformed
 * chain or ring (the queue is then broken). */
int vq_pop(struct virtqueue *vq, struct vq_elem *e);
/* Hands the chain back with len bytes written into its writable part.
 * Those bytes are reported to the engine (vm_mem_written) first, so a CPU
 * model that caches decoded code drops what it derived from them. */
void vq_push(struct virtqueue *vq, const struct vq_elem *e, uint32_t len);
/* Whether the driver wants an interrupt for what was pushed since the last
 * time this returned true. */
bool vq_should_notify(struct virtqueue *vq);

/* Copy helpers over an iovec array, starting skip bytes in; they return the
 * number of bytes copied (less than len when the iovecs run out). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);
/* Writes into dst (at most max entries) the iovecs covering [skip,
 * skip+len) of iov; returns the count, or -1 if it needs more than max or
 * the range runs past the end. */
int iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len, struct iovec *dst, unsigned max);

#endif
