/* VM core: guest memory bounds, bus dispatch, timers, size parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "symbiont/bus.h"
#include "symbiont/memory.h"
#include "symbiont/timer.h"

static void mem_layout_small(void **state)
{
	struct guest_mem m;
	(void)state;
	assert_int_equal(guest_mem_init(&m, 64 << 20), 0);
	assert_int_equal(m.low_size, 64 << 20);
	assert_non_null(gpa_to_host(&m, 0, 1));
	assert_non_null(gpa_to_host(&m, (64 << 20) - 8, 8));
	assert_null(gpa_to_host(&m, (64 << 20) - 4, 8)); /* straddles the end */
	assert_null(gpa_to_host(&m, 64 << 20, 1));
	assert_null(gpa_to_host(&m, MEM_4G, 1));         /* no high RAM */
	assert_null(gpa_to_host(&m, UINT64_MAX - 3, 8)); /* wraps */
	guest_mem_free(&m);
}

static void mem_layout_hole(void **state)
{
	struct guest_mem m;
	uint64_t size = MEM_HOLE_START + (256 << 20);
	uint8_t buf[16] = { 1, 2, 3, 4 }, out[16];
	(void)state;
	assert_int_equal(guest_mem_init(&m, size), 0);
	assert_int_equal(m.low_size, MEM_HOLE_START);
	assert_null(gpa_to_host(&m, MEM_HOLE_START, 1)); /* MMIO hole */
	assert_null(gpa_to_host(&m, MEM_HOLE_START - 4, 8));
	assert_ptr_equal(gpa_to_host(&m, MEM_4G, 1), m.host + MEM_HOLE_START);
	assert_non_null(gpa_to_host(&m, MEM_4G + (256 << 20) - 16, 16));
	assert_null(gpa_to_host(&m, MEM_4G + (256 << 20) - 8, 16));
	assert_int_equal(gpa_write(&m, MEM_4G + 100, buf, sizeof(buf)), 0);
	assert_int_equal(gpa_read(&m, MEM_4G + 100, out, sizeof(out)), 0);
	assert_memory_equal(buf, out, sizeof(buf));
	assert_int_equal(gpa_write(&m, 0xfee00000, buf, 4), -1);
	guest_mem_free(&m);
}

static void mem_bad_sizes(void **state)
{
	struct guest_mem m;
	(void)state;
	assert_int_equal(guest_mem_init(&m, 1 << 20), -1);
	assert_int_equal(guest_mem_init(&m, (64 << 20) + 1), -1);
	assert_int_equal(guest_mem_init(&m, MEM_MAX_SIZE * 2), -1);
}

struct fake_dev {
	uint64_t last_off, last_val;
	unsigned last_size;
	int writes;
};

static uint64_t fake_read(void *dev, uint64_t off, unsigned size)
{
	(void)dev;
	return off * 0x100 + size;
}

static void fake_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct fake_dev *d = dev;
	d->last_off = off;
	d->last_val = val;
	d->last_size = size;
	d->writes++;
}

static const struct io_ops fake_ops = { fake_read, fake_write };

static void bus_dispatch(void **state)
{
	struct io_bus bus;
	struct fake_dev a = { 0 }, b = { 0 };
	uint64_t v;
	(void)state;
	io_bus_init(&bus);
	assert_int_equal(io_bus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(io_bus_register(&bus, 0x20, 2, &fake_ops, &b), 0);
	assert_int_equal(io_bus_register(&bus, 0x3fc, 4, &fake_ops, &b), -1); /* overlaps */
	assert_int_equal(io_bus_register(&bus, 0x3f0, 9, &fake_ops, &b), -1);
	assert_int_equal(io_bus_register(&bus, 0x100, 0, &fake_ops, &b), -1);
	assert_true(io_bus_read(&bus, 0x3fd, 1, &v));
	assert_int_equal(v, 5 * 0x100 + 1);
	assert_true(io_bus_write(&bus, 0x21, 0xab, 1));
	assert_int_equal(b.last_off, 1);
	assert_int_equal(b.last_val, 0xab);
	assert_int_equal(a.writes, 0);
	/* Unclaimed: all ones of the access size, writes dropped. */
	assert_false(io_bus_read(&bus, 0x400, 2, &v));
	assert_int_equal(v, 0xffff);
	assert_false(io_bus_read(&bus, 0x1000, 8, &v));
	assert_true(v == ~0ULL);
	assert_false(io_bus_write(&bus, 0x22, 1, 1));
	io_bus_unregister(&bus, 0x3f8);
	assert_false(io_bus_read(&bus, 0x3f8, 1, &v));
	assert_int_equal(io_bus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	io_bus_free(&bus);
}

static void bus_many_regions_sorted(void **state)
{
	struct io_bus bus;
	struct fake_dev d[64];
	uint64_t v;
	(void)state;
	io_bus_init(&bus);
	/* Register in a scrambled order; lookups must still find each one. */
	for (int i = 0; i < 64; i++) {
		int k = (i * 37) % 64;
		assert_int_equal(io_bus_register(&bus, 0x1000 + k * 0x10, 0x10, &fake_ops, &d[k]), 0);
	}
	for (int k = 0; k < 64; k++) {
		const struct io_region *r = io_bus_find(&bus, 0x1000 + k * 0x10 + 7);
		assert_non_null(r);
		assert_ptr_equal(r->dev, &d[k]);
	}
	assert_false(io_bus_read(&bus, 0x1000 + 64 * 0x10, 1, &v));
	io_bus_free(&bus);
}

static int fired[4];
static void on_fire(void *opaque)
{
	fired[(intptr_t)opaque]++;
}
static int changes;
static void on_change(void *ctx)
{
	(void)ctx;
	changes++;
}

static void timers_order(void **state)
{
	struct timer_list l = { .changed = on_change };
	struct vm_timer t[3];
	(void)state;
	memset(fired, 0, sizeof(fired));
	for (int i = 0; i < 3; i++)
		timer_init(&t[i], &l, on_fire, (void *)(intptr_t)i);
	timer_arm(&t[0], 300);
	timer_arm(&t[1], 100);
	timer_arm(&t[2], 200);
	assert_int_equal(changes, 2); /* head moved twice: 300, then 100 */
	assert_int_equal(timers_run(&l, 150), 200);
	assert_int_equal(fired[1], 1);
	assert_int_equal(fired[0] + fired[2], 0);
	timer_cancel(&t[2]);
	assert_false(t[2].armed);
	assert_int_equal(timers_run(&l, 250), 300);
	assert_int_equal(fired[2], 0);
	timer_arm(&t[0], 50); /* re-arm moves it */
	assert_int_equal(timers_run(&l, 60), UINT64_MAX);
	assert_int_equal(fired[0], 1);
}

static void sizes(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(parse_size("512", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("65536k", &v), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(parse_size("512MiB", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_size("-1G", &v), -1);
	assert_int_equal(parse_size("12Q", &v), -1);
	assert_int_equal(parse_size("99999999999999999999", &v), -1);
	assert_int_equal(parse_size("17179869184T", &v), -1); /* overflows 64 bits */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mem_layout_small),
		cmocka_unit_test(mem_layout_hole),
		cmocka_unit_test(mem_bad_sizes),
		cmocka_unit_test(bus_dispatch),
		cmocka_unit_test(bus_many_regions_sorted),
		cmocka_unit_test(timers_order),
		cmocka_unit_test(sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
