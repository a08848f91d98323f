/* Creates the virtio devices from vm->cfg.  The device models are not
 * written yet: asking for one is an error, not a silent no-op. */
#include <stdio.h>

#include "hw/virtio/devices.h"

int virtio_devices_init(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;

	if (c->ndisks || c->nnets || c->vsock) {
		snprintf(err, errlen, "virtio devices (--disk, --net, --vsock) are not implemented yet");
		return -1;
	}
	return 0;
}

void virtio_devices_destroy(struct vm *vm)
{
	(void)vm;
}
