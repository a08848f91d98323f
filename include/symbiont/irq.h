/* Interrupt lines as devices see them.
 *
 * A device is handed a struct irq_line and knows nothing of where it goes:
 * on the emu engine it reaches the board's 8259A/IOAPIC models, on KVM the
 * in-kernel irqchip.  Message-signalled interrupts (MSI/MSI-X, and IOAPIC
 * redirection entries, which the emu engine delivers the same way) go
 * through irqchip_ops.msi with the architectural address/data encoding. */
#ifndef SYMBIONT_IRQ_H
#define SYMBIONT_IRQ_H

#include <stdint.h>

struct irqchip_ops {
	void (*set_irq)(void *chip, unsigned gsi, int level);
	void (*msi)(void *chip, uint64_t addr, uint32_t data);
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
