/* libFuzzer target: machine_config_check() on arbitrary --disk, --net and
 * --vsock values (the bytes split at NULs into up to three specs).  The
 * check must return 0 or -1 with a one-line message, and open, bind or
 * create nothing whatever the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/builder.h"
#include "symbiont/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3), *spec[3];
	struct vm_config cfg = { .engine = "emu", .mem_size = 64ULL << 20, .ncpus = 1, .serial = "stdio" };
	char err[256] = "";
	size_t at = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memset(buf + size, 0, 3);
	for (int i = 0; i < 3; i++) {
		spec[i] = buf + at;
		at += strlen(buf + at) + 1;
		if (at > size + 2)
			at = size + 2;
	}
	cfg.disks[0] = spec[0], cfg.ndisks = 1;
	cfg.nets[0] = spec[1], cfg.nnets = 1;
	cfg.vsock = spec[2];
	if (machine_config_check(&cfg, err, sizeof(err)) < 0 && (!err[0] || strchr(err, '\n')))
		abort(); /* a refusal always says why, on one line */
	free(buf);
	return 0;
}
