/* The virtio devices named on the command line (--disk, --net, --vsock),
 * created after the board so they can sit on its PCI bus. */
#ifndef SYMBIONT_VIRTIO_DEVICES_H
#define SYMBIONT_VIRTIO_DEVICES_H

#include <stddef.h>

#include "symbiont/vm.h"

int virtio_devices_init(struct vm *vm, char *err, size_t errlen);
/* The device specs' syntax alone (usage errors), creating nothing. */
int virtio_devices_check(const struct vm_config *c, char *err, size_t errlen);
void virtio_devices_destroy(struct vm *vm);

#endif
