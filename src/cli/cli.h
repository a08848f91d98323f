/* Subcommands of the symbiont binary.  Each returns the process exit
 * status: 0 success, 2 usage error, other non-zero failure. */
#ifndef SYMBIONT_CLI_H
#define SYMBIONT_CLI_H

#include <stdint.h>

#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);
void usage_run(void);
/* "512M", "2G", "1048576K", "4096" (MiB when no suffix).  0 on success. */
int parse_size(const char *s, uint64_t *out);

#endif
