/* IOAPIC: register interface, redirection entry → MSI encoding, masking,
 * level-triggered remote IRR and EOI redelivery. */
#include "hwtest.h"

#include "hw/board.h"
#include "hw/ioapic.h"

struct ctx {
	struct test_vm *t;
	struct ioapic *io;
	uint64_t addr[16];
	uint32_t data[16];
	int n;
};

static void out(void *opaque, uint64_t addr, uint32_t data)
{
	struct ctx *c = opaque;
	if (c->n < 16) {
		c->addr[c->n] = addr;
		c->data[c->n] = data;
	}
	c->n++;
}

static void wr(struct ctx *c, unsigned reg, uint32_t v)
{
	mmio_wr(c->t, BOARD_IOAPIC_BASE, reg, 4);
	mmio_wr(c->t, BOARD_IOAPIC_BASE + 0x10, v, 4);
}

static uint32_t rd(struct ctx *c, unsigned reg)
{
	mmio_wr(c->t, BOARD_IOAPIC_BASE, reg, 4);
	return mmio_rd(c->t, BOARD_IOAPIC_BASE + 0x10, 4);
}

static void set_rte(struct ctx *c, unsigned pin, uint64_t e)
{
	wr(c, 0x11 + 2 * pin, e >> 32);
	wr(c, 0x10 + 2 * pin, (uint32_t)e);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(0);
	c->io = ioapic_create(c->t->vm, BOARD_IOAPIC_BASE);
	assert_non_null(c->io);
	ioapic_set_output(c->io, out, c);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	ioapic_destroy(c->io);
	assert_int_equal(c->t->vm->mmio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static void test_registers(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(rd(c, 0x01), 0x00170020); /* 24 entries, version 0x20 */
	wr(c, 0x00, 0x0a000000);
	assert_int_equal(rd(c, 0x00), 0x0a000000);
	/* Entries come up masked. */
	for (unsigned p = 0; p < IOAPIC_PINS; p++)
		assert_true(rd(c, 0x10 + 2 * p) & (1u << 16));
	/* Read-only bits (delivery status, remote IRR) ignore writes. */
	wr(c, 0x10, 0x00010931 | (1u << 14) | (1u << 12));
	assert_int_equal(rd(c, 0x10), 0x00010931);
	wr(c, 0x11, 0xff000000);
	assert_int_equal(rd(c, 0x11), 0xff000000);
}

static void test_edge_msi_encoding(void **state)
{
	struct ctx *c = *state;
	set_rte(c, 4, (2ULL << 56) | 0x31); /* fixed, physical, dest 2, edge, unmasked */
	ioapic_set_irq(c->io, 4, 1);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->addr[0], 0xfee02000);
	assert_int_equal(c->data[0] & 0xff, 0x31);
	assert_int_equal(c->data[0] & 0x700, 0);      /* fixed */
	assert_int_equal(c->data[0] & (1u << 15), 0); /* edge */
	ioapic_set_irq(c->io, 4, 1);                  /* no new edge */
	assert_int_equal(c->n, 1);
	ioapic_set_irq(c->io, 4, 0);
	ioapic_set_irq(c->io, 4, 1);
	assert_int_equal(c->n, 2);

	/* Logical destination, lowest priority. */
	set_rte(c, 5, (0x0fULL << 56) | (1 << 11) | (1 << 8) | 0x42);
	ioapic_set_irq(c->io, 5, 1);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->addr[2], 0xfee0f004);
	assert_int_equal(c->data[2] & 0x7ff, 0x142);

	/* Masked edges are lost. */
	set_rte(c, 6, (1 << 16) | 0x50);
	ioapic_set_irq(c->io, 6, 1);
	assert_int_equal(c->n, 3);
	ioapic_set_irq(c->io, 6, 0);
	set_rte(c, 6, 0x50);
	assert_int_equal(c->n, 3);
}

static void test_level_remote_irr(void **state)
{
	struct ctx *c = *state;
	set_rte(c, 9, (1 << 15) | 0x40);
	ioapic_set_irq(c->io, 9, 1);
	assert_int_equal(c->n, 1);
	assert_true(c->data[0] & (1u << 15));       /* level trigger in the MSI data */
	assert_true(c->data[0] & (1u << 14));       /* asserted */
	assert_true(rd(c, 0x10 + 18) & (1u << 14)); /* remote IRR */
	ioapic_set_irq(c->io, 9, 1);
	assert_int_equal(c->n, 1); /* held until EOI */
	ioapic_eoi(c->io, 0x41);   /* another vector: no effect */
	assert_int_equal(c->n, 1);
	ioapic_eoi(c->io, 0x40); /* line still high: delivered again */
	assert_int_equal(c->n, 2);
	ioapic_set_irq(c->io, 9, 0);
	ioapic_eoi(c->io, 0x40);
	assert_int_equal(c->n, 2);
	assert_false(rd(c, 0x10 + 18) & (1u << 14));
	/* The version-0x20 EOI register does the same. */
	ioapic_set_irq(c->io, 9, 1);
	assert_int_equal(c->n, 3);
	mmio_wr(c->t, BOARD_IOAPIC_BASE + 0x40, 0x40, 4);
	assert_int_equal(c->n, 4);
}

static void test_unmask_fires_pending_level(void **state)
{
	struct ctx *c = *state;
	set_rte(c, 11, (1 << 16) | (1 << 15) | 0x60);
	ioapic_set_irq(c->io, 11, 1);
	assert_int_equal(c->n, 0);
	set_rte(c, 11, (1 << 15) | 0x60);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->data[0] & 0xff, 0x60);
}

static void test_send_msi_passthrough(void **state)
{
	struct ctx *c = *state;
	ioapic_send_msi(c->io, 0xfee01000, 0x4055);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->addr[0], 0xfee01000);
	assert_int_equal(c->data[0], 0x4055);
	ioapic_set_irq(c->io, 99, 1); /* out of range: ignored */
	assert_int_equal(c->n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_msi_encoding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_remote_irr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmask_fires_pending_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_msi_passthrough, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
