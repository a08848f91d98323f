/* libFuzzer target: a group member's list of TCP forwards (CID.tcp,
 * host/vsock_forwards.h) as another member may have written it.  Every
 * pair taken must be two ports 1..65535, at most max of them, and parsing
 * must read nothing past the text (an exact-size copy: ASan sees it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/vsock_forwards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t fwd[VSOCK_FORWARDS_MAX][2];
	char *text = malloc(size ? size : 1);
	int max = size ? 1 + data[0] % VSOCK_FORWARDS_MAX : VSOCK_FORWARDS_MAX, n;

	if (!text)
		abort();
	memcpy(text, data, size);
	n = vsock_forwards_parse(text, size, fwd, max);
	if (n < 0 || n > max)
		abort();
	for (int i = 0; i < n; i++)
		if (!fwd[i][0] || !fwd[i][1])
			abort();
	free(text);
	return 0;
}
