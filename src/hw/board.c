/* The PC board: creates the devices and wires them to the buses and IRQ
 * lines.  With the emu engine (no in-kernel irqchip) the board's 8259A pair
 * and IOAPIC are the irqchip: board_irqchip routes each GSI to both, as the
 * PC's wiring does (ISA IRQ n is PIC input n and IOAPIC pin n; PCI INTx
 * uses pins 16-23, which have no PIC input). */
#include <stdio.h>
#include <stdlib.h>

#include "cpu/engine.h"
#include "hw/board.h"
#include "hw/ioapic.h"
#include "hw/pic.h"
#include "hw/pit.h"

static void board_set_irq(void *chip, unsigned gsi, int level)
{
	struct board *b = chip;
	if (gsi < 16)
		pic_set_irq(b->pic, gsi, level);
	ioapic_set_irq(b->ioapic, gsi, level);
}

/* MSIs from PCI devices go where the IOAPIC's messages go: the emu engine
 * installs that one callback with ioapic_set_output(). */
static void board_msi(void *chip, uint64_t addr, uint32_t data)
{
	struct board *b = chip;
	ioapic_send_msi(b->ioapic, addr, data);
}

static const struct irqchip_ops board_irqchip = { board_set_irq, board_msi };

int board_init(struct vm *vm, char *err, size_t errlen)
{
	struct board *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->vm = vm;
	vm->board = b;
	if (!vm->engine || !vm->engine->has_irqchip) {
		b->pic = pic_create(vm);
		b->ioapic = ioapic_create(vm, BOARD_IOAPIC_BASE);
		if (!b->pic || !b->ioapic)
			goto fail;
		vm->irqchip = &board_irqchip;
		vm->irqchip_ctx = b;
	}
	b->pit = pit_create(vm, 0);
	if (!b->pit)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "board: cannot create the devices (port or address conflict)");
	board_destroy(vm);
	return -1;
}

void board_destroy(struct vm *vm)
{
	struct board *b = vm->board;
	if (!b)
		return;
	pit_destroy(b->pit);
	if (vm->irqchip == &board_irqchip) {
		vm->irqchip = NULL;
		vm->irqchip_ctx = NULL;
	}
	ioapic_destroy(b->ioapic);
	pic_destroy(b->pic);
	free(b);
	vm->board = NULL;
}
