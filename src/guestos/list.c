/* Walking a kernel list_head ring (tasks, modules) that the guest may be
 * changing, or may have corrupted on purpose.
 *
 * One walk follows next pointers from the head and checks each node's prev
 * against the node it came from, so a half-done insertion or a pointer
 * into the middle of another list is noticed at once; it gives up after max
 * nodes, so a loop that never returns to the head costs a bounded time.  A
 * consistent snapshot is two walks that agree node for node: the guest
 * changed nothing in between, or at least nothing on this list. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

static int walk(struct guestos *g, uint64_t head, size_t max, uint64_t *nodes, size_t *n, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t prev = head, node;
	size_t count = 0;

	if (gos_kread_field(g, head, &l->list_next, &node))
		return gos_err(err, errlen, "guestos: list head 0x%" PRIx64 " is not readable", head);
	while (node != head) {
		uint64_t back, next;

		if (count == max)
			return gos_err(err, errlen, "guestos: list at 0x%" PRIx64 " does not close within %zu entries",
			               head, max);
		if (gos_kread_field(g, node, &l->list_prev, &back) || gos_kread_field(g, node, &l->list_next, &next))
			return gos_err(err, errlen, "guestos: list entry 0x%" PRIx64 " is not readable", node);
		if (back != prev)
			return gos_err(err, errlen,
			               "guestos: list entry 0x%" PRIx64 " does not point back to 0x%" PRIx64, node,
			               prev);
		nodes[count++] = node;
		prev = node;
		node = next;
	}
	/* The ring closes: the head's prev must be the last node. */
	uint64_t last;
	if (gos_kread_field(g, head, &l->list_prev, &last) || last != prev)
		return gos_err(err, errlen, "guestos: list head 0x%" PRIx64 " does not point back to its last entry",
		               head);
	*n = count;
	return 0;
}

int gos_list_snapshot(struct guestos *g, uint64_t head, size_t max, uint64_t **out, size_t *n, char *err, size_t errlen)
{
	uint64_t *a = malloc(max * sizeof(*a)), *b = malloc(max * sizeof(*b));
	size_t na = 0, nb = 0;
	int r = -1;

	*out = NULL;
	*n = 0;
	if (!a || !b) {
		free(a);
		free(b);
		return gos_err(err, errlen, "guestos: out of memory");
	}
	for (int tries = 0; tries < GOS_WALK_TRIES; tries++) {
		if (walk(g, head, max, a, &na, err, errlen) || walk(g, head, max, b, &nb, err, errlen))
			continue; /* may be a torn read of a list being changed: walk again */
		if (na == nb && !memcmp(a, b, na * sizeof(*a))) {
			r = 0;
			break;
		}
		gos_err(err, errlen, "guestos: list at 0x%" PRIx64 " kept changing while it was read", head);
	}
	free(b);
	if (r) {
		free(a);
		return -1;
	}
	*out = a;
	*n = na;
	return 0;
}
