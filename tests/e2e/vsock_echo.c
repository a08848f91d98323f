/* Guest side of tests/e2e/virtio_vsock.sh, built static on the host and
 * added to the default guest's initramfs:
 *   vsock_echo listen PORT          accepts one connection and echoes it back
 *                                   until EOF ("LISTENING-PORT" once bound)
 *   vsock_echo connect CID PORT MSG  sends MSG, half-closes, prints the reply
 *                                   as "REPLY: ..." */
#include <linux/vm_sockets.h>
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

		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		a.svm_cid = (unsigned)atoi(argv[2]);
		a.svm_port = (unsigned)atoi(argv[3]);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return die("vsock connect");
		if (write(fd, argv[4], strlen(argv[4])) != (ssize_t)strlen(argv[4]))
			return die("vsock write");
		shutdown(fd, SHUT_WR);
		while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += n;
		buf[len] = 0;
		printf("REPLY: %s\n", buf);
		return 0;
	}
	fprintf(stderr, "usage: vsock_echo listen PORT | connect CID PORT MSG\n");
	return 2;
}
