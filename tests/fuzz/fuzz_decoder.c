/* libFuzzer target: the emu decoder on arbitrary bytes.
 *
 * The first input byte picks the code mode; the rest is the instruction,
 * copied into a buffer of exactly its size so AddressSanitizer catches a read
 * past it.  The decoder must never crash, never read beyond 15 bytes or the
 * buffer, always give a handler, and report a length within both. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_insn in;
	enum emu_code_mode mode;
	unsigned n;
	uint8_t *buf;
	int len;

	if (size < 1)
		return 0;
	mode = (enum emu_code_mode)(data[0] % 3);
	n = size - 1 > 15 ? 15 : (unsigned)(size - 1);
	buf = malloc(n ? n : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, n);
	len = emu_decode_bytes(buf, n, mode, &in);
	if (len < 0 || len > 15 || (unsigned)len > n)
		abort();
	if (len > 0) {
		if (!in.exec || in.len != len)
			abort();
		if (in.opsize != 1 && in.opsize != 2 && in.opsize != 4 && in.opsize != 8)
			abort();
		if (in.addrsize != 2 && in.addrsize != 4 && in.addrsize != 8)
			abort();
		/* Register fields must index the register file. */
		if (in.reg > 15 || in.rm > 15 || (in.base > 15 && in.base != EMU_NOREG && in.base != EMU_RIPREL) ||
		    (in.index > 15 && in.index != EMU_NOREG) || in.seg >= SEG_COUNT)
			abort();
	} else if (n >= 15) {
		abort(); /* 15 bytes always decide */
	}
	free(buf);
	return 0;
}
