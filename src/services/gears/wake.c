/* Waking a sleeping guest process from the VMM alone (wake.h), for an
 * injection that waits for its system call boundary in a guest where no
 * other process makes a call (an idle guest: the helper of gears_kick
 * could never start there).
 *
 * The kernel has a function for exactly this: signal_wake_up_state(task,
 * 0) marks a signal pending (TIF_SIGPENDING) and wakes the task from an
 * interruptible sleep, which is how the freezer and ptrace interrupt a
 * task without sending it anything.  Its system call returns
 * -ERESTART...; on the way out no signal is found (the mark is cleared) and
 * the kernel restarts the call, whose entry the injection then takes.
 *
 * The VMM makes that call on a vCPU that idles in HLT: in the kernel, with
 * interrupts on, in the idle loop, the one place where borrowing a vCPU
 * for a few microseconds disturbs nothing.  With the VM paused, the vCPU's
 * state is saved and replaced: RIP at the function, RDI the task, RSI 0,
 * interrupts off (the kernel's own callers hold the siglock), and below
 * the idle stack a return address that is the function's own entry, where
 * a code hook on that vCPU with the stack pointer the return leaves stops
 * the VM.  The saved state then goes back, runnable rather than halted, so
 * the idle loop looks again for work (the woken task) as after any
 * interrupt.  A kernel that never returns is cut off after CALL_MS and the
 * state goes back all the same.
 *
 * A task in an uninterruptible sleep (D) is not woken: nothing may wake
 * one but what it waits for. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/gears/gears.h"
#include "services/gears/wake.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

#define WAKE_FN      "signal_wake_up_state"
#define CALL_MS      3000 /* wall time: generous, as a cut-off mid-function leaves the guest its locks */
#define STACK_MARGIN 512  /* bytes left alone below the idle loop's stack pointer */

struct kcall {
	struct vm *vm;
	int cpu;
	uint64_t ret_rsp; /* RSP once the function has returned */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool returned, held, abandoned;
};

static enum sym_action on_return(void *opaque, struct sym_event *ev)
{
	struct kcall *k = opaque;
	enum sym_action a = SYM_CONTINUE;

	if (ev->cpu != k->cpu || !ev->regs || ev->regs->gpr[X86_RSP] != k->ret_rsp)
		return SYM_CONTINUE; /* another call of the function, by the kernel itself */
	pthread_mutex_lock(&k->lock);
	if (!k->returned && !k->abandoned) {
		k->returned = true;
		k->held = vm_pause_request(k->vm) == 0;
		if (k->held)
			a = SYM_STOP; /* parked before the entry it returned to */
		pthread_cond_signal(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	return a;
}

/* A vCPU idling in HLT in 64-bit kernel code with interrupts on, its state
 * in *s; -1 if none. */
static int idle_vcpu(struct vm *vm, struct x86_state *s)
{
	char err[160];
	for (int cpu = 0; cpu < vm->ncpus; cpu++) {
		if (vm_vcpu_get_state(vm, cpu, s, err, sizeof(err)))
			continue;
		if (s->ev.mp_state == X86_MP_HALTED && (s->seg[SEG_CS].sel & 3) == 0 && s->seg[SEG_CS].l &&
		    (s->efer & EFER_LMA) && (s->rflags & RFLAGS_IF) && !s->ev.interrupt_injected &&
		    !s->ev.exception_injected)
			return cpu;
	}
	return -1;
}

/* The task_struct of process pid (its leader); with pid 0, of the first
 * user process asleep (S) other than init and avoid, whose pid goes into
 * *pid.  0 if none. */
static uint64_t task_of(struct gears *g, int32_t *pid, int32_t avoid, char *err, size_t errlen)
{
	struct guestos_process *p = NULL;
	size_t n = 0;
	uint64_t task = 0;

	pthread_mutex_lock(&g->os_lock);
	int r = g->os ? guestos_processes(g->os, &p, &n, err, errlen) : -1;
	pthread_mutex_unlock(&g->os_lock);
	if (r)
		return 0;
	for (size_t i = 0; i < n && !task; i++) {
		if (*pid ? p[i].tgid == *pid
		         : !p[i].kernel_thread && p[i].tgid > 1 && p[i].tgid != avoid && p[i].state == 'S') {
			task = p[i].task;
			*pid = p[i].tgid;
		}
	}
	free(p);
	if (!task && *pid)
		snprintf(err, errlen, "no process %d in the guest", (int)*pid);
	else if (!task)
		snprintf(err, errlen, "no user process sleeps in the guest");
	return task;
}

static void wait_return(struct kcall *k)
{
	struct timespec ts = host_deadline_after_ns(CALL_MS * 1000000ULL);
	pthread_mutex_lock(&k->lock);
	while (!k->returned && pthread_cond_timedwait(&k->cond, &k->lock, &ts) == 0)
		;
	if (!k->returned)
		k->abandoned = true; /* a late return no longer stops the VM */
	pthread_mutex_unlock(&k->lock);
}

int gears_wake_process(struct gears *g, int32_t *pid, int32_t avoid, char *err, size_t errlen)
{
	struct vm *vm = g->vm;
	struct guestos_symbol fn;
	struct kcall k = { .vm = vm, .cpu = -1 };
	struct sym_filter f = { .type = SYM_EV_CODE_HOOK, .one_cpu = true };
	struct sym_sub *sub = NULL;
	struct x86_state *saved = NULL, *call = NULL;
	uint64_t task, fn_gpa, slot, slot_gpa;
	char why[256];
	int rc = -1;

	if (gears_os_prepare(g, why, sizeof(why))) {
		snprintf(err, errlen, "waking a process needs guest OS awareness: %s", why);
		return -1;
	}
	if (!(task = task_of(g, pid, avoid, err, errlen)))
		return -1;
	pthread_mutex_lock(&g->os_lock);
	int r = guestos_symbol_lookup(g->os, WAKE_FN, &fn, why, sizeof(why));
	if (!r)
		r = guestos_kernel_gpa(g->os, fn.addr, &fn_gpa, why, sizeof(why));
	pthread_mutex_unlock(&g->os_lock);
	if (r) {
		snprintf(err, errlen, "the guest kernel's %s: %s", WAKE_FN, why);
		return -1;
	}
	saved = malloc(sizeof(*saved));
	call = malloc(sizeof(*call));
	if (!saved || !call) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	pthread_mutex_init(&k.lock, NULL);
	pthread_cond_init(&k.cond, NULL);
	if (vm_pause(vm) < 0) {
		snprintf(err, errlen, "the VM is stopping");
		goto out_sync;
	}
	if ((k.cpu = idle_vcpu(vm, saved)) < 0) {
		snprintf(err, errlen, "no vCPU idles in the kernel to make the call on");
		goto out_resume;
	}
	*call = *saved;
	uint64_t root = gva_cr3_root(saved->cr3);
	bool la57 = saved->cr4 & CR4_LA57;
	slot = ((saved->gpr[X86_RSP] - STACK_MARGIN) & ~15ull) - 8; /* as after a CALL: RSP+8 16-aligned */
	if (gva_translate(&vm->mem, root, la57, slot, &slot_gpa) ||
	    gva_write(&vm->mem, root, la57, slot, &fn.addr, sizeof(fn.addr))) {
		snprintf(err, errlen, "vCPU %d's kernel stack is not writable at 0x%" PRIx64, k.cpu, slot);
		goto out_resume;
	}
	vm_mem_written(vm, slot_gpa, sizeof(fn.addr));
	f.cpu = k.cpu;
	f.hook_gpa = fn_gpa;
	k.ret_rsp = slot + 8;
	if (!(sub = sym_subscribe(vm, &f, on_return, &k, why, sizeof(why)))) {
		snprintf(err, errlen, "cannot hook the guest kernel's %s: %s", WAKE_FN, why);
		goto out_resume;
	}
	call->rip = fn.addr;
	call->gpr[X86_RSP] = slot;
	call->gpr[X86_RDI] = task;
	call->gpr[X86_RSI] = 0; /* no state beyond TASK_INTERRUPTIBLE, which it adds */
	call->rflags &= ~RFLAGS_IF;
	call->ev.mp_state = X86_MP_RUNNABLE;
	call->ev.interrupt_shadow = false;
	if (vm_vcpu_set_state(vm, k.cpu, call, why, sizeof(why))) {
		snprintf(err, errlen, "vCPU %d: %s", k.cpu, why);
		goto out_resume;
	}
	vm_resume(vm);
	wait_return(&k);
	if (vm_pause(vm) < 0) {
		snprintf(err, errlen, "the VM is stopping");
		goto out_sync;
	}
	if (k.held)
		vm_resume(vm); /* the hook's hold: ours keeps the VM paused */
	/* Back to the idle loop as after an interrupt: past its HLT, looking
	 * for work. */
	saved->ev.mp_state = X86_MP_RUNNABLE;
	if (vm_vcpu_set_state(vm, k.cpu, saved, why, sizeof(why)))
		snprintf(err, errlen, "vCPU %d could not be put back: %s", k.cpu, why);
	else if (!k.returned)
		snprintf(err, errlen, "the guest kernel's %s did not return within %d ms (vCPU %d put back)", WAKE_FN,
		         CALL_MS, k.cpu);
	else
		rc = 0;
out_resume:
	vm_resume(vm);
out_sync:
	sym_unsubscribe(sub);
	pthread_cond_destroy(&k.cond);
	pthread_mutex_destroy(&k.lock);
out:
	free(saved);
	free(call);
	return rc;
}
