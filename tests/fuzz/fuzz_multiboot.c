/* libFuzzer target: boot_load_image() on arbitrary multiboot kernels (header, a.out kludge, ELF32).
 * Whatever the input, the loader must return 0 or -1 with a message, and
 * never touch memory outside the guest's RAM. */
#include "fuzz_loader.h"
