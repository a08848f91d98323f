/* Ethernet/IPv4 frame builders and parsers for the network tests: just
 * enough DHCP, ARP, ICMP and TCP to talk to libslirp as a guest would. */
#ifndef SYMBIONT_TESTS_NETPKT_H
#define SYMBIONT_TESTS_NETPKT_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static const uint8_t netpkt_guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t netpkt_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define NP_GUEST_IP 0x0a00020fu /* 10.0.2.15 */
#define NP_GW_IP    0x0a000202u /* 10.0.2.2 */
#define NP_DNS_IP   0x0a000203u /* 10.0.2.3 */

/* The address frames come from (tests on other networks change it). */
static uint32_t np_guest_ip = NP_GUEST_IP;

static inline void np_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}
static inline void np_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}
static inline uint16_t np_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t np_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static inline uint32_t np_sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += np_get16(p + i);
	if (n & 1)
		s += p[n - 1] << 8;
	return s;
}

static inline uint16_t np_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Ethernet header; returns the payload pointer. */
static inline uint8_t *np_eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, netpkt_guest_mac, 6);
	np_put16(f + 12, type);
	return f + 14;
}

/* IPv4 header (20 bytes) with checksum; returns the L4 pointer. */
static inline uint8_t *np_ip(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, size_t l4len)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	np_put16(ip + 2, (uint16_t)(20 + l4len));
	ip[8] = 64;
	ip[9] = proto;
	np_put32(ip + 12, src);
	np_put32(ip + 16, dst);
	np_put16(ip + 10, np_fold(np_sum(ip, 20, 0)));
	return ip + 20;
}

/* Pseudo-header checksum over an L4 segment already in place. */
static inline uint16_t np_l4sum(const uint8_t *ip, const uint8_t *l4, size_t len)
{
	uint32_t s = np_sum(ip + 12, 8, 0) + ip[9] + (uint32_t)len;
	return np_fold(np_sum(l4, len, s));
}

/* DHCP DISCOVER (type 1) or REQUEST (type 3, for 10.0.2.15). */
static inline size_t np_dhcp(uint8_t *f, uint8_t type, uint32_t xid)
{
	uint8_t *ip = np_eth(f, netpkt_bcast, 0x0800), *udp = ip + 20, *b = udp + 8, *o;
	size_t blen;

	memset(b, 0, 240);
	b[0] = 1, b[1] = 1, b[2] = 6;
	np_put32(b + 4, xid);
	memcpy(b + 28, netpkt_guest_mac, 6);
	np_put32(b + 236, 0x63825363);
	o = b + 240;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == 3) {
		*o++ = 50, *o++ = 4;
		np_put32(o, NP_GUEST_IP);
		o += 4;
	}
	*o++ = 255;
	blen = o - b;
	np_put16(udp, 68);
	np_put16(udp + 2, 67);
	np_put16(udp + 4, (uint16_t)(8 + blen));
	np_put16(udp + 6, 0);
	np_ip(ip, 17, 0, 0xffffffffu, 8 + blen);
	return 14 + 20 + 8 + blen;
}

static inline size_t np_arp_request(uint8_t *f, uint32_t target)
{
	uint8_t *a = np_eth(f, netpkt_bcast, 0x0806);

	np_put16(a, 1);
	np_put16(a + 2, 0x0800);
	a[4] = 6, a[5] = 4;
	np_put16(a + 6, 1);
	memcpy(a + 8, netpkt_guest_mac, 6);
	np_put32(a + 14, np_guest_ip);
	memset(a + 18, 0, 6);
	np_put32(a + 24, target);
	return 14 + 28;
}

static inline size_t np_icmp_echo(uint8_t *f, const uint8_t *dstmac, uint32_t dst, uint16_t id, uint16_t seq)
{
	uint8_t *ip = np_eth(f, dstmac, 0x0800), *ic = ip + 20;

	memset(ic, 0, 16);
	ic[0] = 8;
	np_put16(ic + 4, id);
	np_put16(ic + 6, seq);
	memcpy(ic + 8, "symbiont", 8);
	np_put16(ic + 2, np_fold(np_sum(ic, 16, 0)));
	np_ip(ip, 1, np_guest_ip, dst, 16);
	return 14 + 20 + 16;
}

/* TCP segment with flags, no options, optional payload. */
static inline size_t np_tcp(uint8_t *f, const uint8_t *dstmac, uint32_t dst, uint16_t sport, uint16_t dport,
                            uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t dlen)
{
	uint8_t *ip = np_eth(f, dstmac, 0x0800), *t = ip + 20;

	memset(t, 0, 20);
	np_put16(t, sport);
	np_put16(t + 2, dport);
	np_put32(t + 4, seq);
	np_put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	np_put16(t + 14, 65535);
	if (dlen)
		memcpy(t + 20, data, dlen);
	np_ip(ip, 6, np_guest_ip, dst, 20 + dlen);
	np_put16(t + 16, np_l4sum(ip, t, 20 + dlen));
	return 14 + 20 + 20 + dlen;
}

#define NP_FIN 0x01
#define NP_SYN 0x02
#define NP_RST 0x04
#define NP_PSH 0x08
#define NP_ACK 0x10

/* Parsed view of a received IPv4 frame (ip == NULL if it is not one). */
struct np_view {
	uint16_t ethertype;
	const uint8_t *l3, *ip, *l4;
	uint8_t proto;
	uint32_t src, dst;
	size_t l4len;
};

static inline struct np_view np_parse(const uint8_t *f, size_t len)
{
	struct np_view v = { 0 };

	if (len < 14)
		return v;
	v.ethertype = np_get16(f + 12);
	v.l3 = f + 14;
	if (v.ethertype != 0x0800 || len < 34 || (f[14] >> 4) != 4)
		return v;
	size_t ihl = (f[14] & 15) * 4, tot = np_get16(f + 16);
	if (ihl < 20 || tot < ihl || 14 + tot > len)
		return v;
	v.ip = f + 14;
	v.proto = v.ip[9];
	v.src = np_get32(v.ip + 12);
	v.dst = np_get32(v.ip + 16);
	v.l4 = v.ip + ihl;
	v.l4len = tot - ihl;
	return v;
}

#endif
