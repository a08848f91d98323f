/* libFuzzer target: virtio-console queue processing on guest memory built
 * from the input (fuzz_virtio.h); output goes to an in-memory chardev. */
#include "fuzz_virtio.h"
#include "hw/virtio/console.h"
#include "host/chardev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct virtio_console *c;
	static struct chardev *chr;
	if (!c) {
		char err[256];
		fz_vm(&f);
		chr = chardev_create(f.vm, "null", err, sizeof(err));
		c = virtio_console_create(f.vm, f.h, chr, err, sizeof(err));
		if (!c)
			abort();
		fz_attach(&f, virtio_console_dev(c));
	}
	fz_run(&f, data, size, NULL, NULL);
	return 0;
}
