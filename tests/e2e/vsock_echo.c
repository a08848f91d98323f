/* Guest side of tests/e2e/virtio_vsock.sh, built static on the host and
 * added to the default guest's initramfs:
 *   vsock_echo listen PORT          accepts one connection and echoes it back
 *                                   until EOF ("LISTENING-PORT" once bound)
 *   vsock_echo connect CID PORT MSG  sends MSG, half-closes, prints the reply
 *                                   as "REPLY: ..."
 *   vsock_echo bulk CID PORT BYTES  sends BYTES of a pattern through an echo
 *                                   server while reading them back; prints
 *                                   "BULK-SAME n" or "BULK-DIFFERS ..."
 *   vsock_echo hold CID PORT MSG    sends MSG, prints the echo as "HELD: ...",
 *                                   then waits: prints how the read ends
 *                                   ("READ-END: EOF" or the errno's text)
 *                                   and what a write gets after it
 * Errors print as "perror" lines: "vsock connect: Connection reset by peer". */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
	perror(what);
	return 1;
}

/* A stream connection to CID PORT carrying MSG (if given); -1 after saying
 * why ("vsock connect: ...", "vsock write: ..."). */
static int dial(const char *cid, const char *port, const char *msg)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	a.svm_cid = (unsigned)atoi(cid);
	a.svm_port = (unsigned)atoi(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("vsock connect");
		return -1;
	}
	if (msg && write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg)) {
		perror("vsock write");
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK };
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "listen")) {
		int lfd = socket(AF_VSOCK, SOCK_STREAM, 0);
		long total = 0;

		a.svm_cid = VMADDR_CID_ANY;
		a.svm_port = (unsigned)atoi(argv[2]);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1))
			return die("vsock listen");
		printf("LISTENING-%s\n", argv[2]);
		fflush(stdout);
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return die("vsock accept");
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (write(fd, buf, n) != n)
				return die("vsock write");
			total += n;
		}
		close(fd);
		printf("ECHOED-%ld\n", total);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "connect")) {
		size_t len = 0;

		if ((fd = dial(argv[2], argv[3], argv[4])) < 0)
			return 1;
		shutdown(fd, SHUT_WR);
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += n;
		buf[len] = 0;
		printf("REPLY: %s\n", buf);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "bulk")) {
		long total = atol(argv[4]), sent = 0, got = 0, bad = -1;

		if ((fd = dial(argv[2], argv[3], NULL)) < 0)
			return 1;
		while (got < total) {
			struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
			if (poll(&p, 1, -1) < 0)
				return die("poll");
			if ((p.revents & POLLOUT) && sent < total) {
				size_t k = sizeof(buf) < (size_t)(total - sent) ? sizeof(buf) : (size_t)(total - sent);
				for (size_t i = 0; i < k; i++)
					buf[i] = (char)((sent + i) * 131 % 251);
				n = write(fd, buf, k);
				if (n < 0)
					return die("vsock write");
				sent += n;
				if (sent == total)
					shutdown(fd, SHUT_WR);
			}
			if (p.revents & (POLLIN | POLLHUP)) {
				n = read(fd, buf, sizeof(buf));
				if (n <= 0)
					break;
				for (ssize_t i = 0; i < n; i++)
					if (bad < 0 && buf[i] != (char)((got + i) * 131 % 251))
						bad = got + i;
				got += n;
			}
		}
		if (got == total && bad < 0)
			printf("BULK-SAME %ld\n", got);
		else
			printf("BULK-DIFFERS got %ld of %ld, first bad byte %ld\n", got, total, bad);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "hold")) {
		if ((fd = dial(argv[2], argv[3], argv[4])) < 0)
			return 1;
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return die("vsock read");
		buf[n] = 0;
		printf("HELD: %s\n", buf);
		fflush(stdout);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		printf("READ-END: %s\n", n == 0 ? "EOF" : strerror(errno));
		n = send(fd, "x", 1, MSG_NOSIGNAL);
		printf("WRITE-AFTER: %s\n", n == 1 ? "ok" : strerror(errno));
		return 0;
	}
	fprintf(stderr, "usage: vsock_echo listen PORT | connect|hold CID PORT MSG | bulk CID PORT BYTES\n");
	return 2;
}
