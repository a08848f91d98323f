/* Matching of traces and rules (rules.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/names.h"
#include "services/gears/rules.h"

bool gears_who_filters(const struct gears_who *w)
{
	return w->pid >= 0 || w->comm[0] || w->cgroup[0];
}

bool gears_who_matches(const struct gears_who *w, int32_t tid, int32_t tgid, const char *comm, const char *cgroup)
{
	if (w->pid >= 0 && w->pid != tgid && w->pid != tid)
		return false;
	if (w->cgroup[0] && (!cgroup[0] || !gears_path_under(cgroup, w->cgroup)))
		return false;
	return !w->comm[0] || !strncmp(w->comm, comm, GEARS_COMM_LEN - 1);
}

int gears_parse_syscalls(const char *list, uint64_t bits[SYM_SYSCALL_MAX / 64], char *err, size_t errlen)
{
	const char *p = list;

	memset(bits, 0, SYM_SYSCALL_MAX / 8);
	if (!strcmp(list, "all") || !*list)
		return 0;
	while (*p) {
		char name[64];
		size_t n = strcspn(p, ",");
		long nr;
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, errlen, "syscall list '%.64s': empty or too long name", list);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = 0;
		if (isdigit((unsigned char)name[0])) {
			char *end;
			errno = 0;
			nr = strtol(name, &end, 10);
			if (*end || errno || nr < 0 || nr >= SYM_SYSCALL_MAX)
				nr = -1;
		} else {
			nr = gears_syscall_number(name);
		}
		if (nr < 0) {
			snprintf(err, errlen, "unknown syscall '%s'", name);
			return -1;
		}
		bits[nr / 64] |= 1ULL << (nr % 64);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The next component of path at *p (slashes and "." skipped): its start
 * and length, 0 at the end. */
static size_t next_component(const char **p, const char **start)
{
	size_t n;
	for (;;) {
		while (**p == '/')
			(*p)++;
		n = strcspn(*p, "/");
		*start = *p;
		*p += n;
		if (!(n == 1 && **start == '.'))
			return n;
	}
}

bool gears_path_under(const char *path, const char *prefix)
{
	const char *a = path, *b = prefix, *as, *bs;

	if ((*path == '/') != (*prefix == '/'))
		return false; /* absolute against relative never matches */
	for (;;) {
		size_t bn = next_component(&b, &bs);
		if (!bn)
			return true; /* every component of the prefix matched */
		size_t an = next_component(&a, &as);
		if (an != bn || memcmp(as, bs, an))
			return false;
	}
}

bool gears_exec_selected(const char *comm, const char *selpath, const char *path)
{
	if (selpath && *selpath && strcmp(selpath, path))
		return false;
	if (comm && *comm) {
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		if (strncmp(comm, base, GEARS_COMM_LEN - 1))
			return false;
	}
	return true;
}

bool gears_env_assignment_valid(const char *s)
{
	const char *eq = strchr(s, '=');
	if (!eq || eq == s || eq - s > 127 || strlen(s) > 4095 || isdigit((unsigned char)*s))
		return false;
	for (const char *c = s; c < eq; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return false;
	return true;
}
