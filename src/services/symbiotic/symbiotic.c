/* The symbiotic interfaces, VMM side (docs/abi.md, guest/kmod/).
 *
 *   query-symspy    what the guest's symbiotic module shares: the global
 *                   SymSpy page and each vCPU's page, read without pausing
 *                   the VM or making the guest exit
 *   symcall {call, [arg], [cpu], [timeout_ms]}
 *                   a synchronous upcall into the guest kernel: "null" (the
 *                   round trip), "processes" (the process list), "vmas"
 *                   (arg: a pid; its memory map) or "translate" (arg: a
 *                   pid, arg2: one of its virtual addresses; the
 *                   guest-physical one), "pagecache" (path: a guest file;
 *                   its cached pages, and with save a host file of their
 *                   bytes) or "drop" (path: its cached pages dropped)
 *
 * The guest hands its pages over by writing their guest-physical addresses
 * to symbiont's SymSpy MSRs.  Those writes reach this service through the
 * event hub (SYM_EV_MSR_WRITE filtered on each MSR), which keeps the engine
 * ignorant of the service: a well-formed write is taken (SYM_SKIP, so the
 * engine does not see an unknown MSR), a malformed one is left to the
 * engine, which raises #GP as for any MSR it does not have.  Engines whose
 * vCPU events the hub refuses (kvm, for now) leave SymSpy unavailable, and
 * the guest module, whose WRMSR then faults, stays idle.
 *
 * A SymCall (abi/symcall.h) pauses the VM, saves the chosen vCPU's state,
 * sets it to the guest's registered entry (CPL 0, interrupts and NMIs
 * blocked, not halted, nothing pending) and resumes; the handler's doorbell
 * OUT wakes the control thread, which pauses again and puts the saved
 * registers, segments, control registers, events and FPU state back.  The
 * MSRs (the TSC among them), the local APIC and the debug registers are not
 * touched, so time and interrupts that arrived meanwhile carry on.  No
 * doorbell within timeout_ms: the same restore, and the call fails.  A call
 * is refused while the user has paused the VM (the handler could not run). */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "services/symbiotic/symcall.h"
#include "symbiont/bus.h"
#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/service.h"
#include "symbiont/symspy.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"
#include "symbiont/x86.h"

#define CALL_TIMEOUT_MS    2000 /* default; emu on a loaded host is slow */
#define CALL_TIMEOUT_MAX   60000
#define CALL_BUSY_TRIES    50 /* EBUSY answers before giving up */
#define CALL_BUSY_PAUSE_MS 10 /* guest time between them */
#define PROCS_MAX          (SYM_SYMCALL_DATA_MAX / sizeof(struct sym_symcall_proc))
#define VMAS_MAX           (SYM_SYMCALL_DATA_MAX / sizeof(struct sym_symcall_vma))

/* What a vCPU registered for SymCall (each written by its own MSR). */
struct symcall_reg {
	uint64_t rip, rsp, cs, gs, area; /* area: 0 = off */
};

struct call_result {
	uint32_t status, data_len;
	uint64_t ret;
	uint64_t ns;      /* host time from the request to the interrupted state back */
	uint64_t vcpu_ns; /* of it, the time the vCPU spent on the call (emu: from entering to leaving it) */
	int cpu;          /* the vCPU that answered */
};

/* One call's state between entering and leaving the handler. */
struct call_frame {
	int cpu;
	uint64_t area;
	uint32_t id;
	struct x86_state saved;
};

/* A call made on the vCPU thread, in one vCPU work item (or directly when
 * the requester is already there): enter, run the vCPU there until the
 * doorbell or the timeout (vm_vcpu_run_here), leave.  The vCPU thread
 * wakes nobody on the way: it sets done and signals s->cond (under the
 * service's mu) only if the requester sleeps.  repeat > 1: that many calls
 * back to back, each requested on the vCPU thread, their round trips in
 * rt_ns. */
#define REPEAT_MAX 100000
struct fast_call {
	int cpu, timeout_ms;
	uint32_t call;
	uint64_t args[6];
	const void *in;
	size_t in_len;
	struct call_frame frame;
	int repeat, made;
	uint64_t *rt_ns, *vcpu_ns; /* repeat > 1: per call */
	_Atomic uint64_t t_run;    /* when the handler in progress was entered, or 0 */
	atomic_int run_cpu;
	atomic_bool done;
	bool sleeping; /* under mu */
	int rc;
	struct call_result res;
	char err[256];
};

struct symbiotic {
	struct vm *vm;
	struct sym_sub *sub_global, *sub_cpu;
	char why_not[256]; /* why SymSpy cannot work on this VM */

	struct sym_sub *sub_call[5];
	struct symcall_reg reg[VM_MAX_CPUS]; /* written on vCPU threads (atomics) */
	bool pio_registered;
	/* the call in flight: the doorbell (vCPU thread, io_lock held) sets
	 * rang when it hears want_id; the control thread waits on cond */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint32_t next_id, want_id;
	bool rang;
	bool fast;           /* a call on the vCPU thread is in flight: the doorbell ends its run */
	struct fast_call fc; /* that call */
	uint8_t data[SYM_SYMCALL_AREA_SIZE];
	struct symcall_proc procs[PROCS_MAX];
	struct symcall_vma vmas[VMAS_MAX];
};

static const uint32_t call_msrs[5] = { SYM_MSR_SYMCALL_RIP, SYM_MSR_SYMCALL_RSP, SYM_MSR_SYMCALL_CS, SYM_MSR_SYMCALL_GS,
	                               SYM_MSR_SYMCALL_AREA };

/* A page address as the guest wrote it: page-aligned, enable bit, in RAM. */
static bool page_value_ok(struct symbiotic *s, uint64_t v)
{
	uint64_t gpa = v & ~(uint64_t)(SYM_SYMSPY_PAGE_SIZE - 1);
	return (v & (SYM_SYMSPY_PAGE_SIZE - 1)) == SYM_SYMSPY_ENABLE &&
	       gpa_to_host(&s->vm->mem, gpa, SYM_SYMSPY_PAGE_SIZE);
}

static enum sym_action on_msr(void *opaque, struct sym_event *ev)
{
	struct symbiotic *s = opaque;
	uint64_t v = ev->msr.value;
	_Atomic uint64_t *slot;

	/* recorded in the VM, where monitoring and guest OS awareness read
	 * the pages too (symbiont/symspy.h) */
	if (ev->msr.msr == SYM_MSR_SYMSPY_GLOBAL)
		slot = &s->vm->symspy.global_gpa;
	else if (ev->cpu >= 0 && ev->cpu < VM_MAX_CPUS)
		slot = &s->vm->symspy.cpu_gpa[ev->cpu];
	else
		return SYM_CONTINUE;
	if (v != 0 && !page_value_ok(s, v))
		return SYM_CONTINUE; /* the engine's #GP */
	atomic_store_explicit(slot, v & ~(uint64_t)(SYM_SYMSPY_PAGE_SIZE - 1), memory_order_release);
	return SYM_SKIP;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static enum sym_action on_call_msr(void *opaque, struct sym_event *ev)
{
	struct symbiotic *s = opaque;
	uint64_t v = ev->msr.value;
	struct symcall_reg *r;

	if (ev->cpu < 0 || ev->cpu >= VM_MAX_CPUS)
		return SYM_CONTINUE;
	r = &s->reg[ev->cpu];
	switch (ev->msr.msr) {
	case SYM_MSR_SYMCALL_RIP:
		if (!canonical(v))
			return SYM_CONTINUE; /* #GP */
		__atomic_store_n(&r->rip, v, __ATOMIC_RELAXED);
		break;
	case SYM_MSR_SYMCALL_RSP:
		if (!canonical(v))
			return SYM_CONTINUE;
		__atomic_store_n(&r->rsp, v, __ATOMIC_RELAXED);
		break;
	case SYM_MSR_SYMCALL_CS:
		if (v > 0xfff0 || (v & 7))
			return SYM_CONTINUE; /* a GDT selector with RPL 0 */
		__atomic_store_n(&r->cs, v, __ATOMIC_RELAXED);
		break;
	case SYM_MSR_SYMCALL_GS:
		if (!canonical(v))
			return SYM_CONTINUE;
		__atomic_store_n(&r->gs, v, __ATOMIC_RELAXED);
		break;
	case SYM_MSR_SYMCALL_AREA:
		if (v != 0 && ((v & 0xfff) != SYM_SYMCALL_ENABLE ||
		               !gpa_to_host(&s->vm->mem, v & ~0xfffull, SYM_SYMCALL_AREA_SIZE)))
			return SYM_CONTINUE;
		__atomic_store_n(&r->area, v & ~0xfffull, __ATOMIC_RELEASE);
		break;
	default: return SYM_CONTINUE;
	}
	return SYM_SKIP;
}

/* The doorbell: on the vCPU thread, io_lock held. */
static void doorbell_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct symbiotic *s = dev;
	if (off != 0 || size != 4)
		return;
	bool leave = false;
	pthread_mutex_lock(&s->mu);
	if (s->want_id && val == s->want_id) {
		s->rang = true;
		leave = s->fast;
		if (!leave) /* the paused call's waiter (kvm); a fast call's waits for its end */
			pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->mu);
	if (leave) /* back to the call's loop right after this OUT */
		vm_vcpu_run_end(s->vm, s->fc.cpu);
}

static uint64_t doorbell_read(void *dev, uint64_t off, unsigned size)
{
	(void)dev, (void)off, (void)size;
	return ~0ull;
}

static const struct io_ops doorbell_ops = { .read = doorbell_read, .write = doorbell_write };

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void code_seg(struct x86_seg *cs, uint16_t sel)
{
	*cs = (struct x86_seg){
		.sel = sel, .limit = 0xffffffff, .type = 0xb, .s = 1, .dpl = 0, .present = 1, .l = 1, .g = 1
	};
}

static void data_seg(struct x86_seg *ss, uint16_t sel)
{
	*ss = (struct x86_seg){
		.sel = sel, .limit = 0xffffffff, .type = 0x3, .s = 1, .dpl = 0, .present = 1, .db = 1, .g = 1
	};
}

static bool registered(struct symbiotic *s, int cpu)
{
	return __atomic_load_n(&s->reg[cpu].area, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&s->reg[cpu].rip, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&s->reg[cpu].cs, __ATOMIC_RELAXED);
}

/* Puts vCPU *cpup (-1: one picked, stored back) into the guest's handler
 * for call: the VM paused, or in vCPU work.  0, or -1 with one line in err
 * and nothing changed. */
static int enter_call(struct symbiotic *s, int *cpup, uint32_t call, const uint64_t args[6], const void *in,
                      size_t in_len, struct call_frame *f, char *err, size_t errlen)
{
	struct vm *vm = s->vm;
	struct symcall_reg r;
	struct x86_state st;
	struct sym_symcall_area hdr;
	char e[200];
	int cpu;

	if (*cpup < 0 && vm->ncpus == 1) {
		*cpup = 0;
	} else if (*cpup < 0) {
		/* any: the guest's RCU watches a vCPU in user mode, and not one
		 * that idles (halted), where the process walk answers EBUSY;
		 * so user mode first, then running, then any registered */
		int best = -1;
		for (int i = 0; i < vm->ncpus && i < VM_MAX_CPUS; i++) {
			int score;
			if (!registered(s, i) || vm_vcpu_get_parts(vm, i, &st, X86_STATE_EVENTS, e, sizeof(e)))
				continue;
			score = st.ev.mp_state != X86_MP_RUNNABLE ? 0 : st.seg[SEG_CS].dpl == 3 ? 2 : 1;
			if (score > best) {
				best = score;
				*cpup = i;
			}
		}
		if (*cpup < 0) {
			snprintf(err, errlen, "symcall: no vCPU has a SymCall entry (no symbiotic module loaded)");
			return -1;
		}
	}
	cpu = f->cpu = *cpup;
	if (!registered(s, cpu)) {
		snprintf(err, errlen, "symcall: vCPU %d has no SymCall entry (no symbiotic module loaded)", cpu);
		return -1;
	}
	r.area = __atomic_load_n(&s->reg[cpu].area, __ATOMIC_ACQUIRE);
	r.rip = __atomic_load_n(&s->reg[cpu].rip, __ATOMIC_RELAXED);
	r.rsp = __atomic_load_n(&s->reg[cpu].rsp, __ATOMIC_RELAXED);
	r.cs = __atomic_load_n(&s->reg[cpu].cs, __ATOMIC_RELAXED);
	r.gs = __atomic_load_n(&s->reg[cpu].gs, __ATOMIC_RELAXED);
	/* what the handler may change and leave_call puts back: the
	 * registers, the events and the FPU (not the MSRs, the LAPIC or the
	 * debug registers, which the call leaves alone) */
	if (vm_vcpu_get_parts(vm, cpu, &f->saved, X86_STATE_EVENTS | X86_STATE_FPU, e, sizeof(e))) {
		snprintf(err, errlen, "symcall: %s", e);
		return -1;
	}
	if (gpa_read(&vm->mem, r.area, &hdr, sizeof(hdr)) || hdr.magic != SYM_SYMCALL_MAGIC ||
	    hdr.layout != SYM_SYMCALL_LAYOUT) {
		snprintf(err, errlen, "symcall: vCPU %d's call area is not one this symbiont reads", cpu);
		return -1;
	}
	f->area = r.area;
	f->id = ++s->next_id;
	if (f->id == 0)
		f->id = s->next_id = 1;
	hdr.id = f->id;
	hdr.call = call;
	memcpy(hdr.args, args, sizeof(hdr.args));
	hdr.status = SYM_SYMCALL_PENDING;
	hdr.data_len = 0;
	hdr.ret = 0;
	gpa_write(&vm->mem, r.area, &hdr, sizeof(hdr));
	if (in_len) /* the call's input, in the area's data */
		gpa_write(&vm->mem, r.area + sizeof(hdr), in, in_len);

	/* the registers and the events, all this set_state reads (the
	 * parts beyond are 3 KiB a cold call would copy for nothing) */
	memcpy(&st, &f->saved, offsetof(struct x86_state, msr));
	st.rip = r.rip;
	st.gpr[X86_RSP] = r.rsp;
	st.rflags = 0x2; /* interrupts off */
	code_seg(&st.seg[SEG_CS], (uint16_t)r.cs);
	data_seg(&st.seg[SEG_SS], (uint16_t)(r.cs + 8));
	st.seg[SEG_GS].base = r.gs;
	if (f->saved.seg[SEG_CS].dpl == 3) /* a KPTI user CR3 is the kernel's with bits 11 (PCID) and 12 set */
		st.cr3 = f->saved.cr3 & ~((1ull << 11) | (1ull << 12));
	memset(&st.ev, 0, sizeof(st.ev));
	st.ev.nmi_masked = true;
	st.ev.mp_state = X86_MP_RUNNABLE;
	st.parts = X86_STATE_EVENTS | X86_STATE_SAME_MEMORY;
	pthread_mutex_lock(&s->mu);
	s->want_id = f->id;
	s->rang = false;
	pthread_mutex_unlock(&s->mu);
	if (vm_vcpu_set_state(vm, cpu, &st, e, sizeof(e))) {
		pthread_mutex_lock(&s->mu);
		s->want_id = 0;
		pthread_mutex_unlock(&s->mu);
		snprintf(err, errlen, "symcall: %s", e);
		return -1;
	}
	return 0;
}

/* Puts the interrupted state back, whatever the handler did, and reads the
 * answer if it rang: the VM paused, or in vCPU work.  0 with res, or -1. */
static int leave_call(struct symbiotic *s, struct call_frame *f, int timeout_ms, struct call_result *res, char *err,
                      size_t errlen)
{
	struct sym_symcall_area hdr;
	char e[200];
	bool rang;

	pthread_mutex_lock(&s->mu);
	rang = s->rang;
	s->want_id = 0;
	pthread_mutex_unlock(&s->mu);
	f->saved.parts = X86_STATE_EVENTS | X86_STATE_FPU | X86_STATE_SAME_MEMORY;
	if (vm_vcpu_set_state(s->vm, f->cpu, &f->saved, e, sizeof(e))) {
		snprintf(err, errlen, "symcall: restoring vCPU %d failed: %s", f->cpu, e);
		return -1;
	}
	if (!rang) {
		snprintf(err, errlen, "symcall: the guest's handler did not return within %d ms; vCPU %d restored",
		         timeout_ms, f->cpu);
		return -1;
	}
	if (gpa_read(&s->vm->mem, f->area, &hdr, sizeof(hdr)) ||
	    symcall_check_result(&hdr, f->id, sizeof(s->data), &res->status, &res->ret, &res->data_len, err, errlen) ||
	    gpa_read(&s->vm->mem, f->area + sizeof(hdr), s->data, res->data_len)) {
		if (!err[0])
			snprintf(err, errlen, "symcall: the call area is not in guest RAM");
		return -1;
	}
	return 0;
}

/* Waits on s->cond until *flag or the deadline (CLOCK_REALTIME); s->mu held. */
static void wait_flag(struct symbiotic *s, const bool *flag, int ms)
{
	struct timespec d = host_deadline_after_ns((uint64_t)ms * 1000000ULL);
	while (!*flag && pthread_cond_timedwait(&s->cond, &s->mu, &d) == 0)
		;
}

/* ---- the call on the vCPU thread (engines that run vCPU work: emu) ------ */

/* vm_vcpu_run_here's condition: the handler rang (doorbell_write). */
static bool call_rang(void *arg)
{
	struct symbiotic *s = arg;
	bool r;
	pthread_mutex_lock(&s->mu);
	r = s->rang;
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* On the vCPU thread, inside vCPU work: one whole call.  The handler is
 * cut off timeout_ms after it was entered (a handler that faults, loops or
 * halts never rings; the requester's wait_fast makes the run look at the
 * time), and the state is put back either way. */
static int call_here(struct symbiotic *s, struct call_result *res, char *err, size_t errlen)
{
	struct fast_call *fc = &s->fc;
	uint64_t t = mono_ns();
	char e[160];
	int r;

	if (enter_call(s, &fc->cpu, fc->call, fc->args, fc->in, fc->in_len, &fc->frame, err, errlen))
		return -1;
	atomic_store(&fc->run_cpu, fc->cpu);
	atomic_store(&fc->t_run, t);
	r = vm_vcpu_run_here(s->vm, fc->cpu, call_rang, s, (uint64_t)fc->timeout_ms * 1000000ull, e, sizeof(e));
	atomic_store(&fc->t_run, 0);
	if (leave_call(s, &fc->frame, fc->timeout_ms, res, err, errlen))
		return -1;
	res->vcpu_ns = mono_ns() - t;
	if (r < 0) { /* not reached on an engine that runs vCPU work; the state is back */
		snprintf(err, errlen, "symcall: %s", e);
		return -1;
	}
	return 0;
}

/* vCPU work: the call (or repeat of them); wakes the requester if it sleeps. */
static void fast_work(struct vm *vm, void *arg)
{
	struct symbiotic *s = arg;
	struct fast_call *fc = &s->fc;
	(void)vm;
	fc->rc = 0;
	for (fc->made = 0; fc->made < fc->repeat && !fc->rc; fc->made++) {
		uint64_t t = mono_ns();
		fc->rc = call_here(s, &fc->res, fc->err, sizeof(fc->err));
		if (fc->repeat > 1) {
			fc->rt_ns[fc->made] = mono_ns() - t;
			fc->vcpu_ns[fc->made] = fc->res.vcpu_ns;
		}
	}
	pthread_mutex_lock(&s->mu);
	atomic_store_explicit(&fc->done, true, memory_order_release);
	if (fc->sleeping)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/* Waits, asleep, for fast_work to be done: polling for it looks cheaper
 * but is not, as the vCPU thread, woken from its idle sleep by the
 * request, is usually placed on the requester's own host CPU and would
 * wait for the poll to end (bench/symcall.sh measured 210 us round trips
 * with a 200 us poll, 20 us without).  It is the cut-off's clock: every
 * few ms (at most timeout_ms) it looks at the handler in progress and, past
 * timeout_ms, brings the vCPU's run back to see the time (again each turn:
 * a request made between two slices is lost).  bound_ms is for a vCPU
 * thread that never takes the work (the VM stopping).  false if it did not
 * end. */
static bool wait_fast(struct symbiotic *s, int timeout_ms, uint64_t bound_ms)
{
	struct fast_call *fc = &s->fc;
	const uint64_t ms = 1000000ull, start = mono_ns();
	uint64_t step = timeout_ms < 20 ? (uint64_t)timeout_ms : 20;

	while (!atomic_load(&fc->done) && mono_ns() - start < bound_ms * ms) {
		uint64_t t = atomic_load(&fc->t_run), now = mono_ns();
		if (t && now - t >= (uint64_t)timeout_ms * ms)
			vm_vcpu_run_end(s->vm, atomic_load(&fc->run_cpu));
		struct timespec d = host_deadline_after_ns(step * ms); /* s->cond's clock */
		pthread_mutex_lock(&s->mu);
		fc->sleeping = true;
		while (!atomic_load(&fc->done) && pthread_cond_timedwait(&s->cond, &s->mu, &d) == 0)
			;
		fc->sleeping = false;
		pthread_mutex_unlock(&s->mu);
	}
	return atomic_load(&fc->done);
}

/* 1 when the engine cannot run the call on its vCPU thread (use the pause),
 * else 0 with res or -1 with err.  repeat > 1 (null calls): rt_ns and
 * vcpu_ns get each call's figures, res the last one's. */
static int call_fast(struct symbiotic *s, int *cpup, uint32_t call, const uint64_t args[6], const void *in,
                     size_t in_len, int timeout_ms, int repeat, uint64_t *rt_ns, uint64_t *vcpu_ns,
                     struct call_result *res, char *err, size_t errlen)
{
	struct fast_call *fc = &s->fc;
	uint64_t t0 = mono_ns();
	char e[160];
	bool ok;

	if (vm_in_vcpu_work(s->vm)) {
		/* no thread would be left to cut a runaway handler off */
		snprintf(err, errlen, "symcall: not from inside vCPU work (ask with repeat for calls made there)");
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	*fc = (struct fast_call){ .cpu = *cpup,
		                  .call = call,
		                  .in = in,
		                  .in_len = in_len,
		                  .timeout_ms = timeout_ms,
		                  .repeat = repeat,
		                  .rt_ns = rt_ns,
		                  .vcpu_ns = vcpu_ns };
	memcpy(fc->args, args, sizeof(fc->args));
	s->fast = true;
	pthread_mutex_unlock(&s->mu);
	if (vm_vcpu_work(s->vm, fast_work, s, e, sizeof(e))) {
		pthread_mutex_lock(&s->mu);
		s->fast = false;
		pthread_mutex_unlock(&s->mu);
		return 1;
	}
	ok = wait_fast(s, timeout_ms, (uint64_t)CALL_TIMEOUT_MAX + (uint64_t)repeat * ((uint64_t)timeout_ms + 1000));
	pthread_mutex_lock(&s->mu);
	s->fast = false;
	pthread_mutex_unlock(&s->mu);
	if (!ok) {
		snprintf(err, errlen, "symcall: the vCPU thread never took the call (the VM is stopping?)");
		return -1;
	}
	*cpup = fc->cpu;
	if (fc->rc) {
		snprintf(err, errlen, "%s", fc->err);
		return -1;
	}
	*res = fc->res;
	res->ns = mono_ns() - t0;
	return 0;
}

/* One call on vCPU *cpup (-1: one the function picks, stored back): 0 with
 * *res, or -1 with one line in err.  The data is left in s->data.  On the
 * vCPU thread where the engine allows it (emu), else with the VM paused
 * around entering and leaving the handler (kvm). */
static int call_once(struct symbiotic *s, int *cpup, uint32_t call, const uint64_t args[6], const void *in,
                     size_t in_len, int timeout_ms, struct call_result *res, char *err, size_t errlen)
{
	struct vm *vm = s->vm;
	struct call_frame f;
	uint64_t t0 = mono_ns(), t1;
	int rc;

	err[0] = 0;
	if ((rc = call_fast(s, cpup, call, args, in, in_len, timeout_ms, 1, NULL, NULL, res, err, errlen)) <= 0)
		return rc;
	if (vm_pause(vm)) {
		snprintf(err, errlen, "symcall: cannot pause the VM");
		return -1;
	}
	rc = enter_call(s, cpup, call, args, in, in_len, &f, err, errlen);
	t1 = mono_ns();
	vm_resume(vm);
	if (rc)
		return -1;
	pthread_mutex_lock(&s->mu);
	wait_flag(s, &s->rang, timeout_ms);
	pthread_mutex_unlock(&s->mu);
	vm_pause(vm);
	rc = leave_call(s, &f, timeout_ms, res, err, errlen);
	res->vcpu_ns = mono_ns() - t1;
	vm_resume(vm);
	res->ns = mono_ns() - t0;
	return rc;
}

/* call_once, again while the guest answers EBUSY (up to tries times, the
 * guest running CALL_BUSY_PAUSE_MS between). */
static int call_until_answered(struct symbiotic *s, int cpu, uint32_t call, const uint64_t a[6], const void *in,
                               size_t in_len, int timeout, int tries, struct call_result *res, int *busy, char *err,
                               size_t errlen)
{
	for (*busy = 0;;) {
		int c = cpu;
		if (call_once(s, &c, call, a, in, in_len, timeout, res, err, errlen))
			return -1;
		res->cpu = c;
		if (res->status != SYM_SYMCALL_EBUSY)
			return 0;
		if (++*busy == tries) {
			snprintf(err, errlen,
			         "symcall: the guest answered busy %d times (vCPU %d idle or the call's locks held)",
			         *busy, c);
			return -1;
		}
		struct timespec d = { 0, CALL_BUSY_PAUSE_MS * 1000000L };
		nanosleep(&d, NULL);
	}
}

/* ---- a file's page cache ------------------------------------------------------- */

#define FCACHE_TRIES 3000 /* EBUSY answers while the guest's worker looks the path up: 30 s */
#define FCACHE_REC_MAX \
	((SYM_SYMCALL_DATA_MAX - sizeof(struct sym_symcall_fcache)) / sizeof(struct sym_symcall_fcache_page))
#define FCACHE_ALL_MAX (1u << 22)               /* pages listed in all (16 GiB of file) */
#define FCACHE_CALLS   (FCACHE_ALL_MAX / 1024u) /* answers to one command: a guest giving a page at a time stops */
#define FCACHE_TIME_NS (60ull * 1000000000ull)  /* and the time they may take, busy answers included */

/* The cached pages' bytes into a new host file of the file's size: what
 * is not cached stays a hole (reads as zeros). */
static int fcache_save(struct symbiotic *s, const char *file, uint64_t size, const struct sym_symcall_fcache_page *pg,
                       size_t n, uint64_t *saved, char *err, size_t errlen)
{
	uint8_t page[4096];
	FILE *f = fopen(file, "wb");
	*saved = 0;
	if (!f) {
		snprintf(err, errlen, "symcall pagecache: %.200s: %s", file, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (pg[i].index >= (size + 4095) / 4096)
			break; /* past the end (a truncate racing the walk) */
		uint64_t off = pg[i].index * 4096, len = size - off < 4096 ? size - off : 4096;
		if (gpa_read(&s->vm->mem, pg[i].gpa, page, sizeof(page))) {
			snprintf(err, errlen, "symcall pagecache: the guest named page 0x%llx, not in its RAM",
			         (unsigned long long)pg[i].gpa);
			goto fail;
		}
		if (fseeko(f, (off_t)off, SEEK_SET) || fwrite(page, 1, len, f) != len)
			goto io;
		*saved += len;
	}
	if (fflush(f) || ftruncate(fileno(f), (off_t)size))
		goto io;
	if (fclose(f)) {
		f = NULL;
		goto io;
	}
	return 0;
io:
	snprintf(err, errlen, "symcall pagecache: writing %.200s: %s", file, strerror(errno));
fail:
	if (f)
		fclose(f);
	remove(file);
	return -1;
}

/* Consecutive pages at consecutive addresses, as one run each. */
static struct json_object *fcache_runs(const struct sym_symcall_fcache_page *pg, size_t n)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n;) {
		size_t k = 1;
		while (i + k < n && pg[i + k].index == pg[i].index + k && pg[i + k].gpa == pg[i].gpa + 4096 * k)
			k++;
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "index", json_object_new_uint64(pg[i].index));
		json_object_object_add(r, "gpa", json_object_new_uint64(pg[i].gpa));
		json_object_object_add(r, "pages", json_object_new_uint64(k));
		json_object_array_add(arr, r);
		i += k;
	}
	return arr;
}

/* pagecache PATH [save FILE] and drop PATH: the calls again from each
 * answer's next index until the walk ends. */
static int cmd_fcache(struct symbiotic *s, const char *name, uint32_t call, struct json_object *args, int cpu,
                      int timeout, struct json_object **ret, char *err, size_t errlen)
{
	struct json_object *x;
	const char *path = NULL, *save = NULL;
	struct sym_symcall_fcache head = { 0 };
	struct sym_symcall_fcache_page *all = NULL;
	size_t n = 0, cap = 0;
	uint64_t start = 0, t0 = mono_ns(), saved = 0, answer = 0;
	int calls = 0, rc = -1;

	if (args && json_object_object_get_ex(args, "path", &x) && json_object_is_type(x, json_type_string) &&
	    (size_t)json_object_get_string_len(x) == strlen(json_object_get_string(x)))
		path = json_object_get_string(x);
	if (!path || path[0] != '/' || strlen(path) >= SYM_SYMCALL_PATH_MAX) {
		snprintf(err, errlen, "symcall %s: 'path' (an absolute guest path under %u bytes) is required", name,
		         SYM_SYMCALL_PATH_MAX);
		return -1;
	}
	if (args && json_object_object_get_ex(args, "save", &x)) {
		save = json_object_get_string(x);
		if (call != SYM_SYMCALL_FILE_PAGES || !save || save[0] != '/') {
			snprintf(err, errlen, "symcall %s: 'save' is an absolute host path, for pagecache only", name);
			return -1;
		}
	}
	do {
		uint64_t a[6] = { start };
		struct call_result res = { 0 };
		int busy, k;
		if (calls == (int)FCACHE_CALLS || mono_ns() - t0 > FCACHE_TIME_NS) {
			snprintf(err, errlen, "symcall %s: the guest's walk did not end after %d answers", name, calls);
			goto out;
		}
		if (call_until_answered(s, cpu, call, a, path, strlen(path) + 1, timeout, FCACHE_TRIES, &res, &busy,
		                        err, errlen))
			goto out;
		calls++;
		if (res.status == SYM_SYMCALL_ERRNO) {
			int64_t e = (int64_t)res.ret;
			snprintf(err, errlen, "symcall %s %.200s: %s", name, path,
			         e < 0 && e > -4096 ? strerror((int)-e) : "failed in the guest");
			goto out;
		}
		if (res.status == SYM_SYMCALL_ENOSYS) {
			snprintf(err, errlen, "symcall %s: the guest's module does not know call %u (an older one)",
			         name, call);
			goto out;
		}
		if (res.status != SYM_SYMCALL_OK) {
			snprintf(err, errlen, "symcall %s: the guest answered status %u", name, res.status);
			goto out;
		}
		if (cap - n < FCACHE_REC_MAX) {
			void *p = cap + FCACHE_REC_MAX > FCACHE_ALL_MAX
			                  ? NULL
			                  : realloc(all, (cap + FCACHE_REC_MAX) * sizeof(*all));
			if (!p) {
				snprintf(err, errlen, "symcall %s: more than %u cached pages", name, FCACHE_ALL_MAX);
				goto out;
			}
			all = p;
			cap += FCACHE_REC_MAX;
		}
		k = symcall_parse_fcache(s->data, res.data_len, call, res.ret, start, &head, all + n, cap - n, err,
		                         errlen);
		if (k < 0)
			goto out;
		n += (size_t)k;
		answer = res.ret;
		start = head.next;
	} while (call == SYM_SYMCALL_FILE_PAGES && head.next != SYM_FCACHE_END);
	if (save && head.size > (uint64_t)FCACHE_ALL_MAX * 4096) {
		snprintf(err, errlen, "symcall pagecache: the guest says %llu bytes, more than this saves",
		         (unsigned long long)head.size);
		goto out;
	}
	if (save && fcache_save(s, save, head.size, all, n, &saved, err, errlen))
		goto out;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "call", json_object_new_string(name));
	json_object_object_add(*ret, "path", json_object_new_string(path));
	json_object_object_add(*ret, "size", json_object_new_uint64(head.size));
	json_object_object_add(*ret, "size_pages", json_object_new_uint64((head.size + 4095) / 4096));
	json_object_object_add(*ret, "cached_pages", json_object_new_uint64(head.cached));
	if (call == SYM_SYMCALL_FILE_PAGES) {
		json_object_object_add(*ret, "listed_pages", json_object_new_uint64(n));
		json_object_object_add(*ret, "runs", fcache_runs(all, n));
		if (save)
			json_object_object_add(*ret, "saved_bytes", json_object_new_uint64(saved));
	} else {
		json_object_object_add(*ret, "dropped_pages", json_object_new_uint64(answer));
	}
	json_object_object_add(*ret, "calls", json_object_new_int(calls));
	json_object_object_add(*ret, "ms", json_object_new_int64((int64_t)((mono_ns() - t0) / 1000000)));
	rc = 0;
out:
	free(all);
	return rc;
}

/* "256" or "0x100": a call number a guest module registered. */
static bool registered_call(const char *name, uint32_t *call)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 0);
	if (errno || end == name || *end || v < SYM_SYMCALL_FIRST_REGISTERED || v > UINT32_MAX)
		return false;
	*call = (uint32_t)v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* symcall null {"repeat": N}: N null calls back to back in one vCPU work
 * item, each requested on the vCPU thread (the in-process path with no
 * thread hand-off), reported as medians and minima. */
static int cmd_repeat(struct symbiotic *s, uint32_t call, const uint64_t a[6], int cpu, int timeout, int n,
                      struct json_object **ret, char *err, size_t errlen)
{
	struct call_result res = { 0 };
	uint64_t *rt, *vc;
	struct json_object *o;
	int rc;

	if (call != SYM_SYMCALL_NULL) {
		snprintf(err, errlen, "symcall: repeat is for the null call");
		return -1;
	}
	if (n < 1 || n > REPEAT_MAX) {
		snprintf(err, errlen, "symcall: repeat must be 1..%d", REPEAT_MAX);
		return -1;
	}
	rt = calloc((size_t)n, sizeof(*rt));
	vc = calloc((size_t)n, sizeof(*vc));
	if (!rt || !vc) {
		free(rt);
		free(vc);
		snprintf(err, errlen, "symcall: out of memory");
		return -1;
	}
	rc = call_fast(s, &cpu, call, a, NULL, 0, timeout, n, rt, vc, &res, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "symcall: repeat needs an engine that runs the call on its vCPU thread (emu)");
	if (rc) {
		free(rt);
		free(vc);
		return -1;
	}
	qsort(rt, (size_t)n, sizeof(*rt), cmp_u64);
	qsort(vc, (size_t)n, sizeof(*vc), cmp_u64);
	o = json_object_new_object();
	json_object_object_add(o, "call", json_object_new_string("null"));
	json_object_object_add(o, "cpu", json_object_new_int(cpu));
	json_object_object_add(o, "repeat", json_object_new_int(n));
	json_object_object_add(o, "ret", json_object_new_int64((int64_t)res.ret));
	json_object_object_add(o, "round_trip_ns", json_object_new_int64((int64_t)rt[n / 2]));
	json_object_object_add(o, "round_trip_min_ns", json_object_new_int64((int64_t)rt[0]));
	json_object_object_add(o, "vcpu_ns", json_object_new_int64((int64_t)vc[n / 2]));
	json_object_object_add(o, "vcpu_min_ns", json_object_new_int64((int64_t)vc[0]));
	free(rt);
	free(vc);
	*ret = o;
	return 0;
}

static int cmd_symcall(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct symbiotic *s = opaque;
	struct json_object *x, *o;
	uint64_t a[6] = { 0 };
	const char *name = "null";
	uint32_t call;
	int cpu = -1, timeout = CALL_TIMEOUT_MS, busy = 0;
	struct call_result res = { 0 };

	if (s->why_not[0]) {
		snprintf(err, errlen, "%s", s->why_not);
		return -1;
	}
	if (args && json_object_object_get_ex(args, "call", &x))
		name = json_object_get_string(x);
	if (!strcmp(name, "null"))
		call = SYM_SYMCALL_NULL;
	else if (!strcmp(name, "processes") || !strcmp(name, "ps"))
		call = SYM_SYMCALL_PROCESSES;
	else if (!strcmp(name, "vmas"))
		call = SYM_SYMCALL_VMAS;
	else if (!strcmp(name, "translate"))
		call = SYM_SYMCALL_TRANSLATE;
	else if (!strcmp(name, "spin"))
		call = SYM_SYMCALL_SPIN;
	else if (!strcmp(name, "pagecache"))
		call = SYM_SYMCALL_FILE_PAGES;
	else if (!strcmp(name, "drop"))
		call = SYM_SYMCALL_FILE_DROP;
	else if (registered_call(name, &call))
		; /* a number: a call a module registered (SymMod) */
	else {
		snprintf(err, errlen,
		         "symcall: unknown call '%.64s' (null, processes, vmas, translate, pagecache, drop, spin)",
		         name);
		return -1;
	}
	if (args && json_object_object_get_ex(args, "arg", &x))
		a[0] = (uint64_t)json_object_get_int64(x);
	if (args && json_object_object_get_ex(args, "arg2", &x))
		a[1] = json_object_get_uint64(x);
	if ((call == SYM_SYMCALL_VMAS || call == SYM_SYMCALL_TRANSLATE) &&
	    (!json_object_object_get_ex(args, "arg", &x) || a[0] == 0 || a[0] > INT32_MAX)) {
		snprintf(err, errlen, "symcall %s: 'arg' (a pid) is required", name);
		return -1;
	}
	if (call == SYM_SYMCALL_TRANSLATE && !json_object_object_get_ex(args, "arg2", &x)) {
		snprintf(err, errlen, "symcall translate: 'arg2' (a virtual address) is required");
		return -1;
	}
	if (args && json_object_object_get_ex(args, "cpu", &x)) {
		cpu = json_object_get_int(x);
		if (cpu < 0 || cpu >= s->vm->ncpus) {
			snprintf(err, errlen, "symcall: no vCPU %d", cpu);
			return -1;
		}
	}
	if (args && json_object_object_get_ex(args, "timeout_ms", &x)) {
		timeout = json_object_get_int(x);
		if (timeout <= 0 || timeout > CALL_TIMEOUT_MAX) {
			snprintf(err, errlen, "symcall: timeout_ms must be 1..%d", CALL_TIMEOUT_MAX);
			return -1;
		}
	}
	if (s->vm->user_paused) {
		snprintf(err, errlen, "symcall: the VM is paused (resume it first: the handler must run)");
		return -1;
	}
	if (call == SYM_SYMCALL_FILE_PAGES || call == SYM_SYMCALL_FILE_DROP)
		return cmd_fcache(s, name, call, args, cpu, timeout, ret, err, errlen);
	if (args && json_object_object_get_ex(args, "repeat", &x))
		return cmd_repeat(s, call, a, cpu, timeout, json_object_get_int(x), ret, err, errlen);
	if (call_until_answered(s, cpu, call, a, NULL, 0, timeout, CALL_BUSY_TRIES, &res, &busy, err, errlen))
		return -1;
	if (res.status == SYM_SYMCALL_ENOSYS) {
		snprintf(err, errlen, "symcall: the guest's module does not know call %u", call);
		return -1;
	}
	if (res.status == SYM_SYMCALL_ENOENT) {
		snprintf(err, errlen, "symcall %s: %s", name,
		         call == SYM_SYMCALL_TRANSLATE ? "no such user process, or the address is not mapped"
		                                       : "no such user process");
		return -1;
	}
	o = json_object_new_object();
	json_object_object_add(o, "call", json_object_new_string(name));
	json_object_object_add(o, "cpu", json_object_new_int(res.cpu));
	json_object_object_add(o, "ret", json_object_new_int64((int64_t)res.ret));
	json_object_object_add(o, "round_trip_ns", json_object_new_int64((int64_t)res.ns));
	json_object_object_add(o, "vcpu_ns", json_object_new_int64((int64_t)res.vcpu_ns));
	json_object_object_add(o, "busy_retries", json_object_new_int(busy));
	json_object_object_add(o, "truncated", json_object_new_boolean(res.status == SYM_SYMCALL_TRUNC));
	if (call == SYM_SYMCALL_PROCESSES) {
		int n = symcall_parse_procs(s->data, res.data_len, res.ret, s->procs, PROCS_MAX, err, errlen);
		struct json_object *arr;
		if (n < 0) {
			json_object_put(o);
			return -1;
		}
		arr = json_object_new_array();
		for (int i = 0; i < n; i++) {
			struct json_object *p = json_object_new_object();
			json_object_object_add(p, "pid", json_object_new_int(s->procs[i].pid));
			json_object_object_add(p, "ppid", json_object_new_int(s->procs[i].ppid));
			json_object_object_add(p, "uid", json_object_new_int64(s->procs[i].uid));
			json_object_object_add(p, "state", json_object_new_int64(s->procs[i].state));
			json_object_object_add(p, "kernel_thread", json_object_new_boolean(s->procs[i].kthread));
			json_object_object_add(p, "comm", json_object_new_string(s->procs[i].comm));
			json_object_array_add(arr, p);
		}
		json_object_object_add(o, "processes", arr);
	}
	if (call == SYM_SYMCALL_VMAS) {
		int n = symcall_parse_vmas(s->data, res.data_len, res.ret, s->vmas, VMAS_MAX, err, errlen);
		if (n < 0) {
			json_object_put(o);
			return -1;
		}
		struct json_object *arr = json_object_new_array();
		for (int i = 0; i < n; i++) {
			const struct symcall_vma *v = &s->vmas[i];
			struct json_object *m = json_object_new_object();
			char perms[5] = { v->flags & SYM_VMA_READ ? 'r' : '-', v->flags & SYM_VMA_WRITE ? 'w' : '-',
				          v->flags & SYM_VMA_EXEC ? 'x' : '-', v->flags & SYM_VMA_SHARED ? 's' : 'p',
				          0 };
			json_object_object_add(m, "start", json_object_new_uint64(v->start));
			json_object_object_add(m, "end", json_object_new_uint64(v->end));
			json_object_object_add(m, "perms", json_object_new_string(perms));
			json_object_object_add(m, "pgoff", json_object_new_uint64(v->pgoff));
			json_object_object_add(m, "path", json_object_new_string(v->path));
			json_object_array_add(arr, m);
		}
		json_object_object_add(o, "vmas", arr);
	}
	if (call == SYM_SYMCALL_TRANSLATE)
		json_object_object_add(o, "gpa", json_object_new_uint64(res.ret));
	if (call >= SYM_SYMCALL_FIRST_REGISTERED && res.data_len) {
		/* a registered call's data: as text when it is text */
		size_t n = res.data_len;
		bool text = true;
		while (n && !s->data[n - 1])
			n--;
		for (size_t i = 0; i < n && text; i++)
			text = s->data[i] >= 0x20 && s->data[i] < 0x7f;
		if (text)
			json_object_object_add(o, "data", json_object_new_string_len((const char *)s->data, (int)n));
		json_object_object_add(o, "data_len", json_object_new_int((int)res.data_len));
	}
	*ret = o;
	return 0;
}

/* ---- SymMod ----------------------------------------------------------------- */

#define SYMMOD_CHUNK    32768u /* bytes per DATA call (within the call area's data) */
#define SYMMOD_TRIES    3000   /* EBUSY answers while the guest works: 30 s of 10 ms */
#define SYMMOD_NAME_MAX 56

/* A symmod call: the guest's answer, with -errno results and EBUSY-forever as errors. */
static int symmod_call(struct symbiotic *s, uint32_t call, uint64_t a0, uint64_t a1, const void *in, size_t in_len,
                       const char *what, uint64_t *ret, char *err, size_t errlen)
{
	uint64_t a[6] = { a0, a1 };
	struct call_result res = { 0 };
	int busy;
	if (call_until_answered(s, -1, call, a, in, in_len, CALL_TIMEOUT_MS, SYMMOD_TRIES, &res, &busy, err, errlen))
		return -1;
	if (res.status == SYM_SYMCALL_ENOSYS) {
		snprintf(err, errlen, "symmod: the guest's symbiotic module has no SymMod (an older one)");
		return -1;
	}
	if (res.status != SYM_SYMCALL_OK || (int64_t)res.ret < 0) {
		snprintf(err, errlen, "symmod: %s failed in the guest (status %u, %s)", what, res.status,
		         (int64_t)res.ret < 0 ? strerror((int)-(int64_t)res.ret) : "no error code");
		return -1;
	}
	*ret = res.ret;
	return 0;
}

/* The module's name, from its .modinfo "name=" (what lsmod and rmmod use). */
static void module_name(const uint8_t *ko, size_t len, char *out, size_t outlen)
{
	static const char key[] = "name=";
	out[0] = 0;
	for (size_t i = 0; i + sizeof(key) < len; i++) {
		if (memcmp(ko + i, key, sizeof(key) - 1) || (i && ko[i - 1]))
			continue;
		size_t k = 0;
		const uint8_t *p = ko + i + sizeof(key) - 1;
		while (k + 1 < outlen && p + k < ko + len && (isalnum(p[k]) || p[k] == '_' || p[k] == '-'))
			k++;
		if (p + k < ko + len && !p[k] && k) {
			memcpy(out, p, k);
			out[k] = 0;
			return;
		}
	}
}

static int cmd_symmod_load(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct symbiotic *s = opaque;
	struct json_object *x;
	const char *path = NULL;
	char name[SYMMOD_NAME_MAX + 1];
	uint8_t *ko = NULL;
	uint64_t r, t0 = mono_ns();
	long len;
	int rc = -1;

	if (args && json_object_object_get_ex(args, "path", &x) && json_object_is_type(x, json_type_string))
		path = json_object_get_string(x);
	if (!path) {
		snprintf(err, errlen, "symmod-load: 'path' (a module file on the host) is required");
		return -1;
	}
	if (s->why_not[0] || s->vm->user_paused) {
		snprintf(err, errlen, "%s", s->why_not[0] ? s->why_not : "symmod: the VM is paused (resume it first)");
		return -1;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "symmod-load: %.200s: %s", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) || len < 64 ||
	    len > (long)SYM_SYMMOD_MAX || !(ko = malloc((size_t)len)) || fread(ko, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, errlen, "symmod-load: %.200s: not a module file of 64 bytes to %u MiB", path,
		         SYM_SYMMOD_MAX >> 20);
		goto out;
	}
	if (memcmp(ko,
	           "\x7f"
	           "ELF",
	           4) ||
	    ko[4] != 2 /* 64-bit */ || ko[16] != 1 /* ET_REL */) {
		snprintf(err, errlen, "symmod-load: %.200s is not a 64-bit relocatable ELF (a kernel module)", path);
		goto out;
	}
	module_name(ko, (size_t)len, name, sizeof(name));
	if (!name[0]) {
		snprintf(err, errlen, "symmod-load: %.200s has no module name (.modinfo name=)", path);
		goto out;
	}
	if (symmod_call(s, SYM_SYMCALL_SYMMOD_BEGIN, (uint64_t)len, 0, NULL, 0, "allocating", &r, err, errlen))
		goto out;
	for (long off = 0; off < len; off += SYMMOD_CHUNK) {
		size_t n = (size_t)(len - off) < SYMMOD_CHUNK ? (size_t)(len - off) : SYMMOD_CHUNK;
		if (symmod_call(s, SYM_SYMCALL_SYMMOD_DATA, (uint64_t)off, n, ko + off, n, "copying", &r, err, errlen))
			goto out;
		if (r != n) {
			snprintf(err, errlen, "symmod-load: the guest took %llu of %zu bytes", (unsigned long long)r,
			         n);
			goto out;
		}
	}
	if (symmod_call(s, SYM_SYMCALL_SYMMOD_LOAD, 0, 0, NULL, 0, "insmod", &r, err, errlen))
		goto out;
	if (r) {
		snprintf(err, errlen,
		         "symmod-load: insmod %s in the guest failed (exit status %llu; the guest's log says why)",
		         name, (unsigned long long)(r >> 8 ? r >> 8 : r));
		goto out;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "name", json_object_new_string(name));
	json_object_object_add(*ret, "bytes", json_object_new_int64(len));
	json_object_object_add(*ret, "ms", json_object_new_int64((int64_t)((mono_ns() - t0) / 1000000)));
	rc = 0;
out:
	fclose(f);
	free(ko);
	return rc;
}

static int cmd_symmod_unload(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct symbiotic *s = opaque;
	struct json_object *x;
	const char *name = NULL;
	uint64_t r;
	(void)ret;

	if (args && json_object_object_get_ex(args, "name", &x) && json_object_is_type(x, json_type_string))
		name = json_object_get_string(x);
	if (!name || !name[0] || strlen(name) > SYMMOD_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name)) {
		snprintf(err, errlen, "symmod-unload: 'name' (a module name: letters, digits, _ and -) is required");
		return -1;
	}
	if (s->why_not[0] || s->vm->user_paused) {
		snprintf(err, errlen, "%s", s->why_not[0] ? s->why_not : "symmod: the VM is paused (resume it first)");
		return -1;
	}
	if (!strcmp(name, "symbiotic")) {
		snprintf(err, errlen, "symmod-unload: not the symbiotic module itself (SymMod runs through it)");
		return -1;
	}
	if (symmod_call(s, SYM_SYMCALL_SYMMOD_UNLOAD, 0, 0, name, strlen(name) + 1, "rmmod", &r, err, errlen))
		return -1;
	if (r) {
		snprintf(err, errlen, "symmod-unload: rmmod %s in the guest failed (exit status %llu)", name,
		         (unsigned long long)(r >> 8 ? r >> 8 : r));
		return -1;
	}
	return 0;
}

static struct json_object *jkb(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *global_json(const struct symspy_global *g, uint64_t gpa)
{
	struct json_object *o = json_object_new_object(), *la = json_object_new_array(), *rq = json_object_new_array();
	char b[32];

	json_object_object_add(o, "source", json_object_new_string("symspy"));
	snprintf(b, sizeof(b), "0x%" PRIx64, gpa);
	json_object_object_add(o, "gpa", json_object_new_string(b));
	json_object_object_add(o, "release", json_object_new_string(g->release));
	snprintf(b, sizeof(b), "0x%" PRIx64, g->kaslr_base);
	json_object_object_add(o, "kaslr_base", json_object_new_string(b));
	json_object_object_add(o, "updates", jkb(g->updates));
	json_object_object_add(o, "update_ns", jkb(g->update_ns));
	json_object_object_add(o, "mem_total_kb", jkb(g->mem_total_kb));
	json_object_object_add(o, "mem_free_kb", jkb(g->mem_free_kb));
	json_object_object_add(o, "mem_available_kb", jkb(g->mem_available_kb));
	json_object_object_add(o, "page_cache_kb", jkb(g->page_cache_kb));
	json_object_object_add(o, "anon_kb", jkb(g->anon_kb));
	json_object_object_add(o, "buffers_kb", jkb(g->buffers_kb));
	for (int i = 0; i < 3; i++)
		json_object_array_add(la, json_object_new_double(g->loadavg[i]));
	json_object_object_add(o, "loadavg", la);
	json_object_object_add(o, "nr_cpus", json_object_new_int64(g->nr_cpus));
	json_object_object_add(o, "nr_running", json_object_new_int64(g->nr_running));
	json_object_object_add(o, "nr_tasks", json_object_new_int64(g->nr_tasks));
	for (unsigned i = 0; i < g->nrq; i++)
		json_object_array_add(rq, json_object_new_int64(g->rq_len[i]));
	json_object_object_add(o, "rq_len", rq);
	return o;
}

static struct json_object *cpu_json(const struct symspy_cpu *c)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "guest_cpu", json_object_new_int64(c->cpu));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "tgid", json_object_new_int(c->tgid));
	json_object_object_add(o, "comm", json_object_new_string(c->comm));
	json_object_object_add(o, "switches", jkb(c->switches));
	json_object_object_add(o, "switch_ns", jkb(c->switch_ns));
	return o;
}

static int cmd_symspy(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct symbiotic *s = opaque;
	struct json_object *o, *cpus;
	struct symspy_global g;
	uint64_t gpa, t0 = mono_ns();
	char e[256];
	(void)args;

	if (s->why_not[0]) {
		snprintf(err, errlen, "%s", s->why_not);
		return -1;
	}
	gpa = atomic_load_explicit(&s->vm->symspy.global_gpa, memory_order_acquire);
	if (!gpa) {
		snprintf(err, errlen, "symspy: the guest shares no pages (no symbiotic module loaded)");
		return -1;
	}
	o = json_object_new_object();
	if (symspy_read_global(s->vm, &g, e, sizeof(e)) == 0)
		json_object_object_add(o, "global", global_json(&g, gpa));
	else
		json_object_object_add(o, "global_error", json_object_new_string(e));
	cpus = json_object_new_array();
	for (int i = 0; i < s->vm->ncpus && i < VM_MAX_CPUS; i++) {
		struct json_object *c;
		struct symspy_cpu sc;
		if (symspy_read_cpu(s->vm, i, &sc, e, sizeof(e)) == 0) {
			c = cpu_json(&sc);
		} else {
			c = json_object_new_object();
			json_object_object_add(c, "error", json_object_new_string(e));
		}
		json_object_object_add(c, "cpu", json_object_new_int(i));
		json_object_array_add(cpus, c);
	}
	json_object_object_add(o, "cpus", cpus);
	/* the reads, their checks and the JSON: what a monitor reading
	 * SymSpy pays, with no exit and no pause */
	json_object_object_add(o, "read_ns", json_object_new_int64((int64_t)(mono_ns() - t0)));
	*ret = o;
	return 0;
}

static int symbiotic_start(struct vm *vm, void **state, char *err, size_t errlen)
{
	struct symbiotic *s = calloc(1, sizeof(*s));
	struct sym_filter f = { .type = SYM_EV_MSR_WRITE, .msr = SYM_MSR_SYMSPY_GLOBAL };
	char e[200];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->vm = vm;
	s->sub_global = sym_subscribe(vm, &f, on_msr, s, e, sizeof(e));
	if (s->sub_global) {
		f.msr = SYM_MSR_SYMSPY_CPU;
		s->sub_cpu = sym_subscribe(vm, &f, on_msr, s, e, sizeof(e));
	}
	for (int i = 0; i < 5 && s->sub_cpu; i++) {
		f.msr = call_msrs[i];
		s->sub_call[i] = sym_subscribe(vm, &f, on_call_msr, s, e, sizeof(e));
		if (!s->sub_call[i])
			break;
	}
	if (!s->sub_global || !s->sub_cpu || !s->sub_call[4])
		snprintf(s->why_not, sizeof(s->why_not), "symbiotic interfaces not available on this VM (%s)", e);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (!s->why_not[0]) {
		pthread_mutex_lock(&vm->io_lock);
		s->pio_registered = io_bus_register(&vm->pio, SYM_PORT_DOORBELL, 4, &doorbell_ops, s) == 0;
		pthread_mutex_unlock(&vm->io_lock);
		if (!s->pio_registered)
			snprintf(s->why_not, sizeof(s->why_not), "symcall: the doorbell port 0x%x is taken",
			         SYM_PORT_DOORBELL);
	}
	if (vm->control) {
		control_register(vm->control, "query-symspy", cmd_symspy, s);
		/* a SymCall runs guest code; SymMod loads into the guest */
		control_register_changing(vm->control, "symcall", cmd_symcall, s);
		control_register_changing(vm->control, "symmod-load", cmd_symmod_load, s);
		control_register_changing(vm->control, "symmod-unload", cmd_symmod_unload, s);
	}
	*state = s;
	return 0;
}

static void symbiotic_stop(void *state)
{
	struct symbiotic *s = state;
	if (!s)
		return;
	if (s->pio_registered) {
		pthread_mutex_lock(&s->vm->io_lock);
		io_bus_unregister(&s->vm->pio, SYM_PORT_DOORBELL);
		pthread_mutex_unlock(&s->vm->io_lock);
	}
	for (int i = 0; i < 5; i++)
		if (s->sub_call[i])
			sym_unsubscribe(s->sub_call[i]);
	if (s->sub_cpu)
		sym_unsubscribe(s->sub_cpu);
	if (s->sub_global)
		sym_unsubscribe(s->sub_global);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static const struct sym_service symbiotic_service = {
	.name = "symbiotic",
	.start = symbiotic_start,
	.stop = symbiotic_stop,
};
SYM_SERVICE(symbiotic_service)
