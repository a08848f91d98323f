/* symbiont: a virtual machine monitor that sees inside its guests. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "symbiont/version.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: symbiont <command> [options]\n"
	           "\n"
	           "commands:\n"
	           "  run      boot a virtual machine (symbiont run --help)\n"
	           "  ctl      ask a running VM or give it orders (symbiont ctl --help)\n"
	           "  ls       list the running VMs that have a name\n"
	           "\n"
	           "  --help     this text\n"
	           "  --version  print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		usage_run();
		usage_ctl();
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("symbiont %s\n", SYMBIONT_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls"))
		return cmd_ls(argc - 1, argv + 1);
	fprintf(stderr, "symbiont: unknown command '%s' (try symbiont --help)\n", argv[1]);
	return EXIT_USAGE;
}
