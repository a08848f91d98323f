/* Guest side of tests/e2e/vsock_accel.sh: a TCP echo pair written against
 * plain BSD sockets, built dynamically against glibc so that the socket
 * accelerator (guest/tools/v2v_accel.c) can be preloaded into it.
 *   tcp_echo serve PORT accept|poll|select   echoes each connection until
 *                                            EOF; waits for connections
 *                                            with accept(), poll() or
 *                                            select() on the listener
 *   tcp_echo send IP PORT BYTES              sends BYTES of a pattern,
 *                                            reads the echo and compares;
 *                                            prints "DOMAIN <n>" (the
 *                                            socket's family as the kernel
 *                                            sees it: 2 TCP, 40 vsock) and
 *                                            "ECHO-SAME <BYTES>" or
 *                                            "ECHO-DIFF" */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536], back[65536];

static int die(const char *what)
{
	perror(what);
	exit(1);
}

static void serve(unsigned port, const char *mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY };
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4))
		die("listen");
	printf("SERVING-%u\n", port);
	fflush(stdout);
	for (;;) {
		if (!strcmp(mode, "poll")) {
			struct pollfd p = { .fd = lfd, .events = POLLIN };
			if (poll(&p, 1, -1) != 1 || !(p.revents & POLLIN))
				die("poll");
		} else if (!strcmp(mode, "select")) {
			fd_set r;
			FD_ZERO(&r);
			FD_SET(lfd, &r);
			if (select(lfd + 1, &r, NULL, NULL, NULL) != 1 || !FD_ISSET(lfd, &r))
				die("select");
		}
		int fd = accept(lfd, NULL, NULL);
		ssize_t n;
		if (fd < 0)
			die("accept");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (write(fd, buf, n) != n)
				break;
		close(fd);
	}
}

static void send_echo(const char *ip, unsigned port, long total)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), dom = 0, same = 1;
	socklen_t l = sizeof(dom);
	long done = 0;

	a.sin_addr.s_addr = inet_addr(ip);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
	printf("DOMAIN %d\n", dom);
	while (done < total) {
		size_t chunk = total - done < (long)sizeof(buf) ? (size_t)(total - done) : sizeof(buf), got = 0;
		for (size_t i = 0; i < chunk; i++)
			buf[i] = (char)((done + i) * 31 + 7);
		if (write(fd, buf, chunk) != (ssize_t)chunk)
			die("write");
		while (got < chunk) {
			ssize_t n = read(fd, back + got, chunk - got);
			if (n <= 0)
				die("read");
			got += n;
		}
		same &= !memcmp(buf, back, chunk);
		done += chunk;
	}
	shutdown(fd, SHUT_WR);
	if (read(fd, back, 1) != 0)
		same = 0; /* the echo must end with our end */
	if (same)
		printf("ECHO-SAME %ld\n", total);
	else
		printf("ECHO-DIFF\n");
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		serve((unsigned)atoi(argv[2]), argv[3]);
	if (argc == 5 && !strcmp(argv[1], "send")) {
		send_echo(argv[2], (unsigned)atoi(argv[3]), atol(argv[4]));
		return 0;
	}
	fprintf(stderr, "usage: tcp_echo serve PORT accept|poll|select | send IP PORT BYTES\n");
	return 2;
}
