/* pcache: the guest kernel's own page-cache insertions and deletions, as
 * the symbiotic module reports them in its ring (abi/pcache.h), written to
 * a host file while someone follows them: the ground truth Geiger's
 * passive inference is scored against (bench/geiger.sh).
 *
 *   pcache-follow-start {path}   appends every new record to path (a host
 *                                file, created or truncated) as a line
 *                                "TSC OP PFN MAJOR:MINOR INO INDEX ORDER",
 *                                OP "add" or "delete"
 *   pcache-follow-stop           -> {"records", "lost", "ring": bool}
 *
 * The guest hands the ring over by writing its address to the ring MSR,
 * which reaches this service through the event hub; the header is checked
 * then and its size kept, so a guest that rewrites the header later cannot
 * make the reader leave the ring.  The reader polls every POLL_MS on its
 * own thread (pcache_ring.c reads the ring). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "services/symbiotic/pcache_ring.h"
#include "symbiont/abi/pcache.h"
#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/service.h"
#include "symbiont/vm.h"

#define POLL_MS 10

struct pcache {
	struct vm *vm;
	struct sym_sub *sub;
	_Atomic uint64_t ring_gpa; /* 0: no ring */
	_Atomic uint32_t nrec;
	pthread_mutex_t lock; /* the follower below, on the control thread and its own */
	pthread_cond_t cond;
	pthread_t thread;
	bool following, stop;
	FILE *out;
	struct pcache_reader reader;
};

static enum sym_action on_ring_msr(void *opaque, struct sym_event *ev)
{
	struct pcache *p = opaque;
	uint64_t v = ev->msr.value, gpa = v & ~4095ull;
	const struct sym_pcache_ring *h;

	if (v == 0) {
		atomic_store(&p->ring_gpa, 0);
		return SYM_SKIP;
	}
	if ((v & 4095) != SYM_PCACHE_ENABLE || !(h = gpa_to_host(&p->vm->mem, gpa, sizeof(*h))))
		return SYM_CONTINUE; /* the engine's #GP */
	struct sym_pcache_ring hdr;
	memcpy(&hdr, h, sizeof(hdr));
	uint64_t bytes = pcache_ring_bytes(hdr.nrec);
	if (hdr.magic != SYM_PCACHE_MAGIC || hdr.layout != SYM_PCACHE_LAYOUT ||
	    hdr.rec_size != sizeof(struct sym_pcache_rec) || hdr.nrec == 0 || bytes > SYM_PCACHE_MAX_BYTES ||
	    !gpa_to_host(&p->vm->mem, gpa, bytes))
		return SYM_CONTINUE;
	atomic_store(&p->nrec, hdr.nrec);
	atomic_store(&p->ring_gpa, gpa);
	return SYM_SKIP;
}

/* One poll: every record since the last one, into the file.  Lock held. */
static void drain(struct pcache *p)
{
	uint64_t gpa = atomic_load(&p->ring_gpa);
	uint32_t nrec = atomic_load(&p->nrec);
	const uint8_t *base;

	if (gpa && (base = gpa_to_host(&p->vm->mem, gpa, pcache_ring_bytes(nrec))))
		pcache_ring_drain(&p->reader, base, nrec, p->out);
}

static void *follower(void *arg)
{
	struct pcache *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		drain(p);
		struct timespec ts = host_deadline_after_ns(POLL_MS * 1000000ULL);
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	}
	drain(p);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void follow_end(struct pcache *p)
{
	pthread_mutex_lock(&p->lock);
	bool was = p->following;
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (!was)
		return;
	pthread_join(p->thread, NULL);
	fclose(p->out);
	p->out = NULL;
	p->following = false;
}

static int cmd_start(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct pcache *p = opaque;
	struct json_object *v;
	const char *path;

	if (!json_object_object_get_ex(args, "path", &v) || !json_object_is_type(v, json_type_string) ||
	    !*(path = json_object_get_string(v))) {
		snprintf(err, errlen, "'path' (a host file) is required");
		return -1;
	}
	if (p->following) {
		snprintf(err, errlen, "the page-cache ring is followed already (pcache-follow-stop first)");
		return -1;
	}
	if (!atomic_load(&p->ring_gpa)) {
		snprintf(err, errlen, "the guest shares no page-cache ring (no symbiotic module, or it is idle)");
		return -1;
	}
	if (!(p->out = fopen(path, "w"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	p->stop = false;
	p->reader = (struct pcache_reader){ 0 };
	if (pthread_create(&p->thread, NULL, follower, p)) {
		fclose(p->out);
		p->out = NULL;
		snprintf(err, errlen, "cannot start the follower thread");
		return -1;
	}
	p->following = true;
	*ret = json_object_new_object();
	return 0;
}

static int cmd_stop(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct pcache *p = opaque;
	(void)args;
	if (!p->following) {
		snprintf(err, errlen, "the page-cache ring is not being followed");
		return -1;
	}
	follow_end(p);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "records", json_object_new_int64((int64_t)p->reader.records));
	json_object_object_add(*ret, "lost", json_object_new_int64((int64_t)p->reader.lost));
	json_object_object_add(*ret, "ring", json_object_new_boolean(atomic_load(&p->ring_gpa) != 0));
	return 0;
}

static int pcache_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct sym_filter f = { .type = SYM_EV_MSR_WRITE, .msr = SYM_MSR_PCACHE_RING };
	struct pcache *p;
	char why[200];

	/* The ring MSR is taken with or without a control socket: what the
	 * guest sees must not depend on it (a recording made without one
	 * replays with one). */
	*state = NULL;
	if (!(p = calloc(1, sizeof(*p)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* An engine without MSR events: the guest's write faults and its
	 * module goes on without a ring. */
	p->sub = sym_subscribe(vm, &f, on_ring_msr, p, why, sizeof(why));
	if (vm->control) {
		control_register(vm->control, "pcache-follow-start", cmd_start, p);
		control_register(vm->control, "pcache-follow-stop", cmd_stop, p);
	}
	*state = p;
	return 0;
}

static void pcache_stop(void *state)
{
	struct pcache *p = state;
	if (!p)
		return;
	follow_end(p);
	sym_unsubscribe(p->sub);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static const struct sym_service pcache_service = {
	.name = "pcache",
	.start = pcache_start,
	.stop = pcache_stop,
};
SYM_SERVICE(pcache_service)
