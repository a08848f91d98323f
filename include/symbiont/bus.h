/* I/O buses: port I/O and MMIO share one dispatcher.
 *
 * A device registers a range with an ops table; an access is routed to the
 * region that contains its first byte, with the offset from the region's
 * base.  Unclaimed reads return all ones, unclaimed writes are dropped, as
 * on real hardware.  The bus itself does no locking: callers hold
 * vm->io_lock (see vm.h), so device code never needs its own lock. */
#ifndef SYMBIONT_BUS_H
#define SYMBIONT_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct io_ops {
	uint64_t (*read)(void *dev, uint64_t off, unsigned size);
	void (*write)(void *dev, uint64_t off, uint64_t val, unsigned size);
};

struct io_region {
	uint64_t base, len;
	const struct io_ops *ops;
	void *dev;
};

struct io_bus {
	struct io_region *regions; /* sorted by base, non-overlapping */
	int n, cap;
};

void io_bus_init(struct io_bus *bus);
void io_bus_free(struct io_bus *bus);
/* 0, or -1 if the range is empty or overlaps a registered one. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops, void *dev);
/* Removes the region that starts at base (used when a PCI BAR moves). */
void io_bus_unregister(struct io_bus *bus, uint64_t base);
const struct io_region *io_bus_find(const struct io_bus *bus, uint64_t addr);
/* size is 1, 2, 4 or 8.  Return false when no device claims addr. */
bool io_bus_read(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *val);
bool io_bus_write(struct io_bus *bus, uint64_t addr, uint64_t val, unsigned size);

#endif
