/* virtio-net: one PCI network device per --net option, with a host backend
 * from src/host/ (libslirp user networking, or a TAP interface). */
#ifndef SYMBIONT_VIRTIO_NET_H
#define SYMBIONT_VIRTIO_NET_H

#include <stddef.h>

#include "symbiont/vm.h"

struct pci_host;
struct net_backend;
struct virtio_dev;

/* spec: "user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-:GUESTPORT]..." or
 * "tap:IFNAME".  Creates the backend and puts the device on PCI bus h.
 * Returns the device, or NULL with a one-line reason in err. */
void *virtio_net_create(struct vm *vm, struct pci_host *h, const char *spec, char *err, size_t errlen);
void virtio_net_destroy(void *dev);

/* The same with a backend already made,
 * which the device then owns (destroyed with it, or here on failure).
 * Tests and fuzzers use this with their own backends. */
void *virtio_net_new(struct vm *vm, struct pci_host *h, struct net_backend *be, char *err, size_t errlen);
struct virtio_dev *virtio_net_vdev(void *dev);

#endif
