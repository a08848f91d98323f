/* libFuzzer target: machine_config_check() on arbitrary --disk, --net and
 * --vsock values, and vsched_parse() on a --sched value (the bytes split at
 * NULs into up to four specs).  Each must return 0 or -1 with a one-line
 * message, and open, bind or create nothing whatever the input; a --sched
 * it accepts is one SCHED_DEADLINE can take (slice and io= within the
 * period). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/builder.h"
#include "symbiont/vm.h"
#include "symbiont/vsched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 4), *spec[4];
	struct vsched_spec s;
	struct vm_config cfg = { .engine = "emu", .mem_size = 64ULL << 20, .ncpus = 1, .serial = "stdio" };
	char err[256] = "";
	size_t at = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memset(buf + size, 0, 4);
	for (int i = 0; i < 4; i++) {
		spec[i] = buf + at;
		at += strlen(buf + at) + 1;
		if (at > size + 3)
			at = size + 3;
	}
	cfg.disks[0] = spec[0], cfg.ndisks = 1;
	cfg.nets[0] = spec[1], cfg.nnets = 1;
	cfg.vsock = spec[2];
	if (machine_config_check(&cfg, err, sizeof(err)) < 0 && (!err[0] || strchr(err, '\n')))
		abort(); /* a refusal always says why, on one line */
	err[0] = 0;
	if (vsched_parse(spec[3], &s, err, sizeof(err)) < 0) {
		if (!strstr(err, "--sched") || strchr(err, '\n'))
			abort();
	} else if (!s.period_ns || s.slice_ns < 10000 || s.slice_ns > s.period_ns || s.io_ns > s.period_ns ||
	           (s.io_ns && s.io_ns < 10000)) {
		abort();
	}
	free(buf);
	return 0;
}
