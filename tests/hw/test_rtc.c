/* MC146818 RTC: time from the (fake) host clock in BCD/binary and 12/24 h,
 * update-in-progress, setting the clock, interrupts and CMOS contents. */
#include "hwtest.h"

#include "hw/rtc.h"

#define NS 1000000000ULL
#define T0 1709214356ULL /* 2024-02-29 13:45:56 UTC, a Thursday */

struct ctx {
	struct test_vm *t;
	struct rtc *rtc;
	uint64_t wall;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(256);
	c->rtc = rtc_create(c->t->vm, 8);
	assert_non_null(c->rtc);
	c->wall = T0 * NS + NS / 2;
	rtc_set_clock(c->rtc, fake_clock, &c->wall);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	rtc_destroy(c->rtc);
	assert_null(c->t->vm->timers.head);
	assert_int_equal(c->t->vm->pio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static uint8_t cmos(struct ctx *c, uint8_t idx)
{
	outb(c->t, 0x70, idx);
	return inb(c->t, 0x71);
}

static void cmos_w(struct ctx *c, uint8_t idx, uint8_t v)
{
	outb(c->t, 0x70, idx);
	outb(c->t, 0x71, v);
}

static void test_bcd_24h(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(cmos(c, 0x0b) & 0x06, 0x02); /* BCD, 24 h */
	assert_int_equal(cmos(c, 0x00), 0x56);
	assert_int_equal(cmos(c, 0x02), 0x45);
	assert_int_equal(cmos(c, 0x04), 0x13);
	assert_int_equal(cmos(c, 0x06), 5); /* Thursday, Sunday = 1 */
	assert_int_equal(cmos(c, 0x07), 0x29);
	assert_int_equal(cmos(c, 0x08), 0x02);
	assert_int_equal(cmos(c, 0x09), 0x24);
	assert_int_equal(cmos(c, 0x32), 0x20);
	assert_int_equal(cmos(c, 0x0d), 0x80); /* valid RAM and time */
	/* Time moves with the host clock. */
	c->wall += 5 * NS;
	assert_int_equal(cmos(c, 0x00), 0x01);
	assert_int_equal(cmos(c, 0x02), 0x46);
}

static void test_binary_12h(void **state)
{
	struct ctx *c = *state;
	cmos_w(c, 0x0b, 0x04);                 /* binary, 12 h */
	assert_int_equal(cmos(c, 0x04), 0x81); /* 1 PM */
	assert_int_equal(cmos(c, 0x00), 56);
	assert_int_equal(cmos(c, 0x09), 24);
	cmos_w(c, 0x0b, 0x00); /* BCD, 12 h */
	assert_int_equal(cmos(c, 0x04), 0x81);
	c->wall -= 13 * 3600 * NS; /* 00:45: 12 AM */
	assert_int_equal(cmos(c, 0x04), 0x12);
}

static void test_update_in_progress(void **state)
{
	struct ctx *c = *state;
	c->wall = T0 * NS + NS - 100000; /* 100 us before the second ends */
	assert_true(cmos(c, 0x0a) & 0x80);
	assert_int_equal(cmos(c, 0x0a) & 0x7f, 0x26);
	c->wall = T0 * NS + NS + 1000; /* just after the update */
	assert_false(cmos(c, 0x0a) & 0x80);
	assert_int_equal(cmos(c, 0x00), 0x57);
	c->wall = T0 * NS + NS - 300000; /* 300 us before: not yet */
	assert_false(cmos(c, 0x0a) & 0x80);
	/* With SET the clock is frozen: no update cycles. */
	c->wall = T0 * NS + NS - 100000;
	cmos_w(c, 0x0b, 0x82);
	assert_false(cmos(c, 0x0a) & 0x80);
}

static void test_set_time(void **state)
{
	struct ctx *c = *state;
	cmos_w(c, 0x0b, 0x82); /* SET */
	c->wall += 10 * NS;
	assert_int_equal(cmos(c, 0x00), 0x56); /* frozen while SET */
	cmos_w(c, 0x09, 0x28);                 /* 2028: Feb 29 exists */
	cmos_w(c, 0x04, 0x08);
	cmos_w(c, 0x0b, 0x02); /* run again */
	assert_int_equal(cmos(c, 0x09), 0x28);
	assert_int_equal(cmos(c, 0x04), 0x08);
	assert_int_equal(cmos(c, 0x00), 0x56);
	c->wall += 2 * NS;
	assert_int_equal(cmos(c, 0x00), 0x58);
	assert_int_equal(cmos(c, 0x09), 0x28);
	assert_int_equal(cmos(c, 0x08), 0x02);
}

static void test_nonsense_time_is_ignored(void **state)
{
	struct ctx *c = *state;
	cmos_w(c, 0x0b, 0x82);
	cmos_w(c, 0x32, 0x19); /* century 19, year 0x0f (not BCD): before 1970 */
	cmos_w(c, 0x09, 0x0f);
	cmos_w(c, 0x0b, 0x02);
	assert_int_equal(cmos(c, 0x09), 0x24); /* the clock did not move */
	assert_int_equal(cmos(c, 0x32), 0x20);
	cmos_w(c, 0x08, 0xff); /* garbage month, set directly while running */
	assert_int_equal(cmos(c, 0x08), 0x02);
}

static void test_alarm_registers_are_memory(void **state)
{
	struct ctx *c = *state;
	cmos_w(c, 0x01, 0x33);
	cmos_w(c, 0x03, 0xc0);
	assert_int_equal(cmos(c, 0x01), 0x33);
	assert_int_equal(cmos(c, 0x03), 0xc0);
	assert_int_equal(cmos(c, 0x00), 0x56); /* the clock is untouched */
}

static void test_periodic_interrupt(void **state)
{
	struct ctx *c = *state;
	assert_null(c->t->vm->timers.head);
	cmos_w(c, 0x0a, 0x26); /* 1024 Hz */
	cmos_w(c, 0x0b, 0x42); /* PIE */
	assert_non_null(c->t->vm->timers.head);
	timers_run(&c->t->vm->timers, vm_now(c->t->vm) + 2000000);
	assert_int_equal(c->t->chip.rises[8], 1);
	assert_int_equal(c->t->chip.level[8], 1); /* held until C is read */
	assert_int_equal(cmos(c, 0x0c), 0xc0);    /* IRQF | PF */
	assert_int_equal(c->t->chip.level[8], 0);
	assert_int_equal(cmos(c, 0x0c), 0x00); /* read clears */
	cmos_w(c, 0x0b, 0x02);
	assert_null(c->t->vm->timers.head);
	/* Without PIE the flag is set but no interrupt is raised. */
}

static void test_update_interrupt(void **state)
{
	struct ctx *c = *state;
	cmos_w(c, 0x0b, 0x12); /* UIE */
	assert_non_null(c->t->vm->timers.head);
	timers_run(&c->t->vm->timers, vm_now(c->t->vm) + 1100000000ULL);
	assert_int_equal(c->t->chip.rises[8], 1);
	uint8_t v = cmos(c, 0x0c);
	assert_int_equal(v & 0x90, 0x90); /* IRQF | UF */
	assert_false(v & 0x40);
	/* An alarm with don't-care fields matches every second. */
	cmos_w(c, 0x01, 0xff);
	cmos_w(c, 0x03, 0xff);
	cmos_w(c, 0x05, 0xff);
	cmos_w(c, 0x0b, 0x22); /* AIE only */
	timers_run(&c->t->vm->timers, vm_now(c->t->vm) + 1100000000ULL);
	v = cmos(c, 0x0c);
	assert_int_equal(v & 0xa0, 0xa0);
	cmos_w(c, 0x0b, 0x02);
}

static void test_cmos_memory_and_nmi(void **state)
{
	struct ctx *c = *state;
	/* 256 MiB guest. */
	assert_int_equal(cmos(c, 0x15) | cmos(c, 0x16) << 8, 640);
	assert_int_equal(cmos(c, 0x17) | cmos(c, 0x18) << 8, 0xffff); /* capped */
	assert_int_equal(cmos(c, 0x30) | cmos(c, 0x31) << 8, 0xffff);
	assert_int_equal(cmos(c, 0x34) | cmos(c, 0x35) << 8, (256 - 16) * 16);
	assert_int_equal(cmos(c, 0x5b) | cmos(c, 0x5c) << 8 | cmos(c, 0x5d) << 16, 0);
	/* General-purpose bytes are plain memory. */
	cmos_w(c, 0x40, 0xa5);
	assert_int_equal(cmos(c, 0x40), 0xa5);
	/* Bit 7 of the index port is the NMI mask, not part of the index. */
	outb(c->t, 0x70, 0x80 | 0x40);
	assert_true(rtc_nmi_disabled(c->rtc));
	assert_int_equal(inb(c->t, 0x71), 0xa5);
	outb(c->t, 0x70, 0x40);
	assert_false(rtc_nmi_disabled(c->rtc));
	/* Registers C and D ignore writes. */
	cmos_w(c, 0x0d, 0x00);
	assert_int_equal(cmos(c, 0x0d), 0x80);
}

static void test_high_memory_fields(void **state)
{
	(void)state;
	struct test_vm *t = tvm_new(4096); /* 3 GiB low + 1 GiB above 4 GiB */
	struct rtc *rtc = rtc_create(t->vm, 8);
	assert_non_null(rtc);
	unsigned above4g = rtc_cmos_get(rtc, 0x5b) | rtc_cmos_get(rtc, 0x5c) << 8 | rtc_cmos_get(rtc, 0x5d) << 16;
	assert_int_equal(above4g, (t->vm->mem.size - t->vm->mem.low_size) >> 16);
	assert_true(above4g > 0);
	rtc_destroy(rtc);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_24h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_12h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonsense_time_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm_registers_are_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_memory_and_nmi, setup, teardown),
		cmocka_unit_test(test_high_memory_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
