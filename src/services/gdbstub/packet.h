/* The gdb remote protocol's framing: $payload#cs packets, + and - acks,
 * the 0x03 interrupt byte, '}' escapes; and the hex helpers its payloads
 * use.  Pure functions over buffers (no sockets), so the whole layer is
 * unit-tested and fuzzed (tests/unit/test_gdbstub.c, tests/fuzz). */
#ifndef GDBSTUB_PACKET_H
#define GDBSTUB_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest packet body either side sends (advertised as PacketSize);
 * a longer one from the client is consumed and answered with an error. */
#define GDB_PACKET_MAX 16384

enum gdb_rx_event {
	GDB_RX_NONE,      /* byte taken, nothing complete yet */
	GDB_RX_PACKET,    /* a whole packet with a good checksum: rx->buf, rx->len */
	GDB_RX_BAD,       /* a packet with a wrong checksum or a bad escape: nack it */
	GDB_RX_TOO_LONG,  /* a packet longer than GDB_PACKET_MAX: answer with an error */
	GDB_RX_INTERRUPT, /* 0x03 outside a packet (Ctrl-C) */
	GDB_RX_ACK,       /* '+' */
	GDB_RX_NACK,      /* '-': send the last packet again */
};

struct gdb_rx {
	enum { RX_IDLE, RX_BODY, RX_ESCAPE, RX_CS1, RX_CS2 } state;
	uint8_t sum;                  /* checksum of the raw bytes so far */
	uint8_t cs;                   /* the checksum the client sent */
	bool overflow;                /* more than GDB_PACKET_MAX bytes: the rest is counted, not kept */
	bool bad;                     /* an escape with nothing after it, a non-hex checksum */
	size_t len;                   /* unescaped body bytes in buf */
	char buf[GDB_PACKET_MAX + 1]; /* NUL-terminated for convenience (the body may hold NULs) */
};

void gdb_rx_init(struct gdb_rx *rx);
/* Feeds one byte from the client. */
enum gdb_rx_event gdb_rx_byte(struct gdb_rx *rx, uint8_t c);

/* Frames payload (escaping $ # } * and appending the checksum) into out,
 * which holds cap bytes; the framed length, or 0 when it does not fit. */
size_t gdb_frame(char *out, size_t cap, const void *payload, size_t len);

/* Hex: one digit's value or -1; n bytes of bin as 2n lowercase digits
 * (out needs 2n+1 with the NUL); 2n digits to n bytes (-1 on a non-digit). */
int gdb_hexval(int c);
void gdb_tohex(char *out, const void *bin, size_t n);
int gdb_fromhex(void *bin, const char *hex, size_t n);
/* A hex number at *p up to a non-digit (at most 16 digits, at least one):
 * 0 with *p moved past it, or -1. */
int gdb_parse_hex(const char **p, uint64_t *out);

#endif
