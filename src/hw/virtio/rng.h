/* virtio-rng: the guest's buffers are filled from the host's getrandom(). */
#ifndef SYMBIONT_VIRTIO_RNG_H
#define SYMBIONT_VIRTIO_RNG_H

#include <stddef.h>

#include "symbiont/vm.h"

struct virtio_rng;
struct pci_host;

struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_host *h, char *err, size_t errlen);
void virtio_rng_destroy(struct virtio_rng *r);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

#endif
