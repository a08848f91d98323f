/* libFuzzer target: virtio-net with guest-controlled rings and buffers
 * (see vfuzz.h for the input layout) over a loopback backend that returns
 * every transmitted frame as received.  Whatever the guest writes, the
 * device must only touch guest RAM, never crash, and keep its queues
 * bounded. */
#include <sys/eventfd.h>
#include <unistd.h>

#include "vfuzz.h"
#include "hw/virtio/net.h"
#include "host/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOOP_FRAMES 8

struct loop_be {
	struct net_backend be;
	uint8_t f[LOOP_FRAMES][2048];
	size_t len[LOOP_FRAMES];
	unsigned head, count;
};

static int loop_send(struct net_backend *be, const void *f, size_t len)
{
	struct loop_be *l = (struct loop_be *)be;
	uint64_t one = 1;

	if (l->count == LOOP_FRAMES || len > sizeof(l->f[0]))
		return -1;
	memcpy(l->f[(l->head + l->count) % LOOP_FRAMES], f, len);
	l->len[(l->head + l->count++) % LOOP_FRAMES] = len;
	if (write(be->rx_fd, &one, sizeof(one)) < 0)
		return 0;
	return 0;
}

static ssize_t loop_recv(struct net_backend *be, void *buf, size_t len)
{
	struct loop_be *l = (struct loop_be *)be;
	size_t n;

	if (!l->count)
		return 0;
	n = l->len[l->head];
	if (n > len)
		abort(); /* the device always offers NET_FRAME_MAX */
	memcpy(buf, l->f[l->head], n);
	l->head = (l->head + 1) % LOOP_FRAMES;
	l->count--;
	return (ssize_t)n;
}

static void loop_destroy(struct net_backend *be)
{
	(void)be;
}

static const struct net_backend_ops loop_ops = { loop_send, loop_recv, loop_destroy };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm *vm;
	static struct loop_be be;
	static void *dev;
	struct virtio_dev *vd;

	if (!vm) {
		struct pci_host *h;
		char err[128];
		vm = vf_vm(&h);
		be.be.ops = &loop_ops;
		be.be.rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		be.be.kind = "loop";
		dev = virtio_net_new(vm, h, &be.be, err, sizeof(err));
		if (!dev) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		virtio_net_vdev(dev)->quiet = true;
	}
	vd = virtio_net_vdev(dev);
	be.count = 0;
	vf_setup(vd, data, size);
	vf_kick(vd, 1);
	vf_kick(vd, 0);
	for (int i = 0; i < vm->nfds; i++) {
		if (vm->fds[i].fd == be.be.rx_fd) {
			pthread_mutex_lock(&vm->io_lock);
			vm->fds[i].ready(vm->fds[i].opaque);
			pthread_mutex_unlock(&vm->io_lock);
		}
	}
	vf_kick(vd, 1);
	vf_kick(vd, 0);
	return 0;
}
