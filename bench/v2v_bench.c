/* Guest side of bench/vsock_v2v.sh, built static on the host and added to
 * the default initramfs as /bin/v2v_bench.  The same code over AF_VSOCK or
 * TCP, so the two transports are measured alike:
 *   v2v_bench serve vsock|tcp PORT     serves connections one after another:
 *                                      echoes what it reads until EOF, or,
 *                                      for a connection that starts with
 *                                      'B', reads to EOF and answers 1 byte
 *   v2v_bench ping vsock CID|tcp IP PORT ROUNDS   1-byte round trips; prints
 *                                      "PING-<kind> <mean µs>"
 *   v2v_bench bulk vsock CID|tcp IP PORT MIB      MIB MiB in 64 KiB writes,
 *                                      then waits for the answer; prints
 *                                      "BULK-<kind> <MiB/s>"
 * Times are the guest's CLOCK_MONOTONIC. */
#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int die(const char *what)
{
	perror(what);
	exit(1);
}

static int open_sock(const char *kind, const char *addr, unsigned port, int listening)
{
	int one = 1, fd;

	if (!strcmp(kind, "vsock")) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_port = port };
		a.svm_cid = listening ? VMADDR_CID_ANY : (unsigned)atoi(addr);
		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (listening ? bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4)
		              : connect(fd, (struct sockaddr *)&a, sizeof(a)))
			die(listening ? "vsock listen" : "vsock connect");
		return fd;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = listening ? INADDR_ANY : inet_addr(addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listening ? bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4)
	              : connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die(listening ? "tcp listen" : "tcp connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static char buf[65536];

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve")) {
		int lfd = open_sock(argv[2], NULL, (unsigned)atoi(argv[3]), 1), one = 1;
		printf("SERVING-%s\n", argv[2]);
		fflush(stdout);
		for (;;) {
			int fd = accept(lfd, NULL, NULL);
			ssize_t n;
			if (fd < 0)
				die("accept");
			if (!strcmp(argv[2], "tcp"))
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			n = read(fd, buf, sizeof(buf));
			if (n > 0 && buf[0] == 'B') {
				while ((n = read(fd, buf, sizeof(buf))) > 0)
					;
				if (write(fd, "k", 1) != 1)
					perror("write");
			} else {
				while (n > 0 && write(fd, buf, n) == n)
					n = read(fd, buf, sizeof(buf));
			}
			close(fd);
		}
	}
	if (argc == 6 && !strcmp(argv[1], "ping")) {
		int fd = open_sock(argv[2], argv[3], (unsigned)atoi(argv[4]), 0);
		long rounds = atol(argv[5]);
		char c = 'p';
		double t0;
		/* One round first: connection set-up is not part of the figure. */
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
			die("ping");
		t0 = now();
		for (long i = 0; i < rounds; i++)
			if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
				die("ping");
		printf("PING-%s %.1f\n", argv[2], (now() - t0) / rounds * 1e6);
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "bulk")) {
		int fd = open_sock(argv[2], argv[3], (unsigned)atoi(argv[4]), 0);
		long total = atol(argv[5]) << 20, sent = 0;
		double t0 = now();
		memset(buf, 'x', sizeof(buf));
		buf[0] = 'B';
		while (sent < total) {
			ssize_t n = write(fd, buf, sizeof(buf));
			if (n <= 0)
				die("bulk write");
			sent += n;
			buf[0] = 'x';
		}
		shutdown(fd, SHUT_WR);
		if (read(fd, buf, 1) != 1)
			die("bulk answer");
		printf("BULK-%s %.1f\n", argv[2], total / 1048576.0 / (now() - t0));
		return 0;
	}
	fprintf(stderr, "usage: v2v_bench serve KIND PORT | ping|bulk KIND ADDR PORT N\n");
	return 2;
}
