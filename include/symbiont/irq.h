/* Interrupt lines as devices see them.
 *
 * A device is handed a struct irq_line and knows nothing of where it goes:
 * on the emu engine it reaches the board's 8259A/IOAPIC models, on KVM the
 * in-kernel irqchip.  Message-signalled interrupts (MSI/MSI-X, and IOAPIC
 * redirection entries, which the emu engine delivers the same way) go
 * through irqchip_ops.msi with the architectural address/data encoding.
 * What comes out of a chip towards the CPUs (the PIC's INTR, messages for
 * the local APICs) goes to the engine through vm_cpu_extint() and
 * vm_cpu_msi(): the chip never names an engine, the engine never names a
 * chip (TinyEMU's pic_set_irq_cb / x86_cpu_set_get_hard_intno pair). */
#ifndef SYMBIONT_IRQ_H
#define SYMBIONT_IRQ_H

#include <stdint.h>

struct irqchip_ops {
	void (*set_irq)(void *chip, unsigned gsi, int level);
	void (*msi)(void *chip, uint64_t addr, uint32_t data);
	/* The CPU side, for an engine whose local APICs are its own (emu); NULL
	 * on a chip that delivers by itself (KVM's).  ack is the INTA cycle after
	 * an ExtINT: the vector of the highest request, or -1 with none.  eoi is
	 * a local APIC's EOI of a level-triggered vector.  Both with
	 * vm->io_lock held, like every device access. */
	int (*ack)(void *chip);
	void (*eoi)(void *chip, uint8_t vector);
};

struct irq_line {
	const struct irqchip_ops *ops;
	void *chip;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->ops)
		l->ops->set_irq(l->chip, l->gsi, level);
}

/* Edge-triggered ISA devices (PIT, RTC, i8042) raise then lower. */
static inline void irq_line_pulse(const struct irq_line *l)
{
	irq_line_set(l, 1);
	irq_line_set(l, 0);
}

#endif
