/* TAP backend: frames go straight to and from a host TAP interface.  The
 * fd is non-blocking; a frame the kernel won't take is dropped, as a wire
 * would.  No IFF_VNET_HDR: the device offers no offloads, so there is
 * nothing for the host to know beyond the frame. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "host/net.h"

struct tap_be {
	struct net_backend be;
	char ifname[IFNAMSIZ];
};

static int tap_send(struct net_backend *be, const void *frame, size_t len)
{
	ssize_t n;

	do
		n = write(be->rx_fd, frame, len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static ssize_t tap_recv(struct net_backend *be, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(be->rx_fd, buf, len);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: nothing waits.  Other errors (the interface went down):
	 * report nothing rather than spin the caller. */
	return n < 0 ? 0 : n;
}

static void tap_destroy(struct net_backend *be)
{
	if (be->rx_fd >= 0)
		close(be->rx_fd);
	free(be);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.recv = tap_recv,
	.destroy = tap_destroy,
};

int net_tap_name_check(const char *ifname, char *err, size_t errlen)
{
	if (!*ifname || strlen(ifname) >= IFNAMSIZ || strpbrk(ifname, ",/ \t\n")) {
		snprintf(err, errlen, "--net tap:%s: bad interface name (1 to %d characters, no ',', '/' or spaces)",
		         ifname, IFNAMSIZ - 1);
		return -1;
	}
	return 0;
}

struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen)
{
	struct tap_be *t;
	struct ifreq ifr;
	int fd;

	if (net_tap_name_check(ifname, err, errlen) < 0)
		return NULL;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "--net tap:%s: cannot open /dev/net/tun: %s", ifname, strerror(errno));
		return NULL;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(err, errlen, "--net tap:%s: cannot attach to the interface: %s", ifname, strerror(errno));
		close(fd);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->be.ops = &tap_ops;
	t->be.rx_fd = fd;
	t->be.kind = "tap";
	memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
	t->ifname[IFNAMSIZ - 1] = 0;
	return &t->be;
}
