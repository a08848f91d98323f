/* The new envp of an exec (envp.h).
 *
 * Below rsp and its red zone, from the top down: the injected strings,
 * then (16-byte aligned) the new pointer array: the old entries that are
 * not replaced, in order, the injected ones, NULL.  The old strings stay
 * where they are; only their pointers are copied. */
#include <string.h>

#include "services/gears/envp.h"

#define NAME_READ 130 /* enough of an old entry to compare names up to 127 bytes */

/* Does old entry text (cut, NUL-terminated) set the variable var names? */
static int same_name(const char *entry, const char *var)
{
	size_t n = (size_t)(strchr(var, '=') - var);
	return !strncmp(entry, var, n) && entry[n] == '=';
}

static int write_chunked(const struct gears_mem *m, uint64_t va, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	while (len) {
		size_t chunk = 4096 - (va & 0xfff);
		if (chunk > len)
			chunk = len;
		if (m->write(m->ctx, va, b, chunk))
			return -1;
		va += chunk, b += chunk, len -= chunk;
	}
	return 0;
}

int gears_env_rewrite(const struct gears_mem *m, uint64_t rsp, uint64_t envp, const char *const *vars, size_t nvars,
                      uint64_t *new_envp)
{
	static const uint64_t zero = 0;
	uint64_t old[256], top, strings_at, array_at, kept = 0, strings = 0;
	size_t nold = 0;

	if (!m->write || !nvars || nvars > GEARS_ENV_MAX_VARS || rsp < GEARS_RED_ZONE + GEARS_ENV_MAX_BYTES)
		return -1;
	for (size_t i = 0; i < nvars; i++)
		strings += strlen(vars[i]) + 1;
	/* Count what stays of the old environment (a first pass, as it may be
	 * longer than one buffer of pointers). */
	for (; envp && nold < GEARS_ENV_MAX_VARS; nold++) {
		uint64_t p;
		char entry[NAME_READ];
		bool replaced = false;
		if (m->read(m->ctx, envp + 8 * nold, &p, 8))
			return -1;
		if (!p)
			break;
		if (gears_read_string(m, p, entry, sizeof(entry)) < 0)
			return -1;
		for (size_t v = 0; v < nvars && !replaced; v++)
			replaced = same_name(entry, vars[v]);
		kept += !replaced;
	}
	if (nold == GEARS_ENV_MAX_VARS)
		return -1; /* an environment this large is left alone */
	top = (rsp - GEARS_RED_ZONE) & ~15ULL;
	strings_at = top - strings;
	array_at = (strings_at - (kept + nvars + 1) * 8) & ~15ULL;
	if (top - array_at > GEARS_ENV_MAX_BYTES)
		return -1;
	/* the injected strings */
	uint64_t at = strings_at;
	for (size_t i = 0; i < nvars; i++) {
		size_t n = strlen(vars[i]) + 1;
		if (write_chunked(m, at, vars[i], n))
			return -1;
		at += n;
	}
	/* the array: kept old pointers, in batches */
	uint64_t out = array_at;
	size_t nbuf = 0;
	for (size_t i = 0; i < nold; i++) {
		uint64_t p;
		char entry[NAME_READ];
		bool replaced = false;
		/* read again: the guest may have changed it meanwhile, and it must
		 * still be readable; a changed count is caught by the bound below */
		if (m->read(m->ctx, envp + 8 * i, &p, 8) || !p || gears_read_string(m, p, entry, sizeof(entry)) < 0)
			return -1;
		for (size_t v = 0; v < nvars && !replaced; v++)
			replaced = same_name(entry, vars[v]);
		if (replaced)
			continue;
		if (out + 8 * (nbuf + 1) > array_at + kept * 8)
			return -1;
		old[nbuf++] = p;
		if (nbuf == sizeof(old) / sizeof(old[0])) {
			if (write_chunked(m, out, old, nbuf * 8))
				return -1;
			out += nbuf * 8, nbuf = 0;
		}
	}
	if (nbuf && write_chunked(m, out, old, nbuf * 8))
		return -1;
	out += nbuf * 8;
	at = strings_at;
	for (size_t i = 0; i < nvars; i++) {
		if (write_chunked(m, out, &at, 8))
			return -1;
		out += 8, at += strlen(vars[i]) + 1;
	}
	if (write_chunked(m, out, &zero, 8))
		return -1;
	*new_envp = array_at;
	return 0;
}
