/* The emu engine's side of the event hub (symbiont/event.h): it sees every
 * instruction, so it delivers every vCPU event exactly where it happens.
 * Each hook point first tests vm_events_wanted(), a single load, and
 * reaches this file only when someone listens. */
#include <string.h>

#include "cpu/emu/emu.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

static int cpu_index(const struct emu_cpu *cpu)
{
	return cpu->vcpu ? cpu->vcpu->id : 0;
}

static void regs_of(struct emu_cpu *cpu, struct sym_regs *r, uint64_t rip)
{
	memcpy(r->gpr, cpu->gpr, sizeof(r->gpr));
	r->rip = rip;
	r->rflags = emu_get_rflags(cpu);
	r->cr3 = cpu->cr3;
	r->cr4 = cpu->cr4;
	r->cpl = cpu->cpl;
	r->gs_base = cpu->seg[SEG_GS].base;
	r->kernel_gs_base = cpu->kernel_gs_base;
	r->lstar = cpu->lstar;
}

/* A callback asked the vCPU to go on with other user registers. */
static void resume_with(struct emu_cpu *cpu, const struct sym_uregs *u)
{
	if (!sym_uregs_rip_ok(u->rip))
		return;
	memcpy(cpu->gpr, u->gpr, sizeof(cpu->gpr));
	cpu->next_rip = u->rip;
	emu_set_rflags(cpu, (emu_get_rflags(cpu) & ~SYM_UREGS_RFLAGS_MASK) | (u->rflags & SYM_UREGS_RFLAGS_MASK));
}

bool emu_event_syscall(struct emu_cpu *cpu)
{
	static const int argreg[6] = { X86_RDI, X86_RSI, X86_RDX, X86_R10, X86_R8, X86_R9 };
	struct vm *vm = cpu->vm;
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_SYSCALL_ENTER, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.syscall.nr = cpu->gpr[X86_RAX];
	for (int i = 0; i < 6; i++)
		ev.syscall.args[i] = cpu->gpr[argreg[i]];
	ev.syscall.enter_ns = vm_now(vm);
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER)) {
		if (sym_event_deliver(vm, &ev) == SYM_SKIP) {
			/* As if the kernel had returned at once: the result in RAX,
			 * and SYSCALL's own effects (RCX, R11, CPL 0) never happen. */
			sym_syscall_refused(vm, &ev);
			cpu->gpr[X86_RAX] = (uint64_t)ev.syscall.ret;
			if (ev.syscall.resume)
				resume_with(cpu, &ev.syscall.resume_regs);
			return true;
		}
		cpu->gpr[X86_RAX] = ev.syscall.nr;
		for (int i = 0; i < 6; i++)
			cpu->gpr[argreg[i]] = ev.syscall.args[i];
	}
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT))
		sym_syscall_entered(vm, &ev, cpu->gpr[X86_RSP], cpu->next_rip);
	return false;
}

/* The 32-bit entries share an ABI: the number in EAX, the arguments in EBX
 * ECX EDX ESI EDI and a sixth (EBP, or for SYSENTER the word EBP points
 * at), the result in EAX.  The kernel returns to return_rip with the user
 * stack pointer user_sp.  True when a subscriber skipped the call. */
static bool compat_syscall(struct emu_cpu *cpu, uint32_t arg6, uint64_t user_sp, uint64_t return_rip, bool arg6_in_ebp)
{
	static const int argreg[5] = { X86_RBX, X86_RCX, X86_RDX, X86_RSI, X86_RDI };
	struct vm *vm = cpu->vm;
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_SYSCALL_ENTER, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.syscall.compat = true;
	ev.syscall.nr = (uint32_t)cpu->gpr[X86_RAX];
	for (int i = 0; i < 5; i++)
		ev.syscall.args[i] = (uint32_t)cpu->gpr[argreg[i]];
	ev.syscall.args[5] = arg6;
	ev.syscall.enter_ns = vm_now(vm);
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER)) {
		if (sym_event_deliver(vm, &ev) == SYM_SKIP) {
			/* as if the kernel had answered at once: EAX, back where
			 * it would have returned */
			sym_syscall_refused(vm, &ev);
			cpu->gpr[X86_RAX] = (uint32_t)ev.syscall.ret;
			cpu->gpr[X86_RSP] = user_sp;
			cpu->next_rip = return_rip;
			if (ev.syscall.resume)
				resume_with(cpu, &ev.syscall.resume_regs);
			return true;
		}
		cpu->gpr[X86_RAX] = (uint32_t)ev.syscall.nr;
		for (int i = 0; i < 5; i++)
			cpu->gpr[argreg[i]] = (uint32_t)ev.syscall.args[i];
		if (arg6_in_ebp) /* SYSENTER's sixth is in user memory: not rewritten */
			cpu->gpr[X86_RBP] = (uint32_t)ev.syscall.args[5];
	}
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT))
		sym_syscall_entered(vm, &ev, user_sp, return_rip);
	return false;
}

bool emu_event_int80(struct emu_cpu *cpu)
{
	/* the kernel returns from INT 0x80 with IRET to the next instruction */
	return compat_syscall(cpu, (uint32_t)cpu->gpr[X86_RBP], cpu->gpr[X86_RSP], cpu->next_rip, true);
}

bool emu_event_sysenter(struct emu_cpu *cpu)
{
	/* Linux's convention (the 32-bit vDSO's __kernel_vsyscall): EBP holds
	 * the user stack pointer, the sixth argument is the word there, and
	 * the kernel returns past the INT 0x80 that follows SYSENTER (its
	 * landing pad).  A SYSENTER elsewhere is let through unseen. */
	uint64_t root = gva_cr3_root(cpu->cr3);
	const bool la57 = false; /* emu offers no 5-level paging (CR4.LA57 is reserved) */
	uint64_t at = cpu->seg[SEG_CS].base + (uint32_t)cpu->next_rip;
	uint32_t user_sp = (uint32_t)cpu->gpr[X86_RBP], arg6 = 0;
	uint8_t code[2];

	if (gva_read(&cpu->vm->mem, root, la57, (uint32_t)at, code, 2) < 0 || code[0] != 0xcd || code[1] != 0x80)
		return false;
	if (gva_read(&cpu->vm->mem, root, la57, cpu->seg[SEG_SS].base + user_sp, &arg6, 4) < 0)
		arg6 = 0; /* the kernel's read fails too: the call gets EFAULT */
	return compat_syscall(cpu, arg6, user_sp, (uint32_t)(cpu->next_rip + 2), false);
}

void emu_event_user_return(struct emu_cpu *cpu)
{
	struct sym_regs r;
	struct sym_event ev;

	regs_of(cpu, &r, cpu->next_rip);
	if (!sym_syscall_returning(cpu->vm, &r, &ev))
		return;
	ev.cpu = cpu_index(cpu);
	ev.syscall.resume = false;
	if (ev.syscall.compat) /* the 32-bit ABI returns in EAX */
		ev.syscall.ret = (int32_t)ev.syscall.ret;
	sym_event_deliver(cpu->vm, &ev);
	cpu->gpr[X86_RAX] = ev.syscall.compat ? (uint32_t)ev.syscall.ret : (uint64_t)ev.syscall.ret;
	if (ev.syscall.resume)
		resume_with(cpu, &ev.syscall.resume_regs);
}

void emu_event_exception(struct emu_cpu *cpu, int vector)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_EXCEPTION, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.exception.vector = (uint8_t)vector;
	ev.exception.has_error = cpu->exc_has_error;
	ev.exception.error = cpu->exc_error;
	ev.exception.cr2 = vector == EXC_PF ? cpu->cr2 : 0;
	sym_event_deliver(cpu->vm, &ev);
}

void emu_event_cr3(struct emu_cpu *cpu, uint64_t old_cr3, uint64_t new_cr3)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_CR3_WRITE, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.cr3.old_cr3 = old_cr3;
	ev.cr3.new_cr3 = new_cr3;
	sym_event_deliver(cpu->vm, &ev);
}

bool emu_event_wrmsr(struct emu_cpu *cpu, uint32_t msr, uint64_t *value)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_MSR_WRITE, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.msr.msr = msr;
	ev.msr.value = *value;
	if (sym_event_deliver(cpu->vm, &ev) == SYM_SKIP)
		return false;
	*value = ev.msr.value;
	return true;
}

bool emu_event_page_write(struct emu_cpu *cpu, uint64_t gpa, unsigned len)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_PAGE_WRITE, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.write.gpa = gpa;
	ev.write.len = len;
	ev.write.dma = false;
	if (sym_event_deliver(cpu->vm, &ev) != SYM_STOP)
		return false;
	cpu->exit_block = true; /* the pause is pending: parked after this instruction */
	return true;
}

bool emu_event_page_read(struct emu_cpu *cpu, uint64_t gpa, unsigned len)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_PAGE_READ, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.read.gpa = gpa;
	ev.read.len = len;
	if (sym_event_deliver(cpu->vm, &ev) != SYM_STOP)
		return false;
	cpu->exit_block = true;
	return true;
}

bool emu_event_hook(struct emu_cpu *cpu, uint64_t gpa)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_CODE_HOOK, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.hook.gpa = gpa;
	return sym_event_deliver(cpu->vm, &ev) == SYM_STOP;
}

void emu_event_step(struct emu_cpu *cpu, uint64_t rip)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_STEP, .cpu = cpu_index(cpu), .regs = &r };

	regs_of(cpu, &r, cpu->rip);
	ev.step.rip = rip;
	sym_event_deliver(cpu->vm, &ev);
}
