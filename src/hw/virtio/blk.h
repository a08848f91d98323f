/* virtio-blk over a raw image file (or block device): --disk PATH[,ro][,serial=ID].
 *
 * Requests are taken off the ring on the vCPU thread that kicked and done
 * by one worker thread per disk (host/worker.h) through the disk's block
 * backend (host/block.h), which completes them under vm->io_lock.  Host I/O errors become
 * VIRTIO_BLK_S_IOERR for the guest. */
#ifndef SYMBIONT_VIRTIO_BLK_H
#define SYMBIONT_VIRTIO_BLK_H

#include <stddef.h>

#include "symbiont/vm.h"

struct virtio_blk;
struct pci_host;

/* Opens the image and puts the device on PCI bus h.  NULL with a one-line reason in err. */
struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_host *h, const char *spec, char *err, size_t errlen);
void virtio_blk_destroy(struct virtio_blk *b);
/* Syntax of a --disk spec alone, opening nothing: 0, or -1 with a message. */
int virtio_blk_spec_check(const char *spec, char *err, size_t errlen);
/* Waits until the worker has completed every queued request.  Must be
 * called without vm->io_lock (tests, fuzzing). */
void virtio_blk_drain(struct virtio_blk *b);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);

/* Request types and status values (virtio 1.0 §5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2

#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_ID_BYTES 20

#endif
