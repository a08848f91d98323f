/* The execution loop: find the decoded block for RIP, run its handlers,
 * check for interrupts between blocks.  Faults longjmp back here and are
 * delivered through the IDT before the loop continues. */
#include <stdio.h>
#include <string.h>

#include "cpu/emu/block.h"

static inline uint64_t rip_mask(enum emu_code_mode mode)
{
	return mode == EMU_MODE64 ? ~0ULL : mode == EMU_MODE32 ? 0xffffffffULL : 0xffffULL;
}

static inline uint64_t code_linear(const struct emu_cpu *cpu)
{
	if (cpu->code_mode == EMU_MODE64)
		return cpu->rip;
	return (cpu->seg[SEG_CS].base + cpu->rip) & 0xffffffffULL;
}

static void run_block(struct emu_cpu *cpu, struct emu_block *b)
{
	struct emu_block_cache *bc = cpu->blocks;
	const struct emu_insn *in = &bc->insns[b->first], *end = in + b->n;
	uint64_t mask = rip_mask((enum emu_code_mode)b->mode);
	bool shadow = cpu->interrupt_shadow;

	bc->cur = (uint32_t)(b - bc->blk);
	cpu->exit_block = false;
	if (unlikely(shadow))
		end = in + 1; /* one instruction, then look at interrupts again */
	for (; in < end; in++) {
		cpu->next_rip = (cpu->rip + in->len) & mask;
		in->exec(cpu, in);
		cpu->rip = cpu->next_rip;
		cpu->insn_count++;
		if (unlikely(cpu->exit_block))
			break;
	}
	if (unlikely(shadow))
		cpu->interrupt_shadow = false;
	bc->cur = 0;
}

void emu_exec(struct emu_cpu *cpu)
{
	if (!cpu->blocks && emu_blocks_init(cpu)) {
		fprintf(stderr, "emu: out of memory for the block cache\n");
		if (cpu->vm)
			vm_request_exit(cpu->vm, 1);
		return;
	}
	if (setjmp(cpu->exc_jmp)) {
		/* A fault: RIP is at the faulting instruction. */
		cpu->blocks->cur = 0;
		cpu->interrupt_shadow = false;
		emu_deliver_exception(cpu);
	}
	for (;;) {
		if (atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed))
			emu_check_interrupts(cpu);
		if (cpu->halted)
			return;
		if (cpu->vm && vm_stopping(cpu->vm))
			return;
		uint64_t la = code_linear(cpu);
		struct emu_block *b = emu_block_find(cpu, la, emu_fetch_gpa(cpu, la));
		run_block(cpu, b);
	}
}

int emu_step(struct emu_cpu *cpu)
{
	jmp_buf saved;
	struct emu_insn in;
	bool shadow = cpu->interrupt_shadow;

	memcpy(saved, cpu->exc_jmp, sizeof(saved));
	if (setjmp(cpu->exc_jmp)) {
		memcpy(cpu->exc_jmp, saved, sizeof(saved));
		return cpu->exc_vector;
	}
	cpu->exit_block = false;
	emu_decode(cpu, code_linear(cpu), &in);
	cpu->next_rip = (cpu->rip + in.len) & rip_mask(cpu->code_mode);
	in.exec(cpu, &in);
	cpu->rip = cpu->next_rip;
	cpu->insn_count++;
	if (shadow)
		cpu->interrupt_shadow = false;
	memcpy(cpu->exc_jmp, saved, sizeof(saved));
	return -1;
}
