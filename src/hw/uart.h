/* 16550A UART.  The host side is a struct chardev (host/chardev.h). */
#ifndef SYMBIONT_HW_UART_H
#define SYMBIONT_HW_UART_H

#include <stdint.h>

struct vm;
struct uart;
struct chardev;
struct device_ops;

extern const struct device_ops uart_device_ops;

struct uart *uart_create(struct vm *vm, uint16_t port, unsigned irq, struct chardev *chr);
void uart_destroy(struct uart *u);

#endif
