/* The shared-memory data path of one VM-to-VM vsock connection
 * (host/vsock_group.c, docs/vsock.md).
 *
 * Each VMM of a connection creates the ring it receives into: a sealed
 * memfd (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) holding the
 * producer's count (tail), the consumer's count (head) and a byte ring of
 * VSOCK_RING_SIZE, and passes it to the peer VMM with SCM_RIGHTS at
 * connection set-up.  So each VMM maps two rings: its own (it consumes,
 * copying into its guest's rx buffers) and the peer's (it produces,
 * copying from its guest's tx buffers): one copy per byte in each VMM.
 *
 * The peer may write anything into both mappings at any time.  So each
 * side keeps its own index in private memory and never reads it back; the
 * other's index is read once per look, and taken only when it is within
 * the ring (and, for the consumer's count, not going back); every offset
 * into the data is masked.  A peer that breaks that breaks only its own
 * connection.  A ring the peer passes must be a sealed memfd of exactly
 * the expected size, so it cannot shrink under the mapping (SIGBUS). */
#ifndef SYMBIONT_HOST_VSOCK_RING_H
#define SYMBIONT_HOST_VSOCK_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSOCK_RING_SIZE  (256u << 10) /* data bytes per direction: a power of two */
#define VSOCK_RING_DATA  4096u        /* where the data starts in the memfd */
#define VSOCK_RING_BYTES (VSOCK_RING_DATA + VSOCK_RING_SIZE)
/* The consumer tells the producer (a doorbell) after taking this much:
 * the producer's guest learns of new credit in steps of it. */
#define VSOCK_RING_KICK_STEP (VSOCK_RING_SIZE / 4)

struct vsock_ring {
	uint8_t *rx;        /* our ring, which we consume; mapped at creation */
	uint8_t *tx;        /* the peer's, which we fill; NULL until attached */
	int rx_fd;          /* our memfd until the peer has it; then -1 */
	uint32_t rx_head;   /* bytes we consumed (private) */
	uint32_t rx_tail;   /* the producer's count as last validated */
	uint32_t rx_kicked; /* rx_head when we last rang the producer */
	uint32_t tx_tail;   /* bytes we produced (private) */
	uint32_t tx_head;   /* the consumer's count as last validated */
};

/* Our half: a new ring to receive into.  NULL with a reason. */
struct vsock_ring *vsock_ring_new(char *err, size_t errlen);
/* Our memfd went to the peer: we need it no more. */
void vsock_ring_sent(struct vsock_ring *r);
/* Maps the peer's ring from memfd (consumed: closed in any case) after
 * checking it is a sealed memfd of VSOCK_RING_BYTES.  0, or -1. */
int vsock_ring_attach(struct vsock_ring *r, int memfd);
/* Checks memfd as attach does; for tests. */
bool vsock_ring_fd_ok(int memfd);
void vsock_ring_free(struct vsock_ring *r);

/* ---- consuming our ring ---- */
/* Bytes waiting: reads the producer's count once; -1 when it is not
 * within the ring (the connection is broken). */
int64_t vsock_ring_rx_avail(struct vsock_ring *r);
/* The contiguous readable bytes at our head, within what the last
 * vsock_ring_rx_avail() saw: a pointer into the ring and *len. */
const uint8_t *vsock_ring_rx_span(const struct vsock_ring *r, size_t *len);
/* When the producer last published (CLOCK_MONOTONIC ns), as it says: for
 * statistics only (the peer may write anything there). */
uint64_t vsock_ring_rx_stamp(const struct vsock_ring *r);
/* Took n (at most the span) bytes; true when the producer should be rung. */
bool vsock_ring_rx_advance(struct vsock_ring *r, size_t n);

/* ---- filling the peer's ring ---- */
/* Bytes the consumer took so far (its count: our guest's fwd_cnt): reads
 * it once; -1 when it is not within the ring or goes back. */
int vsock_ring_tx_consumed(struct vsock_ring *r, uint32_t *head);
/* Room after the last vsock_ring_tx_consumed(). */
size_t vsock_ring_tx_room(const struct vsock_ring *r);
/* The contiguous writable bytes at our tail, within that room. */
uint8_t *vsock_ring_tx_span(const struct vsock_ring *r, size_t *len);
/* Wrote n (at most the span) bytes: publishes them. */
void vsock_ring_tx_advance(struct vsock_ring *r, size_t n);

#endif
