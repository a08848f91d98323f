/* Guest-side helper for bench/geiger.sh: touches every page of a file
 * through a shared mapping, so the file's pages enter the guest's cache
 * by page faults (the unified page cache) rather than read(2).  Built
 * static on the host and put on the bench's disk. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct stat st;
	unsigned long sum = 0;
	int fd;
	if (argc != 2) {
		fprintf(stderr, "usage: mmap_read FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	const volatile unsigned char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (off_t i = 0; i < st.st_size; i += 4096)
		sum += p[i];
	printf("mmap_read: %lld pages, sum %lu\n", (long long)(st.st_size + 4095) / 4096, sum);
	return 0;
}
