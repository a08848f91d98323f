/* I/O bus: a sorted array of regions, binary-searched per access.  A PC has
 * a few dozen regions, so this stays in cache and needs no tree. */
#include <stdlib.h>
#include <string.h>

#include "symbiont/bus.h"

void io_bus_init(struct io_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void io_bus_free(struct io_bus *bus)
{
	free(bus->regions);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the first region whose base is > addr. */
static int upper_bound(const struct io_bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (bus->regions[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops, void *dev)
{
	int i;

	if (len == 0 || base + len < base)
		return -1;
	i = upper_bound(bus, base);
	if (i > 0 && bus->regions[i - 1].base + bus->regions[i - 1].len > base)
		return -1;
	if (i < bus->n && bus->regions[i].base < base + len)
		return -1;
	if (bus->n == bus->cap) {
		int cap = bus->cap ? bus->cap * 2 : 16;
		struct io_region *r = realloc(bus->regions, cap * sizeof(*r));
		if (!r)
			return -1;
		bus->regions = r;
		bus->cap = cap;
	}
	memmove(&bus->regions[i + 1], &bus->regions[i], (bus->n - i) * sizeof(*bus->regions));
	bus->regions[i] = (struct io_region){ .base = base, .len = len, .ops = ops, .dev = dev };
	bus->n++;
	return 0;
}

void io_bus_unregister(struct io_bus *bus, uint64_t base)
{
	int i = upper_bound(bus, base) - 1;

	if (i < 0 || bus->regions[i].base != base)
		return;
	memmove(&bus->regions[i], &bus->regions[i + 1], (bus->n - i - 1) * sizeof(*bus->regions));
	bus->n--;
}

const struct io_region *io_bus_find(const struct io_bus *bus, uint64_t addr)
{
	int i = upper_bound(bus, addr) - 1;

	if (i < 0 || addr - bus->regions[i].base >= bus->regions[i].len)
		return NULL;
	return &bus->regions[i];
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *val)
{
	const struct io_region *r = io_bus_find(bus, addr);

	if (!r || !r->ops->read) {
		*val = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		return r != NULL;
	}
	*val = r->ops->read(r->dev, addr - r->base, size);
	return true;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, uint64_t val, unsigned size)
{
	const struct io_region *r = io_bus_find(bus, addr);

	if (!r)
		return false;
	if (r->ops->write)
		r->ops->write(r->dev, addr - r->base, val, size);
	return true;
}
