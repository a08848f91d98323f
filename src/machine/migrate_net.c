/* The sockets a migration runs over: "unix:PATH" or "tcp:HOST:PORT". */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "machine/migrate.h"

#define CONNECT_TIMEOUT_S 5

struct mig_addr {
	bool unix_path;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256], port[16];
};

static int parse(const char *uri, struct mig_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!strncmp(uri, "unix:", 5)) {
		size_t n = strlen(uri + 5);
		if (!n || n >= sizeof(a->path))
			return -1;
		a->unix_path = true;
		memcpy(a->path, uri + 5, n + 1);
		return 0;
	}
	if (strncmp(uri, "tcp:", 4))
		return -1;
	const char *h = uri + 4, *colon = strrchr(h, ':');
	if (!colon || colon == h || (size_t)(colon - h) >= sizeof(a->host))
		return -1;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	memcpy(a->host, h, (size_t)(colon - h));
	snprintf(a->port, sizeof(a->port), "%ld", port);
	return 0;
}

bool migrate_uri_valid(const char *uri)
{
	struct mig_addr a;
	return parse(uri, &a) == 0;
}

static int unix_sock(const struct mig_addr *a, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, a->path, strlen(a->path) + 1);
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

int migrate_connect(const char *uri, char *err, size_t errlen)
{
	struct mig_addr a;
	if (parse(uri, &a) < 0) {
		snprintf(err, errlen, "'%s' is not unix:PATH or tcp:HOST:PORT", uri);
		return -1;
	}
	if (a.unix_path) {
		struct sockaddr_un sa;
		int fd = unix_sock(&a, &sa);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			snprintf(err, errlen, "%s: %s", uri, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc = getaddrinfo(a.host, a.port, &hints, &res), fd = -1;
	if (rc) {
		snprintf(err, errlen, "%s: %s", uri, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		/* A host that never answers must not hold the control thread for
		 * the kernel's two minutes: connect honours the send timeout. */
		struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(err, errlen, "%s: %s", uri, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int migrate_listen(const char *uri, bool *bad_uri, char *err, size_t errlen)
{
	struct mig_addr a;
	*bad_uri = false;
	if (parse(uri, &a) < 0) {
		*bad_uri = true;
		snprintf(err, errlen, "--incoming '%s' is not unix:PATH or tcp:HOST:PORT", uri);
		return -1;
	}
	if (a.unix_path) {
		struct sockaddr_un sa;
		int fd = unix_sock(&a, &sa);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
			snprintf(err, errlen, "--incoming %s: %s", uri, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	int rc = getaddrinfo(a.host, a.port, &hints, &res), fd = -1, one = 1;
	if (rc) {
		snprintf(err, errlen, "--incoming %s: %s", uri, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0)
			break;
		snprintf(err, errlen, "--incoming %s: %s", uri, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}
