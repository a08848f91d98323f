/* Near control transfers: Jcc, JMP, CALL, RET (imm16), LOOP/LOOPE/LOOPNE,
 * JCXZ/JECXZ/JRCXZ.  Targets are truncated to the operand size (16, 32 or
 * 64 bits) and checked by branch_to(). */
#include "cpu/emu/ops.h"

static inline uint64_t rel_target(const struct emu_cpu *cpu, const struct emu_insn *in)
{
	return (cpu->next_rip + in->imm) & sz_mask(in->opsize);
}

void op_jcc(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (emu_cond(cpu, in->opcode & 15))
		branch_to(cpu, rel_target(cpu, in));
}

void op_jmp_rel(struct emu_cpu *cpu, const struct emu_insn *in)
{
	branch_to(cpu, rel_target(cpu, in));
}

void op_call_rel(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ret = cpu->next_rip;
	branch_to(cpu, rel_target(cpu, in));
	push(cpu, ret, in->opsize);
}

void op_jmp_E(struct emu_cpu *cpu, const struct emu_insn *in)
{
	branch_to(cpu, rm_read(cpu, in, in->opsize));
}

void op_call_E(struct emu_cpu *cpu, const struct emu_insn *in)
{
	uint64_t ret = cpu->next_rip, target = rm_read(cpu, in, in->opsize);
	branch_to(cpu, target);
	push(cpu, ret, in->opsize);
}

/* C3 and C2 iw (imm is 0 for C3). */
void op_ret(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize;
	uint64_t target = stack_peek(cpu, 0, sz);
	branch_to(cpu, target);
	stack_adjust(cpu, (int64_t)(sz + in->imm));
}

/* LOOPcc: rCX at the address size is decremented; the branch is checked
 * first so a #GP leaves rCX as it was. */
static inline void loop_common(struct emu_cpu *cpu, const struct emu_insn *in, int cond)
{
	unsigned as = in->addrsize;
	uint64_t c = (reg_read_a(cpu, X86_RCX, as) - 1) & sz_mask(as);
	if (c && (cond < 0 || emu_cond(cpu, (unsigned)cond)))
		branch_to(cpu, rel_target(cpu, in));
	reg_write_a(cpu, X86_RCX, c, as);
}

void op_loop(struct emu_cpu *cpu, const struct emu_insn *in)
{
	loop_common(cpu, in, -1);
}
void op_loope(struct emu_cpu *cpu, const struct emu_insn *in)
{
	loop_common(cpu, in, 4);
}
void op_loopne(struct emu_cpu *cpu, const struct emu_insn *in)
{
	loop_common(cpu, in, 5);
}

void op_jcxz(struct emu_cpu *cpu, const struct emu_insn *in)
{
	if (!reg_read_a(cpu, X86_RCX, in->addrsize))
		branch_to(cpu, rel_target(cpu, in));
}
