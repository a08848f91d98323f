/* memcpy and memset for payloads: compilers emit calls to them for struct
 * copies and zeroing even in freestanding code. */
#include "sys.h"

void *memcpy(void *d, const void *s, size_t n)
{
	char *dd = d;
	const char *ss = s;
	while (n--)
		*dd++ = *ss++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	char *dd = d;
	while (n--)
		*dd++ = (char)c;
	return d;
}
