/* I/O APIC.  Input polarity is recorded but not applied: device lines are
 * logical (1 = asserted), as with KVM's in-kernel model. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hw/ioapic.h"
#include "symbiont/vm.h"

#define IOAPIC_VERSION 0x20

#define RTE_VECTOR     0xffULL
#define RTE_DELMODE    (7ULL << 8)
#define RTE_DESTMODE   (1ULL << 11)
#define RTE_DELIVS     (1ULL << 12)
#define RTE_POLARITY   (1ULL << 13)
#define RTE_REMOTE_IRR (1ULL << 14)
#define RTE_LEVEL      (1ULL << 15)
#define RTE_MASKED     (1ULL << 16)
#define RTE_RO         (RTE_DELIVS | RTE_REMOTE_IRR)

struct ioapic {
	struct vm *vm;
	uint64_t base;
	uint32_t id;
	uint8_t sel;
	uint32_t lines; /* current input levels */
	uint64_t rte[IOAPIC_PINS];
	void (*out)(void *ctx, uint64_t addr, uint32_t data);
	void *out_ctx;
};

void ioapic_send_msi(struct ioapic *io, uint64_t addr, uint32_t data)
{
	if (io->out)
		io->out(io->out_ctx, addr, data);
}

static void deliver(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	uint64_t addr = APIC_BASE_DEFAULT | ((e >> 56) << 12) | (((e >> 11) & 1) << 2);
	uint32_t data = (e & RTE_VECTOR) | (e & RTE_DELMODE) | (1u << 14) | ((e & RTE_LEVEL) ? 1u << 15 : 0);
	if (e & RTE_LEVEL)
		io->rte[pin] |= RTE_REMOTE_IRR;
	ioapic_send_msi(io, addr, data);
}

/* Level entries fire while the line is high and no EOI is outstanding. */
static void service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	if ((e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)) && (io->lines >> pin & 1))
		deliver(io, pin);
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_PINS)
		return;
	uint32_t bit = 1u << pin, old = io->lines & bit;
	io->lines = level ? (io->lines | bit) : (io->lines & ~bit);
	if (io->rte[pin] & RTE_LEVEL)
		service(io, pin);
	else if (level && !old && !(io->rte[pin] & RTE_MASKED))
		deliver(io, pin); /* a masked edge is lost, as on the 82093AA */
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		service(io, pin);
	}
}

static uint32_t reg_read(struct ioapic *io)
{
	unsigned r = io->sel;
	switch (r) {
	case 0x00: return io->id << 24;
	case 0x01: return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
	case 0x02: return io->id << 24; /* arbitration id */
	}
	if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t e = io->rte[(r - 0x10) / 2];
		return (r & 1) ? e >> 32 : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct ioapic *io, uint32_t v)
{
	unsigned r = io->sel;
	if (r == 0x00) {
		io->id = (v >> 24) & 0xf;
		return;
	}
	if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS)
		return;
	unsigned pin = (r - 0x10) / 2;
	uint64_t e = io->rte[pin];
	if (r & 1)
		e = (e & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		e = (e & (0xffffffff00000000ULL | RTE_RO)) | (v & ~RTE_RO);
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR;
	io->rte[pin] = e;
	/* Unmasking (or switching to level) a line that is high fires it. */
	service(io, pin);
}

static uint64_t ioapic_read(void *dev, uint64_t off, unsigned size)
{
	struct ioapic *io = dev;
	uint32_t v;
	switch (off & ~3ULL) {
	case 0x00: v = io->sel; break;
	case 0x10: v = reg_read(io); break;
	default: v = 0; break;
	}
	v >>= 8 * (off & 3);
	return size >= 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void ioapic_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct ioapic *io = dev;
	(void)size;
	switch (off) {
	case 0x00: io->sel = val; break;
	case 0x10: reg_write(io, val); break;
	case 0x40: ioapic_eoi(io, val); break;
	}
}

static const struct io_ops ioapic_ops = { ioapic_read, ioapic_write };

/* ---- lifecycle ----------------------------------------------------------- */

/* Every entry masked, as at power-on; input levels stay (devices drive them). */
static void ioapic_reset(void *dev)
{
	struct ioapic *io = dev;
	io->id = 0;
	io->sel = 0;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASKED;
}

static int ioapic_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct ioapic *io = dev;
	(void)err, (void)errlen;
	st_put32(b, io->id);
	st_put8(b, io->sel);
	st_put32(b, io->lines);
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		st_put64(b, io->rte[i]);
	return 0;
}

/* Remote IRR and the lines come back as they were: a level interrupt that
 * was delivered and not yet EOIed stays so. */
static int ioapic_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct ioapic *io = dev;
	uint64_t rte[IOAPIC_PINS];
	uint32_t id, lines;
	uint8_t sel;
	(void)err, (void)errlen;
	id = st_get32(r);
	sel = st_get8(r);
	lines = st_get32(r);
	st_check(r, !(lines >> IOAPIC_PINS));
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		rte[i] = st_get64(r);
	if (!st_ok(r))
		return -1;
	io->id = id;
	io->sel = sel;
	io->lines = lines;
	memcpy(io->rte, rte, sizeof(rte));
	return 0;
}

static void ioapic_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct ioapic *io = dev;
	uint64_t unmasked = 0;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		if (!(io->rte[i] & RTE_MASKED))
			unmasked |= 1ULL << i;
	emit(ctx, "lines", io->lines);
	emit(ctx, "unmasked", unmasked);
}

const struct device_ops ioapic_device_ops = {
	.name = "ioapic",
	.version = 1,
	.reset = ioapic_reset,
	.save = ioapic_save,
	.load = ioapic_load,
	.stats = ioapic_stats,
};

struct ioapic *ioapic_create(struct vm *vm, uint64_t base)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->vm = vm;
	io->base = base;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASKED;
	if (io_bus_register(&vm->mmio, base, 0x1000, &ioapic_ops, io)) {
		free(io);
		return NULL;
	}
	if (vm_device_add(vm, &ioapic_device_ops, io)) {
		io_bus_unregister(&vm->mmio, base);
		free(io);
		return NULL;
	}
	return io;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	io_bus_unregister(&io->vm->mmio, io->base);
	vm_device_remove(io->vm, io);
	free(io);
}

void ioapic_set_output(struct ioapic *io, void (*msi)(void *ctx, uint64_t addr, uint32_t data), void *ctx)
{
	io->out = msi;
	io->out_ctx = ctx;
}
