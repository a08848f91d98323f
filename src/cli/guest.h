/* The default guest of `symbiont run` without --kernel: build/guest/ beside
 * the binary, with the console on COM1.  A command-line convenience, so it
 * lives here and not in the machine builder, which boots what it is told. */
#ifndef SYMBIONT_CLI_GUEST_H
#define SYMBIONT_CLI_GUEST_H

#include <limits.h>
#include <stddef.h>

#include "symbiont/vm.h"

struct cli_guest {
	char kernel[PATH_MAX + 16];
	char initrd[PATH_MAX + 32];
	char *cmdline; /* allocated */
};

/* With cfg->kernel unset: points cfg->kernel, cfg->initrd (unless given)
 * and cfg->append at g's default guest.  0, or -1 with a reason in err.
 * cli_guest_free(g) after the VM is gone. */
int cli_default_guest(struct vm_config *cfg, struct cli_guest *g, char *err, size_t errlen);
void cli_guest_free(struct cli_guest *g);
/* The path of NAME in the default guest's directory: 0, or -1 when there
 * is no default guest or no such file there. */
int cli_default_guest_file(const char *name, char *out, size_t len);

#endif
