/* virtio-console (hvc0 in Linux) with one port, no multiport.  What the guest
 * writes goes to a chardev (the board's console, where COM1 also writes);
 * the host sends nothing back, so the port is output-only: input stays with
 * the serial console. */
#ifndef SYMBIONT_VIRTIO_CONSOLE_H
#define SYMBIONT_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "symbiont/vm.h"

struct virtio_console;
struct pci_host;
struct chardev;

struct virtio_console *virtio_console_create(struct vm *vm, struct pci_host *h, struct chardev *out, char *err,
                                             size_t errlen);
void virtio_console_destroy(struct virtio_console *c);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);

#endif
