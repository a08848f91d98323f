/* Host-side character backends for serial ports.
 *
 *   "stdio"      output to stdout; input from stdin (raw mode when it is a
 *                terminal, with Ctrl-A x to quit and Ctrl-A a for a literal
 *                Ctrl-A; untouched bytes when it is not)
 *   "file:PATH"  output to PATH (created/truncated), no input
 *   "null"       output discarded, no input
 *
 * Input is buffered without bound but with backpressure: once a lot is
 * waiting, the backend stops reading its fd until the device drains it, so
 * piped input reaches the guest in full and in order however early it
 * arrives.  End of input just stops reading.  All calls run under
 * vm->io_lock (device accesses and fd callbacks already do). */
#ifndef SYMBIONT_HOST_CHARDEV_H
#define SYMBIONT_HOST_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct chardev;

/* NULL with a one-line reason in err for a bad spec or an unopenable file. */
struct chardev *chardev_create(struct vm *vm, const char *spec, char *err, size_t errlen);
/* An in-memory backend: output is kept (chardev_output), input comes only
 * from chardev_push_input.  For tests and embedding. */
struct chardev *chardev_create_buffer(struct vm *vm);
void chardev_destroy(struct chardev *c);

/* Device side. */
void chardev_write(struct chardev *c, const void *buf, size_t len);
size_t chardev_read(struct chardev *c, void *buf, size_t max);
size_t chardev_pending(const struct chardev *c);
/* Puts bytes back at the front of the input (a device discarding input it
 * had pulled but the guest never read, e.g. a FIFO reset). */
void chardev_unread(struct chardev *c, const void *buf, size_t len);
/* ready() is called when new input arrives, so the device can pull it. */
void chardev_set_input_handler(struct chardev *c, void (*ready)(void *ctx), void *ctx);

/* Host side: queue input bytes (backends, tests). */
void chardev_push_input(struct chardev *c, const void *buf, size_t len);
/* Everything written so far, for the buffer backend (NULL otherwise). */
const uint8_t *chardev_output(const struct chardev *c, size_t *len);

#endif
