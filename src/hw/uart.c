/* 16550A UART.
 *
 * Transmission is instantaneous: a THR write goes straight to the chardev
 * and THR is empty again at once, so the THRE interrupt comes back right
 * after each write (Linux's 8250 driver refills in its interrupt handler).
 * Reception pulls bytes from the chardev whenever the RX FIFO has room.
 * The character-timeout interrupt, which on hardware fires after four idle
 * character times, fires as soon as the chardev has nothing more to give:
 * that is the moment the line has gone idle.
 *
 * Host input must reach the guest in full.  Linux's 8250 driver resets the
 * FIFOs and reads RBR blindly while it starts up, so the UART holds input
 * back until the guest is ready for it: while receive interrupts are
 * enabled, or for a polling guest that never enabled any interrupt.  Input
 * a FIFO reset discards is handed back to the chardev. */
#include <stdbool.h>
#include <stdlib.h>

#include "hw/uart.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"
#include "host/chardev.h"

#define FIFO_SIZE 16

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08

#define IIR_NONE    0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO    0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_BI   0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERR  0x1e

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

struct uart {
	struct vm *vm;
	struct chardev *chr;
	struct irq_line irq;
	uint16_t port;
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint16_t divisor;
	uint8_t rx[FIFO_SIZE];
	bool rx_host[FIFO_SIZE]; /* byte came from the chardev (not loopback) */
	unsigned rx_head, rx_count;
	bool ier_used;    /* the guest has enabled some interrupt */
	bool thr_pending; /* THRE interrupt raised and not yet acknowledged */
	int irq_level;
};

static bool fifo_on(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return fifo_on(u) ? levels[u->fcr >> 6] : 1;
}

static unsigned rx_room(const struct uart *u)
{
	return (fifo_on(u) ? FIFO_SIZE : 1) - u->rx_count;
}

/* Highest-priority pending interrupt, as IIR reports it. */
static uint8_t pending(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && (u->lsr & LSR_ERR))
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count) {
		if (u->rx_count >= rx_trigger(u))
			return IIR_RDI;
		if (!chardev_pending(u->chr) || (u->mcr & MCR_LOOP))
			return IIR_TIMEOUT; /* the line is idle */
	}
	if ((u->ier & IER_THRI) && u->thr_pending)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & 0x0f))
		return IIR_MSI;
	return IIR_NONE;
}

static void update_irq(struct uart *u)
{
	/* On a PC the IRQ output reaches the bus only through OUT2's buffer,
	 * and OUT2 is disconnected in loopback mode. */
	int level = pending(u) != IIR_NONE && (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(&u->irq, level);
	}
}

static void rx_push(struct uart *u, uint8_t b, bool host)
{
	if (!rx_room(u)) {
		u->lsr |= LSR_OE; /* the new byte is lost */
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = b;
	u->rx_host[(u->rx_head + u->rx_count) % FIFO_SIZE] = host;
	u->rx_count++;
	u->lsr |= LSR_DR;
}

/* Fill the RX FIFO from the host side (not in loopback: the line is
 * disconnected from the outside then). */
static void pull(struct uart *u)
{
	if (u->mcr & MCR_LOOP)
		return;
	if (!(u->ier & IER_RDI) && u->ier_used)
		return; /* an interrupt-driven guest that is not receiving yet */
	uint8_t buf[FIFO_SIZE];
	size_t n = chardev_read(u->chr, buf, rx_room(u));
	for (size_t i = 0; i < n; i++)
		rx_push(u, buf[i], true);
}

static void input_ready(void *ctx)
{
	struct uart *u = ctx;
	pull(u);
	update_irq(u);
}

static uint8_t rx_pop(struct uart *u)
{
	if (!u->rx_count)
		return 0;
	uint8_t b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
	if (!--u->rx_count)
		u->lsr &= ~LSR_DR;
	pull(u);
	return b;
}

static void rx_clear(struct uart *u)
{
	uint8_t back[FIFO_SIZE];
	size_t n = 0;
	for (unsigned i = 0; i < u->rx_count; i++) {
		unsigned at = (u->rx_head + i) % FIFO_SIZE;
		if (u->rx_host[at])
			back[n++] = u->rx[at];
	}
	chardev_unread(u->chr, back, n);
	u->rx_head = u->rx_count = 0;
	u->lsr &= ~LSR_DR;
}

/* Modem status inputs: looped back from MCR, else a connected host. */
static void update_msr(struct uart *u)
{
	uint8_t in;
	if (u->mcr & MCR_LOOP)
		in = ((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
		     ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0);
	else
		in = MSR_CTS | MSR_DSR | MSR_DCD;
	uint8_t old = u->msr, changed = (old ^ in) & 0xf0;
	uint8_t delta = ((changed & MSR_CTS) ? MSR_DCTS : 0) | ((changed & MSR_DSR) ? MSR_DDSR : 0) |
	                ((changed & MSR_DCD) ? MSR_DDCD : 0) | (((old & MSR_RI) && !(in & MSR_RI)) ? MSR_TERI : 0);
	u->msr = in | (old & 0x0f) | delta;
}

static void transmit(struct uart *u, uint8_t b)
{
	if (u->mcr & MCR_LOOP)
		rx_push(u, b, false);
	else if (!(u->vm && u->vm->replay && replay_repeating(u->vm))) /* printed the first time through */
		chardev_write(u->chr, &b, 1);
	u->lsr |= LSR_THRE | LSR_TEMT;
	u->thr_pending = true;
}

static uint64_t uart_read(void *dev, uint64_t off, unsigned size)
{
	struct uart *u = dev;
	uint8_t v = 0xff;
	(void)size;
	switch (off) {
	case 0: v = (u->lcr & LCR_DLAB) ? u->divisor & 0xff : rx_pop(u); break;
	case 1: v = (u->lcr & LCR_DLAB) ? u->divisor >> 8 : u->ier; break;
	case 2:
		v = pending(u);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if (v == IIR_THRI)
			u->thr_pending = false;
		if (fifo_on(u))
			v |= IIR_FIFO;
		break;
	case 3: v = u->lcr; break;
	case 4: v = u->mcr; break;
	case 5:
		v = u->lsr;
		u->lsr &= ~(LSR_ERR);
		break;
	case 6:
		v = u->msr;
		u->msr &= 0xf0;
		break;
	case 7: v = u->scr; break;
	}
	update_irq(u);
	return v;
}

static void uart_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct uart *u = dev;
	uint8_t v = val, old;
	(void)size;
	switch (off) {
	case 0:
		if (u->lcr & LCR_DLAB)
			u->divisor = (u->divisor & 0xff00) | v;
		else
			transmit(u, v);
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (u->divisor & 0xff) | v << 8;
			break;
		}
		old = u->ier;
		u->ier = v & 0x0f;
		/* Enabling THRE interrupts while THR is empty raises one: the 8250
		 * driver probes for exactly this. */
		if ((u->ier & IER_THRI) && !(old & IER_THRI) && (u->lsr & LSR_THRE))
			u->thr_pending = true;
		if (u->ier)
			u->ier_used = true;
		pull(u);
		break;
	case 2:
		if ((v ^ u->fcr) & FCR_ENABLE)
			v |= FCR_CLEAR_RX | FCR_CLEAR_TX; /* toggling the FIFOs empties them */
		if (v & FCR_CLEAR_RX)
			rx_clear(u);
		u->fcr = v & 0xc9; /* trigger level, DMA mode, enable */
		pull(u);
		break;
	case 3: u->lcr = v; break;
	case 4:
		old = u->mcr;
		u->mcr = v & 0x1f;
		update_msr(u);
		if ((old ^ u->mcr) & MCR_LOOP)
			pull(u);
		break;
	case 5:
	case 6: break; /* read-only (factory test writes ignored) */
	case 7: u->scr = v; break;
	}
	update_irq(u);
}

static const struct io_ops uart_ops = { uart_read, uart_write };

/* ---- lifecycle ----------------------------------------------------------- */

static void regs_reset(struct uart *u)
{
	u->ier = u->mcr = u->scr = u->fcr = 0;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->divisor = 12; /* 9600 baud */
	u->lcr = 0x03;
	u->msr = 0;
	u->ier_used = u->thr_pending = false;
	update_msr(u);
	u->msr &= 0xf0;
}

/* Bytes the host typed and the guest never read go back to the host side,
 * so a reset loses no input. */
static void uart_reset(void *dev)
{
	struct uart *u = dev;
	rx_clear(u);
	regs_reset(u);
	update_irq(u);
}

static int uart_save(void *dev, struct state_buf *b, char *err, size_t errlen)
{
	struct uart *u = dev;
	(void)err, (void)errlen;
	st_put8(b, u->ier);
	st_put8(b, u->lcr);
	st_put8(b, u->mcr);
	st_put8(b, u->lsr);
	st_put8(b, u->msr);
	st_put8(b, u->scr);
	st_put8(b, u->fcr);
	st_put16(b, u->divisor);
	/* The received bytes not yet read, oldest first. */
	st_put8(b, (uint8_t)u->rx_count);
	for (unsigned i = 0; i < u->rx_count; i++) {
		st_put8(b, u->rx[(u->rx_head + i) % FIFO_SIZE]);
		st_put_bool(b, u->rx_host[(u->rx_head + i) % FIFO_SIZE]);
	}
	st_put_bool(b, u->ier_used);
	st_put_bool(b, u->thr_pending);
	st_put_bool(b, u->irq_level);
	return 0;
}

static int uart_load(void *dev, struct state_reader *r, char *err, size_t errlen)
{
	struct uart *u = dev;
	struct uart t = *u;
	(void)err, (void)errlen;
	t.ier = st_get8(r);
	t.lcr = st_get8(r);
	t.mcr = st_get8(r);
	t.lsr = st_get8(r);
	t.msr = st_get8(r);
	t.scr = st_get8(r);
	t.fcr = st_get8(r);
	t.divisor = st_get16(r);
	t.rx_head = 0;
	t.rx_count = st_get8(r);
	st_check(r, t.rx_count <= FIFO_SIZE);
	for (unsigned i = 0; i < t.rx_count && !r->bad; i++) {
		t.rx[i] = st_get8(r);
		t.rx_host[i] = st_get_bool(r);
	}
	t.ier_used = st_get_bool(r);
	t.thr_pending = st_get_bool(r);
	t.irq_level = st_get_bool(r);
	if (!st_ok(r))
		return -1;
	*u = t;
	irq_line_set(&u->irq, u->irq_level);
	return 0;
}

static void uart_stats(void *dev, device_stat_fn emit, void *ctx)
{
	struct uart *u = dev;
	emit(ctx, "rx_queued", u->rx_count);
	emit(ctx, "irq", (uint64_t)u->irq_level);
	emit(ctx, "divisor", u->divisor);
}

const struct device_ops uart_device_ops = {
	.name = "uart",
	.version = 1,
	.reset = uart_reset,
	.save = uart_save,
	.load = uart_load,
	.stats = uart_stats,
};

struct uart *uart_create(struct vm *vm, uint16_t port, unsigned irq, struct chardev *chr)
{
	struct uart *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->vm = vm;
	u->chr = chr;
	u->port = port;
	u->irq = vm_irq_line(vm, irq);
	regs_reset(u);
	if (io_bus_register(&vm->pio, port, 8, &uart_ops, u)) {
		free(u);
		return NULL;
	}
	if (vm_device_add(vm, &uart_device_ops, u)) {
		io_bus_unregister(&vm->pio, port);
		free(u);
		return NULL;
	}
	chardev_set_input_handler(chr, input_ready, u);
	return u;
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	chardev_set_input_handler(u->chr, NULL, NULL);
	io_bus_unregister(&u->vm->pio, u->port);
	vm_device_remove(u->vm, u);
	free(u);
}
