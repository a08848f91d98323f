/* 8254 PIT driven by a fake clock: counter values in modes 0, 2 and 3,
 * latch and read-back, BCD, channel 0 interrupts through the timer list,
 * and channel 2 through port 0x61. */
#include "hwtest.h"

#include "hw/pit.h"

struct ctx {
	struct test_vm *t;
	struct pit *pit;
	uint64_t now;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->t = tvm_new(0);
	c->now = 1000000000ULL;
	c->t->vm->clock = (struct vm_clock){ fake_clock, &c->now };
	c->pit = pit_create(c->t->vm, 0);
	assert_non_null(c->pit);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	pit_destroy(c->pit);
	assert_null(c->t->vm->timers.head);
	assert_int_equal(c->t->vm->pio.n, 0);
	tvm_free(c->t);
	free(c);
	return 0;
}

static uint64_t ticks_ns(uint64_t ticks)
{
	return (ticks * 1000000000ULL + PIT_FREQ - 1) / PIT_FREQ; /* rounded up */
}

static void advance(struct ctx *c, uint64_t ns)
{
	c->now += ns;
	timers_run(&c->t->vm->timers, c->now);
}

static uint16_t latch_read(struct ctx *c, int ch)
{
	outb(c->t, 0x43, ch << 6); /* counter latch */
	uint16_t lo = inb(c->t, 0x40 + ch);
	return lo | inb(c->t, 0x40 + ch) << 8;
}

static void load(struct ctx *c, int ch, uint8_t ctl, uint16_t count)
{
	outb(c->t, 0x43, ch << 6 | ctl);
	outb(c->t, 0x40 + ch, count & 0xff);
	outb(c->t, 0x40 + ch, count >> 8);
}

static void test_mode2_counts_and_irq(void **state)
{
	struct ctx *c = *state;
	load(c, 0, 0x34, 1193); /* lobyte/hibyte, mode 2, ~1 kHz */
	assert_int_equal(latch_read(c, 0), 1193);
	c->now += 500000; /* 596.6 ticks */
	assert_int_equal(latch_read(c, 0), 1193 - 596);
	assert_int_equal(c->t->chip.rises[0], 0);
	advance(c, 500000); /* past the first period */
	assert_int_equal(c->t->chip.rises[0], 1);
	assert_int_equal(c->t->chip.level[0], 0); /* pulsed, edge-style */
	advance(c, 1000000);
	assert_int_equal(c->t->chip.rises[0], 2);
	/* A late event loop gets one interrupt, not a burst of catch-ups. */
	advance(c, 50000000);
	assert_int_equal(c->t->chip.rises[0], 3);
	assert_non_null(c->t->vm->timers.head); /* still periodic */
}

static void test_mode3_square_wave(void **state)
{
	struct ctx *c = *state;
	load(c, 0, 0x36, 1000);
	c->now += ticks_ns(100) + 1;
	assert_int_equal(latch_read(c, 0), 800); /* counts down by two */
	c->now += ticks_ns(300);
	assert_int_equal(latch_read(c, 0), 1000 - 2 * 400 % 1000);
}

static void test_mode0_one_shot(void **state)
{
	struct ctx *c = *state;
	load(c, 0, 0x30, 5000);
	assert_non_null(c->t->vm->timers.head);
	advance(c, ticks_ns(4000));
	assert_int_equal(c->t->chip.rises[0], 0);
	advance(c, ticks_ns(1001));
	assert_int_equal(c->t->chip.rises[0], 1);
	assert_null(c->t->vm->timers.head); /* one shot: not re-armed */
	advance(c, 100000000);
	assert_int_equal(c->t->chip.rises[0], 1);
	/* The counter wraps and keeps counting down after terminal count. */
	c->now = 1000000000ULL;
	load(c, 0, 0x30, 10);
	c->now += ticks_ns(12) + 1;
	assert_int_equal(latch_read(c, 0), 0xfffe);
}

static void test_readback_and_rw_modes(void **state)
{
	struct ctx *c = *state;
	load(c, 0, 0x34, 0x1234);
	outb(c->t, 0x43, 0xc2); /* read-back: count and status of channel 0 */
	uint8_t st = inb(c->t, 0x40);
	assert_int_equal(st & 0x3f, 0x34); /* rw 3, mode 2, binary */
	assert_int_equal(st & 0x40, 0);    /* count loaded */
	assert_int_equal(inb(c->t, 0x40), 0x34);
	assert_int_equal(inb(c->t, 0x40), 0x12);
	/* LSB-only and MSB-only access. */
	outb(c->t, 0x43, 0x94); /* channel 2, LSB only, mode 2 */
	outb(c->t, 0x42, 0x80);
	assert_int_equal(inb(c->t, 0x42), 0x80);
	outb(c->t, 0x43, 0xa4); /* channel 2, MSB only, mode 2 */
	outb(c->t, 0x42, 0x12);
	assert_int_equal(inb(c->t, 0x42), 0x12);
	/* Status shows null count until a count is written. */
	outb(c->t, 0x43, 0x70); /* channel 1, word, mode 0 */
	outb(c->t, 0x43, 0xe4); /* read-back status only, channel 1 */
	assert_true(inb(c->t, 0x41) & 0x40);
}

static void test_bcd(void **state)
{
	struct ctx *c = *state;
	load(c, 0, 0x35, 0x1000); /* mode 2, BCD: 1000 decimal */
	assert_int_equal(latch_read(c, 0), 0x1000);
	c->now += ticks_ns(1) + 1;
	assert_int_equal(latch_read(c, 0), 0x0999);
}

static void test_min_period(void **state)
{
	struct ctx *c = *state;
	uint64_t t0 = c->now;
	load(c, 0, 0x34, 2); /* 1.7 us: absurdly fast */
	assert_non_null(c->t->vm->timers.head);
	assert_true(c->t->vm->timers.head->deadline >= t0 + PIT_MIN_PERIOD_NS);
}

static void test_channel2_port61(void **state)
{
	struct ctx *c = *state;
	outb(c->t, 0x61, 0x01); /* gate on, speaker off */
	load(c, 2, 0xb0, 1000); /* channel 2, mode 0 */
	uint8_t v = inb(c->t, 0x61);
	assert_int_equal(v & 0x0f, 0x01);
	assert_int_equal(v & 0x20, 0); /* OUT2 low while counting */
	c->now += ticks_ns(999);
	assert_int_equal(inb(c->t, 0x61) & 0x20, 0);
	c->now += ticks_ns(2) + 1;
	assert_int_equal(inb(c->t, 0x61) & 0x20, 0x20);
	/* The refresh bit toggles on every read. */
	uint8_t a = inb(c->t, 0x61), b = inb(c->t, 0x61);
	assert_int_not_equal(a & 0x10, b & 0x10);
	/* Channel 2 never interrupts. */
	assert_int_equal(c->t->chip.rises[0], 0);
	/* Mode 3 (the speaker tone): OUT2 is a square wave. */
	outb(c->t, 0x61, 0x00);
	load(c, 2, 0xb6, 100);
	outb(c->t, 0x61, 0x03); /* rising gate restarts the count */
	c->now += ticks_ns(10) + 1;
	assert_int_equal(inb(c->t, 0x61) & 0x20, 0x20);
	c->now += ticks_ns(50);
	assert_int_equal(inb(c->t, 0x61) & 0x20, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode2_counts_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode3_square_wave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode0_one_shot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readback_and_rw_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bcd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_min_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel2_port61, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
