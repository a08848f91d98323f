/* The receiving side of a live migration: `symbiont run --incoming URI`
 * listens, takes one connection, reads the stream (migrate_stream.c: guest
 * RAM into a memfd, then the machine's state), rebuilds the machine the way
 * a restore does, and answers the sender "OK" once it can run it, or
 * "ERR why".  The sender resumes its guest on anything but "OK". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "machine/builder.h"
#include "machine/migrate.h"
#include "machine/migrate_stream.h"
#include "symbiont/memory.h"

#define RECV_TIMEOUT_S 60

static int read_full(void *ctx, void *buf, size_t n)
{
	int fd = *(int *)ctx;
	uint8_t *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r, n -= (size_t)r;
	}
	return 0;
}

static void reply(int fd, const char *line)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%.300s\n", line);
	/* MSG_NOSIGNAL: a sender that has gone must not kill us with SIGPIPE. */
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		/* the sender went away: it resumes or has given up anyway */
	}
}

struct machine *machine_incoming(const char *uri, struct machine_restore_opts *o, bool *bad_input, char *err,
                                 size_t errlen)
{
	bool bad_uri;
	int lfd = migrate_listen(uri, &bad_uri, err, errlen), fd;
	struct machine *m = NULL;

	*bad_input = bad_uri;
	if (lfd < 0)
		return NULL;
	fprintf(stderr, "symbiont: waiting for a machine on %s\n", uri);
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (!strncmp(uri, "unix:", 5))
		unlink(uri + 5); /* one machine comes in: nobody else may connect */
	close(lfd);
	if (fd < 0) {
		snprintf(err, errlen, "--incoming %s: %s", uri, strerror(errno));
		return NULL;
	}
	/* A sender that stops sending is gone: a minute of silence ends it. */
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct mig_reader r = { .read = read_full, .ctx = &fd, .max_mem = host_ram_size() };
	if (!r.max_mem || r.max_mem > MEM_MAX_SIZE)
		r.max_mem = MEM_MAX_SIZE;
	if (mig_read_stream(&r, err, errlen) < 0) {
		*bad_input = true;
		char line[300];
		snprintf(line, sizeof(line), "ERR %.290s", err);
		reply(fd, line);
		close(fd);
		return NULL;
	}
	o->state = r.state;
	o->state_len = r.state_len;
	o->mem_fd = r.mem_fd; /* both the machine's now, built or not */
	o->force = false;
	m = machine_restore(o, bad_input, err, errlen);
	if (!m) {
		char line[300];
		snprintf(line, sizeof(line), "ERR %.290s", err);
		reply(fd, line);
		close(fd);
		return NULL;
	}
	reply(fd, "OK");
	close(fd);
	return m;
}
