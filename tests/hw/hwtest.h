/* Shared fixture for board-device tests: a minimal struct vm (buses,
 * timers, optional guest memory) whose irqchip records every line change
 * and MSI, so devices can be driven without an engine. */
#ifndef SYMBIONT_TESTS_HWTEST_H
#define SYMBIONT_TESTS_HWTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "symbiont/vm.h"

#define FAKE_GSIS 32
#define FAKE_MSIS 64

struct fake_chip {
	int level[FAKE_GSIS];
	int rises[FAKE_GSIS];
	uint64_t msi_addr[FAKE_MSIS];
	uint32_t msi_data[FAKE_MSIS];
	int nmsi;
};

static void fake_set_irq(void *chip, unsigned gsi, int level)
{
	struct fake_chip *c = chip;
	if (gsi >= FAKE_GSIS)
		return;
	if (level && !c->level[gsi])
		c->rises[gsi]++;
	c->level[gsi] = level != 0;
}

static void fake_msi(void *chip, uint64_t addr, uint32_t data)
{
	struct fake_chip *c = chip;
	if (c->nmsi < FAKE_MSIS) {
		c->msi_addr[c->nmsi] = addr;
		c->msi_data[c->nmsi] = data;
	}
	c->nmsi++;
}

static const struct irqchip_ops fake_chip_ops = { .set_irq = fake_set_irq, .msi = fake_msi };

struct test_vm {
	struct vm *vm;
	struct fake_chip chip;
};

/* mem_mb 0: no guest memory. */
static inline struct test_vm *tvm_new(unsigned mem_mb)
{
	struct test_vm *t = calloc(1, sizeof(*t));
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(t);
	assert_non_null(vm);
	t->vm = vm;
	vm->wake_fd = -1;
	vm->ncpus = 0;
	pthread_mutex_init(&vm->io_lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	vm->irqchip = &fake_chip_ops;
	vm->irqchip_ctx = &t->chip;
	if (mem_mb)
		assert_int_equal(guest_mem_init(&vm->mem, (uint64_t)mem_mb << 20), 0);
	return t;
}

static inline void tvm_free(struct test_vm *t)
{
	vm_event_hub_free(t->vm);
	io_bus_free(&t->vm->pio);
	io_bus_free(&t->vm->mmio);
	if (t->vm->mem.host)
		guest_mem_free(&t->vm->mem);
	pthread_mutex_destroy(&t->vm->io_lock);
	free(t->vm);
	free(t);
}

static inline uint64_t pin(struct test_vm *t, uint16_t port, unsigned size)
{
	uint64_t v = 0;
	io_bus_read(&t->vm->pio, port, size, &v);
	return v;
}

static inline void pout(struct test_vm *t, uint16_t port, uint64_t v, unsigned size)
{
	io_bus_write(&t->vm->pio, port, v, size);
}

static inline uint8_t inb(struct test_vm *t, uint16_t port)
{
	return pin(t, port, 1);
}
static inline void outb(struct test_vm *t, uint16_t port, uint8_t v)
{
	pout(t, port, v, 1);
}

static inline uint64_t mmio_rd(struct test_vm *t, uint64_t a, unsigned size)
{
	uint64_t v = 0;
	io_bus_read(&t->vm->mmio, a, size, &v);
	return v;
}

static inline void mmio_wr(struct test_vm *t, uint64_t a, uint64_t v, unsigned size)
{
	io_bus_write(&t->vm->mmio, a, v, size);
}

/* A settable clock for devices with an injectable time source. */
static inline uint64_t fake_clock(void *ctx)
{
	return *(uint64_t *)ctx;
}

#endif
