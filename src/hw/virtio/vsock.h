/* virtio-vsock: guest sockets to the host over AF_UNIX, in the
 * Firecracker/cloud-hypervisor convention:
 *   host -> guest: connect to the uds PATH, write "CONNECT <port>\n", read
 *                  "OK <hostport>\n", then the stream is the guest's port;
 *   guest -> host port P: connects to the unix socket "<PATH>_<P>". */
#ifndef SYMBIONT_VIRTIO_VSOCK_H
#define SYMBIONT_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/vm.h"

struct pci_host;
struct virtio_dev;

/* spec: "CID[,uds=PATH][,group=NAME|DIR]" with CID >= 3; the device goes
 * on PCI bus h.  With a group, the guest reaches the group's other guests
 * by CID, as label (NULL: none) under the policy file (NULL: none;
 * host/vsock_policy.h).  Returns the device, or NULL with a one-line
 * reason in err. */
void *virtio_vsock_create(struct vm *vm, struct pci_host *h, const char *spec, const char *label, const char *policy,
                          char *err, size_t errlen);
void virtio_vsock_destroy(void *dev);
/* Syntax and CID range of a --vsock spec (NULL: none) and whether --label
 * and --policy fit it, touching nothing: 0, or -1 with a message. */
int virtio_vsock_spec_check(const char *spec, const char *label, const char *policy, char *err, size_t errlen);
/* What the host says about a valid spec before the VM is built: the group
 * directory is the user's own, the CID free in it, the policy file valid,
 * the label in conflict with no running VM's.  0, or -1 with a message. */
int virtio_vsock_host_check(const char *spec, const char *label, const char *policy, char *err, size_t errlen);

/* For the guest's socket accelerator (docs/vsock.md): the VM's TCP port
 * forwards, published in its group, and where its guest reaches the host
 * (NULL: nowhere); then the control command query-vsock-map.  Nothing
 * without a group. */
void virtio_vsock_publish_tcp(void *dev, const uint16_t (*fwd)[2], int n, const char *host_addr);
void virtio_vsock_control_register(void *dev);

/* For tests and fuzzers: the device on PCI bus h.
 * uds may be NULL (no host sockets: guest connections are refused).  With
 * threaded false no I/O thread runs; the caller drives host sockets with
 * virtio_vsock_poll(). */
void *virtio_vsock_new(struct vm *vm, struct pci_host *h, uint64_t cid, const char *uds, bool threaded, char *err,
                       size_t errlen);
struct virtio_dev *virtio_vsock_vdev(void *dev);
/* Makes a threadless device a member of group (unlabelled, no policy). */
int virtio_vsock_join_group(void *dev, const char *group, char *err, size_t errlen);
/* One round of host-socket work: waits up to timeout_ms for any socket, then
 * serves what is ready.  Takes vm->io_lock itself. */
void virtio_vsock_poll(void *dev, int timeout_ms);

#endif
