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
	return d;
}

void debugexit_destroy(struct debugexit *d)
{
	if (!d)
		return;
	io_bus_unregister(&d->vm->pio, d->port);
	free(d);
}
