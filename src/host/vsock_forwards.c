/* Parsing a member's CID.tcp (host/vsock_forwards.h). */
#include <string.h>

#include "host/vsock_forwards.h"

/* A decimal port 1..65535 at *p, then *p past it; -1 if none. */
static long port_at(const char **p, const char *end)
{
	long v = 0;
	const char *s = *p;

	while (s < end && *s >= '0' && *s <= '9' && v <= 65535)
		v = v * 10 + (*s++ - '0');
	if (s == *p || v < 1 || v > 65535)
		return -1;
	*p = s;
	return v;
}

int vsock_forwards_parse(const char *text, size_t len, uint16_t (*out)[2], int max)
{
	const char *p = text, *end = text + len;
	int n = 0;

	while (p < end && n < max) {
		const char *nl = memchr(p, '\n', end - p), *eol = nl ? nl : end, *q = p;
		long hp = port_at(&q, eol), gp = -1;

		if (hp > 0 && q < eol && *q == ' ') {
			q++;
			gp = port_at(&q, eol);
		}
		if (hp > 0 && gp > 0 && q == eol) {
			out[n][0] = (uint16_t)hp;
			out[n++][1] = (uint16_t)gp;
		}
		p = nl ? nl + 1 : end;
	}
	return n;
}
