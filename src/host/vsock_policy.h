/* The MAC policy between the VMs of a vsock group (sHype's type
 * enforcement and Chinese wall, in miniature).  A policy file holds lines
 *   allow FROM TO            a VM labelled FROM may connect to one labelled TO
 *   conflict L1 L2 [L3...]   no two of these labels may run at the same time
 *   # comment                (also after the words of a line)
 * Labels are 1 to 63 of A-Z a-z 0-9 . _ - ; blank lines are ignored.  The
 * parser is pure: no files, no allocation beyond the returned policy. */
#ifndef SYMBIONT_HOST_VSOCK_POLICY_H
#define SYMBIONT_HOST_VSOCK_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#define VSOCK_LABEL_MAX     63
#define VSOCK_POLICY_RULES  4096 /* allow lines plus conflict sets */
#define VSOCK_POLICY_LINE   1024 /* bytes in one line, newline excluded */
#define VSOCK_CONFLICT_SETS 256
#define VSOCK_CONFLICT_MAX  64 /* labels in one conflict line */

struct vsock_policy;

bool vsock_label_valid(const char *label);
/* The policy in text[0..len) (need not end in a NUL); NULL with
 * "line N: reason" in err. */
struct vsock_policy *vsock_policy_parse(const char *text, size_t len, char *err, size_t errlen);
/* As above from a file: NULL with "PATH:N: reason" or "PATH: reason". */
struct vsock_policy *vsock_policy_load(const char *path, char *err, size_t errlen);
void vsock_policy_free(struct vsock_policy *p);

/* May a VM labelled from connect to one labelled to?  No policy: yes.  An
 * empty label (an unlabelled VM) matches no rule. */
bool vsock_policy_allows(const struct vsock_policy *p, const char *from, const char *to);
/* Do labels a and b (different) appear together on a conflict line? */
bool vsock_policy_conflict(const struct vsock_policy *p, const char *a, const char *b);
/* Rule counts, for messages and tests. */
unsigned vsock_policy_allow_count(const struct vsock_policy *p);
unsigned vsock_policy_conflict_count(const struct vsock_policy *p);

#endif
