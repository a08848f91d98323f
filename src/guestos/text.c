/* Guest strings become host strings here, once: whatever the guest put in a
 * comm, a command line or a file name, what leaves the library is
 * NUL-terminated, bounded and printable, safe for a terminal or a JSON
 * encoder. */
#include "guestos/guestos_int.h"

bool gos_text(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < len && src[i]; i++) {
		if (i + 1 >= dstlen) {
			dst[i] = 0;
			return true;
		}
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	}
	dst[i] = 0;
	return false;
}
