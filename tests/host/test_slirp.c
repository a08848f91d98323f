/* The user-networking backend driven as a guest would drive it: DHCP, ARP,
 * ping of the gateway, a TCP connection to a host loopback service through
 * 10.0.2.2, a host-forwarded port reaching the guest, and option errors. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/net.h"
#include "host/netpkt.h"

#define WAIT_MS 5000 /* generous: a loaded machine, not a timing check */

static uint8_t frame[NET_FRAME_MAX];

static struct net_backend *user(const char *spec)
{
	char err[256] = "";
	struct net_backend *be = net_backend_create(spec, NULL, err, sizeof(err));

	if (!be)
		fail_msg("%s: %s", spec, err);
	return be;
}

typedef int (*match_fn)(const uint8_t *f, size_t len, void *arg);

/* Receives frames until one matches (returns its length) or WAIT_MS of
 * silence passes (returns 0). */
static size_t wait_frame(struct net_backend *be, match_fn match, void *arg)
{
	for (;;) {
		ssize_t n = net_recv(be, frame, sizeof(frame));
		if (n > 0) {
			if (match(frame, (size_t)n, arg))
				return (size_t)n;
			continue;
		}
		struct pollfd p = { .fd = be->rx_fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) <= 0)
			return 0;
	}
}

static int is_dhcp_reply(const uint8_t *f, size_t len, void *arg)
{
	struct np_view v = np_parse(f, len);
	const uint8_t *b;

	if (!v.ip || v.proto != 17 || v.l4len < 8 + 240)
		return 0;
	b = v.l4 + 8;
	if (np_get16(v.l4) != 67 || np_get16(v.l4 + 2) != 68 || b[0] != 2)
		return 0;
	/* Option 53 (message type) must be what the caller wants. */
	for (const uint8_t *o = b + 240; o < v.l4 + v.l4len && *o != 255; o += *o ? 2 + o[1] : 1)
		if (o[0] == 53)
			return o[2] == *(uint8_t *)arg;
	return 0;
}

static void dhcp(struct net_backend *be)
{
	uint8_t want;
	size_t n;
	struct np_view v;
	uint8_t out[600];

	n = np_dhcp(out, 1, 0x1234);
	assert_int_equal(net_send(be, out, n), 0);
	want = 2; /* OFFER */
	n = wait_frame(be, is_dhcp_reply, &want);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(np_get32(v.l4 + 8 + 4), 0x1234);       /* xid */
	assert_int_equal(np_get32(v.l4 + 8 + 16), NP_GUEST_IP); /* yiaddr */
	assert_true(!memcmp(frame, netpkt_guest_mac, 6) || !memcmp(frame, netpkt_bcast, 6));

	n = np_dhcp(out, 3, 0x1235);
	assert_int_equal(net_send(be, out, n), 0);
	want = 5; /* ACK */
	n = wait_frame(be, is_dhcp_reply, &want);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(np_get32(v.l4 + 8 + 16), NP_GUEST_IP);
}

static void test_dhcp_offers_guest_address(void **state)
{
	(void)state;
	struct net_backend *be = user("user");
	const uint8_t *b, *o;
	uint32_t router = 0, dns = 0;
	struct np_view v;

	dhcp(be);
	v = np_parse(frame, sizeof(frame));
	b = v.l4 + 8;
	for (o = b + 240; o < v.l4 + v.l4len && *o != 255; o += *o ? 2 + o[1] : 1) {
		if (o[0] == 3 && o[1] >= 4)
			router = np_get32(o + 2);
		if (o[0] == 6 && o[1] >= 4)
			dns = np_get32(o + 2);
	}
	assert_int_equal(router, NP_GW_IP);
	assert_int_equal(dns, NP_DNS_IP);
	net_backend_destroy(be);
}

static int is_arp_reply(const uint8_t *f, size_t len, void *arg)
{
	(void)arg;
	return len >= 42 && np_get16(f + 12) == 0x0806 && np_get16(f + 20) == 2;
}

static uint8_t gw_mac[6];

static void arp_gateway(struct net_backend *be)
{
	uint8_t out[64];
	size_t n = np_arp_request(out, NP_GW_IP);

	assert_int_equal(net_send(be, out, n), 0);
	n = wait_frame(be, is_arp_reply, NULL);
	assert_true(n > 0);
	assert_int_equal(np_get32(frame + 14 + 14), NP_GW_IP);    /* sender IP */
	assert_int_equal(np_get32(frame + 14 + 24), NP_GUEST_IP); /* target IP */
	assert_memory_equal(frame + 14 + 18, netpkt_guest_mac, 6);
	memcpy(gw_mac, frame + 14 + 8, 6);
}

static void test_arp_gateway(void **state)
{
	(void)state;
	struct net_backend *be = user("user");

	arp_gateway(be);
	assert_false(gw_mac[0] & 1); /* a unicast MAC */
	net_backend_destroy(be);
}

static int is_echo_reply(const uint8_t *f, size_t len, void *arg)
{
	struct np_view v = np_parse(f, len);

	(void)arg;
	return v.ip && v.proto == 1 && v.l4len >= 8 && v.l4[0] == 0;
}

static void test_ping_gateway(void **state)
{
	(void)state;
	struct net_backend *be = user("user");
	uint8_t out[128];
	struct np_view v;
	size_t n;

	dhcp(be);
	arp_gateway(be);
	n = np_icmp_echo(out, gw_mac, NP_GW_IP, 0x77, 3);
	assert_int_equal(net_send(be, out, n), 0);
	n = wait_frame(be, is_echo_reply, NULL);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(v.src, NP_GW_IP);
	assert_int_equal(v.dst, NP_GUEST_IP);
	assert_int_equal(np_get16(v.l4 + 4), 0x77);
	assert_int_equal(np_get16(v.l4 + 6), 3);
	assert_memory_equal(v.l4 + 8, "symbiont", 8);
	net_backend_destroy(be);
}

struct tcp_want {
	uint16_t sport, dport;
	uint8_t flags; /* all of these set */
};

static int is_tcp(const uint8_t *f, size_t len, void *arg)
{
	struct np_view v = np_parse(f, len);
	struct tcp_want *w = arg;

	return v.ip && v.proto == 6 && v.l4len >= 20 && np_get16(v.l4) == w->sport && np_get16(v.l4 + 2) == w->dport &&
	       (v.l4[13] & w->flags) == w->flags;
}

static int is_tcp_to_guest(const uint8_t *f, size_t len, void *arg)
{
	struct np_view v = np_parse(f, len);
	struct tcp_want *w = arg;

	return v.ip && v.proto == 6 && v.l4len >= 20 && np_get16(v.l4 + 2) == w->dport &&
	       (v.l4[13] & w->flags) == w->flags;
}

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The guest opens a connection to 10.0.2.2:PORT; libslirp connects to the
 * host's 127.0.0.1:PORT, answers SYN-ACK, and data flows both ways. */
static void test_tcp_to_host_loopback(void **state)
{
	(void)state;
	struct net_backend *be = user("user");
	uint16_t port;
	int lfd = listen_loopback(&port), cfd;
	uint8_t out[256];
	struct tcp_want w = { port, 40000, NP_SYN | NP_ACK };
	struct np_view v;
	uint32_t srv_seq;
	char buf[16];
	size_t n;

	dhcp(be);
	arp_gateway(be);
	n = np_tcp(out, gw_mac, NP_GW_IP, 40000, port, 1000, 0, NP_SYN, NULL, 0);
	assert_int_equal(net_send(be, out, n), 0);
	n = wait_frame(be, is_tcp, &w);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(np_get32(v.l4 + 8), 1001);
	srv_seq = np_get32(v.l4 + 4);

	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);

	n = np_tcp(out, gw_mac, NP_GW_IP, 40000, port, 1001, srv_seq + 1, NP_ACK | NP_PSH, "hello", 5);
	assert_int_equal(net_send(be, out, n), 0);
	assert_int_equal(recv(cfd, buf, 5, MSG_WAITALL), 5);
	assert_memory_equal(buf, "hello", 5);

	assert_int_equal(send(cfd, "world", 5, 0), 5);
	w.flags = NP_ACK;
	for (;;) {
		n = wait_frame(be, is_tcp, &w);
		assert_true(n > 0);
		v = np_parse(frame, n);
		if (v.l4len > 20)
			break;
	}
	assert_int_equal(v.l4len, 25);
	assert_memory_equal(v.l4 + 20, "world", 5);
	close(cfd);
	close(lfd);
	net_backend_destroy(be);
}

static uint16_t free_port(void)
{
	uint16_t port;
	int fd = listen_loopback(&port);

	close(fd);
	return port;
}

/* hostfwd: a host connection to 127.0.0.1:HOSTPORT becomes a SYN to the
 * guest's port. */
static void test_hostfwd_reaches_guest(void **state)
{
	(void)state;
	char spec[96];
	uint16_t hport = free_port();
	struct sockaddr_in a = { .sin_family = AF_INET,
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		                 .sin_port = htons(hport) };
	struct tcp_want w = { 0, 8080, NP_SYN };
	struct net_backend *be;
	struct np_view v;
	size_t n;
	int fd;

	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:%u-:8080,hostfwd=udp::%u-:53", hport, hport);
	be = user(spec);
	dhcp(be); /* so libslirp knows the guest's MAC */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	n = wait_frame(be, is_tcp_to_guest, &w);
	assert_true(n > 0);
	v = np_parse(frame, n);
	assert_int_equal(v.dst, NP_GUEST_IP);
	assert_memory_equal(frame, netpkt_guest_mac, 6);
	close(fd);
	net_backend_destroy(be);
}

static void expect_error(const char *spec, const char *needle)
{
	char err[256] = "";
	struct net_backend *be = net_backend_create(spec, NULL, err, sizeof(err));

	if (be)
		fail_msg("%s was accepted", spec);
	if (!strstr(err, needle))
		fail_msg("%s: error '%s' lacks '%s'", spec, err, needle);
	assert_null(strchr(err, '\n'));
}

static void test_bad_specs(void **state)
{
	(void)state;
	uint16_t port;
	int fd = listen_loopback(&port);
	char spec[96];

	expect_error("usr", "expected user");
	expect_error("user,foo=1", "unknown option");
	expect_error("user,hostfwd=tcp:99999-:80", "bad hostfwd");
	expect_error("user,hostfwd=icmp:1-:80", "bad hostfwd");
	expect_error("user,hostfwd=tcp:1234", "bad hostfwd");
	expect_error("user,hostfwd=tcp:1.2.3:1234-:80", "bad hostfwd");
	expect_error("user,hostfwd=tcp:1234-:0", "bad hostfwd");
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:%u-:80", port);
	expect_error(spec, "cannot listen");
	expect_error("tap:", "bad interface name");
	expect_error("tap:averyveryverylongname0", "bad interface name");
	close(fd);
}

/* Frames nobody takes are bounded: the queue drops, and a late reader still
 * gets whole frames. */
static void test_rx_queue_bounded(void **state)
{
	(void)state;
	struct net_backend *be = user("user");
	uint8_t out[128];
	size_t n;
	int got = 0;

	dhcp(be);
	arp_gateway(be);
	for (int i = 0; i < 600; i++) {
		n = np_icmp_echo(out, gw_mac, NP_GW_IP, 0x99, (uint16_t)i);
		net_send(be, out, n);
	}
	while ((n = wait_frame(be, is_echo_reply, NULL)) > 0) {
		assert_int_equal(n, 14 + 20 + 16);
		got++;
	}
	assert_true(got > 0);
	assert_true(got <= 256);
	net_backend_destroy(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dhcp_offers_guest_address),
		cmocka_unit_test(test_arp_gateway),
		cmocka_unit_test(test_ping_gateway),
		cmocka_unit_test(test_tcp_to_host_loopback),
		cmocka_unit_test(test_hostfwd_reaches_guest),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_rx_queue_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
