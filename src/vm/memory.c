/* Guest RAM: one anonymous mapping, split around the 32-bit MMIO hole. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "symbiont/memory.h"

uint64_t host_ram_size(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

int guest_mem_init(struct guest_mem *m, uint64_t size)
{
	uint64_t host = host_ram_size();
	void *p;

	memset(m, 0, sizeof(*m));
	if (size < MEM_MIN_SIZE || size > MEM_MAX_SIZE || (size & 0xfff)) {
		errno = EINVAL;
		return -1;
	}
	/* MAP_NORESERVE would let a guest larger than the host start, then
	 * crawl (its kernel touches every page's struct page) or be OOM-killed:
	 * refuse it at once, as QEMU does. */
	if (host && size > host) {
		errno = ENOMEM;
		return -1;
	}
	/* MAP_NORESERVE: a large guest costs only the pages it touches. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	madvise(p, size, MADV_HUGEPAGE);
	m->host = p;
	m->size = size;
	m->low_size = size < MEM_HOLE_START ? size : MEM_HOLE_START;
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	if (m->host)
		munmap(m->host, m->size);
	memset(m, 0, sizeof(*m));
}

int gpa_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
	const void *src = gpa_to_host(m, gpa, len);

	if (!src)
		return -1;
	memcpy(dst, src, len);
	return 0;
}

int gpa_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	void *dst = gpa_to_host(m, gpa, len);

	if (!dst)
		return -1;
	memcpy(dst, src, len);
	return 0;
}
