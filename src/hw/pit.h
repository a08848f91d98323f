/* 8254 programmable interval timer (ports 0x40-0x43) and the PC's system
 * control port B (0x61: channel 2 gate, speaker, OUT2, refresh toggle). */
#ifndef SYMBIONT_HW_PIT_H
#define SYMBIONT_HW_PIT_H

#include <stdint.h>

#define PIT_FREQ          1193182ULL
#define PIT_MIN_PERIOD_NS 10000ULL /* periodic interrupts never faster */

struct vm;
struct pit;
struct device_ops;

extern const struct device_ops pit_device_ops;

/* Channel 0 drives irq (GSI 0 on the board). */
struct pit *pit_create(struct vm *vm, unsigned irq);
void pit_destroy(struct pit *pit);

#endif
