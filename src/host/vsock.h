/* Host backends for virtio-vsock: where the host ends of the guest's
 * stream sockets come from.  The device speaks virtio-vsock and moves
 * bytes over plain non-blocking stream fds; the backend names the host
 * ports: it connects a guest's request to host port P, accepts streams the
 * host opens towards the guest and reads their handshake, and confirms an
 * accepted stream once the guest took it.  vsock_uds.c is the unix-socket
 * backend (the Firecracker/cloud-hypervisor convention, host CID 2);
 * vsock_group.c the VM-to-VM one (the other guests of a group, by their
 * CIDs; docs/vsock.md), whose data moves through shared-memory rings
 * (host/vsock_ring.h) while the stream fd carries set-up, doorbells and
 * the end.  Called with vm->io_lock held. */
#ifndef SYMBIONT_HOST_VSOCK_H
#define SYMBIONT_HOST_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct vsock_ring;

#define VSOCK_HANDSHAKE_MAX 32 /* "CONNECT 4294967295\n" fits */

/* The handshake of one host-initiated stream, as far as it has come. */
struct vsock_handshake {
	char line[VSOCK_HANDSHAKE_MAX];
	unsigned len;
};

struct vsock_backend;

struct vsock_backend_ops {
	/* A stream to port port of cid for the guest's connection request from
	 * its port src_port: a non-blocking fd, or -1 (the guest gets RST).
	 * *pending set: the far end has not accepted yet; wait for reply().
	 * *ring: the connection's rings (ours only until reply() attaches the
	 * far end's), or NULL for a plain byte stream. */
	int (*connect)(struct vsock_backend *be, uint64_t cid, uint32_t port, uint32_t src_port, bool *pending,
	               struct vsock_ring **ring);
	/* For a pending connect whose fd became readable: 1 accepted (ring, if
	 * any, complete), 0 not yet, -1 refused.  May be NULL when connect never
	 * leaves one pending. */
	int (*reply)(struct vsock_backend *be, int fd, struct vsock_ring *ring);
	/* A new host-initiated stream (listen_fd was readable): a non-blocking
	 * fd, or -1 when none waits. */
	int (*accept)(struct vsock_backend *be);
	/* Reads what fd has of its handshake: 1 with the guest port once it is
	 * complete (nothing after it consumed), 0 when more must arrive, -1 to
	 * drop the stream.  *peer_cid and *peer_port name the far end; a port
	 * of 0 asks the device to pick one.  *ring: the connection's rings
	 * (both attached) or NULL for a plain byte stream. */
	int (*handshake)(struct vsock_backend *be, int fd, struct vsock_handshake *hs, uint32_t *guest_port,
	                 uint64_t *peer_cid, uint32_t *peer_port, struct vsock_ring **ring);
	/* The guest accepted a host-initiated stream as host port host_port:
	 * tell the host side (and hand it our ring); -1 if it is gone. */
	int (*confirm)(struct vsock_backend *be, int fd, uint32_t host_port, struct vsock_ring *ring);
	/* Data on an open stream; NULL: plain read()/send()/shutdown(SHUT_WR).
	 * recv: bytes (> 0), 0 at an orderly end, -1 with errno (EAGAIN: none
	 * now), -2 when the far end vanished without one (the guest gets RST).
	 * cap is VSOCK_MSG_MAX at least.  send: bytes taken (maybe fewer than
	 * len) or -1 with errno.  shut_wr: 0, or -1 with errno EAGAIN to retry
	 * once fd is writable.  With rings, data never passes the fd: recv
	 * then takes doorbells (returning -1 with EAGAIN once none is left), 0
	 * at the far end's orderly end, -2 when it vanished; send is unused;
	 * kick rings the far end's doorbell (0, or -1 when it is gone). */
	ssize_t (*recv)(struct vsock_backend *be, int fd, void *buf, size_t cap);
	ssize_t (*send)(struct vsock_backend *be, int fd, const void *buf, size_t len);
	int (*shut_wr)(struct vsock_backend *be, int fd);
	int (*kick)(struct vsock_backend *be, int fd);
	void (*destroy)(struct vsock_backend *be);
};

#define VSOCK_MSG_MAX 65536 /* data bytes in one message of a message backend */

struct vsock_backend {
	const struct vsock_backend_ops *ops;
	int listen_fd; /* polled for host-initiated streams; -1: none */
};

/* Unix sockets: host-initiated streams connect to path and write
 * "CONNECT <guestport>\n" (answered "OK <hostport>\n"); a guest's request
 * to host port P connects to "<path>_<P>".  NULL with a one-line reason. */
struct vsock_backend *vsock_uds_open(const char *path, char *err, size_t errlen);

/* The VM-to-VM backend: the guest as cid in the group at dir (a name under
 * the per-user directory's vsock/, or a path with a '/'), labelled label
 * ("" none), connections checked against the policy file (NULL: none).
 * Audit events go to vm's control socket.  NULL with a one-line reason;
 * *usage set when the reason is the user's (a taken CID, a conflicting
 * label, a bad policy or directory), not the host's. */
struct vsock_backend *vsock_group_open(struct vm *vm, uint64_t cid, const char *group, const char *label,
                                       const char *policy, bool *usage, char *err, size_t errlen);
/* For the guest's socket accelerator: publishes this member's TCP port
 * forwards (host port, guest port) in the group (CID.tcp), and host_addr,
 * where its guest reaches the host's TCP ports (NULL: it cannot).  Then
 * the control command query-vsock-map (registered by the next call) lists
 * "listen GUESTPORT VPORT" for ours and "connect HOSTADDR HOSTPORT CID
 * VPORT" for every other live member's that the policy lets us reach. */
int vsock_group_publish_tcp(struct vsock_backend *be, const uint16_t (*fwd)[2], int n, const char *host_addr);
struct control;
void vsock_group_control_register(struct vsock_backend *be, struct control *ctl);
/* The same checks without joining: 0, or -1 with the reason. */
int vsock_group_check(uint64_t cid, const char *group, const char *label, const char *policy, char *err, size_t errlen);

static inline void vsock_backend_destroy(struct vsock_backend *be)
{
	if (be)
		be->ops->destroy(be);
}

#endif
