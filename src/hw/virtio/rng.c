/* virtio-rng: one request queue of device-writable buffers, each filled
 * completely from getrandom() (the host pool is initialised by the time a
 * VM runs, so this does not block). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "hw/virtio/rng.h"
#include "hw/virtio/virtio.h"

#define QUEUE_SIZE 64
#define MAX_FILL   (64u << 10) /* per request: a guest asking for more gets less */

struct virtio_rng {
	struct virtio_dev vd;
	bool registered;
	struct vq_elem e;
};

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vd;
}

static size_t fill(void *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t k = getrandom((char *)p + done, len - done, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += k;
	}
	return done;
}

static void rng_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_rng *r = vd->opaque;
	int rc, pushed = 0;
	while ((rc = vq_pop(&vd->vq[q], &r->e)) > 0) {
		size_t total = 0;
		for (unsigned i = 0; i < r->e.nin && total < MAX_FILL; i++) {
			struct iovec *v = &r->e.iov[r->e.nout + i];
			size_t want = v->iov_len < MAX_FILL - total ? v->iov_len : MAX_FILL - total;
			size_t got = fill(v->iov_base, want);
			total += got;
			if (got < want)
				break;
		}
		vq_push(&vd->vq[q], &r->e, total);
		pushed++;
	}
	if (rc < 0)
		virtio_dev_error(vd, "malformed descriptor chain");
	if (pushed)
		virtio_notify(vd, q);
}

/* ---- lifecycle (symbiont/device.h): the transport's state is all there is */

_Static_assert(offsetof(struct virtio_rng, vd) == 0, "the lifecycle ops take the device as its virtio_dev");
static const struct device_ops rng_device_ops = {
	.name = "virtio-rng",
	.version = 1,
	.reset = virtio_plain_reset,
	.save = virtio_plain_save,
	.load = virtio_plain_load,
	.stats = virtio_plain_stats,
};

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.type = VIRTIO_ID_RNG,
	.pci_class = 0xff0000,
	.notify = rng_notify,
	.lifecycle = &rng_device_ops,
};

struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_host *h, char *err, size_t errlen)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (virtio_dev_init(&r->vd, vm, &rng_ops, r, 1, QUEUE_SIZE, 0, 0)) {
		snprintf(err, errlen, "virtio-rng: cannot set up the device");
		goto fail;
	}
	if (virtio_dev_register(&r->vd, h, err, errlen))
		goto fail;
	r->registered = true;
	return r;
fail:
	virtio_rng_destroy(r);
	return NULL;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	if (r->registered)
		virtio_dev_unregister(&r->vd);
	virtio_dev_free(&r->vd);
	free(r);
}
