/* libFuzzer target: arbitrary bytes from a client of the control socket
 * (QMP framing, JSON, negotiation, dispatch).  Each input is one client:
 * it connects, sends the bytes, half-closes and reads until the server
 * drops it.  The server must answer or drop, never crash, hang or leak. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "symbiont/control.h"

static struct control *ctl;
static char path[108];

static int cmd_echo(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	(void)opaque, (void)err, (void)errlen;
	*ret = json_object_get(args);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	int fd;

	if (!ctl) {
		char err[256];
		snprintf(path, sizeof(path), "/tmp/symbiont-fuzz-control.%d", (int)getpid());
		ctl = control_open(path, err, sizeof(err));
		if (!ctl) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		control_register(ctl, "echo", cmd_echo, NULL);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	/* Negotiated half the time, so dispatch is reached too. */
	if (size && (data[0] & 1)) {
		static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
		(void)!send(fd, caps, sizeof(caps) - 1, MSG_NOSIGNAL);
	}
	for (size_t off = 0; off < size;) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	for (;;) { /* until the server closes: it must, within 10 s */
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) <= 0)
			abort();
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		if (r < 0)
			abort();
	}
	close(fd);
	return 0;
}
