/* Where `symbiont run` finds its default guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/guest.h"

#define DEFAULT_CMDLINE "console=ttyS0 quiet"

/* The default guest lives beside the binary: build/symbiont boots
 * build/guest/.  Other build directories (build-asan/) share build/guest. */
static int find_default_guest(char *dir, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *tries[] = { "%s/guest", "%s/../build/guest" };
	char *slash;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		char path[PATH_MAX + 32];
		snprintf(dir, len, tries[i], exe);
		snprintf(path, sizeof(path), "%s/vmlinuz", dir);
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

int cli_default_guest_file(const char *name, char *out, size_t len)
{
	char dir[PATH_MAX];

	if (find_default_guest(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(out, len, "%s/%s", dir, name);
	return access(out, R_OK) == 0 ? 0 : -1;
}

int cli_default_guest(struct vm_config *cfg, struct cli_guest *g, char *err, size_t errlen)
{
	char dir[PATH_MAX];

	memset(g, 0, sizeof(*g));
	if (cfg->kernel)
		return 0;
	if (find_default_guest(dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "no default guest found (run 'make guest', or pass --kernel)");
		return -1;
	}
	snprintf(g->kernel, sizeof(g->kernel), "%s/vmlinuz", dir);
	cfg->kernel = g->kernel;
	if (!cfg->initrd) {
		snprintf(g->initrd, sizeof(g->initrd), "%s/initramfs.cpio.gz", dir);
		cfg->initrd = g->initrd;
	}
	if (asprintf(&g->cmdline, "%s%s%s", DEFAULT_CMDLINE, cfg->append ? " " : "", cfg->append ? cfg->append : "") <
	    0) {
		g->cmdline = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->append = g->cmdline;
	return 0;
}

void cli_guest_free(struct cli_guest *g)
{
	free(g->cmdline);
	g->cmdline = NULL;
}
