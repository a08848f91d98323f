/* The per-user directory (symbiont/userdir.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbiont/userdir.h"

static int private_dir(const char *path, bool create, char *err, size_t errlen)
{
	struct stat st;

	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		snprintf(err, errlen, "%s: not a private directory of this user (mode 0700 expected)", path);
		errno = EPERM;
		return -1;
	}
	return 0;
}

int symbiont_user_dir(const char *sub, bool create, char *out, size_t len, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(out, len, "%s/symbiont", xdg);
	else
		snprintf(out, len, "/tmp/symbiont-%u", (unsigned)getuid());
	if (private_dir(out, create, err, errlen) < 0)
		return -1;
	if (sub) {
		size_t n = strlen(out);
		if ((size_t)snprintf(out + n, len - n, "/%s", sub) >= len - n) {
			snprintf(err, errlen, "per-user directory path too long");
			return -1;
		}
		if (private_dir(out, create, err, errlen) < 0)
			return -1;
	}
	return 0;
}
