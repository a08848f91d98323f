/* The vsock group MAC policy parser (host/vsock_policy.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/vsock_policy.h"

#define POLICY_FILE_MAX (1u << 20)

struct allow {
	char from[VSOCK_LABEL_MAX + 1], to[VSOCK_LABEL_MAX + 1];
};

struct conflict {
	unsigned n;
	char (*labels)[VSOCK_LABEL_MAX + 1];
};

struct vsock_policy {
	struct allow *allow;
	unsigned nallow, allow_cap;
	struct conflict *conflict;
	unsigned nconflict, conflict_cap;
};

/* arr with room for element n (doubling, so a long file costs no
 * quadratic copying); NULL when out of memory (arr is left as it was). */
static void *grow(void *arr, unsigned n, unsigned *cap, size_t size)
{
	void *p;
	unsigned ncap;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	if (!(p = realloc(arr, ncap * size)))
		return NULL;
	*cap = ncap;
	return p;
}

bool vsock_label_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= VSOCK_LABEL_MAX;
}

void vsock_policy_free(struct vsock_policy *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nconflict; i++)
		free(p->conflict[i].labels);
	free(p->conflict);
	free(p->allow);
	free(p);
}

/* Splits line (NUL-terminated, modified) into words up to a '#'. */
static unsigned split(char *line, char **w, unsigned max, bool *too_many)
{
	unsigned n = 0;
	char *p = line;

	*too_many = false;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == max) {
			*too_many = true;
			return n;
		}
		w[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
			p++;
		if (*p == '#') {
			*p = 0;
			return n;
		}
		if (*p)
			*p++ = 0;
	}
}

static int check_labels(char **w, unsigned n, unsigned line, char *err, size_t errlen)
{
	for (unsigned i = 0; i < n; i++) {
		if (!vsock_label_valid(w[i])) {
			snprintf(err, errlen, "line %u: '%.64s' is not a label (1 to %d of A-Z a-z 0-9 . _ -)", line,
			         w[i], VSOCK_LABEL_MAX);
			return -1;
		}
	}
	return 0;
}

static int parse_line(struct vsock_policy *p, char *text, unsigned line, char *err, size_t errlen)
{
	char *w[VSOCK_CONFLICT_MAX + 2];
	bool too_many;
	unsigned n = split(text, w, VSOCK_CONFLICT_MAX + 2, &too_many);

	if (!n)
		return 0;
	if (p->nallow + p->nconflict >= VSOCK_POLICY_RULES) {
		snprintf(err, errlen, "line %u: more than %d rules", line, VSOCK_POLICY_RULES);
		return -1;
	}
	if (!strcmp(w[0], "allow")) {
		struct allow *a;

		if (n != 3 || too_many) {
			snprintf(err, errlen, "line %u: expected 'allow FROM TO'", line);
			return -1;
		}
		if (check_labels(w + 1, 2, line, err, errlen) < 0)
			return -1;
		if (!(a = grow(p->allow, p->nallow, &p->allow_cap, sizeof(*a)))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		p->allow = a;
		strcpy(a[p->nallow].from, w[1]);
		strcpy(a[p->nallow].to, w[2]);
		p->nallow++;
		return 0;
	}
	if (!strcmp(w[0], "conflict")) {
		struct conflict *c;

		if (too_many) {
			snprintf(err, errlen, "line %u: more than %d labels in one conflict", line, VSOCK_CONFLICT_MAX);
			return -1;
		}
		if (n < 3) {
			snprintf(err, errlen, "line %u: expected 'conflict LABEL LABEL...' (two labels at least)",
			         line);
			return -1;
		}
		if (check_labels(w + 1, n - 1, line, err, errlen) < 0)
			return -1;
		for (unsigned i = 1; i < n; i++)
			for (unsigned k = 1; k < i; k++)
				if (!strcmp(w[i], w[k])) {
					snprintf(err, errlen, "line %u: label '%s' twice in one conflict", line, w[i]);
					return -1;
				}
		if (p->nconflict == VSOCK_CONFLICT_SETS) {
			snprintf(err, errlen, "line %u: more than %d conflict lines", line, VSOCK_CONFLICT_SETS);
			return -1;
		}
		if (!(c = grow(p->conflict, p->nconflict, &p->conflict_cap, sizeof(*c)))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		p->conflict = c;
		c = &c[p->nconflict];
		c->n = n - 1;
		if (!(c->labels = calloc(n - 1, sizeof(*c->labels)))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (unsigned i = 1; i < n; i++)
			strcpy(c->labels[i - 1], w[i]);
		p->nconflict++;
		return 0;
	}
	snprintf(err, errlen, "line %u: unknown rule '%.32s' (allow, conflict or # comment)", line, w[0]);
	return -1;
}

struct vsock_policy *vsock_policy_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct vsock_policy *p = calloc(1, sizeof(*p));
	char buf[VSOCK_POLICY_LINE + 1];
	unsigned line = 0;
	size_t at = 0;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

		line++;
		if (n > VSOCK_POLICY_LINE) {
			snprintf(err, errlen, "line %u: longer than %d bytes", line, VSOCK_POLICY_LINE);
			goto fail;
		}
		if (memchr(text + at, 0, n)) {
			snprintf(err, errlen, "line %u: a NUL byte", line);
			goto fail;
		}
		memcpy(buf, text + at, n);
		buf[n] = 0;
		if (parse_line(p, buf, line, err, errlen) < 0)
			goto fail;
		at += n + 1;
	}
	return p;
fail:
	vsock_policy_free(p);
	return NULL;
}

struct vsock_policy *vsock_policy_load(const char *path, char *err, size_t errlen)
{
	struct vsock_policy *p = NULL;
	char why[256];
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > POLICY_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, POLICY_FILE_MAX);
		goto out;
	}
	if (!(text = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (!(p = vsock_policy_parse(text, len, why, sizeof(why)))) {
		if (strncmp(why, "line ", 5))
			snprintf(err, errlen, "%s: %s", path, why);
		else
			snprintf(err, errlen, "%s:%s", path, why + 5);
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return p;
}

bool vsock_policy_allows(const struct vsock_policy *p, const char *from, const char *to)
{
	if (!p)
		return true;
	for (unsigned i = 0; i < p->nallow; i++)
		if (!strcmp(p->allow[i].from, from) && !strcmp(p->allow[i].to, to))
			return true;
	return false;
}

static bool in_set(const struct conflict *c, const char *l)
{
	for (unsigned i = 0; i < c->n; i++)
		if (!strcmp(c->labels[i], l))
			return true;
	return false;
}

bool vsock_policy_conflict(const struct vsock_policy *p, const char *a, const char *b)
{
	if (!p || !strcmp(a, b))
		return false;
	for (unsigned i = 0; i < p->nconflict; i++)
		if (in_set(&p->conflict[i], a) && in_set(&p->conflict[i], b))
			return true;
	return false;
}

unsigned vsock_policy_allow_count(const struct vsock_policy *p)
{
	return p ? p->nallow : 0;
}

unsigned vsock_policy_conflict_count(const struct vsock_policy *p)
{
	return p ? p->nconflict : 0;
}
