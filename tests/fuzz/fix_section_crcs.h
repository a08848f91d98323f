/* For the fuzz targets of symbiont's sectioned formats (the snapshot state
 * file, the migration stream): both are a 16-byte header, then sections of
 * u32 tag, u32 length, payload, u32 CRC-32 of tag, length and payload.
 * Making every CRC right after mutating lets mutations reach the checks
 * behind the checksums.  Stops at the first length that runs past the end. */
#ifndef SYMBIONT_FUZZ_FIX_SECTION_CRCS_H
#define SYMBIONT_FUZZ_FIX_SECTION_CRCS_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

static inline void fix_section_crcs(uint8_t *p, size_t len)
{
	size_t off = 16;
	while (off + 12 <= len) {
		uint32_t n = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 | (uint32_t)p[off + 6] << 16 |
		             (uint32_t)p[off + 7] << 24;
		if (n > len - off - 12)
			return;
		uint32_t crc = (uint32_t)crc32(0, p + off, (uInt)(n + 8));
		for (int i = 0; i < 4; i++)
			p[off + 8 + n + (size_t)i] = (uint8_t)(crc >> (8 * i));
		off += 12 + n;
	}
}

#endif
