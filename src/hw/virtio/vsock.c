/* virtio-vsock: placeholder until the device model lands (same commit series). */
#include <stdio.h>

#include "hw/virtio/vsock.h"

void *virtio_vsock_create(struct vm *vm, const char *spec, char *err, size_t errlen)
{
	(void)vm;
	snprintf(err, errlen, "--vsock %s: virtio-vsock is not implemented yet", spec);
	return NULL;
}

void virtio_vsock_destroy(void *dev)
{
	(void)dev;
}
