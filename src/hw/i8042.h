/* i8042 keyboard controller (ports 0x60, 0x64) with a keyboard that answers
 * commands but never has keys, no mouse, and the PC's reset paths: command
 * 0xFE (pulse reset), output-port writes with bit 0 clear, and port 0x92
 * bit 0 (fast reset).  A reset ends the VM with status 0: symbiont does not
 * reboot guests (like QEMU's -no-reboot). */
#ifndef SYMBIONT_HW_I8042_H
#define SYMBIONT_HW_I8042_H

struct vm;
struct i8042;
struct device_ops;

extern const struct device_ops i8042_device_ops;

struct i8042 *i8042_create(struct vm *vm, unsigned kbd_irq, unsigned aux_irq);
void i8042_destroy(struct i8042 *k);

#endif
