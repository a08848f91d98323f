/* The debug registers: DR0-DR3 matched against instruction fetches and
 * data accesses as DR7 enables them, DR6's B0-B3 set on a hit, RF
 * suppressing an instruction breakpoint for one instruction.
 *
 * Cost-free while DR7 enables nothing: emu_dr_update() (MOV DR7, a state
 * load) keeps two masks, and the executor and MMU test them only on paths
 * that are already slow.  With instruction breakpoints enabled every block
 * is one instruction and its linear address is compared before it runs
 * (a fault: RIP stays, DR6.Bn, #DB); with data breakpoints enabled the TLB
 * entries of their pages send every access to the slow path, which
 * compares the access's linear bytes (emu_dr_data) and the executor
 * raises the #DB trap after the instruction.  I/O breakpoints (R/W 10,
 * with CR4.DE) are compared by IN, OUT, INS and OUTS (emu_dr_io) and trap
 * the same way.  General detect (DR7.GD) is checked by MOV DR (system.c);
 * single-step and the MOV SS hold-back are the executor's (exec.c). */
#include "cpu/emu/emu.h"

#define DR7_RW(dr7, i)  (((dr7) >> (16 + 4 * (i))) & 3)
#define DR7_LEN(dr7, i) (((dr7) >> (18 + 4 * (i))) & 3)
enum { RW_EXEC = 0, RW_WRITE = 1, RW_IO = 2, RW_ACCESS = 3 };

static unsigned len_of(uint64_t dr7, int i)
{
	static const unsigned len[4] = { 1, 2, 8, 4 }; /* LEN 00, 01, 10 (64-bit), 11 */
	return len[DR7_LEN(dr7, i)];
}

void emu_dr_update(struct emu_cpu *cpu)
{
	uint64_t dr7 = cpu->dr[7];
	uint8_t exec = 0, data = 0, io = 0;
	for (int i = 0; i < 4; i++) {
		if (!((dr7 >> (2 * i)) & 3)) /* neither L nor G */
			continue;
		if (DR7_RW(dr7, i) == RW_EXEC)
			exec |= (uint8_t)(1u << i);
		else if (DR7_RW(dr7, i) != RW_IO)
			data |= (uint8_t)(1u << i);
		else
			io |= (uint8_t)(1u << i);
	}
	if (data != cpu->dr_data)
		emu_tlb_flush(cpu, true); /* their pages' entries are refilled with the slow-path flag */
	cpu->dr_exec = exec;
	cpu->dr_data = data;
	cpu->dr_io = io;
	cpu->dbg_slow = (uint8_t)((exec | data | io) ? 1 : 0) | (cpu->rflags & RFLAGS_RF ? 2 : 0);
}

void emu_dr_io(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
	uint64_t dr7 = cpu->dr[7];
	if (!(cpu->cr4 & (1ULL << 3))) /* CR4.DE: without it R/W 10 is undefined, and matches nothing here */
		return;
	for (int i = 0; i < 4; i++) {
		if (!(cpu->dr_io >> i & 1))
			continue;
		unsigned len = len_of(dr7, i);
		uint64_t start = (cpu->dr[i] & 0xffff) & ~(uint64_t)(len - 1);
		if (port < start + len && port + size > start)
			cpu->dr_hit |= (uint8_t)(1u << i);
	}
}

bool emu_dr_page(const struct emu_cpu *cpu, uint64_t la_page)
{
	for (int i = 0; i < 4; i++)
		if ((cpu->dr_data >> i & 1) && (cpu->dr[i] & ~0xfffULL) == la_page)
			return true;
	return false;
}

unsigned emu_dr_exec_match(const struct emu_cpu *cpu, uint64_t la)
{
	unsigned hit = 0;
	for (int i = 0; i < 4; i++)
		if ((cpu->dr_exec >> i & 1) && cpu->dr[i] == la)
			hit |= 1u << i;
	return hit;
}

void emu_dr_data(struct emu_cpu *cpu, uint64_t la, unsigned size, bool write)
{
	uint64_t dr7 = cpu->dr[7];
	for (int i = 0; i < 4; i++) {
		if (!(cpu->dr_data >> i & 1) || (!write && DR7_RW(dr7, i) != RW_ACCESS))
			continue;
		unsigned len = len_of(dr7, i);
		uint64_t start = cpu->dr[i] & ~(uint64_t)(len - 1); /* the low bits are ignored */
		if (la < start + len && la + size > start)
			cpu->dr_hit |= (uint8_t)(1u << i);
	}
}

void emu_dr_trap(struct emu_cpu *cpu, unsigned dr6)
{
	if (dr6 & 0xf)
		cpu->dr[6] &= ~0xfULL;
	cpu->dr[6] |= dr6;
	emu_raise(cpu, EXC_DB);
}
