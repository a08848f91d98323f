/* The TAP backend against the host kernel: a fresh interface with
 * 10.213.0.1/24 answers the "guest's" ARP request and ping.  Skipped where
 * the process may not create interfaces (no CAP_NET_ADMIN or no
 * /dev/net/tun). */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/net.h"
#include "host/netpkt.h"

#define HOST_IP  0x0ad50001u /* 10.213.0.1 */
#define GUEST_IP 0x0ad50002u /* 10.213.0.2 */

static uint8_t frame[NET_FRAME_MAX];

static int ifconfig(const char *name, uint32_t ip)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(ip);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		goto out;
	sin->sin_addr.s_addr = htonl(0xffffff00u);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		goto out;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	r = ioctl(fd, SIOCSIFFLAGS, &ifr);
out:
	close(fd);
	return r;
}

typedef int (*match_fn)(const uint8_t *f, size_t len);

static size_t wait_frame(struct net_backend *be, match_fn match)
{
	for (int quiet = 0; quiet < 50;) {
		ssize_t n = net_recv(be, frame, sizeof(frame));
		if (n > 0) {
			if (match(frame, (size_t)n))
				return (size_t)n;
			continue;
		}
		struct pollfd p = { .fd = be->rx_fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			quiet++;
	}
	return 0;
}

static int is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && np_get16(f + 12) == 0x0806 && np_get16(f + 20) == 2 && np_get32(f + 28) == HOST_IP;
}

static int is_echo_reply(const uint8_t *f, size_t len)
{
	struct np_view v = np_parse(f, len);

	return v.ip && v.proto == 1 && v.src == HOST_IP && v.l4len >= 8 && v.l4[0] == 0;
}

static void test_tap_arp_and_ping(void **state)
{
	(void)state;
	char name[32], spec[40], err[256] = "";
	struct net_backend *be;
	uint8_t out[128], host_mac[6];
	struct np_view v;
	size_t n;

	snprintf(name, sizeof(name), "symtap%d", (int)(getpid() % 100000));
	snprintf(spec, sizeof(spec), "tap:%s", name);
	be = net_backend_create(spec, NULL, err, sizeof(err));
	if (!be) {
		if (strstr(err, "ermission") || strstr(err, "not permitted") || strstr(err, "No such"))
			skip();
		fail_msg("%s", err);
	}
	assert_string_equal(be->kind, "tap");
	if (ifconfig(name, HOST_IP) < 0) {
		net_backend_destroy(be);
		if (errno == EPERM || errno == EACCES)
			skip();
		fail_msg("configuring %s: %s", name, strerror(errno));
	}
	np_guest_ip = GUEST_IP;

	n = np_arp_request(out, HOST_IP);
	assert_int_equal(net_send(be, out, n), 0);
	n = wait_frame(be, is_arp_reply);
	assert_true(n > 0);
	assert_memory_equal(frame, netpkt_guest_mac, 6);
	assert_int_equal(np_get32(frame + 14 + 24), GUEST_IP);
	memcpy(host_mac, frame + 14 + 8, 6);

	n = np_icmp_echo(out, host_mac, HOST_IP, 0x4242, 1);
	assert_int_equal(net_send(be, out, n), 0);
	n = wait_frame(be, is_echo_reply);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(v.dst, GUEST_IP);
	assert_int_equal(np_get16(v.l4 + 4), 0x4242);
	assert_memory_equal(v.l4 + 8, "symbiont", 8);
	net_backend_destroy(be);
	/* The interface was ours alone (not persistent): it is gone. */
	assert_int_equal(if_nametoindex(name), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tap_arp_and_ping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
