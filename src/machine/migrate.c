/* Live migration, the sending side: pre-copy rounds of dirty pages while
 * the guest runs, then stop-and-copy once what is left fits the downtime
 * allowed (docs/snapshot.md, "Live migration").
 *
 * A migration runs on a thread of its own, started by the `migrate`
 * command; `query-migrate` reads its progress and `migrate_cancel` ends
 * it.  Until the destination says it runs the machine, nothing here is
 * final: any failure (the destination refusing or going away, a cancel, a
 * device that cannot be saved) takes the disk locks back and resumes the
 * guest where it was (if someone took the disks meanwhile, it stays
 * paused rather than run beside them). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "machine/migrate.h"
#include "machine/migrate_stream.h"
#include "machine/snapshot.h"
#include "machine/snapshot_format.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

#define DEFAULT_DOWNTIME_MS 300
#define MAX_ROUNDS          30 /* then stop-and-copy whatever is left */
#define IO_TIMEOUT_S        30 /* a destination that stops reading */
#define REPLY_TIMEOUT_S     60 /* for the destination to build and start */

enum mig_status { MIG_NONE, MIG_SETUP, MIG_ACTIVE, MIG_DEVICE, MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED };
static const char *const status_names[] = { "none", "setup", "active", "device", "completed", "failed", "cancelled" };

struct migration {
	struct vm *vm;
	pthread_mutex_t lock; /* the fields below */
	pthread_t thread;
	bool thread_live;
	bool closing; /* migrate_stop: no new migration */
	enum mig_status status;
	int fd;
	char uri[256];
	uint64_t max_downtime_ms, bandwidth; /* bytes/s, 0: unlimited */
	bool verify;
	atomic_bool cancel;
	/* progress */
	int round;
	uint64_t t0, total_ns, downtime_ns;
	uint64_t transferred, pages_sent, zero_pages, remaining_pages;
	uint64_t dirty_rate, bw; /* bytes/s, of the last round */
	uint64_t expected_downtime_ms;
	char error[256];
};

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static json_object *status_obj(enum mig_status s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(status_names[s]));
	return o;
}

static void set_status(struct migration *m, enum mig_status s)
{
	pthread_mutex_lock(&m->lock);
	m->status = s;
	pthread_mutex_unlock(&m->lock);
	control_event(m->vm->control, "MIGRATION", status_obj(s));
}

/* ---- sending pages ---- */

static bool page_zero(const uint8_t *p)
{
	return p[0] == 0 && !memcmp(p, p + 1, MIG_PAGE_SIZE - 1);
}

struct sender {
	struct migration *m;
	uint8_t *buf; /* a stable copy of the run being sent */
	uint64_t run_first;
	uint32_t run_n;
	uint64_t zero_first;
	uint32_t zero_n;
	uint64_t round_bytes, round_t0;
};

/* Keeps the round under the bandwidth asked for. */
static void throttle(struct sender *s)
{
	uint64_t bw = s->m->bandwidth;
	if (!bw)
		return;
	uint64_t due = s->round_t0 + s->round_bytes * 1000000000ull / bw, now = mono_ns();
	if (due > now + 1000000)
		usleep((useconds_t)((due - now) / 1000));
}

static int flush_run(struct sender *s)
{
	if (!s->run_n)
		return 0;
	if (mig_write_pages(s->m->fd, s->run_first, s->run_n, s->buf) < 0)
		return -1;
	s->round_bytes += 24 + (uint64_t)s->run_n * MIG_PAGE_SIZE;
	pthread_mutex_lock(&s->m->lock);
	s->m->transferred += 24 + (uint64_t)s->run_n * MIG_PAGE_SIZE;
	s->m->pages_sent += s->run_n;
	pthread_mutex_unlock(&s->m->lock);
	s->run_n = 0;
	throttle(s);
	return 0;
}

static int flush_zero(struct sender *s)
{
	if (!s->zero_n)
		return 0;
	if (mig_write_zero(s->m->fd, s->zero_first, s->zero_n) < 0)
		return -1;
	s->round_bytes += 24;
	pthread_mutex_lock(&s->m->lock);
	s->m->transferred += 24;
	s->m->zero_pages += s->zero_n;
	pthread_mutex_unlock(&s->m->lock);
	s->zero_n = 0;
	return 0;
}

/* Sends every page set in bits; skip_zero when the destination's copy of
 * those pages is still zero (the first round). */
static int send_pages(struct sender *s, const uint64_t *bits, bool skip_zero)
{
	const struct guest_mem *mem = &s->m->vm->mem;
	uint64_t npages = mem->size / MIG_PAGE_SIZE;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		for (uint64_t v = bits[w]; v; v &= v - 1) {
			uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(v);
			if (pg >= npages)
				break;
			if (atomic_load(&s->m->cancel))
				return -1;
			/* A copy first: the guest may write the page while it
			 * goes, and the record's CRC must match its bytes (a
			 * page written meanwhile is dirty again: sent next
			 * round). */
			uint8_t *slot = s->buf + (uint64_t)s->run_n * MIG_PAGE_SIZE;
			memcpy(slot, mem->host + pg * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
			if (page_zero(slot)) {
				if (skip_zero)
					continue;
				if (s->zero_n && (s->zero_first + s->zero_n != pg || s->zero_n == MIG_MAX_ZERO))
					if (flush_zero(s) < 0)
						return -1;
				if (!s->zero_n)
					s->zero_first = pg;
				s->zero_n++;
				continue;
			}
			if (s->run_n && s->run_first + s->run_n != pg) {
				/* keep the copy just made: move it to the start */
				uint8_t tmp[MIG_PAGE_SIZE];
				memcpy(tmp, slot, MIG_PAGE_SIZE);
				if (flush_run(s) < 0)
					return -1;
				memcpy(s->buf, tmp, MIG_PAGE_SIZE);
			}
			if (!s->run_n)
				s->run_first = pg;
			s->run_n++;
			if (s->run_n == MIG_MAX_RUN && flush_run(s) < 0)
				return -1;
		}
	}
	return flush_run(s) < 0 || flush_zero(s) < 0 ? -1 : 0;
}

static uint64_t count_bits(const uint64_t *bits, uint64_t words)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bits[i]);
	return n;
}

/* ---- devices' host resources ---- */

static int handover_all(struct vm *vm, bool release, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < vm_device_count(vm); i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		if (d->ops->handover && d->ops->handover(d->dev, release, err, errlen) < 0)
			rc = -1;
	}
	pthread_mutex_unlock(&vm->io_lock);
	return rc;
}

/* The destination's one line: "OK" once it runs the machine, or "ERR why". */
static int read_reply(int fd, char *line, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	return n ? 0 : -1;
}

/* ---- the migration thread ---- */

static void fail(struct migration *m, const char *why)
{
	pthread_mutex_lock(&m->lock);
	if (!m->error[0])
		snprintf(m->error, sizeof(m->error), "%.255s", why);
	pthread_mutex_unlock(&m->lock);
}

static const char *io_error(struct migration *m, char *buf, size_t len)
{
	if (atomic_load(&m->cancel))
		return "cancelled";
	snprintf(buf, len, "sending to %.200s: %s", m->uri, strerror(errno));
	return buf;
}

/* Stop-and-copy: 0 once the destination runs the machine (this VM stays
 * paused for good), -1 with the VM running again. */
static int complete(struct migration *m, struct sender *s, uint64_t *bits, struct snapshot *snap)
{
	struct vm *vm = m->vm;
	char err[256], why[300];
	struct state_buf b = { 0 };
	bool released = false;

	set_status(m, MIG_DEVICE);
	/* Downtime counts from asking for the pause (a device with I/O in
	 * flight may make that take a few tries with the guest running: then
	 * the figure is larger than the guest's real stop, never smaller). */
	uint64_t t_down = mono_ns();
	if (snapshot_pause_and_save(vm, snap, err, sizeof(err)) < 0) {
		fail(m, err);
		return -1;
	}
	/* bits holds what the last round left to send: add what was written
	 * since, up to the pause. */
	if (vm_dirty_log_collect(vm, bits, err, sizeof(err)) < 0) {
		fail(m, err);
		goto resume;
	}
	pthread_mutex_lock(&m->lock);
	m->remaining_pages = count_bits(bits, vm_dirty_words(vm));
	pthread_mutex_unlock(&m->lock);
	s->round_bytes = 0;
	s->round_t0 = mono_ns();
	if (send_pages(s, bits, false) < 0) {
		fail(m, io_error(m, why, sizeof(why)));
		goto resume;
	}
	if (snapshot_fill(vm, snap, err, sizeof(err)) < 0) {
		fail(m, err);
		goto resume;
	}
	snapshot_encode(snap, &b);
	if (b.failed) {
		fail(m, "out of memory encoding the machine's state");
		goto resume;
	}
	if (mig_write_state(m->fd, b.data, b.len) < 0 ||
	    (m->verify && mig_write_verify(m->fd, mig_ram_crc(vm->mem.host, vm->mem.size)) < 0)) {
		fail(m, io_error(m, why, sizeof(why)));
		goto resume;
	}
	if (handover_all(vm, true, err, sizeof(err)) < 0) {
		fail(m, err);
		handover_all(vm, false, err, sizeof(err));
		goto resume;
	}
	released = true;
	if (mig_write_end(m->fd) < 0) {
		fail(m, io_error(m, why, sizeof(why)));
		goto resume;
	}
	char line[300];
	if (read_reply(m->fd, line, sizeof(line)) < 0) {
		fail(m, atomic_load(&m->cancel) ? "cancelled"
		                                : "the destination went away before it said it runs the machine");
		goto resume;
	}
	if (strcmp(line, "OK")) {
		snprintf(why, sizeof(why), "the destination refused the machine: %.250s",
		         strncmp(line, "ERR ", 4) ? line : line + 4);
		fail(m, why);
		goto resume;
	}
	free(b.data);
	pthread_mutex_lock(&m->lock);
	m->downtime_ns = mono_ns() - t_down;
	m->remaining_pages = 0;
	pthread_mutex_unlock(&m->lock);
	atomic_store(&vm->migrated, true); /* the pause stays: it runs elsewhere now */
	vm_dirty_log_stop(vm);
	return 0;
resume:
	free(b.data);
	if (released && handover_all(vm, false, err, sizeof(err)) < 0) {
		/* Someone holds the disk now: most likely the destination, which
		 * may run the machine although its answer never came.  Two
		 * guests on one disk would wreck it: this one stays paused. */
		snprintf(why, sizeof(why), "%.200s; the guest stays paused here (the destination may run it)", err);
		pthread_mutex_lock(&m->lock);
		snprintf(m->error, sizeof(m->error), "%.255s", why);
		pthread_mutex_unlock(&m->lock);
		return -1;
	}
	vm_resume(vm);
	return -1;
}

static void *migration_thread(void *opaque)
{
	struct migration *m = opaque;
	struct vm *vm = m->vm;
	uint64_t words = vm_dirty_words(vm), npages = vm->mem.size / MIG_PAGE_SIZE;
	uint64_t *bits = calloc(words, sizeof(uint64_t));
	struct snapshot *snap = calloc(1, sizeof(*snap));
	struct sender s = { .m = m, .buf = malloc((size_t)MIG_MAX_RUN * MIG_PAGE_SIZE) };
	char err[256], why[300];
	bool logging = false, ok = false;

	if (!bits || !snap || !s.buf) {
		fail(m, "out of memory");
		goto out;
	}
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	setsockopt(m->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	tv.tv_sec = REPLY_TIMEOUT_S;
	setsockopt(m->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (mig_write_header(m->fd) < 0 || mig_write_mems(m->fd, vm->mem.size) < 0) {
		fail(m, io_error(m, why, sizeof(why)));
		goto out;
	}
	if (vm_dirty_log_start(vm, err, sizeof(err)) < 0) {
		fail(m, err);
		goto out;
	}
	logging = true;
	set_status(m, MIG_ACTIVE);
	/* Round 1: every page (the destination's RAM starts zero, so zero
	 * pages need not go); then what was written meanwhile. */
	memset(bits, 0xff, words * sizeof(uint64_t));
	if (npages % 64)
		bits[words - 1] = (1ull << (npages % 64)) - 1;
	for (int round = 1;; round++) {
		pthread_mutex_lock(&m->lock);
		m->round = round;
		m->remaining_pages = count_bits(bits, words);
		pthread_mutex_unlock(&m->lock);
		json_object *p = json_object_new_object();
		json_object_object_add(p, "pass", json_object_new_int(round));
		control_event(vm->control, "MIGRATION_PASS", p);

		s.round_bytes = 0;
		s.round_t0 = mono_ns();
		if (send_pages(&s, bits, round == 1) < 0) {
			fail(m, io_error(m, why, sizeof(why)));
			goto out;
		}
		memset(bits, 0, words * sizeof(uint64_t));
		if (vm_dirty_log_collect(vm, bits, err, sizeof(err)) < 0) {
			fail(m, err);
			goto out;
		}
		uint64_t dt = mono_ns() - s.round_t0 + 1, dirty = count_bits(bits, words);
		uint64_t bw = s.round_bytes * 1000000000ull / dt;
		if (bw < (1u << 20))
			bw = 1u << 20; /* a round of zero pages says little about the link */
		if (m->bandwidth && bw > m->bandwidth)
			bw = m->bandwidth;
		uint64_t expect_ms = dirty * MIG_PAGE_SIZE * 1000 / bw;
		pthread_mutex_lock(&m->lock);
		m->remaining_pages = dirty;
		m->dirty_rate = dirty * MIG_PAGE_SIZE * 1000000000ull / dt;
		m->bw = bw;
		m->expected_downtime_ms = expect_ms;
		pthread_mutex_unlock(&m->lock);
		if (expect_ms <= m->max_downtime_ms || round >= MAX_ROUNDS)
			break;
	}
	if (complete(m, &s, bits, snap) < 0)
		goto out;
	ok = true;
out:
	if (logging && !ok)
		vm_dirty_log_stop(vm);
	snapshot_free_blobs(snap);
	free(snap);
	free(bits);
	free(s.buf);
	pthread_mutex_lock(&m->lock);
	close(m->fd);
	m->fd = -1;
	m->total_ns = mono_ns() - m->t0;
	pthread_mutex_unlock(&m->lock);
	if (!ok && m->error[0])
		fprintf(stderr, "symbiont: migration to %s failed: %s; the guest runs on here\n", m->uri, m->error);
	set_status(m, ok ? MIG_COMPLETED : atomic_load(&m->cancel) ? MIG_CANCELLED : MIG_FAILED);
	return NULL;
}

/* ---- control commands ---- */

static bool get_uint(json_object *args, const char *key, uint64_t max, uint64_t *out, bool *bad)
{
	json_object *x;
	if (!json_object_object_get_ex(args, key, &x))
		return false;
	if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0 ||
	    (uint64_t)json_object_get_int64(x) > max) {
		*bad = true;
		return false;
	}
	*out = (uint64_t)json_object_get_int64(x);
	return true;
}

static int cmd_migrate(void *opaque, json_object *args, json_object **ret, char *err, size_t errlen)
{
	struct migration *m = opaque;
	json_object *u, *v;
	uint64_t downtime = DEFAULT_DOWNTIME_MS, mib = 0;
	bool bad = false;
	(void)ret;

	if (!json_object_object_get_ex(args, "uri", &u) || !json_object_is_type(u, json_type_string)) {
		snprintf(err, errlen, "migrate: 'uri' (a string) is required");
		return -1;
	}
	get_uint(args, "max-downtime", 600000, &downtime, &bad);
	get_uint(args, "bandwidth", 1u << 20, &mib, &bad);
	if (bad) {
		snprintf(err, errlen, "migrate: max-downtime (ms, up to 600000) and bandwidth (MiB/s) are integers");
		return -1;
	}
	if (atomic_load(&m->vm->migrated)) {
		snprintf(err, errlen, "migrate: the machine has migrated already");
		return -1;
	}
	pthread_mutex_lock(&m->lock);
	bool busy = m->thread_live && m->status <= MIG_DEVICE && m->status != MIG_NONE, closing = m->closing;
	pthread_mutex_unlock(&m->lock);
	if (closing || vm_stopping(m->vm)) {
		snprintf(err, errlen, "migrate: the VM is shutting down");
		return -1;
	}
	if (busy) {
		snprintf(err, errlen, "migrate: a migration is in progress (migrate_cancel ends it)");
		return -1;
	}
	if (m->thread_live) {
		pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
	int fd = migrate_connect(json_object_get_string(u), err, errlen);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&m->lock);
	snprintf(m->uri, sizeof(m->uri), "%s", json_object_get_string(u));
	m->fd = fd;
	m->max_downtime_ms = downtime;
	m->bandwidth = mib << 20;
	m->verify = json_object_object_get_ex(args, "verify", &v) && json_object_get_boolean(v);
	atomic_store(&m->cancel, false);
	m->round = 0;
	m->t0 = mono_ns();
	m->total_ns = m->downtime_ns = m->transferred = m->pages_sent = m->zero_pages = 0;
	m->remaining_pages = m->vm->mem.size / MIG_PAGE_SIZE;
	m->dirty_rate = m->bw = m->expected_downtime_ms = 0;
	m->error[0] = 0;
	m->status = MIG_SETUP;
	pthread_mutex_unlock(&m->lock);
	control_event(m->vm->control, "MIGRATION", status_obj(MIG_SETUP));
	if (pthread_create(&m->thread, NULL, migration_thread, m)) {
		close(fd);
		m->fd = -1;
		m->status = MIG_FAILED;
		snprintf(err, errlen, "migrate: cannot start its thread");
		return -1;
	}
	m->thread_live = true;
	return 0;
}

static int cmd_query_migrate(void *opaque, json_object *args, json_object **ret, char *err, size_t errlen)
{
	struct migration *m = opaque;
	(void)args, (void)err, (void)errlen;
	json_object *o = json_object_new_object();
	pthread_mutex_lock(&m->lock);
	json_object_object_add(o, "status", json_object_new_string(status_names[m->status]));
	if (m->status != MIG_NONE) {
		bool running = m->status < MIG_COMPLETED;
		uint64_t total = running ? mono_ns() - m->t0 : m->total_ns;
		json_object_object_add(o, "round", json_object_new_int(m->round));
		json_object_object_add(o, "total-time-ms", json_object_new_double((double)total / 1e6));
		json_object_object_add(o, "transferred-bytes", json_object_new_int64((int64_t)m->transferred));
		json_object_object_add(o, "pages-sent", json_object_new_int64((int64_t)m->pages_sent));
		json_object_object_add(o, "zero-pages", json_object_new_int64((int64_t)m->zero_pages));
		json_object_object_add(o, "remaining-bytes",
		                       json_object_new_int64((int64_t)(m->remaining_pages * MIG_PAGE_SIZE)));
		json_object_object_add(o, "ram-bytes", json_object_new_int64((int64_t)m->vm->mem.size));
		json_object_object_add(o, "dirty-rate-bytes", json_object_new_int64((int64_t)m->dirty_rate));
		json_object_object_add(o, "bandwidth-bytes", json_object_new_int64((int64_t)m->bw));
		json_object_object_add(o, "expected-downtime-ms",
		                       json_object_new_int64((int64_t)m->expected_downtime_ms));
		if (m->status == MIG_COMPLETED)
			json_object_object_add(o, "downtime-ms", json_object_new_double((double)m->downtime_ns / 1e6));
		if (m->error[0])
			json_object_object_add(o, "error-desc", json_object_new_string(m->error));
	}
	pthread_mutex_unlock(&m->lock);
	*ret = o;
	return 0;
}

static int cmd_migrate_cancel(void *opaque, json_object *args, json_object **ret, char *err, size_t errlen)
{
	struct migration *m = opaque;
	(void)args, (void)ret, (void)err, (void)errlen;
	pthread_mutex_lock(&m->lock);
	if (m->status >= MIG_SETUP && m->status <= MIG_DEVICE) {
		atomic_store(&m->cancel, true);
		if (m->fd >= 0)
			shutdown(m->fd, SHUT_RDWR); /* wakes a blocked send or the wait for the reply */
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

struct migration *migrate_control_register(struct vm *vm)
{
	struct migration *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->vm = vm;
	m->fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	if (vm->control) {
		control_register(vm->control, "migrate", cmd_migrate, m);
		control_register(vm->control, "query-migrate", cmd_query_migrate, m);
		control_register(vm->control, "migrate_cancel", cmd_migrate_cancel, m);
	}
	return m;
}

void migrate_stop(struct migration *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_mutex_unlock(&m->lock);
	if (m->thread_live) {
		cmd_migrate_cancel(m, NULL, NULL, NULL, 0);
		pthread_join(m->thread, NULL);
		m->thread_live = false;
	}
}

void migrate_free(struct migration *m)
{
	if (!m)
		return;
	migrate_stop(m);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
