/* Host backends for virtio-vsock: where the host ends of the guest's
 * stream sockets come from.  The device speaks virtio-vsock and moves
 * bytes over plain non-blocking stream fds; the backend names the host
 * ports: it connects a guest's request to host port P, accepts streams the
 * host opens towards the guest and reads their handshake, and confirms an
 * accepted stream once the guest took it.  vsock_uds.c is the unix-socket
 * backend (the Firecracker/cloud-hypervisor convention); a VM-to-VM
 * backend will be another behind the same table.  Called with vm->io_lock
 * held. */
#ifndef SYMBIONT_HOST_VSOCK_H
#define SYMBIONT_HOST_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HANDSHAKE_MAX 32 /* "CONNECT 4294967295\n" fits */

/* The handshake of one host-initiated stream, as far as it has come. */
struct vsock_handshake {
	char line[VSOCK_HANDSHAKE_MAX];
	unsigned len;
};

struct vsock_backend;

struct vsock_backend_ops {
	/* A stream to host port port for the guest's connection request: a
	 * non-blocking fd, or -1 (the guest gets RST). */
	int (*connect)(struct vsock_backend *be, uint32_t port);
	/* A new host-initiated stream (listen_fd was readable): a non-blocking
	 * fd, or -1 when none waits. */
	int (*accept)(struct vsock_backend *be);
	/* Reads what fd has of its handshake: 1 with the guest port once it is
	 * complete (nothing after it consumed), 0 when more must arrive, -1 to
	 * drop the stream. */
	int (*handshake)(struct vsock_backend *be, int fd, struct vsock_handshake *hs, uint32_t *guest_port);
	/* The guest accepted a host-initiated stream as host port host_port:
	 * tell the host side; -1 if it is gone. */
	int (*confirm)(struct vsock_backend *be, int fd, uint32_t host_port);
	void (*destroy)(struct vsock_backend *be);
};

struct vsock_backend {
	const struct vsock_backend_ops *ops;
	int listen_fd; /* polled for host-initiated streams; -1: none */
};

/* Unix sockets: host-initiated streams connect to path and write
 * "CONNECT <guestport>\n" (answered "OK <hostport>\n"); a guest's request
 * to host port P connects to "<path>_<P>".  NULL with a one-line reason. */
struct vsock_backend *vsock_uds_open(const char *path, char *err, size_t errlen);

static inline void vsock_backend_destroy(struct vsock_backend *be)
{
	if (be)
		be->ops->destroy(be);
}

#endif
