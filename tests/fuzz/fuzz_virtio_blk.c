/* libFuzzer target: virtio-blk queue processing on guest memory built from
 * the input (fuzz_virtio.h).  The disk is a 1 MiB memfd; requests are done
 * by the device's worker thread, which each run waits for. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "hw/virtio/blk.h"

static void drain(void *b)
{
	virtio_blk_drain(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct virtio_blk *b;
	if (!b) {
		char spec[64], err[256];
		int fd = memfd_create("fuzz-disk", 0);
		if (fd < 0 || ftruncate(fd, 1 << 20))
			abort();
		snprintf(spec, sizeof(spec), "/proc/self/fd/%d,serial=fuzz", fd);
		fz_vm(&f);
		b = virtio_blk_create(f.vm, f.h, spec, err, sizeof(err));
		if (!b) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		fz_attach(&f, virtio_blk_dev(b));
	}
	fz_run(&f, data, size, drain, b);
	return 0;
}
