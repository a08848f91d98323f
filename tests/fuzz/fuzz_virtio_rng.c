/* libFuzzer target: virtio-rng queue processing on guest memory built from
 * the input (fuzz_virtio.h). */
#include "fuzz_virtio.h"
#include "hw/virtio/rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct virtio_rng *r;
	if (!r) {
		char err[256];
		fz_vm(&f);
		r = virtio_rng_create(f.vm, f.h, err, sizeof(err));
		if (!r)
			abort();
		fz_attach(&f, virtio_rng_dev(r));
	}
	fz_run(&f, data, size, NULL, NULL);
	return 0;
}
