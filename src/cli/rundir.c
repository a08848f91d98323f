/* Where named VMs keep their control sockets: one private directory per
 * user ($XDG_RUNTIME_DIR/symbiont, else /tmp/symbiont-UID), mode 0700 and
 * owned by the user, so that `symbiont ctl NAME` and `symbiont ls` find
 * them and nobody else can reach them or plant a socket there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

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
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(out, len, "%s/symbiont", xdg);
	else
		snprintf(out, len, "/tmp/symbiont-%u", (unsigned)getuid());
	if (create && mkdir(out, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", out, strerror(errno));
		return -1;
	}
	if (lstat(out, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", out, strerror(e));
		errno = e; /* ENOENT: no named VM has run yet */
		return -1;
	}
	/* Someone else's directory, a symlink or a shared one: refuse it. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: not a private directory of this user (mode 0700 expected)", out);
		errno = EPERM;
		return -1;
	}
	return 0;
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
