/* A replay's checkpoints (docs/replay.md, "Reverse execution"): the whole
 * VM at chosen instruction counts, in memory, within a byte budget.
 *
 * The first checkpoint holds every non-zero page of guest RAM; each later
 * one only the pages written since the one before it (the dirty log,
 * src/vm/dirty.c, which the replay then owns), with their contents at its
 * count.  A page's contents at checkpoint k are those in the newest of
 * checkpoints 1..k that holds it, else the first's (else zero).  Going
 * back from now to checkpoint k rewrites only the pages written since:
 * those in the dirty log and in the checkpoints between k and the one the
 * RAM was last known to equal.
 *
 * Over budget, a checkpoint other than the first and the newest is
 * dropped (the one whose neighbours are closest for its age, so that old
 * history thins out first); its pages that the next one lacks move there.
 *
 * The replay's own position in its log is an opaque blob kept with each. */
#ifndef VM_REPLAY_CKPT_H
#define VM_REPLAY_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct rr_ckpts;
struct replay_ckpt_stats;

struct rr_ckpts *rr_ckpts_new(uint64_t every, uint64_t budget);
void rr_ckpts_free(struct vm *vm, struct rr_ckpts *c);

/* The count at which the vCPU must next look (a checkpoint to take, or an
 * earlier one to pass again), UINT64_MAX for none. */
uint64_t rr_ckpts_next_stop(const struct rr_ckpts *c);
/* On the vCPU's thread at an interrupt check at count now: takes a due
 * checkpoint (pos: the replay's position) or notes that the vCPU is back
 * at an existing one.  0, or -1 with err (out of memory: checkpoints stop). */
int rr_ckpts_at(struct rr_ckpts *c, struct vm *vm, uint64_t now, const void *pos, size_t poslen, char *err,
                size_t errlen);
/* With the vCPUs parked: the VM back to the newest checkpoint at or
 * before count; its position into pos.  0; -1 with err and nothing
 * changed (none there); -2 with err when it failed half way. */
int rr_ckpts_restore(struct rr_ckpts *c, struct vm *vm, uint64_t count, uint64_t *at, void *pos, size_t poslen,
                     char *err, size_t errlen);
/* The count of the newest checkpoint at or before count (UINT64_MAX: none). */
uint64_t rr_ckpts_before(const struct rr_ckpts *c, uint64_t count);
/* The first checkpoint's count (UINT64_MAX before it is taken). */
uint64_t rr_ckpts_first(const struct rr_ckpts *c);
void rr_ckpts_stats(const struct rr_ckpts *c, struct replay_ckpt_stats *st);
/* A migration's dirty log would take the pages the checkpoints need. */
bool rr_ckpts_own_dirty_log(const struct rr_ckpts *c);

#endif
