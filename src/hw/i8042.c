/* i8042 controller.  Enough for Linux's i8042 and atkbd drivers to probe a
 * keyboard and find no mouse without waiting for timeouts. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "hw/i8042.h"
#include "symbiont/vm.h"

#define STR_OBF      0x01
#define STR_SYS      0x04
#define STR_CMD      0x08
#define STR_UNLOCKED 0x10
#define STR_AUXDATA  0x20
#define STR_TIMEOUT  0x40

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

#define QLEN 16

enum { SRC_KBD, SRC_AUX };

struct i8042 {
	struct vm *vm;
	struct irq_line kbd_irq, aux_irq;
	uint8_t ctr; /* command byte */
	uint8_t status;
	uint8_t pending_cmd; /* controller command waiting for its data byte */
	uint8_t kbd_cmd;     /* keyboard command waiting for its parameter */
	uint8_t outport;
	uint8_t port92;
	uint8_t q[QLEN], qsrc[QLEN];
	unsigned qhead, qlen;
	bool aux_timeout; /* head byte is a "no device" answer */
};

static void reset_vm(struct i8042 *k, const char *how)
{
	fprintf(stderr, "symbiont: guest reset (%s); rebooting is not supported, exiting\n", how);
	vm_request_exit(k->vm, 0);
}

static void update(struct i8042 *k)
{
	int kbd = 0, aux = 0;
	k->status &= ~(STR_OBF | STR_AUXDATA | STR_TIMEOUT);
	if (k->qlen) {
		k->status |= STR_OBF;
		if (k->qsrc[k->qhead] == SRC_AUX) {
			k->status |= STR_AUXDATA;
			if (k->aux_timeout)
				k->status |= STR_TIMEOUT;
			aux = (k->ctr & CTR_AUXINT) != 0;
		} else {
			kbd = (k->ctr & CTR_KBDINT) != 0;
		}
	}
	irq_line_set(&k->kbd_irq, kbd);
	irq_line_set(&k->aux_irq, aux);
}

static void push(struct i8042 *k, uint8_t v, int src)
{
	if (k->qlen == QLEN)
		return;
	k->q[(k->qhead + k->qlen) % QLEN] = v;
	k->qsrc[(k->qhead + k->qlen) % QLEN] = src;
	k->qlen++;
}

/* The keyboard device: acknowledges everything, identifies as an MF2. */
static void kbd_byte(struct i8042 *k, uint8_t v)
{
	if (k->kbd_cmd) { /* parameter of LEDs / typematic / scan set */
		uint8_t cmd = k->kbd_cmd;
		k->kbd_cmd = 0;
		push(k, 0xfa, SRC_KBD);
		if (cmd == 0xf0 && v == 0)
			push(k, 0x02, SRC_KBD); /* current scan set */
		return;
	}
	switch (v) {
	case 0xed:
	case 0xf3:
	case 0xf0:
		k->kbd_cmd = v;
		push(k, 0xfa, SRC_KBD);
		break;
	case 0xee: push(k, 0xee, SRC_KBD); break; /* echo */
	case 0xf2:                                /* identify */
		push(k, 0xfa, SRC_KBD);
		push(k, 0xab, SRC_KBD);
		push(k, 0x83, SRC_KBD);
		break;
	case 0xff: /* reset and self test */
		push(k, 0xfa, SRC_KBD);
		push(k, 0xaa, SRC_KBD);
		break;
	default: push(k, 0xfa, SRC_KBD); break;
	}
}

static void write_outport(struct i8042 *k, uint8_t v)
{
	k->outport = v;
	if (!(v & 1))
		reset_vm(k, "keyboard controller output port");
}

static void data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;
	k->pending_cmd = 0;
	k->status &= ~STR_CMD;
	switch (cmd) {
	case 0x60:
		k->ctr = v;
		k->status = (k->status & ~STR_SYS) | (v & CTR_SYS);
		break;
	case 0xd1: write_outport(k, v); break;
	case 0xd2: push(k, v, SRC_KBD); break;
	case 0xd3: push(k, v, SRC_AUX); break; /* AUX loopback */
	case 0xd4:
		/* To the mouse: there is none.  Controllers answer with a
		 * timeout flag, which Linux's psmouse takes as "no device". */
		if (k->qlen == 0)
			k->aux_timeout = true;
		push(k, 0xfe, SRC_AUX);
		break;
	default:
		kbd_byte(k, v);
		k->ctr &= ~CTR_KBDDIS; /* writing to the keyboard enables it */
		break;
	}
	update(k);
}

static void command(struct i8042 *k, uint8_t v)
{
	k->status |= STR_CMD;
	switch (v) {
	case 0x20: push(k, k->ctr, SRC_KBD); break;
	case 0x60:
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xd4: k->pending_cmd = v; break;
	case 0xa7: k->ctr |= CTR_AUXDIS; break;
	case 0xa8: k->ctr &= ~CTR_AUXDIS; break;
	case 0xa9: push(k, 0x00, SRC_KBD); break; /* AUX interface test: ok */
	case 0xaa:                                /* controller self test */
		push(k, 0x55, SRC_KBD);
		k->status |= STR_SYS;
		break;
	case 0xab: push(k, 0x00, SRC_KBD); break; /* keyboard interface test */
	case 0xad: k->ctr |= CTR_KBDDIS; break;
	case 0xae: k->ctr &= ~CTR_KBDDIS; break;
	case 0xc0: push(k, 0x00, SRC_KBD); break; /* input port */
	case 0xd0: push(k, k->outport, SRC_KBD); break;
	default:
		/* 0xf0-0xff pulse output-port lines low for 6 us; bit 0 is the
		 * CPU reset line. */
		if (v >= 0xf0 && !(v & 1))
			reset_vm(k, "keyboard controller");
		break;
	}
	update(k);
}

static uint64_t data_read(void *dev, uint64_t off, unsigned size)
{
	struct i8042 *k = dev;
	(void)off;
	(void)size;
	if (!k->qlen)
		return k->q[(k->qhead + QLEN - 1) % QLEN]; /* the last byte again */
	uint8_t v = k->q[k->qhead];
	k->qhead = (k->qhead + 1) % QLEN;
	k->qlen--;
	k->aux_timeout = false;
	update(k);
	return v;
}

static void data_write_op(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	(void)off;
	(void)size;
	data_write(dev, val);
}

static uint64_t status_read(void *dev, uint64_t off, unsigned size)
{
	struct i8042 *k = dev;
	(void)off;
	(void)size;
	return k->status;
}

static void command_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	(void)off;
	(void)size;
	command(dev, val);
}

static uint64_t port92_read(void *dev, uint64_t off, unsigned size)
{
	struct i8042 *k = dev;
	(void)off;
	(void)size;
	return k->port92;
}

static void port92_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct i8042 *k = dev;
	(void)off;
	(void)size;
	k->port92 = val & 0x02; /* A20 is always on here; the bit is remembered */
	if (val & 1)
		reset_vm(k, "port 0x92 fast reset");
}

static const struct io_ops data_ops = { data_read, data_write_op };
static const struct io_ops cmd_ops = { status_read, command_write };
static const struct io_ops port92_ops = { port92_read, port92_write };

/* ---- lifecycle ----------------------------------------------------------- */

static void regs_reset(struct i8042 *k)
{
	k->ctr = CTR_KBDINT | CTR_SYS | CTR_XLATE;
	k->status = STR_SYS | STR_UNLOCKED;
	k->pending_cmd = k->kbd_cmd = 0;
	k->outport = 0x03; /* reset line high, A20 on */
	k->port92 = 0x02;
	k->qhead = k->qlen = 0;
	k->aux_timeout = false;
}

static void i8042_reset(void *dev)
{
	struct i8042 *k = dev;
	regs_reset(k);
	update(k);
}

static int i8042_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct i8042 *k = dev;
	(void)err, (void)errlen;
	st_put8(b, k->ctr);
	st_put8(b, k->status);
	st_put8(b, k->pending_cmd);
	st_put8(b, k->kbd_cmd);
	st_put8(b, k->outport);
	st_put8(b, k->port92);
	/* The queued bytes only, oldest first: the ring's position and the
	 * bytes already read are not state. */
	st_put8(b, (uint8_t)k->qlen);
	for (unsigned i = 0; i < k->qlen; i++) {
		st_put8(b, k->q[(k->qhead + i) % QLEN]);
		st_put8(b, k->qsrc[(k->qhead + i) % QLEN]);
	}
	st_put_bool(b, k->aux_timeout);
	return 0;
}

static int i8042_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct i8042 *k = dev;
	struct i8042 t = *k;
	(void)err, (void)errlen;
	t.ctr = st_get8(r);
	t.status = st_get8(r);
	t.pending_cmd = st_get8(r);
	t.kbd_cmd = st_get8(r);
	t.outport = st_get8(r);
	t.port92 = st_get8(r);
	t.qhead = 0;
	t.qlen = st_get8(r);
	st_check(r, t.qlen <= QLEN);
	for (unsigned i = 0; i < t.qlen && !r->bad; i++) {
		t.q[i] = st_get8(r);
		t.qsrc[i] = st_get8(r);
		st_check(r, t.qsrc[i] == SRC_KBD || t.qsrc[i] == SRC_AUX);
	}
	t.aux_timeout = st_get_bool(r);
	if (!st_ok(r))
		return -1;
	*k = t;
	update(k);
	return 0;
}

static void i8042_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct i8042 *k = dev;
	emit(ctx, "queued", k->qlen);
	emit(ctx, "ctr", k->ctr);
}

const struct device_ops i8042_device_ops = {
	.name = "i8042",
	.version = 1,
	.reset = i8042_reset,
	.save = i8042_save,
	.load = i8042_load,
	.stats = i8042_stats,
};

struct i8042 *i8042_create(struct vm *vm, unsigned kbd_irq, unsigned aux_irq)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->vm = vm;
	k->kbd_irq = vm_irq_line(vm, kbd_irq);
	k->aux_irq = vm_irq_line(vm, aux_irq);
	regs_reset(k);
	/* 0x61 between them is the PIT's port B. */
	if (io_bus_register(&vm->pio, 0x60, 1, &data_ops, k))
		goto fail;
	if (io_bus_register(&vm->pio, 0x64, 1, &cmd_ops, k))
		goto fail60;
	if (io_bus_register(&vm->pio, 0x92, 1, &port92_ops, k))
		goto fail64;
	if (vm_device_add(vm, &i8042_device_ops, k))
		goto fail92;
	return k;
fail92:
	io_bus_unregister(&vm->pio, 0x92);
fail64:
	io_bus_unregister(&vm->pio, 0x64);
fail60:
	io_bus_unregister(&vm->pio, 0x60);
fail:
	free(k);
	return NULL;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	io_bus_unregister(&k->vm->pio, 0x60);
	io_bus_unregister(&k->vm->pio, 0x64);
	io_bus_unregister(&k->vm->pio, 0x92);
	vm_device_remove(k->vm, k);
	free(k);
}
