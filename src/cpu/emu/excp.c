/* Exception and interrupt delivery: real-mode IVT, 16/32-bit protected-mode
 * interrupt and trap gates, 64-bit gates with IST, privilege changes through
 * the TSS, double and triple faults.
 *
 * emu_raise() records the fault and longjmps back to the execution loop,
 * which calls emu_deliver_exception().  While a delivery pushes its frame
 * exc_depth is non-zero, so a fault raised then is combined with the one
 * being delivered by the architectural classes (benign, contributory, page
 * fault) into a #DF, and a fault while delivering #DF is a triple fault,
 * which ends the VM as a PC board would (shutdown → exit status 1). */
#include <stdio.h>
#include <string.h>

#include "cpu/emu/mmu.h"
#include "cpu/emu/sys.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

#define EXC_NONE         (-1) /* nothing to deliver (after a triple fault) */
#define EXC_DELIVER_INTR (-2) /* an interrupt, not an exception, is being delivered */

bool emu_exc_has_error(int vector)
{
	return vector == EXC_DF || (vector >= EXC_TS && vector <= EXC_PF) || vector == EXC_AC;
}

static int exc_class(int v)
{
	if (v == EXC_PF)
		return 2;
	if (v == EXC_DE || (v >= EXC_TS && v <= EXC_GP))
		return 1;
	return 0;
}

static _Noreturn void triple_fault(struct emu_cpu *cpu)
{
	fprintf(stderr, "guest triple fault (vector %d at rip %#llx)\n", cpu->exc_vector, (unsigned long long)cpu->rip);
	cpu->exc_vector = EXC_NONE;
	cpu->exc_depth = 0;
	cpu->halted = true;
	if (cpu->vm)
		vm_request_exit(cpu->vm, 1);
	longjmp(cpu->exc_jmp, 1);
}

static _Noreturn void raise_common(struct emu_cpu *cpu, int vector, uint32_t error, bool has_error)
{
	if (cpu->exc_depth == 2)
		triple_fault(cpu);
	if (cpu->exc_depth == 1 && cpu->exc_vector >= 0) {
		int a = exc_class(cpu->exc_vector), b = exc_class(vector);
		if ((a == 1 && b == 1) || (a == 2 && b >= 1)) {
			vector = EXC_DF;
			error = 0;
			has_error = true;
		}
	}
	cpu->exc_vector = vector;
	cpu->exc_error = error;
	cpu->exc_has_error = has_error;
	longjmp(cpu->exc_jmp, 1);
}

_Noreturn void emu_raise(struct emu_cpu *cpu, int vector)
{
	raise_common(cpu, vector, 0, emu_exc_has_error(vector));
}

_Noreturn void emu_raise_err(struct emu_cpu *cpu, int vector, uint32_t error)
{
	raise_common(cpu, vector, error, emu_exc_has_error(vector));
}

/* ---- delivery ---------------------------------------------------------------- */

struct frame {
	uint64_t sp, ss_base, mask; /* stack pointer, segment base, address wrap */
	bool super;
};

static void fpush(struct emu_cpu *cpu, struct frame *f, uint64_t val, unsigned size)
{
	f->sp = (f->sp - size) & f->mask;
	emu_write_linear(cpu, f->ss_base + f->sp, val, size, f->super);
}

static void deliver_real(struct emu_cpu *cpu, int vector, uint64_t ret_ip)
{
	uint64_t ent, flags = emu_get_rflags(cpu);
	struct frame f;

	if ((unsigned)vector * 4 + 3 > cpu->idt.limit)
		emu_raise_err(cpu, EXC_GP, vector * 8 + 2);
	ent = emu_read_linear(cpu, cpu->idt.base + vector * 4, 4, true);
	f.sp = cpu->gpr[X86_RSP] & 0xffff;
	f.ss_base = cpu->seg[SEG_SS].base;
	f.mask = 0xffff;
	f.super = true;
	fpush(cpu, &f, flags, 2);
	fpush(cpu, &f, cpu->seg[SEG_CS].sel, 2);
	fpush(cpu, &f, ret_ip, 2);
	cpu->gpr[X86_RSP] = (cpu->gpr[X86_RSP] & ~0xffffULL) | f.sp;
	emu_set_rflags(cpu, flags & ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF));
	emu_load_seg_real(cpu, SEG_CS, (uint16_t)(ent >> 16));
	cpu->rip = ent & 0xffff;
}

/* Reads a stack pointer for privilege level dpl (or IST n) from the TSS. */
static uint64_t tss_read(struct emu_cpu *cpu, unsigned off, unsigned size)
{
	if (off + size - 1 > cpu->tr.limit)
		emu_raise_err(cpu, EXC_TS, cpu->tr.sel & ~3);
	return emu_read_linear(cpu, cpu->tr.base + off, size, true);
}

static void deliver_protected(struct emu_cpu *cpu, int vector, uint64_t ret_ip, bool soft, bool ext, bool has_err,
                              uint32_t err)
{
	bool lm = cpu->long_mode;
	unsigned gsize = lm ? 16 : 8;
	uint32_t gerr = vector * 8 + 2 + (ext ? 1 : 0);
	uint64_t lo, hi = 0, d, flags = emu_get_rflags(cpu), target;
	uint16_t sel;
	unsigned type, gdpl, dpl, ist = 0, width;
	struct x86_seg cs, ss = cpu->seg[SEG_SS];
	struct frame f;
	uint64_t old_sp = cpu->gpr[X86_RSP];
	uint16_t old_ss = cpu->seg[SEG_SS].sel, old_cs = cpu->seg[SEG_CS].sel;
	int new_cpl;
	bool priv_change;

	if ((unsigned)vector * gsize + gsize - 1 > cpu->idt.limit)
		emu_raise_err(cpu, EXC_GP, gerr);
	lo = emu_read_linear(cpu, cpu->idt.base + vector * gsize, 8, true);
	if (lm)
		hi = emu_read_linear(cpu, cpu->idt.base + vector * gsize + 8, 8, true);
	type = (lo >> 40) & 0x1f; /* includes S (bit 4) */
	gdpl = (lo >> 45) & 3;
	if (lm) {
		if (type != 0xe && type != 0xf)
			emu_raise_err(cpu, EXC_GP, gerr);
	} else if (type != 0xe && type != 0xf && type != 0x6 && type != 0x7) {
		/* Task gates are not supported: no guest we run uses them. */
		emu_raise_err(cpu, EXC_GP, gerr);
	}
	if (soft && gdpl < (unsigned)cpu->cpl)
		emu_raise_err(cpu, EXC_GP, gerr);
	if (!((lo >> 47) & 1))
		emu_raise_err(cpu, EXC_NP, gerr);
	sel = (uint16_t)(lo >> 16);
	target = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL);
	if (lm) {
		target |= hi << 32;
		ist = (lo >> 32) & 7;
	}
	width = lm ? 8 : (type & 8) ? 4 : 2;

	if ((sel & ~3) == 0)
		emu_raise_err(cpu, EXC_GP, ext ? 1 : 0);
	if (!emu_desc_read(cpu, sel, &d))
		emu_raise_err(cpu, EXC_GP, (sel & ~3) | (ext ? 1 : 0));
	emu_desc_to_seg(&cs, sel, d);
	if (!cs.s || !(cs.type & 8) || cs.dpl > (unsigned)cpu->cpl)
		emu_raise_err(cpu, EXC_GP, (sel & ~3) | (ext ? 1 : 0));
	if (!cs.present)
		emu_raise_err(cpu, EXC_NP, (sel & ~3) | (ext ? 1 : 0));
	if (lm && (!cs.l || cs.db))
		emu_raise_err(cpu, EXC_GP, (sel & ~3) | (ext ? 1 : 0));
	dpl = cs.dpl;
	priv_change = !(cs.type & 4) && dpl < (unsigned)cpu->cpl;
	new_cpl = priv_change ? (int)dpl : cpu->cpl;
	if (cpu->rflags & RFLAGS_VM)
		emu_raise_err(cpu, EXC_GP, (sel & ~3) | (ext ? 1 : 0)); /* VM86 is not supported */

	f.super = new_cpl < 3;
	if (lm) {
		if (ist)
			f.sp = tss_read(cpu, 0x24 + (ist - 1) * 8, 8);
		else if (priv_change)
			f.sp = tss_read(cpu, 4 + dpl * 8, 8);
		else
			f.sp = old_sp;
		f.sp &= ~0xfULL;
		f.ss_base = 0;
		f.mask = ~0ULL;
		if (priv_change) {
			memset(&ss, 0, sizeof(ss));
			ss.sel = (uint16_t)dpl;
			ss.unusable = 1;
			ss.dpl = (uint8_t)dpl;
			ss.type = 3;
			ss.s = 1;
			ss.present = 1;
		}
	} else if (priv_change) {
		uint16_t nss;
		uint64_t sd;
		if (cpu->tr.type & 8) { /* 32-bit TSS */
			f.sp = tss_read(cpu, 4 + dpl * 8, 4);
			nss = (uint16_t)tss_read(cpu, 8 + dpl * 8, 2);
		} else {
			f.sp = tss_read(cpu, 2 + dpl * 4, 2);
			nss = (uint16_t)tss_read(cpu, 4 + dpl * 4, 2);
		}
		if ((nss & ~3) == 0 || !emu_desc_read(cpu, nss, &sd))
			emu_raise_err(cpu, EXC_TS, nss & ~3);
		emu_desc_to_seg(&ss, nss, sd);
		if ((nss & 3) != dpl || ss.dpl != dpl || !ss.s || (ss.type & 0xa) != 2)
			emu_raise_err(cpu, EXC_TS, nss & ~3);
		if (!ss.present)
			emu_raise_err(cpu, EXC_SS, nss & ~3);
		f.ss_base = ss.base;
		f.mask = ss.db ? 0xffffffffULL : 0xffff;
		f.sp &= f.mask;
	} else {
		f.ss_base = cpu->seg[SEG_SS].base;
		f.mask = cpu->seg[SEG_SS].db ? 0xffffffffULL : 0xffff;
		f.sp = old_sp & f.mask;
	}

	if (lm || priv_change) {
		fpush(cpu, &f, old_ss, width);
		fpush(cpu, &f, old_sp, width);
	}
	fpush(cpu, &f, flags, width);
	fpush(cpu, &f, old_cs, width);
	fpush(cpu, &f, ret_ip, width);
	if (has_err)
		fpush(cpu, &f, err, width);

	/* Commit: nothing above changed architectural state. */
	if (priv_change || lm)
		cpu->seg[SEG_SS] = ss;
	if (lm || f.mask == ~0ULL)
		cpu->gpr[X86_RSP] = f.sp;
	else if (f.mask == 0xffffffffULL)
		cpu->gpr[X86_RSP] = f.sp;
	else
		cpu->gpr[X86_RSP] = (old_sp & ~0xffffULL) | f.sp;
	cs.sel = (uint16_t)((sel & ~3) | new_cpl);
	if (!(cs.type & 1)) {
		cs.type |= 1;
		emu_desc_set_accessed(cpu, sel, d);
	}
	cpu->seg[SEG_CS] = cs;
	cpu->cpl = new_cpl;
	flags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
	if (!(type & 1))
		flags &= ~RFLAGS_IF;
	emu_set_rflags(cpu, flags);
	cpu->rip = width == 2 ? target & 0xffff : target;
	emu_update_mode(cpu);
}

static void deliver(struct emu_cpu *cpu, int vector, uint64_t ret_ip, bool soft, bool ext, bool has_err, uint32_t err)
{
	/* Between the iterations of a REP string instruction: RF = 1 in the
	 * image, so it resumes past an instruction breakpoint on it. */
	if (!soft && cpu->rep_yield_at && cpu->rep_yield_at == cpu->insn_count)
		cpu->rflags |= RFLAGS_RF;
	cpu->rep_yield_at = 0;
	if (cpu->cr0 & CR0_PE)
		deliver_protected(cpu, vector, ret_ip, soft, ext, has_err, err);
	else
		deliver_real(cpu, vector, ret_ip);
	cpu->next_rip = cpu->rip;
	cpu->interrupt_shadow = false;
	cpu->halted = false;
}

/* #DE #BR #UD #NM #TS #NP #SS #GP #PF #MF #AC #XM #VE #CP: the fault-class exceptions. */
#define FAULT_VECTORS                                                                                        \
	((1u << 0) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | \
	 (1u << 14) | (1u << 16) | (1u << 17) | (1u << 19) | (1u << 20) | (1u << 21))

void emu_deliver_exception(struct emu_cpu *cpu)
{
	int v = cpu->exc_vector;

	if (v < 0) {
		cpu->exc_depth = 0;
		return;
	}
	cpu->exc_depth = v == EXC_DF ? 2 : 1;
	cpu->exceptions_delivered++;
	if (cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_EXCEPTION))
		emu_event_exception(cpu, v);
	/* A fault pushes RF = 1, so the handler's IRET re-runs the instruction
	 * past an instruction breakpoint on it (the SDM's rule; a #DB, a trap
	 * or an abort pushes RF as it was).  The delivery clears it. */
	if (v < 32 && ((1u << v) & FAULT_VECTORS))
		cpu->rflags |= RFLAGS_RF;
	if (v == EXC_DB) /* the handler may use the debug registers */
		cpu->dr[7] &= ~(uint64_t)DR7_GD;
	deliver(cpu, v, cpu->rip, false, false, cpu->exc_has_error && (cpu->cr0 & CR0_PE), cpu->exc_error);
	cpu->exc_depth = 0;
}

void emu_deliver_interrupt(struct emu_cpu *cpu, int vector, bool is_soft)
{
	if (!is_soft)
		cpu->interrupts_delivered++;
	/* A fault while pushing the frame is delivered as itself (an
	 * interrupt is benign). */
	cpu->exc_vector = EXC_DELIVER_INTR;
	cpu->exc_depth = 1;
	deliver(cpu, vector & 0xff, is_soft ? cpu->next_rip : cpu->rip, is_soft, !is_soft, false, 0);
	cpu->exc_depth = 0;
}

void emu_deliver_int1(struct emu_cpu *cpu)
{
	cpu->exceptions_delivered++;
	cpu->exc_vector = EXC_DELIVER_INTR;
	cpu->exc_depth = 1;
	cpu->dr[7] &= ~(uint64_t)DR7_GD;
	/* A trap to the instruction after it, checked as a hardware event:
	 * no gate DPL check, EXT set in an error code of a fault on the way. */
	deliver(cpu, EXC_DB, cpu->next_rip, false, true, false, 0);
	cpu->exc_depth = 0;
}
