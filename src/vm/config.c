/* vm_config_check: the configuration's own mistakes, found before any
 * device, thread or mapping exists, so that a front end can report them as
 * usage errors and a bad value never half-builds a VM. */
#include <stdio.h>

#include "hw/virtio/devices.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

static int check(const struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t host = host_ram_size();

	if (cfg->mem_size < MEM_MIN_SIZE || cfg->mem_size > MEM_MAX_SIZE || (cfg->mem_size & 0xfff)) {
		snprintf(err, errlen, "--mem: %llu KiB is not a multiple of 4K between 16M and 1T",
		         (unsigned long long)(cfg->mem_size >> 10));
		return -1;
	}
	if (host && cfg->mem_size > host) {
		snprintf(err, errlen, "--mem: %llu MiB is more than this host's %llu MiB of physical memory",
		         (unsigned long long)(cfg->mem_size >> 20), (unsigned long long)(host >> 20));
		return -1;
	}
	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "--cpus %d: must be 1..%d", cfg->ncpus, VM_MAX_CPUS);
		return -1;
	}
	return virtio_devices_check(cfg, err, errlen);
}

int vm_config_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (check(cfg, err, errlen) == 0)
		return 0;
	/* Messages quote the user's value: keep them on one line whatever it holds. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}
