/* libFuzzer target: the vsock group MAC policy parser
 * (host/vsock_policy.h) on arbitrary text.  It must accept or refuse with
 * a one-line "line N: ..." message, and an accepted policy must answer its
 * queries for the labels the text holds without reading out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/vsock_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	struct vsock_policy *p = vsock_policy_parse((const char *)data, size, err, sizeof(err));

	if (!p) {
		if (strncmp(err, "line ", 5) || strchr(err, '\n'))
			abort(); /* a refusal names its line, on one line */
		return 0;
	}
	/* Query with words taken from the input itself. */
	char a[VSOCK_LABEL_MAX + 1] = "", b[VSOCK_LABEL_MAX + 1] = "";
	size_t n = size < VSOCK_LABEL_MAX ? size : VSOCK_LABEL_MAX;
	memcpy(a, data, n);
	a[n] = 0;
	if (size > n) {
		size_t m = size - n < VSOCK_LABEL_MAX ? size - n : VSOCK_LABEL_MAX;
		memcpy(b, data + n, m);
		b[m] = 0;
	}
	(void)vsock_policy_allows(p, a, b);
	(void)vsock_policy_conflict(p, a, b);
	if (vsock_policy_allow_count(p) + vsock_policy_conflict_count(p) > VSOCK_POLICY_RULES)
		abort();
	vsock_policy_free(p);
	return 0;
}
