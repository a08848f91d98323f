/* 8259A master/slave pair (ports 0x20-0x21, 0xa0-0xa1, ELCR 0x4d0-0x4d1).
 * The emu engine uses it as its irqchip: it watches INTR through the output
 * callback and takes vectors with pic_ack() (the INTA cycle). */
#ifndef SYMBIONT_HW_PIC_H
#define SYMBIONT_HW_PIC_H

#include <stdbool.h>

struct vm;
struct pic;
struct device_ops;

extern const struct device_ops pic_device_ops;

struct pic *pic_create(struct vm *vm);
void pic_destroy(struct pic *pic);
/* irq 0..15; level 1 asserted.  Edge inputs latch on the rising edge. */
void pic_set_irq(struct pic *pic, unsigned irq, int level);
/* Called whenever the master's INTR output changes level. */
void pic_set_output(struct pic *pic, void (*intr)(void *ctx, int level), void *ctx);
bool pic_has_intr(struct pic *pic);
/* INTA: returns the vector of the highest-priority request and moves it to
 * in-service; with nothing pending returns the spurious vector (IRQ7 of the
 * master, or IRQ15 when the slave's request vanished). */
int pic_ack(struct pic *pic);

#endif
