/* Debug exit port (4 ports wide, any access width). */
#include <stdlib.h>

#include "hw/debugexit.h"
#include "symbiont/vm.h"

struct debugexit {
	struct vm *vm;
	uint16_t port;
};

static void dx_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct debugexit *d = dev;
	(void)off;
	if (size < 8)
		val &= (1ULL << (8 * size)) - 1;
	/* Exit statuses are 8 bits wide: QEMU's guests use small values. */
	vm_request_exit(d->vm, (int)((val << 1) | 1));
}

/* No read handler: the bus answers all ones, like an empty port. */
static const struct io_ops dx_ops = { NULL, dx_write };

/* A write-only port has no state: the payload is empty, and still checked
 * to be so. */
static void dx_reset(void *dev)
{
	(void)dev;
}

static int dx_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	(void)dev, (void)b, (void)err, (void)errlen;
	return 0;
}

static int dx_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	(void)dev, (void)err, (void)errlen;
	return st_ok(r) ? 0 : -1;
}

static void dx_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct debugexit *d = dev;
	emit(ctx, "port", d->port);
}

const struct device_ops debugexit_device_ops = {
	.name = "debug-exit",
	.version = 1,
	.reset = dx_reset,
	.save = dx_save,
	.load = dx_load,
	.stats = dx_stats,
};

struct debugexit *debugexit_create(struct vm *vm, uint16_t port)
{
	struct debugexit *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->vm = vm;
	d->port = port;
	if (io_bus_register(&vm->pio, port, 4, &dx_ops, d)) {
		free(d);
		return NULL;
	}
	if (vm_device_add(vm, &debugexit_device_ops, d)) {
		io_bus_unregister(&vm->pio, port);
		free(d);
		return NULL;
	}
	return d;
}

void debugexit_destroy(struct debugexit *d)
{
	if (!d)
		return;
	io_bus_unregister(&d->vm->pio, d->port);
	vm_device_remove(d->vm, d);
	free(d);
}
