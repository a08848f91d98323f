/* Host network backends for virtio-net: ethernet frames in and out.
 *
 *   user[,hostfwd=PROTO:[ADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *       libslirp user networking on 10.0.2.0/24: gateway 10.0.2.2 (which
 *       also reaches the host's loopback), DNS 10.0.2.3, the guest gets
 *       10.0.2.15 by DHCP.  PROTO is tcp or udp; ADDR defaults to 127.0.0.1.
 *       "tcp:HOSTPORT-:GUESTPORT" is accepted too.
 *   tap:IFNAME
 *       an existing or new TAP interface (/dev/net/tun, no packet info).
 *
 * Threads: send() may be called from any thread (the device calls it with
 * vm->io_lock held); recv() is called by the one consumer (the device's
 * rx_fd callback).  The backend never takes vm->io_lock, so no lock order
 * can invert.  rx_fd is level-triggered readable while frames wait, which is
 * what vm_add_fd watches. */
#ifndef SYMBIONT_HOST_NET_H
#define SYMBIONT_HOST_NET_H

#include <stddef.h>
#include <sys/types.h>

#include "symbiont/clock.h"

#define NET_FRAME_MAX 65536 /* largest frame recv() returns */

struct net_backend;

struct net_backend_ops {
	/* One frame to the host network.  Dropped (like a wire would) when the
	 * backend cannot take it; 0, or -1 if the frame was dropped. */
	int (*send)(struct net_backend *be, const void *frame, size_t len);
	/* The next frame from the host network: its length (a frame longer than
	 * len is dropped, never truncated), 0 when none waits. */
	ssize_t (*recv)(struct net_backend *be, void *buf, size_t len);
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	int rx_fd;
	const char *kind; /* "user" or "tap" */
};

/* Parses spec and starts the backend; NULL with a one-line reason.  clock
 * is the VM's (its timers, e.g. libslirp's TCP timers, run on it); NULL:
 * the host clock. */
struct net_backend *net_backend_create(const char *spec, const struct vm_clock *clock, char *err, size_t errlen);
/* Syntax of a --net spec alone, opening and binding nothing: 0, or -1 with
 * a message. */
int net_spec_check(const char *spec, char *err, size_t errlen);

static inline int net_send(struct net_backend *be, const void *frame, size_t len)
{
	return be->ops->send(be, frame, len);
}
static inline ssize_t net_recv(struct net_backend *be, void *buf, size_t len)
{
	return be->ops->recv(be, buf, len);
}
static inline void net_backend_destroy(struct net_backend *be)
{
	if (be)
		be->ops->destroy(be);
}

/* The backends (net.c dispatches on the spec's prefix). */
struct net_backend *net_slirp_create(const char *opts, const struct vm_clock *clock, char *err, size_t errlen);
struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen);
int net_slirp_opts_check(const char *opts, char *err, size_t errlen);
/* The TCP port forwards of user-network options (hostfwd=tcp:...): up to
 * max (host port, guest port) pairs into fwd; how many. */
int net_slirp_tcp_forwards(const char *opts, uint16_t (*fwd)[2], int max);
int net_tap_name_check(const char *ifname, char *err, size_t errlen);

#endif
