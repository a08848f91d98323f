/* MMX, SSE and SSE2 for the software engine, plus 0F 77 EMMS and the 0F AE
 * group (FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/fences/CLFLUSH). */
#include "cpu/emu/emu.h"

emu_exec_fn emu_sse_select(const struct emu_insn *in)
{
	(void)in;
	return NULL;
}
