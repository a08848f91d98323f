/* isa-debug-exit compatible port: a write of v ends the VM with exit status
 * (v << 1) | 1, so test guests can report pass/fail. */
#ifndef SYMBIONT_HW_DEBUGEXIT_H
#define SYMBIONT_HW_DEBUGEXIT_H

#include <stdint.h>

struct vm;
struct debugexit;
struct device_ops;

extern const struct device_ops debugexit_device_ops;

struct debugexit *debugexit_create(struct vm *vm, uint16_t port);
void debugexit_destroy(struct debugexit *d);

#endif
