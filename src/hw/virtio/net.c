/* virtio-net: placeholder until the device model lands (same commit series). */
#include <stdio.h>

#include "hw/virtio/net.h"

void *virtio_net_create(struct vm *vm, const char *spec, char *err, size_t errlen)
{
	(void)vm;
	snprintf(err, errlen, "--net %s: virtio-net is not implemented yet", spec);
	return NULL;
}

void virtio_net_destroy(void *dev)
{
	(void)dev;
}
