/* The execution loop: find the decoded block for RIP, run its handlers,
 * check for interrupts between blocks.  Faults longjmp back here and are
 * delivered through the IDT before the loop continues. */
#include <stdio.h>
#include <string.h>

#include "cpu/emu/block.h"
#include "symbiont/event.h"

#define EMU_PAUSE_YIELD 32 /* PAUSEs in one emu_exec call before it returns */

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

/* POPF and IRET: they may clear TF and still take the single-step trap. */
static inline bool pops_flags(const struct emu_insn *in)
{
	return in->map == 0 && (in->opcode == 0x9d || in->opcode == 0xcf);
}

/* MOV SS, r/m and POP SS. */
static inline bool loads_ss(const struct emu_insn *in)
{
	return in->map == 0 && (in->opcode == 0x17 || (in->opcode == 0x8e && (in->reg & 7) == SEG_SS));
}

/* A block when something watches instruction by instruction: an interrupt
 * shadow, TF, RF, enabled debug registers, a STEP subscriber.  One
 * instruction, then the checks; kept apart so the common path below pays
 * one test for all of them. */
static void __attribute__((noinline)) run_block_special(struct emu_cpu *cpu, struct emu_block *b)
{
	struct emu_block_cache *bc = cpu->blocks;
	const struct emu_insn *in = &bc->insns[b->first];
	uint64_t mask = rip_mask((enum emu_code_mode)b->mode);
	bool shadow = cpu->interrupt_shadow, tf = cpu->rflags & RFLAGS_TF, rf = cpu->rflags & RFLAGS_RF;
	bool step = cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_STEP);
	uint64_t rip0 = cpu->rip, count0 = cpu->insn_count;

	if (unlikely(b->hook) && emu_event_hook(cpu, b->gpa))
		return; /* stopped before it (a debugger's breakpoint): parks at the loop's next check */
	/* Instruction breakpoints are matched before the instruction; RF (an
	 * IRET's) lets it run past one. */
	if (cpu->dr_exec && !rf) {
		unsigned hit = emu_dr_exec_match(cpu, code_linear(cpu));
		if (hit) {
			cpu->dr[6] = (cpu->dr[6] & ~0xfULL) | hit;
			emu_raise(cpu, EXC_DB); /* a fault: RIP stays at the instruction */
		}
	}
	bc->cur = (uint32_t)(b - bc->blk);
	bc->cur_cpu = cpu;
	cpu->exit_block = false;
	cpu->next_rip = (cpu->rip + in->len) & mask;
	in->exec(cpu, in);
	cpu->rip = cpu->next_rip;
	cpu->insn_count++;
	if (cpu->cpl == 3) /* (a block runs at one privilege: the one it began at) */
		cpu->insn_user++;
	if (shadow)
		cpu->interrupt_shadow = false;
	if (rf && cpu->insn_count != count0) /* the instruction completed */
		cpu->rflags &= ~RFLAGS_RF;
	if (!(cpu->rflags & RFLAGS_RF))
		cpu->dbg_slow &= (uint8_t)~2;
	bc->cur = 0;
	bc->cur_cpu = NULL;
	/* The #DB trap after the instruction: its data and I/O breakpoint hits,
	 * and single-step when TF was set as it began (so a POPF or IRET that
	 * clears TF still traps; INT n, INT3, INTO, INT1 and a masked SYSCALL
	 * clear TF on their way to a handler and do not). */
	unsigned dr6 = cpu->dr_hit;
	cpu->dr_hit = 0;
	if (tf && ((cpu->rflags & RFLAGS_TF) || pops_flags(in)))
		dr6 |= DR6_BS;
	if (!shadow && cpu->interrupt_shadow && loads_ss(in)) {
		/* MOV SS / POP SS hold debug traps back for one instruction
		 * (so a stack switch completes before a handler runs). */
		cpu->dr6_deferred |= (uint16_t)dr6;
		dr6 = 0;
	} else if (cpu->dr6_deferred) {
		dr6 |= cpu->dr6_deferred;
		cpu->dr6_deferred = 0;
	}
	if (step)
		emu_event_step(cpu, rip0);
	if (dr6)
		emu_dr_trap(cpu, dr6);
}

/* What every way of running a block does around its instructions: the
 * instruction-by-instruction cases go to run_block_special, a hooked
 * instruction's event comes first, and CPL-3 instructions are counted. */
static inline __attribute__((always_inline)) void run_block_with(struct emu_cpu *cpu, struct emu_block *b,
                                                                 bool translated)
{
	struct emu_block_cache *bc = cpu->blocks;
	const struct emu_insn *in = &bc->insns[b->first], *end = in + b->n;
	uint64_t mask = rip_mask((enum emu_code_mode)b->mode);

	if (unlikely(((cpu->interrupt_shadow || cpu->dbg_slow || (cpu->rflags & RFLAGS_TF)) |
	              (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_STEP))) ||
	             cpu->insn_count + b->n > emu_insn_stop(cpu))) {
		run_block_special(cpu, b);
		return;
	}
	if (unlikely(b->hook) && emu_event_hook(cpu, b->gpa))
		return; /* stopped before it (a debugger's breakpoint): parks at the loop's next check */
	bc->cur = (uint32_t)(b - bc->blk);
	bc->cur_cpu = cpu;
	cpu->exit_block = false;
	/* A block runs at one privilege (blocks end at mode switches). */
	uint64_t *user_count = cpu->cpl == 3 ? &cpu->insn_user : NULL, count0 = cpu->insn_count;
	if (translated) {
		b->code(cpu); /* the loop below, as host code (translate.c) */
	} else {
		for (; in < end; in++) {
			cpu->next_rip = (cpu->rip + in->len) & mask;
			in->exec(cpu, in);
			cpu->rip = cpu->next_rip;
			cpu->insn_count++;
			if (unlikely(cpu->exit_block))
				break;
		}
	}
	if (user_count)
		*user_count += cpu->insn_count - count0;
	bc->cur = 0;
	bc->cur_cpu = NULL;
}

/* A block's default run: interpreted.  A block entered often enough is
 * translated (when the cache translates) and runs as host code after. */
void emu_run_interp(struct emu_cpu *cpu, struct emu_block *b)
{
	struct emu_block_cache *bc = cpu->blocks;
	if (bc->translate && ++b->heat >= bc->translate_heat && !b->hook) {
		b->code = emu_translate(&bc->code, &bc->insns[b->first], b->n, b->mode);
		if (b->code) {
			b->run = emu_run_translated;
			bc->translated++;
			emu_run_translated(cpu, b);
			return;
		}
		b->heat = 0; /* the buffer is full: the loop flushes it */
	}
	run_block_with(cpu, b, false);
}

void emu_run_translated(struct emu_cpu *cpu, struct emu_block *b)
{
	run_block_with(cpu, b, true);
}

/* The block at RIP: first the jump cache (valid while this vCPU's TLB still
 * maps the page to the block's guest-physical page), else a translation and
 * the hash lookup (which decodes on a miss). */
static inline struct emu_block *find_block(struct emu_cpu *cpu)
{
	struct emu_block_cache *bc = cpu->blocks;
	uint64_t la = code_linear(cpu);
	unsigned h = (unsigned)(la ^ (la >> 12)) & (JC_SIZE - 1);
	struct emu_block *b;

	if (likely(bc->jc[h].la == la)) {
		struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
		b = &bc->blk[bc->jc[h].bi];
		if (likely(b->valid && b->mode == cpu->code_mode &&
		           (e->tag_exec & emu_tlb_xmask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK) &&
		           e->gpa_page + (la & 0xfff) == b->gpa && !b->crosses))
			return b;
	}
	b = emu_block_find(cpu, la, emu_fetch_gpa(cpu, la));
	bc->jc[h].la = la;
	bc->jc[h].bi = (uint32_t)(b - bc->blk);
	return b;
}

/* The block following b when RIP stayed on b's page: looked up by guest-
 * physical address (the page's translation was checked when b was entered),
 * through b's two-entry successor cache.  NULL: let the loop find it. */
static inline struct emu_block *next_in_page(struct emu_cpu *cpu, struct emu_block *b, uint64_t la_page)
{
	struct emu_block_cache *bc = cpu->blocks;
	uint64_t la = code_linear(cpu);
	unsigned off = la & 0xfff, slot;
	struct emu_block *nb;
	uint64_t gpa, flushes;

	if ((la & ~0xfffULL) != la_page || !b->chain || b->crosses)
		return NULL;
	gpa = (b->gpa & ~0xfffULL) | off;
	slot = b->next_off[0] == off ? 0 : b->next_off[1] == off ? 1 : 2;
	if (likely(slot < 2)) {
		nb = &bc->blk[b->next_bi[slot]];
		if (likely(nb->valid && nb->gpa == gpa && nb->mode == cpu->code_mode && !nb->crosses))
			return nb;
	}
	flushes = bc->flushes;
	nb = emu_block_find(cpu, la, gpa);
	if (nb->crosses)
		return NULL;
	if (bc->flushes == flushes) {
		b->next_off[1] = b->next_off[0], b->next_bi[1] = b->next_bi[0];
		b->next_off[0] = (uint16_t)off, b->next_bi[0] = (uint32_t)(nb - bc->blk);
	}
	return nb;
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
		/* A fault: RIP is at the faulting instruction, which did not
		 * complete (its data breakpoint hits do not count). */
		cpu->dr_hit = 0;
		cpu->dr6_deferred = 0; /* (a trap MOV SS held back is lost to the fault) */
		cpu->blocks->cur = 0;
		cpu->blocks->cur_cpu = NULL;
		cpu->interrupt_shadow = false;
		emu_deliver_exception(cpu);
	}
	cpu->pauses = 0;
	for (;;) {
		if (atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed) ||
		    cpu->insn_count >= emu_insn_stop(cpu))
			emu_check_interrupts(cpu);
		/* Spinning (a lock, an IPI answer) on a VM whose vCPUs take turns on
		 * one thread: give the others their turn now. */
		if (unlikely(cpu->pauses >= EMU_PAUSE_YIELD) && cpu->vm && cpu->vm->ncpus > 1)
			return;
		if (cpu->halted)
			return;
		if (cpu->vm && vm_stopping(cpu->vm))
			return;
		if (unlikely(cpu->blocks->code.full))
			emu_blocks_flush(cpu); /* the translated-code buffer filled up: start afresh */
		if (unlikely(cpu->vm &&
		             atomic_load_explicit(&cpu->vm->hooks_gen, memory_order_relaxed) != cpu->hooks_gen)) {
			/* Hooks came or went: decode afresh, so hooked
			 * instructions stand alone (block.c). */
			cpu->hooks_gen = atomic_load(&cpu->vm->hooks_gen);
			emu_blocks_flush(cpu);
		}
		struct emu_block *b = find_block(cpu);
		uint64_t la_page = code_linear(cpu) & ~0xfffULL;
		/* Chain through blocks on the same page while nothing asks the
		 * loop to look (interrupts, a state change, the VM stopping). */
		for (unsigned n = 0; b; n++) {
			b->run(cpu, b);
			if (cpu->exit_block || cpu->interrupt_shadow || n >= 64 ||
			    cpu->insn_count >= emu_insn_stop(cpu) ||
			    atomic_load_explicit(&cpu->irq_pending, memory_order_relaxed))
				break;
			b = next_in_page(cpu, b, la_page);
		}
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
