/* Creates the virtio devices from vm->cfg: virtio-rng and virtio-console
 * always (they cost a PCI slot each and nothing until the guest uses them),
 * one virtio-blk per --disk, virtio-net per --net and virtio-vsock for
 * --vsock (net.c / vsock.c). */
#include <stdio.h>
#include <stdlib.h>

#include "hw/board.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/devices.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/vsock.h"
#include "net/net.h"

struct virtio_set {
	struct virtio_rng *rng;
	struct virtio_console *console;
	struct virtio_blk *blk[VM_MAX_DISKS];
	void *net[VM_MAX_NICS];
	void *vsock;
};

int virtio_devices_check(const struct vm_config *c, char *err, size_t errlen)
{
	for (int i = 0; i < c->ndisks; i++)
		if (virtio_blk_spec_check(c->disks[i], err, errlen) < 0)
			return -1;
	for (int i = 0; i < c->nnets; i++)
		if (net_spec_check(c->nets[i], err, errlen) < 0)
			return -1;
	if (c->vsock && virtio_vsock_spec_check(c->vsock, err, errlen) < 0)
		return -1;
	return 0;
}

int virtio_devices_init(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;
	struct virtio_set *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	vm->virtio = s;
	if (!vm->board || !vm->board->pci) {
		snprintf(err, errlen, "virtio: no PCI bus on this board");
		goto fail;
	}
	for (int i = 0; i < c->ndisks; i++)
		if (!(s->blk[i] = virtio_blk_create(vm, NULL, c->disks[i], err, errlen)))
			goto fail;
	for (int i = 0; i < c->nnets; i++)
		if (!(s->net[i] = virtio_net_create(vm, c->nets[i], err, errlen)))
			goto fail;
	if (c->vsock && !(s->vsock = virtio_vsock_create(vm, c->vsock, err, errlen)))
		goto fail;
	if (!(s->console = virtio_console_create(vm, NULL, vm->board->console, err, errlen)))
		goto fail;
	if (!(s->rng = virtio_rng_create(vm, NULL, err, errlen)))
		goto fail;
	return 0;
fail:
	virtio_devices_destroy(vm);
	return -1;
}

/* Called with the vCPUs stopped and without io_lock (disk workers may be
 * waiting for it to complete a request). */
void virtio_devices_destroy(struct vm *vm)
{
	struct virtio_set *s = vm->virtio;
	if (!s)
		return;
	virtio_rng_destroy(s->rng);
	virtio_console_destroy(s->console);
	if (s->vsock)
		virtio_vsock_destroy(s->vsock);
	for (int i = 0; i < VM_MAX_NICS; i++)
		if (s->net[i])
			virtio_net_destroy(s->net[i]);
	for (int i = 0; i < VM_MAX_DISKS; i++)
		virtio_blk_destroy(s->blk[i]);
	free(s);
	vm->virtio = NULL;
}
