/* 8259A programmable interrupt controller pair.
 *
 * Each chip keeps IRR/ISR/IMR and a rotating priority base.  The slave's
 * INT output is wired to the master's IRQ2 input; the master's INT is the
 * CPU's INTR.  Edge versus level per input comes from the ELCR (as on PIIX
 * chipsets), which is what Linux programs. */
#include <stdint.h>
#include <stdlib.h>

#include "hw/pic.h"
#include "symbiont/vm.h"

struct pic;

struct pic_chip {
	struct pic *pic;
	bool master;
	uint8_t irr, isr, imr;
	uint8_t lines; /* current input levels */
	uint8_t elcr, elcr_mask;
	uint8_t base;      /* vector base from ICW2 */
	uint8_t prio_add;  /* IRQ with the highest priority */
	uint8_t init_step; /* 0 ready, 1..3 waiting for ICW2..ICW4 */
	bool icw4_needed, single, auto_eoi, rotate_aeoi, sfnm;
	bool read_isr, poll, special_mask;
};

struct pic {
	struct vm *vm;
	struct pic_chip c[2]; /* 0 master, 1 slave */
	int intr;
	void (*out)(void *ctx, int level);
	void *out_ctx;
};

/* Priority (0 highest) of the best bit set in mask, or 8 if none. */
static int prio_of(const struct pic_chip *c, uint8_t mask)
{
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + c->prio_add) & 7)))
			return p;
	return 8;
}

/* The IRQ this chip would signal now, or -1. */
static int chip_irq(const struct pic_chip *c, bool master)
{
	int p = prio_of(c, c->irr & ~c->imr);
	if (p == 8)
		return -1;
	uint8_t in_service = c->isr;
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Special fully nested mode: a slave request may interrupt the
	 * slave's own in-service IRQ2 on the master. */
	if (master && c->sfnm)
		in_service &= ~(1u << 2);
	if (p < prio_of(c, in_service))
		return (p + c->prio_add) & 7;
	return -1;
}

static void chip_input(struct pic_chip *c, unsigned irq, int level)
{
	uint8_t bit = 1u << irq;
	/* The cascade input follows the slave's INT level, so a slave request
	 * that goes away takes the master's request with it. */
	if ((c->elcr & bit) || (c->master && irq == 2)) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= ~bit;
	} else if (level && !(c->lines & bit)) {
		c->irr |= bit;
	}
	c->lines = level ? (c->lines | bit) : (c->lines & ~bit);
}

static void pic_update(struct pic *pic)
{
	chip_input(&pic->c[0], 2, chip_irq(&pic->c[1], false) >= 0);
	int intr = chip_irq(&pic->c[0], true) >= 0;
	if (intr != pic->intr) {
		pic->intr = intr;
		if (pic->out)
			pic->out(pic->out_ctx, intr);
	}
}

void pic_set_irq(struct pic *pic, unsigned irq, int level)
{
	if (irq >= 16 || irq == 2)
		return;
	chip_input(&pic->c[irq >> 3], irq & 7, level != 0);
	pic_update(pic);
}

void pic_set_output(struct pic *pic, void (*intr)(void *ctx, int level), void *ctx)
{
	pic->out = intr;
	pic->out_ctx = ctx;
	if (intr)
		intr(ctx, pic->intr);
}

bool pic_has_intr(struct pic *pic)
{
	return pic->intr;
}

/* Moves irq from IRR to ISR as INTA does. */
static void chip_ack(struct pic_chip *c, int irq)
{
	uint8_t bit = 1u << irq;
	if (c->auto_eoi) {
		if (c->rotate_aeoi)
			c->prio_add = (irq + 1) & 7;
	} else {
		c->isr |= bit;
	}
	/* A level input stays requested while the line is high. */
	if (!(c->elcr & bit) && !(c->master && irq == 2))
		c->irr &= ~bit;
}

int pic_ack(struct pic *pic)
{
	struct pic_chip *m = &pic->c[0], *s = &pic->c[1];
	int irq = chip_irq(m, true), vec;
	if (irq < 0) {
		vec = m->base + 7; /* spurious: no ISR bit is set */
	} else {
		chip_ack(m, irq);
		if (irq == 2) {
			int irq2 = chip_irq(s, false);
			if (irq2 >= 0) {
				chip_ack(s, irq2);
				vec = s->base + irq2;
			} else {
				vec = s->base + 7;
			}
		} else {
			vec = m->base + irq;
		}
	}
	pic_update(pic);
	return vec;
}

static void chip_eoi(struct pic_chip *c, int irq, bool rotate)
{
	c->isr &= ~(1u << irq);
	if (rotate)
		c->prio_add = (irq + 1) & 7;
}

static void chip_write(struct pic *pic, struct pic_chip *c, unsigned port, uint8_t v)
{
	if (port == 0) {
		if (v & 0x10) { /* ICW1 */
			c->irr = c->isr = c->imr = 0;
			c->lines = 0;
			c->prio_add = 0;
			c->read_isr = c->poll = c->special_mask = false;
			c->auto_eoi = c->rotate_aeoi = c->sfnm = false;
			c->icw4_needed = v & 1;
			c->single = v & 2;
			c->init_step = 1;
		} else if (v & 0x08) { /* OCW3 */
			if (v & 0x04)
				c->poll = true;
			if (v & 0x02)
				c->read_isr = v & 1;
			if (v & 0x40)
				c->special_mask = (v >> 5) & 1;
		} else { /* OCW2 */
			int p;
			switch (v >> 5) {
			case 0: c->rotate_aeoi = false; break;
			case 4: c->rotate_aeoi = true; break;
			case 1: /* non-specific EOI */
			case 5: /* rotate on non-specific EOI */
				p = prio_of(c, c->isr);
				if (p != 8)
					chip_eoi(c, (p + c->prio_add) & 7, (v >> 5) == 5);
				break;
			case 3: chip_eoi(c, v & 7, false); break;
			case 7: chip_eoi(c, v & 7, true); break;
			case 6: c->prio_add = (v + 1) & 7; break;
			default: break;
			}
		}
	} else {
		switch (c->init_step) {
		case 0: c->imr = v; break;
		case 1:
			c->base = v & 0xf8;
			c->init_step = c->single ? (c->icw4_needed ? 3 : 0) : 2;
			break;
		case 2: c->init_step = c->icw4_needed ? 3 : 0; break;
		case 3:
			c->auto_eoi = (v >> 1) & 1;
			c->sfnm = (v >> 4) & 1;
			c->init_step = 0;
			break;
		}
	}
	pic_update(pic);
}

static uint8_t chip_read(struct pic *pic, struct pic_chip *c, unsigned port)
{
	if (c->poll) { /* poll command: the next read acts as INTA */
		c->poll = false;
		int irq = chip_irq(c, c->master);
		if (irq < 0)
			return 0;
		chip_ack(c, irq);
		pic_update(pic);
		return 0x80 | irq;
	}
	if (port == 0)
		return c->read_isr ? c->isr : c->irr;
	return c->imr;
}

static uint64_t pic_io_read(void *dev, uint64_t off, unsigned size)
{
	struct pic_chip *c = dev;
	(void)size;
	return chip_read(c->pic, c, off & 1);
}

static void pic_io_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct pic_chip *c = dev;
	(void)size;
	chip_write(c->pic, c, off & 1, val);
}

static uint64_t elcr_read(void *dev, uint64_t off, unsigned size)
{
	struct pic *pic = dev;
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < 2; i++)
		v |= (uint64_t)pic->c[off + i].elcr << (8 * i);
	return v;
}

static void elcr_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct pic *pic = dev;
	for (unsigned i = 0; i < size && off + i < 2; i++) {
		struct pic_chip *c = &pic->c[off + i];
		c->elcr = (val >> (8 * i)) & c->elcr_mask;
	}
	pic_update(pic);
}

static const struct io_ops pic_ops = { pic_io_read, pic_io_write };
static const struct io_ops elcr_ops = { elcr_read, elcr_write };

/* ---- lifecycle ----------------------------------------------------------- */

/* Input levels are what the devices drive: a reset keeps them. */
static void pic_reset(void *dev)
{
	struct pic *pic = dev;
	for (int i = 0; i < 2; i++) {
		struct pic_chip *c = &pic->c[i];
		*c = (struct pic_chip){ .pic = pic, .master = c->master, .lines = c->lines, .elcr_mask = c->elcr_mask };
	}
	pic_update(pic);
}

static int pic_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct pic *pic = dev;
	(void)err, (void)errlen;
	for (int i = 0; i < 2; i++) {
		const struct pic_chip *c = &pic->c[i];
		st_put8(b, c->irr);
		st_put8(b, c->isr);
		st_put8(b, c->imr);
		st_put8(b, c->lines);
		st_put8(b, c->elcr);
		st_put8(b, c->base);
		st_put8(b, c->prio_add);
		st_put8(b, c->init_step);
		st_put_bool(b, c->icw4_needed);
		st_put_bool(b, c->single);
		st_put_bool(b, c->auto_eoi);
		st_put_bool(b, c->rotate_aeoi);
		st_put_bool(b, c->sfnm);
		st_put_bool(b, c->read_isr);
		st_put_bool(b, c->poll);
		st_put_bool(b, c->special_mask);
	}
	st_put_bool(b, pic->intr);
	return 0;
}

static int pic_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct pic *pic = dev;
	struct pic_chip c[2];
	bool intr;
	(void)err, (void)errlen;
	for (int i = 0; i < 2; i++) {
		c[i] = pic->c[i];
		c[i].irr = st_get8(r);
		c[i].isr = st_get8(r);
		c[i].imr = st_get8(r);
		c[i].lines = st_get8(r);
		c[i].elcr = st_get8(r);
		st_check(r, !(c[i].elcr & ~c[i].elcr_mask));
		c[i].base = st_get8(r);
		c[i].prio_add = st_get8(r);
		st_check(r, c[i].prio_add < 8);
		c[i].init_step = st_get8(r);
		st_check(r, c[i].init_step <= 3);
		c[i].icw4_needed = st_get_bool(r);
		c[i].single = st_get_bool(r);
		c[i].auto_eoi = st_get_bool(r);
		c[i].rotate_aeoi = st_get_bool(r);
		c[i].sfnm = st_get_bool(r);
		c[i].read_isr = st_get_bool(r);
		c[i].poll = st_get_bool(r);
		c[i].special_mask = st_get_bool(r);
	}
	intr = st_get_bool(r);
	if (!st_ok(r))
		return -1;
	pic->c[0] = c[0];
	pic->c[1] = c[1];
	/* INTR as saved, then whatever the loaded registers say: the CPU side
	 * was saved with the same level, so normally nothing moves. */
	pic->intr = intr;
	pic_update(pic);
	return 0;
}

static void pic_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct pic *pic = dev;
	emit(ctx, "irr", pic->c[0].irr | pic->c[1].irr << 8);
	emit(ctx, "isr", pic->c[0].isr | pic->c[1].isr << 8);
	emit(ctx, "imr", pic->c[0].imr | pic->c[1].imr << 8);
	emit(ctx, "intr", (uint64_t)pic->intr);
}

const struct device_ops pic_device_ops = {
	.name = "pic",
	.version = 1,
	.reset = pic_reset,
	.save = pic_save,
	.load = pic_load,
	.stats = pic_stats,
};

struct pic *pic_create(struct vm *vm)
{
	struct pic *pic = calloc(1, sizeof(*pic));
	if (!pic)
		return NULL;
	pic->vm = vm;
	pic->c[0].pic = pic->c[1].pic = pic;
	pic->c[0].master = true;
	pic->c[0].elcr_mask = 0xf8; /* IRQ0-2 are always edge */
	pic->c[1].elcr_mask = 0xde; /* IRQ8 and IRQ13 likewise */
	if (io_bus_register(&vm->pio, 0x20, 2, &pic_ops, &pic->c[0]))
		goto fail;
	if (io_bus_register(&vm->pio, 0xa0, 2, &pic_ops, &pic->c[1]))
		goto fail_a0;
	if (io_bus_register(&vm->pio, 0x4d0, 2, &elcr_ops, pic))
		goto fail_elcr;
	if (vm_device_add(vm, &pic_device_ops, pic))
		goto fail_dev;
	return pic;
fail_dev:
	io_bus_unregister(&vm->pio, 0x4d0);
fail_elcr:
	io_bus_unregister(&vm->pio, 0xa0);
fail_a0:
	io_bus_unregister(&vm->pio, 0x20);
fail:
	free(pic);
	return NULL;
}

void pic_destroy(struct pic *pic)
{
	if (!pic)
		return;
	io_bus_unregister(&pic->vm->pio, 0x20);
	io_bus_unregister(&pic->vm->pio, 0xa0);
	io_bus_unregister(&pic->vm->pio, 0x4d0);
	vm_device_remove(pic->vm, pic);
	free(pic);
}
