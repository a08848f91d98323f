/* Record and replay sessions (symbiont/replay.h): the log's events as the
 * vCPU meets them, checked against where it is when replaying.  The clock
 * is the engine's retired-instruction count (engine_ops.vcpu_insn_count);
 * every RR_HASH_EVERY events the register state's hash goes into the log,
 * and a replay that reaches that point with another hash has diverged. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpu/engine.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"
#include "vm/replay_ckpt.h"
#include "vm/replay_log.h"

#define RR_HASH_EVERY 64
#define RR_DEFER_MAX  16 /* devices with deferred input (one entry each) */

/* Where a replay is in its log: all a checkpoint keeps of it. */
struct rr_pos {
	struct rr_cursor cur;        /* after next */
	struct rr_event next, taken; /* the next event (index pos); the last one taken */
	size_t pos;
	struct rr_cursor scur; /* after snext */
	struct rr_event snext; /* the next RR_IRQ or RR_END at or after pos (index stop) */
	size_t stop;
};

struct replay {
	bool play;
	/* recording */
	struct rr_writer *w;
	uint64_t events, irqs, reads, tscs, dmas, dma_bytes;
	/* device writes to guest RAM during the current device register write
	 * (replay_device_write_begin/end), logged at its end */
	struct rr_range {
		uint64_t gpa, len;
	} * dma;
	size_t ndma, dma_cap;
	uint64_t dma_lost; /* bytes outside RAM: not logged (a replay diverges) */
	/* device input staged for the vCPU's next interrupt check (replay_defer) */
	struct rr_deferred {
		void (*fn)(void *);
		void *opaque;
	} defer[RR_DEFER_MAX];
	unsigned ndefer; /* under io_lock */
	atomic_bool defer_pending;
	uint64_t polls;
	/* replaying */
	struct rr_log log;
	struct rr_pos p;
	bool diverged, ended;
	/* checkpoints, and a debugger's stop (replay_stop_at) */
	uint64_t ck_every, ck_budget;
	struct rr_ckpts *ck;
	bool stop_on, stop_any_rip;
	uint64_t stop_count, stop_rip;
	uint64_t frontier; /* the furthest count reached before a rewind */
	replay_reached_fn reached;
	void *reached_opaque;
	char kernel[PATH_MAX], initrd[PATH_MAX]; /* recording: the files' absolute paths */
	char path[PATH_MAX];                     /* recording: the log */
};

static void advance(struct replay *r, struct rr_event *out);
static void check_hashes(struct vm *vm);
static void __attribute__((format(printf, 2, 3))) diverge(struct vm *vm, const char *fmt, ...);

static uint64_t now(const struct vm *vm)
{
	return vm->engine->vcpu_insn_count(vm->vcpus[0]);
}

static uint64_t state_hash(const struct vm *vm, uint64_t *rip)
{
	return vm->engine->vcpu_state_hash(vm->vcpus[0], rip);
}

int replay_machine_check(const struct vm_config *cfg, const char *engine_name, char *err, size_t errlen)
{
	if (engine_name && strcmp(engine_name, "emu")) {
		snprintf(err, errlen,
		         "record/replay runs on --engine emu only (it counts instructions exactly), not %s",
		         engine_name);
		return -1;
	}
	if (cfg->ncpus != 1) {
		snprintf(err, errlen, "record/replay takes one vCPU, not %d", cfg->ncpus);
		return -1;
	}
	if (cfg->vsock) {
		snprintf(err, errlen, "record/replay does not log vsock's input yet: no --vsock");
		return -1;
	}
	return 0;
}

bool replay_playing(const struct vm *vm)
{
	return vm->replay && vm->replay->play;
}

bool replay_recording(const struct vm *vm)
{
	return vm->replay && !vm->replay->play;
}

/* ---- recording ---- */

int replay_record_start(struct vm *vm, const char *path, char *err, size_t errlen)
{
	struct replay *r = calloc(1, sizeof(*r));
	struct rr_header h = { .append = (char *)vm->cfg.append,
		               .mem_size = vm->cfg.mem_size,
		               .ncpus = (uint32_t)vm->cfg.ncpus };

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!vm->engine->vcpu_insn_count || !vm->engine->vcpu_state_hash) {
		snprintf(err, errlen, "the %s engine cannot record", vm->engine->name);
		goto fail;
	}
	/* Absolute paths: the replay may run from another directory. */
	if (!realpath(vm->cfg.kernel, r->kernel) || (vm->cfg.initrd && !realpath(vm->cfg.initrd, r->initrd))) {
		snprintf(err, errlen, "cannot resolve the kernel or initrd path");
		goto fail;
	}
	h.kernel = r->kernel;
	h.initrd = vm->cfg.initrd ? r->initrd : NULL;
	if (rr_file_hash(h.kernel, &h.kernel_hash, err, errlen) < 0 ||
	    (h.initrd && rr_file_hash(h.initrd, &h.initrd_hash, err, errlen) < 0))
		goto fail;
	if (!(r->w = rr_writer_open(path, &h, err, errlen)))
		goto fail;
	snprintf(r->path, sizeof(r->path), "%s", path);
	vm->replay = r;
	return 0;
fail:
	free(r);
	return -1;
}

static void record(struct vm *vm, struct rr_event *e)
{
	struct replay *r = vm->replay;

	e->count = now(vm);
	rr_writer_add(r->w, e);
	if (++r->events % RR_HASH_EVERY == 0) {
		struct rr_event h = { .type = RR_HASH, .count = e->count };
		h.value = state_hash(vm, &h.rip);
		rr_writer_add(r->w, &h);
	}
}

void replay_note_read(struct vm *vm, enum rr_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct rr_event e = {
		.type = RR_READ, .space = (uint8_t)space, .size = (uint8_t)size, .addr = addr, .value = val
	};
	if (vm->replay->play)
		return;
	vm->replay->reads++;
	record(vm, &e);
}

void replay_note_irq(struct vm *vm, enum rr_irq_kind kind, int vector, uint64_t rip)
{
	struct rr_event e = { .type = RR_IRQ, .kind = (uint8_t)kind, .vector = (uint8_t)vector, .rip = rip };
	if (vm->replay->play)
		return;
	vm->replay->irqs++;
	record(vm, &e);
}

/* ---- device writes to guest RAM (DMA) ----
 *
 * Recording, every device that writes guest RAM does it while the vCPU is
 * in a device register write (a queue notify): virtio-rng and the
 * console's transmit queue are synchronous there, and virtio-blk runs its
 * requests there while recording instead of on its worker.  So the bytes
 * are a function of the count at that write: the ranges the device reports
 * (vm_mem_written, vm_mem_dirty) are gathered, and at the write's end
 * their contents go into the log.  Replaying, the virtio transport does not
 * run a notify, and the logged bytes are put back at the same write. */

void replay_dma_note(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct replay *r = vm->replay;

	if (!len || gpa + len < gpa)
		return;
	for (size_t i = 0; i < r->ndma; i++) { /* merge into a range it touches */
		struct rr_range *g = &r->dma[i];
		if (gpa <= g->gpa + g->len && gpa + len >= g->gpa) {
			uint64_t end = gpa + len > g->gpa + g->len ? gpa + len : g->gpa + g->len;
			g->gpa = gpa < g->gpa ? gpa : g->gpa;
			g->len = end - g->gpa;
			return;
		}
	}
	if (r->ndma == r->dma_cap) {
		size_t cap = r->dma_cap ? r->dma_cap * 2 : 64;
		struct rr_range *n = realloc(r->dma, cap * sizeof(*n));
		if (!n) {
			r->dma_lost += len;
			return;
		}
		r->dma = n;
		r->dma_cap = cap;
	}
	r->dma[r->ndma++] = (struct rr_range){ gpa, len };
}

void replay_device_write_begin(struct vm *vm)
{
	if (!vm->replay->play)
		vm->dma_capture = true;
}

static void log_dma(struct vm *vm)
{
	struct replay *r = vm->replay;

	vm->dma_capture = false;
	for (size_t i = 0; i < r->ndma; i++) {
		uint64_t gpa = r->dma[i].gpa, left = r->dma[i].len;
		while (left) {
			uint32_t k = left > RR_DMA_MAX ? RR_DMA_MAX : (uint32_t)left;
			const uint8_t *host = gpa_to_host(&vm->mem, gpa, k);
			if (!host) { /* devices check their buffers are RAM: not reached */
				r->dma_lost += left;
				break;
			}
			struct rr_event e = { .type = RR_DMA, .addr = gpa, .len = k, .data = host };
			r->dmas++;
			r->dma_bytes += k;
			record(vm, &e);
			gpa += k;
			left -= k;
		}
	}
	r->ndma = 0;
}

static void apply_dma(struct vm *vm)
{
	struct replay *r = vm->replay;

	while (!r->diverged && r->p.next.type == RR_DMA && r->p.next.count == now(vm)) {
		advance(r, &r->p.taken);
		const struct rr_event *e = &r->p.taken;
		uint8_t *dst = gpa_to_host(&vm->mem, e->addr, e->len);
		if (!dst) {
			diverge(vm, "the log has a device write to %#llx, outside guest RAM",
			        (unsigned long long)e->addr);
			return;
		}
		memcpy(dst, e->data, e->len);
		vm_mem_written(vm, e->addr, e->len); /* decoded code, the checkpoints' dirty log */
		check_hashes(vm);
	}
}

void replay_device_write_end(struct vm *vm)
{
	if (vm->replay->play)
		apply_dma(vm);
	else
		log_dma(vm);
}

/* Input that arrives on a host thread (virtio-net's receive) would write
 * guest RAM at no instruction count.  Recording, the device stages it here
 * instead, the vCPU is kicked, and at its next interrupt check (a point
 * that has a count and a RIP, as an interrupt's delivery) the device does
 * the work with the capture on; a POLL event (count, RIP) and the DMA
 * events follow in the log.  Replaying, the check at that count and RIP
 * applies them (replay_take_irq). */
bool replay_defer(struct vm *vm, void (*fn)(void *), void *opaque)
{
	struct replay *r = vm->replay;

	if (!r || r->play)
		return false;
	for (unsigned i = 0; i < r->ndefer; i++)
		if (r->defer[i].fn == fn && r->defer[i].opaque == opaque)
			return true;
	if (r->ndefer == RR_DEFER_MAX)
		return false; /* not reached: one entry per device */
	r->defer[r->ndefer++] = (struct rr_deferred){ fn, opaque };
	atomic_store(&r->defer_pending, true);
	if (vm->vcpus[0] && vm->engine->vcpu_kick)
		vm->engine->vcpu_kick(vm->vcpus[0]);
	return true;
}

bool replay_defer_pending(const struct vm *vm)
{
	return vm->replay && atomic_load_explicit(&vm->replay->defer_pending, memory_order_relaxed);
}

void replay_run_deferred(struct vm *vm, uint64_t rip)
{
	struct replay *r = vm->replay;
	struct rr_deferred d[RR_DEFER_MAX];
	unsigned n;

	if (r->play || !atomic_exchange(&r->defer_pending, false))
		return;
	pthread_mutex_lock(&vm->io_lock);
	n = r->ndefer;
	memcpy(d, r->defer, n * sizeof(d[0]));
	r->ndefer = 0;
	vm->dma_capture = true;
	for (unsigned i = 0; i < n; i++)
		d[i].fn(d[i].opaque);
	vm->dma_capture = false;
	if (r->ndma) {
		struct rr_event e = { .type = RR_POLL, .rip = rip };
		r->polls++;
		record(vm, &e);
		log_dma(vm);
	}
	pthread_mutex_unlock(&vm->io_lock);
}

/* ---- replaying ---- */

struct replay *replay_load(const char *path, struct vm_config *cfg, char *err, size_t errlen)
{
	struct replay *r = calloc(1, sizeof(*r));
	uint64_t h;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->play = true;
	if (rr_log_load(path, &r->log, err, errlen) < 0)
		goto fail;
	if (rr_file_hash(r->log.hdr.kernel, &h, err, errlen) < 0)
		goto fail;
	if (h != r->log.hdr.kernel_hash) {
		snprintf(err, errlen, "%s is not the kernel that was recorded (its contents differ)",
		         r->log.hdr.kernel);
		goto fail;
	}
	if (r->log.hdr.initrd) {
		if (rr_file_hash(r->log.hdr.initrd, &h, err, errlen) < 0)
			goto fail;
		if (h != r->log.hdr.initrd_hash) {
			snprintf(err, errlen, "%s is not the initrd that was recorded (its contents differ)",
			         r->log.hdr.initrd);
			goto fail;
		}
	}
	if (r->log.hdr.ncpus != 1 || r->log.hdr.mem_size < MEM_MIN_SIZE || r->log.hdr.mem_size > MEM_MAX_SIZE ||
	    (r->log.hdr.mem_size & 0xfff)) {
		snprintf(err, errlen, "replay log: a machine of %u vCPUs and %llu bytes cannot be replayed",
		         r->log.hdr.ncpus, (unsigned long long)r->log.hdr.mem_size);
		goto fail;
	}
	rr_cursor_init(&r->log, &r->p.cur);
	rr_next(&r->p.cur, &r->p.next); /* there is one: the parser saw the end record */
	r->p.scur = r->p.cur;
	r->p.snext = r->p.next;
	cfg->kernel = r->log.hdr.kernel;
	cfg->initrd = r->log.hdr.initrd;
	cfg->append = r->log.hdr.append;
	cfg->mem_size = r->log.hdr.mem_size;
	cfg->ncpus = (int)r->log.hdr.ncpus;
	cfg->engine = "emu";
	return r;
fail:
	replay_free(r);
	return NULL;
}

void replay_attach(struct vm *vm, struct replay *r)
{
	vm->replay = r;
}

static const char *type_name(uint8_t t)
{
	static const char *const names[] = {
		"?",       "a device read",    "an interrupt",    "a TSC read", "a state hash",
		"the end", "a device's write", "a device's input"
	};
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void __attribute__((format(printf, 2, 3))) diverge(struct vm *vm, const char *fmt, ...)
{
	struct replay *r = vm->replay;
	char what[200];
	va_list ap;

	if (r->diverged)
		return;
	r->diverged = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "replay: diverged at instruction %llu: %s\n", (unsigned long long)now(vm), what);
	vm_request_exit(vm, 1);
}

/* Takes the next event into *out (never past the end record, which is last). */
static void advance(struct replay *r, struct rr_event *out)
{
	*out = r->p.next;
	if (r->p.next.type != RR_END && rr_next(&r->p.cur, &r->p.next))
		r->p.pos++;
}

/* The hash records that follow the event just taken. */
static void check_hashes(struct vm *vm)
{
	struct replay *r = vm->replay;

	while (r->p.next.type == RR_HASH) {
		struct rr_event e;
		advance(r, &e);
		uint64_t rip, h = state_hash(vm, &rip);
		if (e.count != now(vm) || e.value != h) {
			diverge(vm, "the register state differs from the recording's (recorded RIP %#llx, now %#llx)",
			        (unsigned long long)e.rip, (unsigned long long)rip);
			return;
		}
	}
}

/* The next event, which must be of this type, here: NULL after reporting
 * a divergence otherwise. */
static const struct rr_event *take(struct vm *vm, uint8_t type)
{
	struct replay *r = vm->replay;
	const struct rr_event *e;

	if (r->diverged)
		return NULL;
	if (r->p.next.type == RR_END) { /* only the end is left */
		diverge(vm, "the guest made %s after the log's last event", type_name(type));
		return NULL;
	}
	e = &r->p.next;
	if (e->type != type || e->count != now(vm)) {
		diverge(vm, "the guest made %s; the log has %s at instruction %llu", type_name(type),
		        type_name(e->type), (unsigned long long)e->count);
		return NULL;
	}
	advance(r, &r->p.taken);
	check_hashes(vm);
	return &r->p.taken;
}

bool replay_take_read(struct vm *vm, enum rr_space space, uint64_t addr, unsigned size, uint64_t *val)
{
	const struct rr_event *e;

	if (!vm->replay->play)
		return false;
	*val = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	if (!(e = take(vm, RR_READ)))
		return true;
	if (e->space != space || e->addr != addr || e->size != size) {
		diverge(vm, "the guest read %#llx; the log has a read of %#llx", (unsigned long long)addr,
		        (unsigned long long)e->addr);
		return true;
	}
	*val = e->value;
	return true;
}

uint64_t replay_tsc(struct vm *vm, uint64_t live)
{
	struct replay *r = vm->replay;
	const struct rr_event *e;

	if (!r->play) {
		struct rr_event ev = { .type = RR_TSC, .value = live };
		r->tscs++;
		record(vm, &ev);
		return live;
	}
	e = take(vm, RR_TSC);
	return e ? e->value : live;
}

int replay_take_irq(struct vm *vm, uint64_t rip, enum rr_irq_kind *kind)
{
	struct replay *r = vm->replay;
	const struct rr_event *e;
	uint64_t n = now(vm);

	if (r->diverged || r->ended)
		return -1;
again:
	e = &r->p.next;
	if (e->count < n) {
		diverge(vm, "the log's next event, %s at instruction %llu, was passed", type_name(e->type),
		        (unsigned long long)e->count);
		return -1;
	}
	if (e->count > n)
		return -1;
	if (e->type == RR_END) {
		/* The recording stopped here, unless this is the same count before
		 * a fault that retires nothing (a triple fault ends the recording
		 * at the faulting instruction): then the state still differs. */
		uint64_t at, h = state_hash(vm, &at);
		if (at == e->rip && h == e->value) {
			r->ended = true;
			vm_request_exit(vm, 0);
		}
		return -1;
	}
	if (e->type == RR_POLL && e->rip == rip) { /* device input made here: its writes follow */
		advance(r, &r->p.taken);
		check_hashes(vm);
		apply_dma(vm);
		if (r->diverged)
			return -1;
		goto again;
	}
	if (e->type != RR_IRQ || e->rip != rip)
		return -1; /* not yet: a read at this count, or a fault that comes first */
	advance(r, &r->p.taken);
	check_hashes(vm);
	*kind = (enum rr_irq_kind)r->p.taken.kind;
	return r->p.taken.vector;
}

uint64_t replay_next_stop(struct vm *vm)
{
	struct replay *r = vm->replay;

	if (r->p.stop < r->p.pos) {
		r->p.scur = r->p.cur;
		r->p.snext = r->p.next;
		r->p.stop = r->p.pos;
	}
	while (r->p.snext.type != RR_IRQ && r->p.snext.type != RR_END && r->p.snext.type != RR_POLL &&
	       rr_next(&r->p.scur, &r->p.snext))
		r->p.stop++;
	uint64_t at = r->p.snext.count;
	if (r->ck && rr_ckpts_next_stop(r->ck) < at)
		at = rr_ckpts_next_stop(r->ck);
	if (r->stop_on && r->stop_count < at)
		at = r->stop_count;
	return at;
}

void replay_halted(struct vm *vm, uint64_t rip)
{
	struct replay *r = vm->replay;
	if (r->diverged || r->ended)
		return;
	diverge(vm, "the vCPU halted at RIP %#llx; the log's next event is at instruction %llu",
	        (unsigned long long)rip, (unsigned long long)r->p.next.count);
}

/* ---- checkpoints and reverse execution ---- */

void replay_set_checkpoints(struct replay *r, uint64_t every, uint64_t budget)
{
	r->ck_every = every;
	r->ck_budget = budget;
}

bool replay_boundary(struct vm *vm, uint64_t rip)
{
	struct replay *r = vm->replay;
	uint64_t n = now(vm);

	if (r->diverged || r->ended)
		return false;
	if (r->ck_every && !r->ck && vm->engine->vcpu_rr_save && vm->engine->dirty_rearm &&
	    !atomic_load(&vm->dirty_on) && !(r->ck = rr_ckpts_new(r->ck_every, r->ck_budget)))
		fprintf(stderr, "replay: note: out of memory: no checkpoints\n");
	if (r->ck) {
		char err[160];
		if (rr_ckpts_at(r->ck, vm, n, &r->p, sizeof(r->p), err, sizeof(err)) < 0)
			fprintf(stderr, "replay: note: %s; no more checkpoints are taken\n", err);
	}
	if (r->stop_on && (n > r->stop_count || (n == r->stop_count && (r->stop_any_rip || rip == r->stop_rip)))) {
		r->stop_on = false;
		return r->reached(r->reached_opaque);
	}
	return false;
}

bool replay_can_reverse(const struct vm *vm)
{
	return vm->replay && vm->replay->play && vm->replay->ck_every && vm->engine->vcpu_rr_save &&
	       vm->engine->dirty_rearm;
}

uint64_t replay_count(const struct vm *vm)
{
	return now(vm);
}

uint64_t replay_history_start(const struct vm *vm)
{
	const struct replay *r = vm->replay;
	return r && r->ck ? rr_ckpts_first(r->ck) : 0;
}

int replay_rewind(struct vm *vm, uint64_t count, uint64_t *at, char *err, size_t errlen)
{
	struct replay *r = vm->replay;
	if (!r || !r->play || !r->ck) {
		snprintf(err, errlen, "this run keeps no checkpoints (a replay with --checkpoint-every does)");
		return -1;
	}
	if (r->diverged) {
		snprintf(err, errlen, "the replay diverged");
		return -1;
	}
	if (now(vm) > r->frontier)
		r->frontier = now(vm);
	int rc = rr_ckpts_restore(r->ck, vm, count, at, &r->p, sizeof(r->p), err, errlen);
	if (rc == -2) /* it had changed the VM already: the replay cannot go on */
		diverge(vm, "a checkpoint could not be restored: %s", err);
	if (rc < 0)
		return -1;
	r->ended = false;
	r->stop_on = false;
	return 0;
}

void replay_stop_at(struct vm *vm, uint64_t count, const uint64_t *rip, replay_reached_fn reached, void *opaque)
{
	struct replay *r = vm->replay;
	r->stop_count = count;
	r->stop_any_rip = !rip;
	r->stop_rip = rip ? *rip : 0;
	r->reached = reached;
	r->reached_opaque = opaque;
	r->stop_on = true;
}

bool replay_repeating(const struct vm *vm)
{
	return vm->replay->play && now(vm) < vm->replay->frontier;
}

void replay_stop_cancel(struct vm *vm)
{
	if (vm->replay)
		vm->replay->stop_on = false;
}

int replay_checkpoint_stats(const struct vm *vm, struct replay_ckpt_stats *st)
{
	const struct replay *r = vm->replay;
	if (!r || !r->ck)
		return -1;
	rr_ckpts_stats(r->ck, st);
	st->before = rr_ckpts_before(r->ck, now(vm));
	return 0;
}

bool replay_owns_dirty_log(const struct vm *vm)
{
	return vm->replay && rr_ckpts_own_dirty_log(vm->replay->ck);
}

/* ---- the end ---- */

int replay_finish(struct vm *vm, int status)
{
	struct replay *r = vm->replay;
	uint64_t rip, h, n;
	char err[256];

	if (!r)
		return status;
	n = now(vm);
	h = state_hash(vm, &rip);
	if (!r->play) {
		struct rr_event e = { .type = RR_END, .count = n, .value = h, .rip = rip };
		rr_writer_add(r->w, &e);
		if (rr_writer_close(r->w, err, sizeof(err)) < 0) {
			fprintf(stderr, "record: %s\n", err);
			r->w = NULL;
			return 1;
		}
		r->w = NULL;
		struct stat st;
		unsigned long long bytes = stat(r->path, &st) == 0 ? (unsigned long long)st.st_size : 0;
		fprintf(stderr,
		        "record: %llu instructions, %llu events (%llu interrupts, %llu device reads, %llu TSC reads, "
		        "%llu DMA writes of %llu bytes, %llu input points), %llu bytes (%.3f per 1000 instructions), state hash %016llx\n",
		        (unsigned long long)n, (unsigned long long)r->events, (unsigned long long)r->irqs,
		        (unsigned long long)r->reads, (unsigned long long)r->tscs, (unsigned long long)r->dmas,
		        (unsigned long long)r->dma_bytes, (unsigned long long)r->polls, bytes,
		        n ? bytes * 1000.0 / n : 0.0, (unsigned long long)h);
		if (r->dma_lost)
			fprintf(stderr,
			        "record: warning: %llu bytes of device writes could not be logged: a replay "
			        "will diverge\n",
			        (unsigned long long)r->dma_lost);
		return status;
	}
	if (r->diverged)
		return 1;
	const struct rr_event *end = &r->log.end;
	if (r->p.next.type != RR_END) {
		/* the guest ended itself early (a divergence), or the host
		 * stopped the replay (a signal, Ctrl-A x): status 1 either way */
		fprintf(stderr,
		        "replay: stopped at instruction %llu, before the log's end (%zu events left): the guest "
		        "ended early or the host stopped it\n",
		        (unsigned long long)n, r->log.n - 1 - r->p.pos);
		return 1;
	}
	if (end->count != n || end->value != h) {
		fprintf(stderr,
		        "replay: diverged at the end: instruction %llu, RIP %#llx, state hash %016llx; recorded %llu, "
		        "RIP %#llx, %016llx\n",
		        (unsigned long long)n, (unsigned long long)rip, (unsigned long long)h,
		        (unsigned long long)end->count, (unsigned long long)end->rip, (unsigned long long)end->value);
		return 1;
	}
	if (r->ck) {
		struct replay_ckpt_stats st;
		rr_ckpts_stats(r->ck, &st);
		fprintf(stderr,
		        "replay: checkpoints: %llu kept of %llu taken (%llu thinned), %.2f MiB of a %.2f MiB budget, "
		        "%llu restores\n",
		        (unsigned long long)st.kept, (unsigned long long)st.taken, (unsigned long long)st.thinned,
		        st.bytes / 1048576.0, st.budget / 1048576.0, (unsigned long long)st.restores);
	}
	fprintf(stderr, "replay: ok: %llu instructions, %zu events, state hash %016llx\n", (unsigned long long)n,
	        r->log.n, (unsigned long long)h);
	return status;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	if (r->w) {
		char err[256];
		rr_writer_close(r->w, err, sizeof(err));
	}
	rr_ckpts_free(NULL, r->ck);
	rr_log_free(&r->log);
	free(r->dma);
	free(r);
}
