/* Device state loads (symbiont/device.h) on every device the builder makes:
 * whatever the blob, device_load returns 0 or -1 with a message, never
 * crashes, and a loaded state saves again.
 *
 * Input: byte 0 picks the device (low 7 bits, modulo the device count);
 * with bit 7 set the rest is the whole blob (the envelope's own checks),
 * else the rest is a payload wrapped in a valid envelope, checksum
 * included, so it reaches the device's field checks.  After each input
 * the device gets its saved power-on state back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include "host/net.h"
#include "hw/board.h"
#include "hw/pci.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/vsock.h"

static int qb_send(struct net_backend *be, const void *f, size_t len)
{
	(void)be, (void)f, (void)len;
	return 0;
}
static ssize_t qb_recv(struct net_backend *be, void *buf, size_t len)
{
	(void)be, (void)buf, (void)len;
	return 0;
}
static void qb_destroy(struct net_backend *be)
{
	close(be->rx_fd);
	free(be);
}
static const struct net_backend_ops qb_ops = { qb_send, qb_recv, qb_destroy };

static struct vm *vm;
static struct virtio_blk *blk;
static uint8_t *initial[VM_MAX_DEVICES];
static size_t initial_len[VM_MAX_DEVICES];

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_devstate: %s: %s\n", what, err);
	abort();
}

static void setup(void)
{
	char err[256] = "", img[] = "/tmp/symbiont-fuzz-devstate-XXXXXX";
	struct net_backend *be = calloc(1, sizeof(*be));
	struct board *b;
	int fd;

	vm = calloc(1, sizeof(*vm));
	if (!vm || !be)
		abort();
	vm->wake_fd = -1;
	vm->cfg.serial = "null";
	vm->ncpus = 1;
	pthread_mutex_init(&vm->io_lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	if (guest_mem_init(&vm->mem, 32 << 20))
		abort();
	/* The board brings its own PIC and IOAPIC, as on the emu engine. */
	if (!(b = board_init(vm, true, err, sizeof(err))))
		die("board", err);
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, 1 << 20))
		abort();
	close(fd);
	if (!(blk = virtio_blk_create(vm, b->pci, img, err, sizeof(err))))
		die("virtio-blk", err);
	unlink(img); /* the open image stays */
	be->ops = &qb_ops;
	be->kind = "quiet";
	be->rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!virtio_net_new(vm, b->pci, be, err, sizeof(err)))
		die("virtio-net", err);
	if (!virtio_console_create(vm, b->pci, b->console, err, sizeof(err)))
		die("virtio-console", err);
	if (!virtio_rng_create(vm, b->pci, err, sizeof(err)))
		die("virtio-rng", err);
	if (!virtio_vsock_new(vm, b->pci, 3, NULL, false, err, sizeof(err)))
		die("virtio-vsock", err);
	for (int i = 0; i < vm_device_count(vm); i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		if (device_save(d->ops, d->dev, &initial[i], &initial_len[i], err, sizeof(err)))
			die(d->id, err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vm_device *d;
	char err[256];
	uint8_t *blob = NULL, *again;
	size_t len, alen;
	int i;

	if (!vm)
		setup();
	if (!size)
		return 0;
	i = (data[0] & 0x7f) % vm_device_count(vm);
	d = vm_device_at(vm, i);
	if (data[0] & 0x80) {
		blob = malloc(size);
		memcpy(blob, data + 1, size - 1);
		len = size - 1;
	} else {
		size_t nl = strlen(d->ops->name), plen = size - 1, o = 0;
		uint32_t crc;
		len = 4 + 1 + nl + 2 + 4 + plen + 4;
		blob = malloc(len);
		memcpy(blob, "SYMD", 4);
		o = 4;
		blob[o++] = (uint8_t)nl;
		memcpy(blob + o, d->ops->name, nl);
		o += nl;
		blob[o++] = (uint8_t)d->ops->version;
		blob[o++] = (uint8_t)(d->ops->version >> 8);
		for (int k = 0; k < 4; k++)
			blob[o++] = (uint8_t)(plen >> (8 * k));
		memcpy(blob + o, data + 1, plen);
		o += plen;
		crc = (uint32_t)crc32(0, blob, (uInt)o);
		for (int k = 0; k < 4; k++)
			blob[o++] = (uint8_t)(crc >> (8 * k));
	}
	if (!blob)
		abort();
	pthread_mutex_lock(&vm->io_lock);
	err[0] = 0;
	if (device_load(d->ops, d->dev, blob, len, err, sizeof(err)) == 0) {
		/* What was accepted is a state the device can save again. */
		if (device_save(d->ops, d->dev, &again, &alen, err, sizeof(err)))
			die(d->id, err);
		free(again);
	} else if (!err[0] || strchr(err, '\n')) {
		die(d->id, "a refusal without a one-line reason");
	}
	/* A loaded virtio-blk may have taken requests from the rings: let them
	 * finish before its power-on state goes back. */
	pthread_mutex_unlock(&vm->io_lock);
	virtio_blk_drain(blk);
	pthread_mutex_lock(&vm->io_lock);
	if (device_load(d->ops, d->dev, initial[i], initial_len[i], err, sizeof(err)))
		die(d->id, err);
	pthread_mutex_unlock(&vm->io_lock);
	free(blob);
	return 0;
}
