/* virtio-vsock: guest sockets to the host over AF_UNIX, in the
 * Firecracker/cloud-hypervisor convention:
 *   host -> guest: connect to the uds PATH, write "CONNECT <port>\n", read
 *                  "OK <hostport>\n", then the stream is the guest's port;
 *   guest -> host port P: connects to the unix socket "<PATH>_<P>". */
#ifndef SYMBIONT_VIRTIO_VSOCK_H
#define SYMBIONT_VIRTIO_VSOCK_H

#include <stddef.h>

#include "symbiont/vm.h"

/* spec: "CID[,uds=PATH]" with CID >= 3.  Returns the device, or NULL with a
 * one-line reason in err. */
void *virtio_vsock_create(struct vm *vm, const char *spec, char *err, size_t errlen);
void virtio_vsock_destroy(void *dev);

#endif
