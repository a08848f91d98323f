/* Where named VMs keep their control sockets: the per-user directory
 * (symbiont/userdir.h), so that `symbiont ctl NAME` and `symbiont ls` find
 * them and nobody else can reach them or plant a socket there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "symbiont/userdir.h"

bool vm_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '-' &&
		    *p != '_' && *p != '.')
			return false;
	return true;
}

int vm_socket_dir(char *out, size_t len, bool create, char *err, size_t errlen)
{
	return symbiont_user_dir(NULL, create, out, len, err, errlen);
}

int vm_socket_path(const char *name, bool create, char *out, size_t len, char *err, size_t errlen)
{
	char dir[256];

	if (!vm_name_valid(name)) {
		snprintf(err, errlen, "'%s' is not a VM name (1 to %d of A-Z a-z 0-9 . _ -, not starting with . or -)",
		         name, VM_NAME_MAX);
		return -1;
	}
	if (vm_socket_dir(dir, sizeof(dir), create, err, errlen) < 0)
		return -1;
	if ((size_t)snprintf(out, len, "%s/%s.sock", dir, name) >= len) {
		snprintf(err, errlen, "socket path for '%s' is too long", name);
		return -1;
	}
	return 0;
}
