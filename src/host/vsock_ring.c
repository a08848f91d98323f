/* Shared-memory rings of VM-to-VM vsock connections (host/vsock_ring.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/vsock_ring.h"
#include "symbiont/clock.h"

/* In each memfd: the producer's count, the consumer's, each on its own
 * cache line, then the data at VSOCK_RING_DATA. */
#define OFF_TAIL  0
#define OFF_HEAD  64
#define OFF_STAMP 128 /* CLOCK_MONOTONIC ns of the producer's last publish */
#define SEALS     (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

_Static_assert((VSOCK_RING_SIZE & (VSOCK_RING_SIZE - 1)) == 0, "the ring size is a power of two");

static uint32_t load(const uint8_t *map, size_t off)
{
	return __atomic_load_n((const uint32_t *)(map + off), __ATOMIC_ACQUIRE);
}

static void store(uint8_t *map, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(map + off), v, __ATOMIC_RELEASE);
}

struct vsock_ring *vsock_ring_new(char *err, size_t errlen)
{
	struct vsock_ring *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->rx_fd = memfd_create("symbiont-vsock-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->rx_fd < 0 || ftruncate(r->rx_fd, VSOCK_RING_BYTES) < 0 || fcntl(r->rx_fd, F_ADD_SEALS, SEALS) < 0) {
		snprintf(err, errlen, "vsock ring: memfd: %s", strerror(errno));
		goto fail;
	}
	r->rx = mmap(NULL, VSOCK_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, r->rx_fd, 0);
	if (r->rx == MAP_FAILED) {
		r->rx = NULL;
		snprintf(err, errlen, "vsock ring: mmap: %s", strerror(errno));
		goto fail;
	}
	return r;
fail:
	vsock_ring_free(r);
	return NULL;
}

void vsock_ring_sent(struct vsock_ring *r)
{
	if (r->rx_fd >= 0)
		close(r->rx_fd);
	r->rx_fd = -1;
}

bool vsock_ring_fd_ok(int memfd)
{
	struct stat st;
	int seals = fcntl(memfd, F_GET_SEALS);

	/* Only memfds (shmem, hugetlbfs) have seals: anything else fails here. */
	return seals >= 0 && (seals & SEALS) == SEALS && fstat(memfd, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size == VSOCK_RING_BYTES;
}

int vsock_ring_attach(struct vsock_ring *r, int memfd)
{
	void *p = MAP_FAILED;

	if (!r->tx && vsock_ring_fd_ok(memfd))
		p = mmap(NULL, VSOCK_RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	if (p == MAP_FAILED)
		return -1;
	r->tx = p;
	return 0;
}

void vsock_ring_free(struct vsock_ring *r)
{
	if (!r)
		return;
	if (r->rx)
		munmap(r->rx, VSOCK_RING_BYTES);
	if (r->tx)
		munmap(r->tx, VSOCK_RING_BYTES);
	vsock_ring_sent(r);
	free(r);
}

int64_t vsock_ring_rx_avail(struct vsock_ring *r)
{
	uint32_t tail = load(r->rx, OFF_TAIL);

	if (tail - r->rx_head > VSOCK_RING_SIZE)
		return -1;
	r->rx_tail = tail;
	return tail - r->rx_head;
}

const uint8_t *vsock_ring_rx_span(const struct vsock_ring *r, size_t *len)
{
	uint32_t off = r->rx_head & (VSOCK_RING_SIZE - 1), avail = r->rx_tail - r->rx_head;

	*len = avail < VSOCK_RING_SIZE - off ? avail : VSOCK_RING_SIZE - off;
	return r->rx + VSOCK_RING_DATA + off;
}

bool vsock_ring_rx_advance(struct vsock_ring *r, size_t n)
{
	size_t span;

	vsock_ring_rx_span(r, &span);
	if (n > span)
		n = span;
	r->rx_head += (uint32_t)n;
	store(r->rx, OFF_HEAD, r->rx_head);
	if (r->rx_head - r->rx_kicked < VSOCK_RING_KICK_STEP)
		return false;
	r->rx_kicked = r->rx_head;
	return true;
}

int vsock_ring_tx_consumed(struct vsock_ring *r, uint32_t *head)
{
	uint32_t h;

	if (!r->tx) { /* the peer's ring is not here yet: nothing taken */
		*head = r->tx_head;
		return 0;
	}
	h = load(r->tx, OFF_HEAD);
	/* Between what it took before and what we gave it. */
	if (h - r->tx_head > r->tx_tail - r->tx_head)
		return -1;
	r->tx_head = h;
	*head = h;
	return 0;
}

size_t vsock_ring_tx_room(const struct vsock_ring *r)
{
	return r->tx ? VSOCK_RING_SIZE - (r->tx_tail - r->tx_head) : 0;
}

uint8_t *vsock_ring_tx_span(const struct vsock_ring *r, size_t *len)
{
	uint32_t off = r->tx_tail & (VSOCK_RING_SIZE - 1);
	size_t room = vsock_ring_tx_room(r);

	*len = room < VSOCK_RING_SIZE - off ? room : VSOCK_RING_SIZE - off;
	return r->tx ? r->tx + VSOCK_RING_DATA + off : NULL;
}

void vsock_ring_tx_advance(struct vsock_ring *r, size_t n)
{
	size_t span;

	vsock_ring_tx_span(r, &span);
	if (n > span)
		n = span;
	r->tx_tail += (uint32_t)n;
	__atomic_store_n((uint64_t *)(r->tx + OFF_STAMP), host_clock_ns(), __ATOMIC_RELAXED);
	store(r->tx, OFF_TAIL, r->tx_tail);
}

uint64_t vsock_ring_rx_stamp(const struct vsock_ring *r)
{
	return __atomic_load_n((const uint64_t *)(r->rx + OFF_STAMP), __ATOMIC_RELAXED);
}
