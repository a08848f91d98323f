/* libFuzzer target: prof's ELF symbol reader (src/services/prof/elfsyms.c)
 * on any bytes: a parse that succeeds must answer lookups anywhere without
 * reading outside what it copied. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/elfsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160];
	uint8_t *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees any overrun */
	struct elfsyms *s;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	s = elfsyms_parse(copy, size, err, sizeof(err));
	free(copy);
	if (s) {
		static const uint64_t probes[] = { 0, 1, 0x401000, 0x401234, UINT64_MAX };
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			(void)elfsyms_at(s, probes[i]);
		elfsyms_free(s);
	} else if (!err[0]) {
		abort(); /* a refusal says why */
	}
	return 0;
}
