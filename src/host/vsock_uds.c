/* The unix-socket vsock backend (host/vsock.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/vsock.h"

struct uds {
	struct vsock_backend be;
	char *path;
};

static int uds_connect(struct vsock_backend *be, uint64_t cid, uint32_t port, uint32_t src_port, bool *pending,
                       struct vsock_ring **ring)
{
	struct uds *u = (struct uds *)be;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	(void)cid, (void)src_port;
	*pending = false;
	*ring = NULL;
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s_%" PRIu32, u->path, port) >= (int)sizeof(a.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int uds_accept(struct vsock_backend *be)
{
	return accept4(be->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Reads the "CONNECT <port>\n" line a byte at a time, so nothing after it
 * is consumed before the guest accepts. */
static int uds_handshake(struct vsock_backend *be, int fd, struct vsock_handshake *hs, uint32_t *guest_port,
                         uint64_t *peer_cid, uint32_t *peer_port, struct vsock_ring **ring)
{
	(void)be;
	*ring = NULL;
	*peer_cid = 2;
	*peer_port = 0;
	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);
		unsigned long port;
		char *end;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		if (ch != '\n') {
			if (hs->len == VSOCK_HANDSHAKE_MAX - 1)
				return -1;
			hs->line[hs->len++] = ch;
			continue;
		}
		hs->line[hs->len] = 0;
		if (hs->len > 0 && hs->line[hs->len - 1] == '\r')
			hs->line[--hs->len] = 0;
		errno = 0;
		if (strncmp(hs->line, "CONNECT ", 8) || !hs->line[8] ||
		    (port = strtoul(hs->line + 8, &end, 10), *end) || errno || port > UINT32_MAX)
			return -1;
		*guest_port = (uint32_t)port;
		return 1;
	}
}

static int uds_confirm(struct vsock_backend *be, int fd, uint32_t host_port, struct vsock_ring *ring)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %" PRIu32 "\n", host_port);
	(void)be, (void)ring;
	/* A fresh socket's buffer is empty: the line goes out whole or the host
	 * side is gone. */
	return send(fd, ok, n, MSG_DONTWAIT | MSG_NOSIGNAL) == n ? 0 : -1;
}

static void uds_destroy(struct vsock_backend *be)
{
	struct uds *u = (struct uds *)be;
	if (be->listen_fd >= 0) {
		close(be->listen_fd);
		unlink(u->path);
	}
	free(u->path);
	free(u);
}

static const struct vsock_backend_ops uds_ops = {
	.connect = uds_connect,
	.accept = uds_accept,
	.handshake = uds_handshake,
	.confirm = uds_confirm,
	.destroy = uds_destroy,
};

struct vsock_backend *vsock_uds_open(const char *path, char *err, size_t errlen)
{
	struct uds *u = calloc(1, sizeof(*u));
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;

	if (!u || !(u->path = strdup(path))) {
		free(u);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->be.ops = &uds_ops;
	u->be.listen_fd = -1;
	/* Room for "_<port>" on the guest-initiated paths too. */
	if (strlen(path) + 12 > sizeof(a.sun_path)) {
		snprintf(err, errlen, "--vsock: uds path too long (%zu bytes at most)", sizeof(a.sun_path) - 12);
		goto fail;
	}
	strcpy(a.sun_path, path);
	/* A socket left by an earlier run is stale; anything else is not ours. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--vsock: %s exists and is not a socket", path);
			goto fail;
		}
		unlink(path);
	}
	u->be.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->be.listen_fd < 0 || bind(u->be.listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(u->be.listen_fd, 16) < 0) {
		snprintf(err, errlen, "--vsock: cannot listen on %s: %s", path, strerror(errno));
		if (u->be.listen_fd >= 0)
			close(u->be.listen_fd);
		u->be.listen_fd = -1;
		goto fail;
	}
	return &u->be;
fail:
	uds_destroy(&u->be);
	return NULL;
}
