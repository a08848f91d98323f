/* The event hub (symbiont/event.h): subscriptions, delivery, and the
 * matching of syscall exits to their entries.
 *
 * Delivery runs on vCPU threads under the read side of a writer-preferring
 * rwlock, so subscribing and unsubscribing (the write side) wait for
 * deliveries in flight and are never starved by a guest that makes
 * syscalls without pause.  vm->events_active holds one bit per event type
 * with a live subscription: the only thing an engine looks at when nobody
 * listens.
 *
 * A syscall exit is the return to user mode, in the same address space and
 * on the same user stack, at the instruction after the SYSCALL.  Entries
 * wait in a small open-addressed table keyed by (CR3, RSP, RIP); a call
 * that never returns there (execve, a signal handler, exit) is pushed out
 * by newer ones and counted as unmatched. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/engine.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

#define MAX_SUBS      64
#define PENDING_SLOTS 1024 /* power of two */
#define PENDING_PROBE 8
#define CR3_ROOT_MASK 0x000ffffffffff000ULL

struct sym_sub {
	struct event_hub *hub;
	struct sym_filter f;
	sym_event_fn fn;
	void *opaque;
	_Atomic bool dropped; /* returned SYM_UNSUBSCRIBE: skipped until removed */
};

struct pending_syscall {
	bool used;
	uint64_t cr3, rsp, rip, stamp;
	struct sym_event enter; /* regs not kept: they die with the call */
};

struct event_hub {
	struct vm *vm;
	pthread_rwlock_t lock;
	struct sym_sub *subs[MAX_SUBS];
	int nsubs;

	pthread_mutex_t pending_lock;
	struct pending_syscall pending[PENDING_SLOTS];
	uint64_t stamp;

	_Atomic uint64_t delivered[SYM_EV_TYPES];
	_Atomic uint64_t unmatched;

	/* Watched pages: a count per 4 KiB page of RAM (low RAM, then high). */
	_Atomic uint8_t *watch;
	uint64_t watch_pages;
};

static struct event_hub *hub_of(struct vm *vm, char *err, size_t errlen)
{
	struct event_hub *h = vm->hub;
	pthread_rwlockattr_t a;

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->vm = vm;
	h->watch_pages = vm->mem.size >> 12;
	h->watch = calloc(h->watch_pages ? h->watch_pages : 1, 1);
	if (!h->watch) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&h->lock, &a);
	pthread_rwlockattr_destroy(&a);
	pthread_mutex_init(&h->pending_lock, NULL);
	vm->hub = h;
	return h;
}

void vm_event_hub_free(struct vm *vm)
{
	struct event_hub *h = vm->hub;
	if (!h)
		return;
	for (int i = 0; i < h->nsubs; i++)
		free(h->subs[i]);
	pthread_rwlock_destroy(&h->lock);
	pthread_mutex_destroy(&h->pending_lock);
	free((void *)h->watch);
	free(h);
	vm->hub = NULL;
}

/* Write side held. */
static void recompute_active(struct event_hub *h)
{
	unsigned mask = 0;
	for (int i = 0; i < h->nsubs; i++)
		if (!atomic_load(&h->subs[i]->dropped))
			mask |= SYM_EV_BIT(h->subs[i]->f.type);
	atomic_store(&h->vm->events_active, mask);
}

/* Write side held: frees subscriptions their callbacks dropped. */
static void reap(struct event_hub *h)
{
	for (int i = 0; i < h->nsubs;) {
		if (atomic_load(&h->subs[i]->dropped)) {
			free(h->subs[i]);
			h->subs[i] = h->subs[--h->nsubs];
			continue;
		}
		i++;
	}
}

static void debug_changed(struct vm *vm, enum sym_event_type type)
{
	bool debug = type == SYM_EV_CODE_HOOK || type == SYM_EV_STEP || type == SYM_EV_SYSCALL_ENTER ||
	             type == SYM_EV_SYSCALL_EXIT || type == SYM_EV_EXCEPTION;
	if (debug && vm->engine && vm->engine->debug_changed)
		vm->engine->debug_changed(vm);
}

struct sym_sub *sym_subscribe(struct vm *vm, const struct sym_filter *f, sym_event_fn fn, void *opaque, char *err,
                              size_t errlen)
{
	struct event_hub *h;
	struct sym_sub *s;
	unsigned engine_events = !vm->engine             ? 0
	                         : vm->engine->events_on ? vm->engine->events_on(vm)
	                                                 : vm->engine->events;

	if (!f || !fn || (unsigned)f->type >= SYM_EV_TYPES) {
		snprintf(err, errlen, "event: a filter with a known type and a callback are required");
		return NULL;
	}
	if ((SYM_EV_BIT(f->type) & SYM_EV_VCPU_MASK) && !(SYM_EV_BIT(f->type) & engine_events)) {
		snprintf(err, errlen, "event: the %s engine does not deliver this event type yet",
		         vm->engine ? vm->engine->name : "(no)");
		return NULL;
	}
	if (f->type == SYM_EV_CODE_HOOK && !gpa_to_host(&vm->mem, f->hook_gpa, 1)) {
		snprintf(err, errlen, "event: hook address 0x%llx is not guest RAM", (unsigned long long)f->hook_gpa);
		return NULL;
	}
	if (f->one_cpu && (f->cpu < 0 || f->cpu >= vm->ncpus)) {
		snprintf(err, errlen, "event: vCPU %d does not exist (the VM has %d)", f->cpu, vm->ncpus);
		return NULL;
	}
	if (f->type == SYM_EV_EXCEPTION && (f->vector < -1 || f->vector > 31)) {
		snprintf(err, errlen, "event: exception vector %d is not 0-31 (or -1 for any)", f->vector);
		return NULL;
	}
	if (!(h = hub_of(vm, err, errlen)))
		return NULL;
	if (vm->engine && vm->engine->event_check && vm->engine->event_check(vm, f, err, errlen) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->hub = h;
	s->f = *f;
	s->f.cr3 &= CR3_ROOT_MASK;
	s->fn = fn;
	s->opaque = opaque;
	pthread_rwlock_wrlock(&h->lock);
	reap(h);
	if (h->nsubs == MAX_SUBS) {
		pthread_rwlock_unlock(&h->lock);
		free(s);
		snprintf(err, errlen, "event: too many subscriptions (%d)", MAX_SUBS);
		return NULL;
	}
	h->subs[h->nsubs++] = s;
	recompute_active(h);
	if (f->type == SYM_EV_CODE_HOOK)
		atomic_fetch_add(&vm->hooks_gen, 1); /* engines look at their decoded code again */
	if (f->type == SYM_EV_MSR_WRITE)
		atomic_fetch_add(&vm->msrs_gen, 1); /* and at the MSRs they intercept */
	pthread_rwlock_unlock(&h->lock);
	debug_changed(vm, f->type);
	if (f->type == SYM_EV_PAGE_READ && vm->engine && vm->engine->watch_changed)
		vm->engine->watch_changed(vm); /* the watched pages' reads leave the fast path too */
	return s;
}

void sym_unsubscribe(struct sym_sub *s)
{
	struct event_hub *h;
	if (!s)
		return;
	h = s->hub;
	enum sym_event_type type = s->f.type;
	pthread_rwlock_wrlock(&h->lock);
	atomic_store(&s->dropped, true);
	recompute_active(h);
	if (type == SYM_EV_CODE_HOOK)
		atomic_fetch_add(&h->vm->hooks_gen, 1);
	if (type == SYM_EV_MSR_WRITE)
		atomic_fetch_add(&h->vm->msrs_gen, 1);
	reap(h); /* frees s */
	pthread_rwlock_unlock(&h->lock);
	debug_changed(h->vm, type);
}

int sym_hooks(struct vm *vm, uint64_t *gpas, int max)
{
	struct event_hub *h = vm->hub;
	int n = 0;
	if (!h || !vm_events_wanted(vm, SYM_EV_CODE_HOOK))
		return 0;
	pthread_rwlock_rdlock(&h->lock);
	for (int i = 0; i < h->nsubs; i++) {
		struct sym_sub *s = h->subs[i];
		if (s->f.type != SYM_EV_CODE_HOOK || atomic_load(&s->dropped))
			continue;
		bool seen = false;
		for (int k = 0; k < n && k < max && !seen; k++)
			seen = gpas[k] == s->f.hook_gpa;
		if (seen)
			continue;
		if (n < max)
			gpas[n] = s->f.hook_gpa;
		n++;
	}
	pthread_rwlock_unlock(&h->lock);
	return n;
}

uint32_t sym_exception_vectors(struct vm *vm)
{
	struct event_hub *h = vm->hub;
	uint32_t v = 0;
	if (!h || !vm_events_wanted(vm, SYM_EV_EXCEPTION))
		return 0;
	pthread_rwlock_rdlock(&h->lock);
	for (int i = 0; i < h->nsubs; i++) {
		struct sym_sub *s = h->subs[i];
		if (s->f.type == SYM_EV_EXCEPTION && !atomic_load(&s->dropped))
			v |= s->f.vector < 0 ? 0xffffffffu : 1u << s->f.vector;
	}
	pthread_rwlock_unlock(&h->lock);
	return v;
}

int sym_msrs(struct vm *vm, uint32_t *msrs, int max)
{
	struct event_hub *h = vm->hub;
	int n = 0;
	if (!h || !vm_events_wanted(vm, SYM_EV_MSR_WRITE))
		return 0;
	pthread_rwlock_rdlock(&h->lock);
	for (int i = 0; i < h->nsubs && n >= 0; i++) {
		struct sym_sub *s = h->subs[i];
		if (s->f.type != SYM_EV_MSR_WRITE || atomic_load(&s->dropped))
			continue;
		if (s->f.msr == 0) {
			n = -1; /* any MSR */
			break;
		}
		bool seen = false;
		for (int k = 0; k < n && k < max && !seen; k++)
			seen = msrs[k] == s->f.msr;
		if (seen)
			continue;
		if (n < max)
			msrs[n] = s->f.msr;
		n++;
	}
	pthread_rwlock_unlock(&h->lock);
	return n;
}

bool sym_hooked(struct vm *vm, uint64_t gpa)
{
	struct event_hub *h = vm->hub;
	bool hit = false;
	if (!h || !vm_events_wanted(vm, SYM_EV_CODE_HOOK))
		return false;
	pthread_rwlock_rdlock(&h->lock);
	for (int i = 0; i < h->nsubs && !hit; i++)
		hit = h->subs[i]->f.type == SYM_EV_CODE_HOOK && h->subs[i]->f.hook_gpa == gpa &&
		      !atomic_load(&h->subs[i]->dropped);
	pthread_rwlock_unlock(&h->lock);
	return hit;
}

static bool matches(const struct sym_filter *f, const struct sym_event *ev)
{
	if (f->type != ev->type)
		return false;
	if (f->cr3 && ev->regs && (ev->regs->cr3 & CR3_ROOT_MASK) != f->cr3)
		return false;
	if (f->one_cpu && ev->cpu != f->cpu)
		return false;
	switch (ev->type) {
	case SYM_EV_SYSCALL_ENTER:
	case SYM_EV_SYSCALL_EXIT: {
		bool any = true;
		if (f->compat != ev->syscall.compat)
			return false;
		for (unsigned i = 0; i < SYM_SYSCALL_MAX / 64; i++)
			any &= f->syscalls[i] == 0;
		if (any)
			return true;
		uint64_t nr = ev->syscall.nr;
		return nr < SYM_SYSCALL_MAX && (f->syscalls[nr / 64] >> (nr % 64) & 1);
	}
	case SYM_EV_EXCEPTION: return f->vector < 0 || f->vector == ev->exception.vector;
	case SYM_EV_MSR_WRITE: return f->msr == 0 || f->msr == ev->msr.msr;
	case SYM_EV_PAGE_WRITE:
		return (!f->gpa_start && !f->gpa_end) ||
		       (ev->write.gpa < f->gpa_end && ev->write.gpa + ev->write.len > f->gpa_start);
	case SYM_EV_PAGE_READ:
		return (!f->gpa_start && !f->gpa_end) ||
		       (ev->read.gpa < f->gpa_end && ev->read.gpa + ev->read.len > f->gpa_start);
	case SYM_EV_CODE_HOOK: return f->hook_gpa == ev->hook.gpa;
	default: return true;
	}
}

enum sym_action sym_event_deliver(struct vm *vm, struct sym_event *ev)
{
	struct event_hub *h = vm->hub;
	enum sym_action result = SYM_CONTINUE;
	bool dropped = false, stop = false;
	bool can_stop = ev->cpu >= 0 &&
	                (ev->type == SYM_EV_CODE_HOOK || ev->type == SYM_EV_STEP || ev->type == SYM_EV_PAGE_WRITE ||
	                 ev->type == SYM_EV_PAGE_READ || ev->type == SYM_EV_HW_POINT);

	if (!h)
		return SYM_CONTINUE;
	pthread_rwlock_rdlock(&h->lock);
	for (int i = 0; i < h->nsubs; i++) {
		struct sym_sub *s = h->subs[i];
		if (atomic_load(&s->dropped) || !matches(&s->f, ev))
			continue;
		enum sym_action a = s->fn(s->opaque, ev);
		atomic_fetch_add(&h->delivered[ev->type], 1);
		if (a == SYM_SKIP)
			result = SYM_SKIP;
		else if (a == SYM_UNSUBSCRIBE)
			atomic_store(&s->dropped, true), dropped = true;
		else if (a == SYM_STOP && can_stop)
			stop = true;
	}
	pthread_rwlock_unlock(&h->lock);
	/* The subscriber took its pause hold (vm_pause_request); without one
	 * there is nothing to stop for (and an emu hook would fire again). */
	if (stop && result != SYM_SKIP && vm_pause_pending(vm))
		result = SYM_STOP;
	if (dropped) { /* clear the active bit now if that was the last one */
		pthread_rwlock_wrlock(&h->lock);
		recompute_active(h);
		if (ev->type == SYM_EV_CODE_HOOK)
			atomic_fetch_add(&vm->hooks_gen, 1);
		if (ev->type == SYM_EV_MSR_WRITE)
			atomic_fetch_add(&vm->msrs_gen, 1);
		pthread_rwlock_unlock(&h->lock);
		debug_changed(vm, ev->type);
	}
	return result;
}

/* ---- syscall exits ------------------------------------------------------- */

static unsigned slot_of(uint64_t cr3, uint64_t rsp, uint64_t rip)
{
	uint64_t x = (cr3 & CR3_ROOT_MASK) ^ (rsp * 0x9e3779b97f4a7c15ULL) ^ (rip * 0xc2b2ae3d27d4eb4fULL);
	x ^= x >> 29;
	return (unsigned)(x & (PENDING_SLOTS - 1));
}

void sym_syscall_entered(struct vm *vm, const struct sym_event *enter, uint64_t rsp, uint64_t rip_after)
{
	struct event_hub *h = vm->hub;
	uint64_t cr3 = enter->regs->cr3 & CR3_ROOT_MASK;
	unsigned base = slot_of(cr3, rsp, rip_after), victim = base;
	uint64_t oldest = UINT64_MAX;

	if (!h)
		return;
	pthread_mutex_lock(&h->pending_lock);
	for (unsigned i = 0; i < PENDING_PROBE; i++) {
		struct pending_syscall *p = &h->pending[(base + i) & (PENDING_SLOTS - 1)];
		if (!p->used || (p->cr3 == cr3 && p->rsp == rsp && p->rip == rip_after)) {
			/* free, or the same caller again: its earlier call never came back here */
			if (p->used)
				atomic_fetch_add(&h->unmatched, 1);
			victim = (base + i) & (PENDING_SLOTS - 1);
			oldest = 0;
			break;
		}
		if (p->stamp < oldest)
			oldest = p->stamp, victim = (base + i) & (PENDING_SLOTS - 1);
	}
	struct pending_syscall *p = &h->pending[victim];
	if (p->used && oldest != 0)
		atomic_fetch_add(&h->unmatched, 1);
	*p = (struct pending_syscall){
		.used = true, .cr3 = cr3, .rsp = rsp, .rip = rip_after, .stamp = ++h->stamp, .enter = *enter
	};
	p->enter.regs = NULL;
	pthread_mutex_unlock(&h->pending_lock);
}

void sym_syscall_refused(struct vm *vm, struct sym_event *enter)
{
	if (enter->syscall.resume || !vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT))
		return;
	struct sym_event exit = *enter;
	exit.type = SYM_EV_SYSCALL_EXIT;
	sym_event_deliver(vm, &exit);
	if (!exit.syscall.resume) /* an exit's resume of a call that never ran: not taken */
		enter->syscall.ret = exit.syscall.ret;
}

bool sym_syscall_returning(struct vm *vm, const struct sym_regs *r, struct sym_event *exit)
{
	struct event_hub *h = vm->hub;
	uint64_t cr3 = r->cr3 & CR3_ROOT_MASK, rsp = r->gpr[4];
	unsigned base = slot_of(cr3, rsp, r->rip);
	bool found = false;

	if (!h)
		return false;
	pthread_mutex_lock(&h->pending_lock);
	for (unsigned i = 0; i < PENDING_PROBE && !found; i++) {
		struct pending_syscall *p = &h->pending[(base + i) & (PENDING_SLOTS - 1)];
		if (p->used && p->cr3 == cr3 && p->rsp == rsp && p->rip == r->rip) {
			*exit = p->enter;
			p->used = false;
			found = true;
		}
	}
	pthread_mutex_unlock(&h->pending_lock);
	if (found) {
		exit->type = SYM_EV_SYSCALL_EXIT;
		exit->regs = r;
		exit->syscall.ret = (int64_t)r->gpr[0];
	}
	return found;
}

void sym_event_stats(struct vm *vm, struct sym_event_stats *out)
{
	struct event_hub *h = vm->hub;
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	for (int i = 0; i < SYM_EV_TYPES; i++)
		out->delivered[i] = atomic_load(&h->delivered[i]);
	out->syscall_exits_unmatched = atomic_load(&h->unmatched);
}

/* ---- device events ------------------------------------------------------- */

void sym_event_dma(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct sym_event ev = { .type = SYM_EV_DMA, .cpu = -1, .dma = { gpa, len } };
	sym_event_deliver(vm, &ev);
}

/* ---- watched pages ------------------------------------------------------- */

/* The index of RAM page gpa in the watch table, or -1 when it is not RAM. */
static int64_t watch_index(const struct vm *vm, uint64_t gpa)
{
	const struct guest_mem *m = &vm->mem;
	if (gpa < m->low_size)
		return (int64_t)(gpa >> 12);
	if (gpa >= MEM_4G && gpa - MEM_4G < m->size - m->low_size)
		return (int64_t)((m->low_size + (gpa - MEM_4G)) >> 12);
	return -1;
}

bool sym_watched(const struct vm *vm, uint64_t gpa)
{
	const struct event_hub *h = vm->hub;
	int64_t i;
	if (!h || (i = watch_index(vm, gpa)) < 0 || (uint64_t)i >= h->watch_pages)
		return false;
	return atomic_load_explicit(&h->watch[i], memory_order_relaxed) != 0;
}

/* Adds d (+1 or -1) to the count of every page of [gpa, gpa+len); with +1,
 * all or nothing. */
static int watch_adjust(struct vm *vm, uint64_t gpa, uint64_t len, int d, bool *became, char *err, size_t errlen)
{
	struct event_hub *h = vm->hub;
	uint64_t first = gpa & ~0xfffULL, end = gpa + len, p;

	if (!len)
		return 0;
	if (end < gpa || !gpa_to_host(&vm->mem, gpa, len)) {
		snprintf(err, errlen, "event: [%#llx, +%#llx) is not guest RAM", (unsigned long long)gpa,
		         (unsigned long long)len);
		return -1;
	}
	for (p = first; p < end; p += 4096) {
		int64_t i = watch_index(vm, p);
		uint8_t old = atomic_load(&h->watch[i]), nv;
		do {
			if (d > 0 && old == UINT8_MAX) {
				for (uint64_t q = first; q < p; q += 4096) /* undo */
					atomic_fetch_sub(&h->watch[watch_index(vm, q)], 1);
				snprintf(err, errlen, "event: page %#llx is watched %u times already",
				         (unsigned long long)p, UINT8_MAX);
				return -1;
			}
			if (d < 0 && old == 0)
				break;
			nv = (uint8_t)(old + d);
		} while (!atomic_compare_exchange_weak(&h->watch[i], &old, nv));
		if (d > 0 && old == 0)
			*became = true;
	}
	return 0;
}

int sym_watch(struct vm *vm, uint64_t gpa, uint64_t len, char *err, size_t errlen)
{
	bool became = false;
	if (!hub_of(vm, err, errlen) || watch_adjust(vm, gpa, len, +1, &became, err, errlen) < 0)
		return -1;
	if (became && vm->engine && vm->engine->watch_changed)
		vm->engine->watch_changed(vm);
	return 0;
}

void sym_unwatch(struct vm *vm, uint64_t gpa, uint64_t len)
{
	char err[8];
	bool became = false;
	if (vm->hub)
		watch_adjust(vm, gpa, len, -1, &became, err, sizeof(err));
}

void sym_event_page_dma(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t end = gpa + len;
	if (end < gpa)
		return;
	while (gpa < end) {
		uint64_t next = (gpa | 0xfff) + 1, n = (next < end ? next : end) - gpa;
		if (sym_watched(vm, gpa)) {
			struct sym_event ev = { .type = SYM_EV_PAGE_WRITE, .cpu = -1 };
			ev.write.gpa = gpa;
			ev.write.len = (uint32_t)n;
			ev.write.dma = true;
			sym_event_deliver(vm, &ev);
		}
		gpa = next;
	}
}
