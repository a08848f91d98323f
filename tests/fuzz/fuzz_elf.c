/* libFuzzer target: boot_load_image() on arbitrary ELF64 vmlinux files.
 * Whatever the input, the loader must return 0 or -1 with a message, and
 * never touch memory outside the guest's RAM. */
#include "fuzz_loader.h"
