/* Which calls a trace, a deny rule or an env injection applies to: the
 * matching itself, kept apart from the service so it can be tested alone. */
#ifndef SYMBIONT_GEARS_RULES_H
#define SYMBIONT_GEARS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/event.h"

#define GEARS_COMM_LEN 16 /* the kernel's TASK_COMM_LEN */

#define GEARS_CGROUP_LEN 512

/* Who a trace or rule is about: a process (its pid or any thread's id),
 * a command name, a cgroup (v2, with everything below it), any of them
 * together, or (pid -1, comm "", cgroup "") everyone. */
struct gears_who {
	int32_t pid;
	char comm[GEARS_COMM_LEN];
	char cgroup[GEARS_CGROUP_LEN];
};

/* Whether w names anyone in particular, so that a caller who cannot be
 * told is not selected. */
bool gears_who_filters(const struct gears_who *w);
/* cgroup: the caller's cgroup path, "" if unknown (never selected by a
 * cgroup filter). */
bool gears_who_matches(const struct gears_who *w, int32_t tid, int32_t tgid, const char *comm, const char *cgroup);
/* "openat,read,2" (names or numbers, comma-separated) into a bitmap of
 * SYM_SYSCALL_MAX bits; "all" (or "") leaves it clear, which means every
 * call.  -1 with one line in err on a name or number it does not know. */
int gears_parse_syscalls(const char *list, uint64_t bits[SYM_SYSCALL_MAX / 64], char *err, size_t errlen);
/* path is prefix or below it, component by component ("/secret" covers
 * "/secret" and "/secret/x", not "/secretx"), once repeated slashes and "."
 * components of path are dropped.  ".." is not resolved, nor relative paths
 * against a working directory: the rule sees the string the caller passed. */
bool gears_path_under(const char *path, const char *prefix);
/* An execve of path is selected by comm (the name the kernel gives the new
 * program: the last component of path, cut to 15 bytes) or by path (the
 * exact path passed); with both empty, every exec is. */
bool gears_exec_selected(const char *comm, const char *selpath, const char *path);
/* "NAME=VALUE" with a name of letters, digits and '_' not starting with a
 * digit, at most 127 bytes, the whole at most 4095. */
bool gears_env_assignment_valid(const char *s);

#endif
