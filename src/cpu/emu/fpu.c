/* x87 FPU for the software engine: opcodes D8..DF and 9B (FWAIT). */
#include "cpu/emu/emu.h"

emu_exec_fn emu_x87_select(const struct emu_insn *in)
{
	(void)in;
	return NULL;
}
