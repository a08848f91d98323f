/* libFuzzer target: executing arbitrary instructions must never hurt the
 * host.
 *
 * The input is a register file (16 GPRs and RFLAGS, 136 bytes) followed by
 * code, placed in a small 64-bit (or, by the first byte, compat-mode)
 * guest with paging.  Up to 64 instructions are single-stepped with
 * emu_step(); a guest exception ends the run.  System instructions (which
 * need a whole VM with devices) end it before they execute; integer, x87 and
 * SSE instructions (with XSAVE/XRSTOR and the VEX-encoded BMI1/BMI2, AVX, AVX2, FMA
 * and F16C: XCR0 enables AVX unless the first byte's bit 2 is set) all run.  Any host crash, sanitizer report or trap
 * (a host division overflow, say) is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_cpu.h"

__attribute__((weak)) void emu_check_interrupts(struct emu_cpu *cpu)
{
	(void)cpu;
}

static struct guest_mem gmem;
static struct emu_cpu *cpu;

static void init(void)
{
	gmem.host = aligned_alloc(4096, FUZZ_MEM);
	gmem.size = gmem.low_size = FUZZ_MEM;
	cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cpu)
		init();
	/* x87, SSE (and AVX, unless the choices' bit 2): XSAVE/XRSTOR run on
	 * guest-chosen images */
	if (!fuzz_cpu_setup(cpu, &gmem, data, size, size > 136 && (data[136] & 4) ? 3 : 7))
		return 0;

	for (int n = 0; n < 64; n++) {
		struct emu_insn in;
		uint64_t off = cpu->rip - FUZZ_CODE;
		if (off >= 0x1000 - 15)
			break;
		emu_decode_bytes(gmem.host + FUZZ_CODE + off, 15, cpu->code_mode, &in);
		if (in.ends_block == 2 && in.exec != op_ud)
			break; /* a system instruction: needs the whole VM */
		if (emu_step(cpu) >= 0)
			break;
	}
	return 0;
}
