/* virtio-console: queue 0 receives (host → guest, never filled here),
 * queue 1 transmits: each chain's readable bytes go to the chardev. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "hw/virtio/console.h"
#include "hw/virtio/virtio.h"
#include "host/chardev.h"

#define QUEUE_SIZE 64
#define CONFIG_LEN 12 /* cols, rows, max_nr_ports, emerg_wr: unused without features */
#define Q_RX       0
#define Q_TX       1

struct virtio_console {
	struct virtio_dev vd;
	struct chardev *out;
	bool registered;
	struct vq_elem e;
};

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vd;
}

static void con_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_console *c = vd->opaque;
	int rc, pushed = 0;
	if (q != Q_TX)
		return; /* receive buffers wait for input that never comes */
	while ((rc = vq_pop(&vd->vq[q], &c->e)) > 0) {
		for (unsigned i = 0; i < c->e.nout; i++)
			if (c->out)
				chardev_write(c->out, c->e.iov[i].iov_base, c->e.iov[i].iov_len);
		vq_push(&vd->vq[q], &c->e, 0);
		pushed++;
	}
	if (rc < 0)
		virtio_dev_error(vd, "malformed descriptor chain");
	if (pushed)
		virtio_notify(vd, q);
}

/* ---- lifecycle (symbiont/device.h): the transport's state is all there is */

_Static_assert(offsetof(struct virtio_console, vd) == 0, "the lifecycle ops take the device as its virtio_dev");
static const struct device_ops con_device_ops = {
	.name = "virtio-console",
	.version = 1,
	.reset = virtio_plain_reset,
	.save = virtio_plain_save,
	.load = virtio_plain_load,
	.stats = virtio_plain_stats,
};

static const struct virtio_dev_ops con_ops = {
	.name = "virtio-console",
	.type = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,
	.notify = con_notify,
	.lifecycle = &con_device_ops,
};

struct virtio_console *virtio_console_create(struct vm *vm, struct pci_host *h, struct chardev *out, char *err,
                                             size_t errlen)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->out = out;
	if (virtio_dev_init(&c->vd, vm, &con_ops, c, 2, QUEUE_SIZE, CONFIG_LEN, 0)) {
		snprintf(err, errlen, "virtio-console: cannot set up the device");
		goto fail;
	}
	if (virtio_dev_register(&c->vd, h, err, errlen))
		goto fail;
	c->registered = true;
	return c;
fail:
	virtio_console_destroy(c);
	return NULL;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	if (c->registered)
		virtio_dev_unregister(&c->vd);
	virtio_dev_free(&c->vd);
	free(c);
}
