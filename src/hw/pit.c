/* 8254 PIT.  Counters are not ticked: each channel remembers when its count
 * was loaded and derives the current value and OUT from the elapsed
 * 1.193182 MHz ticks.  Channel 0's rising OUT edges become interrupts
 * through a VM timer armed for the next edge. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pit.h"
#include "symbiont/vm.h"

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD };

struct pit_channel {
	uint32_t count; /* reload value in ticks, 1..65536 (or 10000 BCD) */
	uint16_t latch; /* latched count */
	uint8_t status; /* latched status byte */
	uint8_t mode, rw, bcd;
	bool latched, status_latched;
	bool read_msb, write_msb; /* lobyte/hibyte flip-flops */
	bool read_latch_msb;
	uint8_t write_lsb;
	bool loaded; /* a count has been written since the control word */
	bool gate;
	uint64_t load_ns; /* when counting (re)started */
};

struct pit {
	struct vm *vm;
	struct irq_line irq;
	struct pit_channel ch[3];
	struct vm_timer timer;
	uint8_t port61; /* bits 0-3 as written */
	bool refresh;
};

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * PIT_FREQ / 1000000000ULL);
}

static uint64_t ticks_to_ns(uint64_t t)
{
	/* Rounded up, so a timer armed for tick t fires at or after it. */
	return (uint64_t)(((unsigned __int128)t * 1000000000ULL + PIT_FREQ - 1) / PIT_FREQ);
}

static uint64_t elapsed(struct pit *pit, struct pit_channel *c)
{
	uint64_t now = vm_now(pit->vm);
	return now > c->load_ns ? ns_to_ticks(now - c->load_ns) : 0;
}

/* Current counter value (binary, 0 meaning the full period). */
static uint32_t cur_count(struct pit *pit, struct pit_channel *c)
{
	if (!c->loaded)
		return c->count & 0xffff;
	uint64_t d = elapsed(pit, c);
	switch (c->mode) {
	case 2: return c->count - d % c->count;
	case 3: return c->count - (2 * d) % c->count; /* counts down by two */
	default: return (c->count - d) & 0xffff;      /* 0, 1, 4, 5 wrap */
	}
}

static int out_level(struct pit *pit, struct pit_channel *c)
{
	if (!c->loaded)
		return c->mode != 0; /* mode 0 drives OUT low after the control word */
	if (!c->gate && (c->mode == 2 || c->mode == 3))
		return 1;
	uint64_t d = elapsed(pit, c);
	switch (c->mode) {
	case 0: return d >= c->count;
	case 1: return d >= c->count;
	case 2: return d == 0 || d % c->count != 0;
	case 3: return d % c->count < (c->count + 1) / 2;
	default: return d != c->count; /* 4, 5: one-tick low strobe */
	}
}

/* Channel 0: arm the timer for the next interrupt edge, if any. */
static void arm(struct pit *pit)
{
	struct pit_channel *c = &pit->ch[0];
	timer_cancel(&pit->timer);
	if (!c->loaded || !c->gate)
		return;
	uint64_t d = elapsed(pit, c), next;
	switch (c->mode) {
	case 2:
	case 3: next = (d / c->count + 1) * c->count; break;
	default: /* one-shot modes: OUT rises (or strobes) once at count */
		if (d >= c->count)
			return;
		next = c->count;
		break;
	}
	uint64_t deadline = c->load_ns + ticks_to_ns(next);
	uint64_t now = vm_now(pit->vm);
	if ((c->mode == 2 || c->mode == 3) && ticks_to_ns(c->count) < PIT_MIN_PERIOD_NS) {
		/* Too fast to be useful: tick at the minimum period instead. */
		uint64_t last = c->load_ns + ticks_to_ns(d / c->count * c->count);
		if (deadline < last + PIT_MIN_PERIOD_NS)
			deadline = last + PIT_MIN_PERIOD_NS;
	}
	if (deadline < now)
		deadline = now;
	timer_arm(&pit->timer, deadline);
}

static void pit_fire(void *opaque)
{
	struct pit *pit = opaque;
	irq_line_pulse(&pit->irq);
	/* Late timers do not fire a burst of catch-up interrupts: arm() looks
	 * for the next edge after now. */
	arm(pit);
}

static void load_count(struct pit *pit, int n, uint32_t v)
{
	struct pit_channel *c = &pit->ch[n];
	if (c->bcd) {
		uint32_t dec = (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
		v = dec ? dec : 10000;
	} else if (v == 0) {
		v = 0x10000;
	}
	if (c->mode == 3 && v == 1)
		v = 2; /* mode 3 cannot divide by one */
	c->count = v;
	c->loaded = true;
	c->load_ns = vm_now(pit->vm);
	if (n == 0)
		arm(pit);
}

static uint16_t to_bcd(uint32_t v)
{
	v %= 10000;
	return (v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000) << 12;
}

static void latch_count(struct pit *pit, struct pit_channel *c)
{
	if (c->latched)
		return; /* a second latch before reading is ignored */
	uint32_t v = cur_count(pit, c);
	c->latch = c->bcd ? to_bcd(v) : (uint16_t)v;
	c->latched = true;
	c->read_latch_msb = false;
}

static void latch_status(struct pit *pit, struct pit_channel *c)
{
	if (c->status_latched)
		return;
	c->status = out_level(pit, c) << 7 | (!c->loaded) << 6 | c->rw << 4 | c->mode << 1 | c->bcd;
	c->status_latched = true;
}

static void control(struct pit *pit, uint8_t v)
{
	int sel = v >> 6;
	if (sel == 3) { /* read-back */
		for (int n = 0; n < 3; n++) {
			if (!(v & (2 << n)))
				continue;
			if (!(v & 0x20))
				latch_count(pit, &pit->ch[n]);
			if (!(v & 0x10))
				latch_status(pit, &pit->ch[n]);
		}
		return;
	}
	struct pit_channel *c = &pit->ch[sel];
	int rw = (v >> 4) & 3;
	if (rw == RW_LATCH) {
		latch_count(pit, c);
		return;
	}
	c->rw = rw;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 alias modes 2 and 3 */
	c->bcd = v & 1;
	c->read_msb = c->write_msb = false;
	c->latched = c->status_latched = false;
	c->loaded = false;
	if (sel == 0)
		timer_cancel(&pit->timer);
}

static uint8_t channel_read(struct pit *pit, struct pit_channel *c)
{
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	uint16_t v;
	bool msb;
	if (c->latched) {
		v = c->latch;
		if (c->rw == RW_WORD) {
			msb = c->read_latch_msb;
			c->read_latch_msb = !msb;
			if (msb)
				c->latched = false;
		} else {
			msb = c->rw == RW_MSB;
			c->latched = false;
		}
	} else {
		uint32_t n = cur_count(pit, c);
		v = c->bcd ? to_bcd(n) : (uint16_t)n;
		if (c->rw == RW_WORD) {
			msb = c->read_msb;
			c->read_msb = !msb;
		} else {
			msb = c->rw == RW_MSB;
		}
	}
	return msb ? v >> 8 : v & 0xff;
}

static void channel_write(struct pit *pit, int n, uint8_t v)
{
	struct pit_channel *c = &pit->ch[n];
	switch (c->rw) {
	case RW_LSB: load_count(pit, n, v); break;
	case RW_MSB: load_count(pit, n, (uint32_t)v << 8); break;
	case RW_WORD:
		if (!c->write_msb) {
			c->write_lsb = v;
			c->write_msb = true;
		} else {
			c->write_msb = false;
			load_count(pit, n, c->write_lsb | (uint32_t)v << 8);
		}
		break;
	}
}

static uint64_t pit_read(void *dev, uint64_t off, unsigned size)
{
	struct pit *pit = dev;
	(void)size;
	return off < 3 ? channel_read(pit, &pit->ch[off]) : 0xff;
}

static void pit_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct pit *pit = dev;
	(void)size;
	if (off == 3)
		control(pit, val);
	else
		channel_write(pit, off, val);
}

static void set_gate2(struct pit *pit, bool gate)
{
	struct pit_channel *c = &pit->ch[2];
	/* A rising gate (re)starts counting in modes 1, 2, 3 and 5; modes 0 and
	 * 4 count only while the gate is high (modelled as a restart, which is
	 * what programs that raise the gate before loading see). */
	if (gate && !c->gate && c->loaded)
		c->load_ns = vm_now(pit->vm);
	c->gate = gate;
}

static uint64_t port61_read(void *dev, uint64_t off, unsigned size)
{
	struct pit *pit = dev;
	(void)off;
	(void)size;
	/* The DRAM refresh bit toggles on every read: delay loops poll it. */
	pit->refresh = !pit->refresh;
	return (pit->port61 & 0x0f) | pit->refresh << 4 | out_level(pit, &pit->ch[2]) << 5;
}

static void port61_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct pit *pit = dev;
	(void)off;
	(void)size;
	pit->port61 = val & 0x0f;
	set_gate2(pit, val & 1);
}

static const struct io_ops pit_ops = { pit_read, pit_write };
static const struct io_ops port61_ops = { port61_read, port61_write };

/* ---- lifecycle ----------------------------------------------------------- */

static void channels_reset(struct pit *pit)
{
	for (int n = 0; n < 3; n++) {
		pit->ch[n] = (struct pit_channel){ 0 };
		pit->ch[n].gate = n != 2;
		pit->ch[n].count = 0x10000;
		pit->ch[n].rw = RW_WORD;
	}
}

static void pit_reset(void *dev)
{
	struct pit *pit = dev;
	timer_cancel(&pit->timer);
	channels_reset(pit);
	pit->port61 = 0;
	pit->refresh = false;
}

static int pit_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct pit *pit = dev;
	(void)err, (void)errlen;
	for (int n = 0; n < 3; n++) {
		const struct pit_channel *c = &pit->ch[n];
		st_put32(b, c->count);
		st_put16(b, c->latch);
		st_put8(b, c->status);
		st_put8(b, c->mode);
		st_put8(b, c->rw);
		st_put8(b, c->bcd);
		st_put_bool(b, c->latched);
		st_put_bool(b, c->status_latched);
		st_put_bool(b, c->read_msb);
		st_put_bool(b, c->write_msb);
		st_put_bool(b, c->read_latch_msb);
		st_put8(b, c->write_lsb);
		st_put_bool(b, c->loaded);
		st_put_bool(b, c->gate);
		st_put64(b, c->load_ns);
	}
	st_put8(b, pit->port61);
	st_put_bool(b, pit->refresh);
	return 0;
}

/* Counts run on the VM clock (load_ns), so channel 0's next interrupt is
 * found again from the loaded state. */
static int pit_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct pit *pit = dev;
	struct pit_channel ch[3];
	uint8_t port61;
	bool refresh;
	(void)err, (void)errlen;
	for (int n = 0; n < 3; n++) {
		struct pit_channel *c = &ch[n];
		c->count = st_get32(r);
		st_check(r, c->count >= 1 && c->count <= 0x10000); /* a divisor */
		c->latch = st_get16(r);
		c->status = st_get8(r);
		c->mode = st_get8(r);
		st_check(r, c->mode <= 5); /* 6 and 7 are stored as 2 and 3 */
		c->rw = st_get8(r);
		st_check(r, c->rw <= 3);
		c->bcd = st_get8(r);
		st_check(r, c->bcd <= 1);
		c->latched = st_get_bool(r);
		c->status_latched = st_get_bool(r);
		c->read_msb = st_get_bool(r);
		c->write_msb = st_get_bool(r);
		c->read_latch_msb = st_get_bool(r);
		c->write_lsb = st_get8(r);
		c->loaded = st_get_bool(r);
		c->gate = st_get_bool(r);
		c->load_ns = st_get64(r);
	}
	port61 = st_get8(r);
	st_check(r, port61 <= 0x0f);
	refresh = st_get_bool(r);
	if (!st_ok(r))
		return -1;
	memcpy(pit->ch, ch, sizeof(ch));
	pit->port61 = port61;
	pit->refresh = refresh;
	arm(pit);
	return 0;
}

static void pit_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct pit *pit = dev;
	emit(ctx, "ch0_mode", pit->ch[0].mode);
	emit(ctx, "ch0_count", pit->ch[0].count);
	emit(ctx, "ch0_armed", pit->timer.armed);
}

const struct device_ops pit_device_ops = {
	.name = "pit",
	.version = 1,
	.reset = pit_reset,
	.save = pit_save,
	.load = pit_load,
	.stats = pit_stats,
};

struct pit *pit_create(struct vm *vm, unsigned irq)
{
	struct pit *pit = calloc(1, sizeof(*pit));
	if (!pit)
		return NULL;
	pit->vm = vm;
	pit->irq = vm_irq_line(vm, irq);
	channels_reset(pit);
	timer_init(&pit->timer, &vm->timers, pit_fire, pit);
	if (io_bus_register(&vm->pio, 0x40, 4, &pit_ops, pit)) {
		free(pit);
		return NULL;
	}
	if (io_bus_register(&vm->pio, 0x61, 1, &port61_ops, pit)) {
		io_bus_unregister(&vm->pio, 0x40);
		free(pit);
		return NULL;
	}
	if (vm_device_add(vm, &pit_device_ops, pit)) {
		io_bus_unregister(&vm->pio, 0x61);
		io_bus_unregister(&vm->pio, 0x40);
		free(pit);
		return NULL;
	}
	return pit;
}

void pit_destroy(struct pit *pit)
{
	if (!pit)
		return;
	timer_cancel(&pit->timer);
	io_bus_unregister(&pit->vm->pio, 0x40);
	io_bus_unregister(&pit->vm->pio, 0x61);
	vm_device_remove(pit->vm, pit);
	free(pit);
}
