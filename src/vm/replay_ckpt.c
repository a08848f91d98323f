/* A replay's checkpoints: the store, its budget and going back to one
 * (replay_ckpt.h).  Pages are 4 KiB of the flat RAM image (vm->mem.host),
 * numbered as the dirty log numbers them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/engine.h"
#include "symbiont/device.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"
#include "vm/replay_ckpt.h"

#define PAGE 4096u

struct ckpt_dev {
	uint8_t *blob;
	size_t len;
};

struct ckpt {
	uint64_t count;
	struct x86_state cpu;
	struct engine_rr_extra extra;
	void *pos;
	int ndev;
	struct ckpt_dev *dev;
	uint64_t npages;
	uint64_t *pages; /* ascending */
	uint8_t *data;   /* npages * PAGE */
	uint64_t bytes;  /* what it holds, as counted against the budget */
};

struct rr_ckpts {
	uint64_t every, budget, bytes;
	uint64_t next_at; /* the next checkpoint to take, after the newest */
	struct ckpt *v;
	int n, cap;
	int last; /* RAM is checkpoint last's plus the pages in dirty */
	uint64_t *dirty;
	uint64_t words, npages;
	uint64_t taken, thinned, restores;
	bool failed, over_noted;
};

struct rr_ckpts *rr_ckpts_new(uint64_t every, uint64_t budget)
{
	struct rr_ckpts *c = calloc(1, sizeof(*c));
	if (c) {
		c->every = every ? every : 1;
		c->budget = budget;
		c->last = -1;
	}
	return c;
}

static void ckpt_free(struct ckpt *k)
{
	for (int i = 0; i < k->ndev; i++)
		free(k->dev[i].blob);
	free(k->dev);
	free(k->pos);
	free(k->pages);
	free(k->data);
	memset(k, 0, sizeof(*k));
}

void rr_ckpts_free(struct vm *vm, struct rr_ckpts *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++)
		ckpt_free(&c->v[i]);
	free(c->v);
	free(c->dirty);
	if (vm && c->n)
		atomic_store(&vm->dirty_on, false); /* the dirty log was ours */
	free(c);
}

uint64_t rr_ckpts_next_stop(const struct rr_ckpts *c)
{
	if (c->failed)
		return UINT64_MAX;
	if (c->last + 1 < c->n)
		return c->v[c->last + 1].count;
	return c->n ? c->next_at : 0;
}

uint64_t rr_ckpts_first(const struct rr_ckpts *c)
{
	return c->n ? c->v[0].count : UINT64_MAX;
}

uint64_t rr_ckpts_before(const struct rr_ckpts *c, uint64_t count)
{
	uint64_t at = UINT64_MAX;
	for (int i = 0; i < c->n && c->v[i].count <= count; i++)
		at = c->v[i].count;
	return at;
}

bool rr_ckpts_own_dirty_log(const struct rr_ckpts *c)
{
	return c && c->n > 0;
}

void rr_ckpts_stats(const struct rr_ckpts *c, struct replay_ckpt_stats *st)
{
	*st = (struct replay_ckpt_stats){ .kept = (uint64_t)c->n,
		                          .taken = c->taken,
		                          .thinned = c->thinned,
		                          .bytes = c->bytes,
		                          .budget = c->budget,
		                          .every = c->every,
		                          .first = c->n ? c->v[0].count : 0,
		                          .newest = c->n ? c->v[c->n - 1].count : 0,
		                          .restores = c->restores };
}

static inline bool bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static inline void set_bit(uint64_t *b, uint64_t i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static bool page_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];
	return !memcmp(p, zero, PAGE);
}

/* Index of page pg in k, or -1. */
static int64_t find_page(const struct ckpt *k, uint64_t pg)
{
	uint64_t lo = 0, hi = k->npages;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (k->pages[mid] < pg)
			lo = mid + 1;
		else if (k->pages[mid] > pg)
			hi = mid;
		else
			return (int64_t)mid;
	}
	return -1;
}

static bool wanted(const struct vm *vm, const uint64_t *bits, uint64_t pg)
{
	return bits ? bit(bits, pg) : !page_zero(vm->mem.host + pg * PAGE);
}

/* k holds the pages of bits (all non-zero pages when bits is NULL), as
 * they are in RAM now.  A bitmap is walked a word at a time: most of it
 * is zero between two checkpoints. */
static int copy_pages(struct ckpt *k, const struct vm *vm, const uint64_t *bits, uint64_t npages)
{
	uint64_t n = 0;
	for (uint64_t pg = 0; pg < npages; pg++) {
		if (bits && !bits[pg / 64]) {
			pg |= 63;
			continue;
		}
		n += wanted(vm, bits, pg);
	}
	k->pages = malloc((n ? n : 1) * sizeof(*k->pages));
	k->data = malloc((n ? n : 1) * (size_t)PAGE);
	if (!k->pages || !k->data)
		return -1;
	k->npages = 0;
	for (uint64_t pg = 0; pg < npages && k->npages < n; pg++) {
		if (bits && !bits[pg / 64]) {
			pg |= 63;
			continue;
		}
		if (wanted(vm, bits, pg)) {
			memcpy(k->data + k->npages * PAGE, vm->mem.host + pg * PAGE, PAGE);
			k->pages[k->npages++] = pg;
		}
	}
	return 0;
}

static int save_devices(struct ckpt *k, struct vm *vm, char *err, size_t errlen)
{
	int n = vm_device_count(vm), rc = 0;
	if (!(k->dev = calloc((size_t)(n ? n : 1), sizeof(*k->dev))))
		return -1;
	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < n && rc == 0; i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		rc = device_save(d->ops, d->dev, &k->dev[i].blob, &k->dev[i].len, err, errlen);
		if (rc == 0)
			k->ndev++;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return rc;
}

static uint64_t ckpt_bytes(const struct ckpt *k, size_t poslen)
{
	uint64_t b = sizeof(*k) + poslen + k->npages * (PAGE + sizeof(uint64_t));
	for (int i = 0; i < k->ndev; i++)
		b += k->dev[i].len + sizeof(k->dev[i]);
	return b;
}

/* Moves into b the pages of a that b lacks (a is dropped after). */
static int merge_into(struct ckpt *b, const struct ckpt *a)
{
	uint64_t extra = 0;
	for (uint64_t i = 0; i < a->npages; i++)
		if (find_page(b, a->pages[i]) < 0)
			extra++;
	if (!extra)
		return 0;
	uint64_t n = b->npages + extra;
	uint64_t *pages = malloc(n * sizeof(*pages));
	uint8_t *data = malloc(n * (size_t)PAGE);
	if (!pages || !data) {
		free(pages);
		free(data);
		return -1;
	}
	uint64_t i = 0, j = 0, o = 0;
	while (i < a->npages || j < b->npages) {
		bool take_b = j < b->npages && (i >= a->npages || b->pages[j] <= a->pages[i]);
		if (take_b) {
			if (i < a->npages && a->pages[i] == b->pages[j])
				i++; /* b's contents are the later ones */
			pages[o] = b->pages[j];
			memcpy(data + o * PAGE, b->data + j * PAGE, PAGE);
			j++;
		} else {
			pages[o] = a->pages[i];
			memcpy(data + o * PAGE, a->data + i * PAGE, PAGE);
			i++;
		}
		o++;
	}
	free(b->pages);
	free(b->data);
	b->pages = pages;
	b->data = data;
	b->npages = o;
	return 0;
}

/* Drops checkpoint i (0 < i < n). */
static int drop(struct rr_ckpts *c, int i, size_t poslen)
{
	struct ckpt *k = &c->v[i];
	if (i + 1 < c->n) {
		struct ckpt *next = &c->v[i + 1];
		uint64_t before = next->bytes;
		if (merge_into(next, k) < 0)
			return -1;
		next->bytes = ckpt_bytes(next, poslen);
		c->bytes += next->bytes - before;
	}
	if (i == c->last) {
		/* RAM was i's plus dirty; i is i-1's plus its own pages */
		for (uint64_t p = 0; p < k->npages; p++)
			set_bit(c->dirty, k->pages[p]);
		c->last = i - 1;
	} else if (i < c->last) {
		c->last--;
	}
	c->bytes -= k->bytes;
	ckpt_free(k);
	memmove(&c->v[i], &c->v[i + 1], (size_t)(c->n - i - 1) * sizeof(*c->v));
	c->n--;
	c->thinned++;
	return 0;
}

/* Over budget: old history thins out first.  The first checkpoint stays;
 * so does the newest while others can go. */
static void thin(struct rr_ckpts *c, uint64_t now, size_t poslen)
{
	while (c->bytes > c->budget && c->n > 1) {
		int best = c->n - 1;
		double best_score = 0;
		for (int i = 1; i + 1 < c->n; i++) {
			double gap = (double)(c->v[i + 1].count - c->v[i - 1].count);
			double age = (double)(now - c->v[i].count) + 1.0;
			double score = gap / age;
			if (best == c->n - 1 || score < best_score) {
				best = i;
				best_score = score;
			}
		}
		if (drop(c, best, poslen) < 0)
			return; /* out of memory for the merge: stay over, try again at the next one */
	}
	if (c->bytes > c->budget && !c->over_noted) {
		c->over_noted = true;
		fprintf(stderr,
		        "replay: note: the first checkpoint alone takes %llu KiB, over the %llu KiB budget; only it is "
		        "kept\n",
		        (unsigned long long)(c->bytes >> 10), (unsigned long long)(c->budget >> 10));
	}
}

static int take(struct rr_ckpts *c, struct vm *vm, uint64_t now, const void *pos, size_t poslen, char *err,
                size_t errlen)
{
	struct ckpt k = { .count = now };
	const struct engine_ops *e = vm->engine;

	if (c->n == c->cap) {
		int cap = c->cap ? c->cap * 2 : 64;
		struct ckpt *v = realloc(c->v, (size_t)cap * sizeof(*v));
		if (!v)
			goto oom;
		c->v = v;
		c->cap = cap;
	}
	if (c->n == 0) {
		/* The first: all of RAM, and from now on the dirty log is ours. */
		c->npages = vm->mem.size / PAGE;
		c->words = vm_dirty_words(vm);
		uint64_t *bits = atomic_load(&vm->dirty_bits);
		if (!(c->dirty = calloc(c->words, sizeof(uint64_t))))
			goto oom;
		if (!bits) {
			if (!(bits = calloc(c->words, sizeof(uint64_t))))
				goto oom;
			vm->dirty_npages = c->npages;
			atomic_store(&vm->dirty_bits, bits);
		}
		if (copy_pages(&k, vm, NULL, c->npages) < 0)
			goto oom;
		memset(bits, 0, c->words * sizeof(uint64_t));
		atomic_store(&vm->dirty_on, true);
	} else {
		vm_dirty_take(vm, c->dirty);
		if (copy_pages(&k, vm, c->dirty, c->npages) < 0)
			goto oom;
		memset(c->dirty, 0, c->words * sizeof(uint64_t));
	}
	e->dirty_rearm(vm);
	if (e->vcpu_get_state(vm->vcpus[0], &k.cpu) < 0) {
		snprintf(err, errlen, "cannot read the vCPU's state");
		goto fail;
	}
	e->vcpu_rr_save(vm->vcpus[0], &k.extra);
	if (save_devices(&k, vm, err, errlen) < 0)
		goto fail;
	if (!(k.pos = malloc(poslen)))
		goto oom;
	memcpy(k.pos, pos, poslen);
	k.bytes = ckpt_bytes(&k, poslen);
	c->v[c->n++] = k;
	c->bytes += k.bytes;
	c->last = c->n - 1;
	c->taken++;
	thin(c, now, poslen);
	c->next_at = now + c->every;
	return 0;
oom:
	snprintf(err, errlen, "out of memory for a checkpoint");
fail:
	ckpt_free(&k);
	c->failed = true;
	return -1;
}

int rr_ckpts_at(struct rr_ckpts *c, struct vm *vm, uint64_t now, const void *pos, size_t poslen, char *err,
                size_t errlen)
{
	if (c->failed)
		return 0;
	if (c->last + 1 < c->n) {
		if (now >= c->v[c->last + 1].count) {
			/* back where a checkpoint was taken (after a rewind): RAM is
			 * that checkpoint's again, nothing written since */
			c->last++;
			vm_dirty_take(vm, c->dirty);
			memset(c->dirty, 0, c->words * sizeof(uint64_t));
			vm->engine->dirty_rearm(vm);
		}
		return 0;
	}
	if (c->n && now < c->next_at)
		return 0;
	return take(c, vm, now, pos, poslen, err, errlen);
}

int rr_ckpts_restore(struct rr_ckpts *c, struct vm *vm, uint64_t count, uint64_t *at, void *pos, size_t poslen,
                     char *err, size_t errlen)
{
	const struct engine_ops *e = vm->engine;
	int k = -1;

	if (c->failed || !c->n) {
		snprintf(err, errlen, "the replay has no checkpoints%s", c->failed ? " (taking one failed)" : "");
		return -1;
	}
	for (int i = 0; i < c->n && c->v[i].count <= count; i++)
		k = i;
	if (k < 0) {
		snprintf(err, errlen, "instruction %llu is before the first checkpoint (%llu)",
		         (unsigned long long)count, (unsigned long long)c->v[0].count);
		return -1;
	}
	/* Pages that differ from checkpoint k: written since checkpoint last,
	 * and those of the checkpoints between k and last. */
	vm_dirty_take(vm, c->dirty);
	int lo = k < c->last ? k : c->last, hi = k < c->last ? c->last : k;
	for (int j = lo + 1; j <= hi; j++)
		for (uint64_t p = 0; p < c->v[j].npages; p++)
			set_bit(c->dirty, c->v[j].pages[p]);
	for (uint64_t w = 0; w < c->words; w++) {
		for (uint64_t bits = c->dirty[w]; bits; bits &= bits - 1) {
			uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
			const uint8_t *src = NULL;
			if (pg >= c->npages)
				break;
			for (int j = k; j >= 0 && !src; j--) {
				int64_t i = find_page(&c->v[j], pg);
				if (i >= 0)
					src = c->v[j].data + (uint64_t)i * PAGE;
			}
			if (src)
				memcpy(vm->mem.host + pg * PAGE, src, PAGE);
			else
				memset(vm->mem.host + pg * PAGE, 0, PAGE); /* not in the first: it was zero */
		}
	}
	memset(c->dirty, 0, c->words * sizeof(uint64_t));
	c->last = k;
	e->dirty_rearm(vm);

	struct ckpt *ck = &c->v[k];
	struct x86_state s = ck->cpu;
	s.parts = X86_STATE_ALL; /* new RAM: the engine drops what it decoded */
	if (e->vcpu_set_state(vm->vcpus[0], &s) < 0) {
		snprintf(err, errlen, "cannot set the vCPU's state");
		return -2;
	}
	e->vcpu_rr_load(vm->vcpus[0], &ck->extra);
	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < ck->ndev && i < vm_device_count(vm); i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		if (device_load(d->ops, d->dev, ck->dev[i].blob, ck->dev[i].len, err, errlen) < 0) {
			pthread_mutex_unlock(&vm->io_lock);
			return -2;
		}
	}
	pthread_mutex_unlock(&vm->io_lock);
	memcpy(pos, ck->pos, poslen);
	*at = ck->count;
	c->restores++;
	return 0;
}
