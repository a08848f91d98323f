/* gdb remote protocol framing (packet.h). */
#include <string.h>

#include "services/gdbstub/packet.h"

void gdb_rx_init(struct gdb_rx *rx)
{
	rx->state = RX_IDLE;
	rx->len = 0;
	rx->sum = 0;
	rx->overflow = rx->bad = false;
	rx->buf[0] = 0;
}

int gdb_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void keep(struct gdb_rx *rx, uint8_t c)
{
	if (rx->len < GDB_PACKET_MAX)
		rx->buf[rx->len++] = (char)c;
	else
		rx->overflow = true;
}

enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c)
{
	int v;
	switch (rx->state) {
	case RX_IDLE:
		if (c == '$') {
			rx->state = RX_BODY;
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = rx->bad = false;
			return GDB_RX_NONE;
		}
		if (c == 0x03)
			return GDB_RX_INTERRUPT;
		if (c == '+')
			return GDB_RX_ACK;
		if (c == '-')
			return GDB_RX_NACK;
		return GDB_RX_NONE; /* noise between packets is ignored, as gdbserver does */
	case RX_BODY:
		if (c == '#') {
			rx->state = RX_CS1;
			return GDB_RX_NONE;
		}
		if (c == '$') { /* a new packet before this one ended: start over */
			rx->len = 0, rx->sum = 0, rx->overflow = rx->bad = false;
			return GDB_RX_NONE;
		}
		rx->sum += c;
		if (c == '}')
			rx->state = RX_ESCAPE;
		else
			keep(rx, c);
		return GDB_RX_NONE;
	case RX_ESCAPE:
		rx->sum += c;
		if (c == '#') { /* an escape with nothing after it */
			rx->sum -= c;
			rx->bad = true;
			rx->state = RX_CS1;
			return GDB_RX_NONE;
		}
		keep(rx, c ^ 0x20);
		rx->state = RX_BODY;
		return GDB_RX_NONE;
	case RX_CS1:
		v = gdb_hexval(c);
		if (v < 0)
			rx->bad = true;
		rx->cs = (uint8_t)((v < 0 ? 0 : v) << 4);
		rx->state = RX_CS2;
		return GDB_RX_NONE;
	case RX_CS2:
		v = gdb_hexval(c);
		rx->state = RX_IDLE;
		rx->buf[rx->len < GDB_PACKET_MAX ? rx->len : GDB_PACKET_MAX] = 0;
		if (v < 0 || rx->bad || (uint8_t)(rx->cs | v) != rx->sum)
			return GDB_RX_BAD;
		if (rx->overflow)
			return GDB_RX_TOO_LONG;
		return GDB_RX_PACKET;
	}
	rx->state = RX_IDLE;
	return GDB_RX_NONE;
}

size_t gdb_frame(char *out, size_t cap, const void *payload, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = payload;
	size_t o = 0;
	uint8_t sum = 0;

	if (cap < 4)
		return 0;
	out[o++] = '$';
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '$' || c == '#' || c == '}' || c == '*') {
			if (o + 2 > cap - 3)
				return 0;
			out[o++] = '}';
			sum += '}';
			c ^= 0x20;
		} else if (o + 1 > cap - 3) {
			return 0;
		}
		out[o++] = (char)c;
		sum += c;
	}
	out[o++] = '#';
	out[o++] = hex[sum >> 4];
	out[o++] = hex[sum & 15];
	return o;
}

void gdb_tohex(char *out, const void *bin, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = bin;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = 0;
}

int gdb_fromhex(void *bin, const char *hex, size_t n)
{
	uint8_t *b = bin;
	for (size_t i = 0; i < n; i++) {
		int hi = gdb_hexval((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : gdb_hexval((unsigned char)hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int gdb_parse_hex(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0, d;
	while ((d = gdb_hexval((unsigned char)*s)) >= 0) {
		if (++n > 16)
			return -1;
		v = v << 4 | (uint64_t)d;
		s++;
	}
	if (!n)
		return -1;
	*p = s;
	*out = v;
	return 0;
}
