/* libFuzzer target: the shared-memory rings of VM-to-VM vsock
 * (host/vsock_ring.h) driven by a hostile peer.  Two rings in one process
 * stand for two VMMs: a fills b's ring and b consumes it, while the input
 * also writes whatever it likes into the counts in shared memory, as a
 * peer VMM may at any time.  Whatever the counts say, every span handed
 * out must lie inside the ring's data, no look may report more than a ring
 * of data or room, and a consumer's count is only taken between what it
 * took before and what was produced.
 *
 * Input: a sequence of operations, each one byte (the low 3 bits) and two
 * or four bytes of argument. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/vsock_ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vsock_ring *a, *b;
static uint8_t scratch[VSOCK_RING_SIZE];

static void check_span(const struct vsock_ring *r, const uint8_t *map, const uint8_t *p, size_t len)
{
	(void)r;
	if (len > VSOCK_RING_SIZE || p < map + VSOCK_RING_DATA || p + len > map + VSOCK_RING_BYTES)
		abort();
}

static void setup(void)
{
	char err[128];

	a = vsock_ring_new(err, sizeof(err));
	b = vsock_ring_new(err, sizeof(err));
	if (!a || !b || vsock_ring_attach(a, dup(b->rx_fd)) < 0 || vsock_ring_attach(b, dup(a->rx_fd)) < 0) {
		fprintf(stderr, "fuzz_vsock_ring: cannot set up the rings\n");
		abort();
	}
}

/* Each input starts from empty rings. */
static void reset(struct vsock_ring *r)
{
	memset(r->rx, 0, 128);
	r->rx_head = r->rx_tail = r->rx_kicked = r->tx_tail = r->tx_head = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!a)
		setup();
	reset(a);
	reset(b);
	while (size >= 3) {
		uint8_t op = data[0] & 7;
		uint32_t arg = (uint32_t)data[1] | (uint32_t)data[2] << 8;
		data += 3, size -= 3;
		if (op >= 4 && size >= 2) { /* a full 32-bit count */
			arg |= (uint32_t)data[0] << 16 | (uint32_t)data[1] << 24;
			data += 2, size -= 2;
		}
		switch (op) {
		case 0: /* a fills b's ring with up to arg * 8 bytes */
		case 1: {
			uint32_t head, before = a->tx_head;
			size_t want = (size_t)arg * 8, n;
			if (vsock_ring_tx_consumed(a, &head) < 0)
				break;
			if (head - before > a->tx_tail - before)
				abort(); /* took a count outside what it may be */
			if (vsock_ring_tx_room(a) > VSOCK_RING_SIZE)
				abort();
			if (want > vsock_ring_tx_room(a))
				want = vsock_ring_tx_room(a);
			while (want) {
				uint8_t *p = vsock_ring_tx_span(a, &n);
				check_span(a, a->tx, p, n);
				if (!n)
					abort(); /* room said there was some */
				if (n > want)
					n = want;
				memset(p, 0x5a, n);
				vsock_ring_tx_advance(a, n);
				want -= n;
			}
			break;
		}
		case 2: /* b consumes up to arg * 8 bytes */
		case 3: {
			int64_t avail = vsock_ring_rx_avail(b);
			size_t want = (size_t)arg * 8, n;
			if (avail < 0)
				break;
			if (avail > VSOCK_RING_SIZE)
				abort();
			if (want > (size_t)avail)
				want = (size_t)avail;
			while (want) {
				const uint8_t *p = vsock_ring_rx_span(b, &n);
				check_span(b, b->rx, p, n);
				if (!n)
					abort();
				if (n > want)
					n = want;
				memcpy(scratch, p, n);
				vsock_ring_rx_advance(b, n);
				want -= n;
			}
			break;
		}
		case 4: /* the hostile producer's count */
			__atomic_store_n((uint32_t *)b->rx, arg, __ATOMIC_RELEASE);
			break;
		case 5: /* the hostile consumer's count */
			__atomic_store_n((uint32_t *)(b->rx + 64), arg, __ATOMIC_RELEASE);
			break;
		case 6: /* spans without a fresh look: still inside */
		case 7: {
			size_t n;
			const uint8_t *p = vsock_ring_rx_span(b, &n);
			check_span(b, b->rx, p, n);
			uint8_t *q = vsock_ring_tx_span(a, &n);
			check_span(a, a->tx, q, n);
			break;
		}
		}
	}
	return 0;
}
