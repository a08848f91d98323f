/* Guest-side helper for bench/geiger.sh: COUNT reads of 4 KiB at random
 * block offsets of FILE (a fixed seed, so every run reads the same blocks),
 * the "random reads over a hot set" workload.  Built static on the host and
 * put on the bench's disk. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	unsigned char buf[4096];
	unsigned long sum = 0, seed = 12345;
	long count;
	int fd;
	if (argc != 3 || (count = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: random_read FILE COUNT\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 4096) {
		perror(argv[1]);
		return 1;
	}
	off_t blocks = st.st_size / 4096;
	for (long i = 0; i < count; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL; /* an LCG: any spread will do */
		off_t b = (off_t)((seed >> 33) % (unsigned long)blocks);
		if (pread(fd, buf, sizeof(buf), b * 4096) != (ssize_t)sizeof(buf)) {
			perror("pread");
			return 1;
		}
		sum += buf[0];
	}
	printf("random_read: %ld reads of %lld blocks, sum %lu\n", count, (long long)blocks, sum);
	return 0;
}
