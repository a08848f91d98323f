/* libFuzzer target: virtio-vsock with guest-controlled rings and packets
 * (see vfuzz.h for the input layout).  Host port 5 has a listening unix
 * socket, so REQUESTs to it open real connections and RW data reaches a
 * socket; other ports are refused.  Whatever the guest sends, the device
 * must answer or drop it without crashing or buffering without bound. */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfuzz.h"
#include "hw/virtio/vsock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char port5_path[108];

static void remove_socket(void)
{
	unlink(port5_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm *vm;
	static void *dev;
	static int lfd = -1;
	struct virtio_dev *vd;

	if (!vm) {
		struct pci_host *h;
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		char err[160], uds[64];

		vm = vf_vm(&h);
		snprintf(uds, sizeof(uds), "/tmp/symbiont-fuzz-vsock-%d", (int)getpid());
		dev = virtio_vsock_new(vm, h, 3, uds, false, err, sizeof(err));
		if (!dev) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		virtio_vsock_vdev(dev)->quiet = true;
		snprintf(a.sun_path, sizeof(a.sun_path), "%s_5", uds);
		unlink(a.sun_path);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 64))
			abort();
		/* Only guest-initiated connections are fuzzed: no need for the
		 * CONNECT listener's file, and port 5's goes at exit. */
		unlink(uds);
		memcpy(port5_path, a.sun_path, sizeof(port5_path));
		atexit(remove_socket);
	}
	vd = virtio_vsock_vdev(dev);
	vf_setup(vd, data, size); /* the reset closes last round's connections */
	vf_kick(vd, 1);
	vf_kick(vd, 0);
	virtio_vsock_poll(dev, 0);
	vf_kick(vd, 1);
	/* Drain the listener's backlog so connects keep succeeding. */
	for (int fd; (fd = accept(lfd, NULL, NULL)) >= 0;)
		close(fd);
	return 0;
}
