/* Code hooks and single-step on KVM (guest_debug.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu/kvm/guest_debug.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

#define MAX_BPS 64
#define INT3    0xcc
#define VEC_DB  1
#define VEC_BP  3
#define DR6_BS  (1u << 14)

struct breakpoint {
	uint64_t gpa;
	uint8_t orig; /* the byte the INT3 replaced */
	bool lifted;  /* the original is back while a vCPU steps over it */
	bool wanted;  /* still a hook (set by a sync) */
};

struct kvm_debug {
	pthread_mutex_t lock;
	struct breakpoint bp[MAX_BPS];
	int n;
	unsigned gen; /* vm->hooks_gen of the last sync */
	bool synced;
	uint64_t dr[4], dr7; /* the debugger's points as DR0-DR3 and DR7 (0: none) */
};

void kvm_debug_set_points(struct kvm_debug *d, const struct vm_hw_point p[VM_HW_POINTS])
{
	static const uint64_t rw[] = { [VM_HWP_EXEC] = 0, [VM_HWP_WRITE] = 1, [VM_HWP_ACCESS] = 3 };
	uint64_t dr7 = 0;
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < VM_HW_POINTS; i++) {
		d->dr[i] = p[i].on ? p[i].addr : 0;
		if (!p[i].on)
			continue;
		unsigned len = p[i].type == VM_HWP_EXEC ? 1 : p[i].len;
		uint64_t lenbits = len == 1 ? 0 : len == 2 ? 1 : len == 8 ? 2 : 3;
		dr7 |= (1ULL << (2 * i)) | (rw[p[i].type] << (16 + 4 * i)) | (lenbits << (18 + 4 * i));
	}
	d->dr7 = dr7;
	pthread_mutex_unlock(&d->lock);
}

unsigned kvm_debug_points_held(struct kvm_debug *d)
{
	unsigned held = 0;
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < 4; i++)
		if (d->dr7 & (1ULL << (2 * i)))
			held |= 1u << i;
	pthread_mutex_unlock(&d->lock);
	return held;
}

struct kvm_debug *kvm_debug_new(void)
{
	struct kvm_debug *d = calloc(1, sizeof(*d));
	if (d)
		pthread_mutex_init(&d->lock, NULL);
	return d;
}

static uint8_t *byte_at(struct vm *vm, uint64_t gpa)
{
	return gpa_to_host(&vm->mem, gpa, 1);
}

/* Lock held.  The original back, unless the guest wrote something else there meanwhile. */
static void unpatch(struct vm *vm, struct breakpoint *b)
{
	uint8_t *p = byte_at(vm, b->gpa);
	if (p && !b->lifted && *p == INT3)
		*p = b->orig;
}

void kvm_debug_free(struct kvm_debug *d, struct vm *vm)
{
	if (!d)
		return;
	for (int i = 0; i < d->n; i++)
		unpatch(vm, &d->bp[i]);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Lock held: the INT3s for the hub's hooks now. */
static void sync_breakpoints(struct kvm_debug *d, struct vm *vm, unsigned gen)
{
	uint64_t want[MAX_BPS];
	int nw = sym_hooks(vm, want, MAX_BPS);

	if (nw > MAX_BPS) {
		fprintf(stderr, "kvm: %d code hooks, only the first %d are set\n", nw, MAX_BPS);
		nw = MAX_BPS;
	}
	for (int i = 0; i < d->n; i++)
		d->bp[i].wanted = false;
	for (int k = 0; k < nw; k++) {
		int i = 0;
		while (i < d->n && d->bp[i].gpa != want[k])
			i++;
		if (i == d->n) {
			uint8_t *p = byte_at(vm, want[k]);
			if (!p || d->n == MAX_BPS)
				continue;
			d->bp[d->n++] = (struct breakpoint){ .gpa = want[k], .orig = *p };
			*p = INT3;
		}
		d->bp[i].wanted = true;
	}
	for (int i = 0; i < d->n;) {
		if (!d->bp[i].wanted && !d->bp[i].lifted) {
			unpatch(vm, &d->bp[i]);
			d->bp[i] = d->bp[--d->n];
			continue;
		}
		i++;
	}
	d->gen = gen;
	d->synced = true;
}

static struct breakpoint *find(struct kvm_debug *d, uint64_t gpa)
{
	for (int i = 0; i < d->n; i++)
		if (d->bp[i].gpa == gpa)
			return &d->bp[i];
	return NULL;
}

int kvm_debug_prepare(struct kvm_debug *d, struct kvm_debug_vcpu *dv, struct vcpu *cpu, int fd, char *err,
                      size_t errlen)
{
	struct vm *vm = cpu->vm;
	unsigned gen = atomic_load(&vm->hooks_gen);
	uint32_t control = 0;
	uint64_t dr[4], dr7;
	bool hooks;

	pthread_mutex_lock(&d->lock);
	if (!d->synced || d->gen != gen)
		sync_breakpoints(d, vm, gen);
	hooks = d->n > 0;
	memcpy(dr, d->dr, sizeof(dr));
	dr7 = d->dr7;
	pthread_mutex_unlock(&d->lock);
	unsigned held = 0;
	for (int i = 0; i < 4; i++)
		if (dr7 & (1ULL << (2 * i)))
			held |= 1u << i;
	kvm_points_prepare(&dv->pts, cpu, fd, held, dr, &dr7); /* syscall and exception events */
	if (dv->hub_over) {
		struct kvm_regs k;
		if (ioctl(fd, KVM_GET_REGS, &k) < 0 || k.rip != dv->hub_over_rip)
			dv->hub_over = false; /* the step is behind it (it ended in another exit) */
		for (int i = 0; i < 4 && dv->hub_over; i++)
			if (dv->pts.kind[i] != KVM_PT_NONE)
				dr7 &= ~(3ULL << (2 * i)); /* lifted for the step */
	}
	dv->hooks_gen = gen;
	if (hooks || dv->over || dv->hub_over || dv->inject_bp || vm_events_wanted(vm, SYM_EV_STEP) || dr7) {
		control = KVM_GUESTDBG_ENABLE;
		if (dr7)
			control |= KVM_GUESTDBG_USE_HW_BP;
		if (hooks || dv->inject_bp)
			control |= KVM_GUESTDBG_USE_SW_BP;
		if (dv->over || dv->hub_over || vm_events_wanted(vm, SYM_EV_STEP))
			control |= KVM_GUESTDBG_SINGLESTEP;
		if (dv->over || dv->hub_over)
			control |= KVM_GUESTDBG_BLOCKIRQ; /* the step is the hooked instruction, not an interrupt's */
		if (dv->inject_bp)
			control |= KVM_GUESTDBG_INJECT_BP;
	}
	if (control & KVM_GUESTDBG_SINGLESTEP) { /* where this step begins, for its event */
		struct kvm_regs k;
		dv->step_from = ioctl(fd, KVM_GET_REGS, &k) == 0 ? k.rip : 0;
	}
	if (control == dv->control && !dv->inject_bp && dr7 == dv->dr7 && !memcmp(dr, dv->dr, sizeof(dr)))
		return 0;
	struct kvm_guest_debug g = { .control = control };
	for (int i = 0; i < 4; i++)
		g.arch.debugreg[i] = dr[i];
	g.arch.debugreg[7] = dr7;
	if (ioctl(fd, KVM_SET_GUEST_DEBUG, &g) < 0 && control & KVM_GUESTDBG_BLOCKIRQ) {
		g.control &= ~KVM_GUESTDBG_BLOCKIRQ; /* older KVM: an interrupt may come first */
		if (ioctl(fd, KVM_SET_GUEST_DEBUG, &g) == 0)
			goto set;
	} else if (g.control == control) {
		goto set;
	}
	snprintf(err, errlen, "KVM_SET_GUEST_DEBUG: %s", strerror(errno));
	return -1;
set:
	dv->control = control;
	memcpy(dv->dr, dr, sizeof(dr));
	dv->dr7 = dr7;
	dv->inject_bp = false;
	return 0;
}

int kvm_event_regs(struct vcpu *cpu, int fd, struct sym_regs *r, uint64_t *cr0)
{
	struct kvm_regs k;
	struct kvm_sregs s;
	union {
		struct kvm_msrs h;
		uint8_t bytes[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} m = { .h.nmsrs = 2 };
	m.h.entries[0].index = MSR_KERNEL_GS_BASE;
	m.h.entries[1].index = MSR_LSTAR;

	if (ioctl(fd, KVM_GET_REGS, &k) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	(void)cpu;
	r->gpr[X86_RAX] = k.rax, r->gpr[X86_RCX] = k.rcx, r->gpr[X86_RDX] = k.rdx, r->gpr[X86_RBX] = k.rbx;
	r->gpr[X86_RSP] = k.rsp, r->gpr[X86_RBP] = k.rbp, r->gpr[X86_RSI] = k.rsi, r->gpr[X86_RDI] = k.rdi;
	r->gpr[X86_R8] = k.r8, r->gpr[X86_R9] = k.r9, r->gpr[X86_R10] = k.r10, r->gpr[X86_R11] = k.r11;
	r->gpr[X86_R12] = k.r12, r->gpr[X86_R13] = k.r13, r->gpr[X86_R14] = k.r14, r->gpr[X86_R15] = k.r15;
	r->rip = k.rip;
	r->rflags = k.rflags;
	r->cr3 = s.cr3;
	r->cr4 = s.cr4;
	r->cpl = s.cs.dpl; /* CPL is CS.DPL in protected and long mode (SS.DPL too) */
	r->gs_base = s.gs.base;
	if (ioctl(fd, KVM_GET_MSRS, &m) == 2)
		r->kernel_gs_base = m.h.entries[0].data, r->lstar = m.h.entries[1].data;
	*cr0 = s.cr0;
	return 0;
}

/* The debug registers that serve the hub's syscall and exception points. */
static unsigned hub_slots(const struct kvm_debug_vcpu *dv)
{
	unsigned hub = 0;
	for (int i = 0; i < 4; i++)
		if (dv->pts.kind[i] != KVM_PT_NONE && dv->dr7 & (1ULL << (2 * i)))
			hub |= 1u << i;
	return hub;
}

/* The guest-physical address of a linear one, as the vCPU translates now. */
static int linear_to_gpa(int fd, uint64_t la, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = la };
	if (ioctl(fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
		return -1;
	*gpa = t.physical_address;
	return 0;
}

/* A #DB that none of the VMM's points or steps explains (the guest's own
 * single-step, ICEBP...): KVM took it only because the VMM's points are
 * armed, so it goes to the guest as it would have, with its DR6 bits. */
static void give_db_back(int fd, uint64_t dr6)
{
	struct kvm_debugregs d;
	struct kvm_vcpu_events ev;

	if (ioctl(fd, KVM_GET_DEBUGREGS, &d) == 0) {
		d.dr6 = (d.dr6 & ~(0xfULL | DR6_BS)) | (dr6 & (0xfULL | DR6_BS));
		ioctl(fd, KVM_SET_DEBUGREGS, &d);
	}
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) == 0) {
		ev.exception.injected = 1;
		ev.exception.nr = VEC_DB;
		ev.exception.has_error_code = 0;
		ev.exception.error_code = 0;
		ev.flags = 0; /* only what is always set: the optional parts stay */
		ioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
	}
}

void kvm_debug_exit(struct kvm_debug *d, struct kvm_debug_vcpu *dv, struct vcpu *cpu, int fd,
                    const struct kvm_debug_exit_arch *e)
{
	struct vm *vm = cpu->vm;
	struct sym_regs r;
	uint64_t cr0, gpa;

	if (e->exception == VEC_DB && !(dv->control & KVM_GUESTDBG_SINGLESTEP)) {
		unsigned armed = 0;
		bool at_point = false; /* for a KVM that leaves DR6 out of the exit */
		for (int i = 0; i < 4; i++)
			if (dv->dr7 & (1ULL << (2 * i))) {
				armed |= 1u << i;
				at_point |= dv->dr[i] == e->pc;
			}
		if (!(e->dr6 & 0xf & armed) && !(!(e->dr6 & 0xf) && at_point)) {
			give_db_back(fd, e->dr6);
			return;
		}
	}
	if (e->exception == VEC_DB && dv->control & KVM_GUESTDBG_USE_HW_BP && e->dr6 & hub_slots(dv)) {
		/* a syscall or exception event's point (syscall_points.c), which
		 * reads the registers it needs itself */
		if (kvm_points_hit(&dv->pts, cpu, fd, (unsigned)e->dr6 & hub_slots(dv))) {
			dv->hub_over = true;
			dv->hub_over_rip = e->pc;
		}
		if (!(e->dr6 & 0xf & ~hub_slots(dv)) && !dv->over && !(e->dr6 & DR6_BS))
			return;
	} else if (e->exception == VEC_DB && dv->hub_over) {
		dv->hub_over = false; /* stepped over the hub's point: it goes back */
		if (!(e->dr6 & 0xf) && !dv->over && !vm_events_wanted(vm, SYM_EV_STEP))
			return;
	}
	if (kvm_event_regs(cpu, fd, &r, &cr0) < 0)
		return;
	if (e->exception == VEC_BP) {
		struct breakpoint *b = NULL;
		pthread_mutex_lock(&d->lock);
		if (linear_to_gpa(fd, e->pc, &gpa) == 0 && (b = find(d, gpa)) && b->wanted) {
			/* Ours: the original byte back while this vCPU steps over it. */
			uint8_t *p = byte_at(vm, gpa);
			if (p && *p == INT3)
				*p = b->orig;
			b->lifted = true;
			dv->over = true;
			dv->over_gpa = gpa;
		}
		pthread_mutex_unlock(&d->lock);
		if (!b) {
			dv->inject_bp = true; /* the guest's own INT3 */
			return;
		}
		struct sym_event ev = { .type = SYM_EV_CODE_HOOK, .cpu = cpu->id, .regs = &r };
		ev.hook.gpa = gpa;
		sym_event_deliver(vm, &ev);
		return;
	}
	if (e->exception != VEC_DB)
		return;
	/* A debugger's debug-register point: DR6's B0-B3 of an enabled one. */
	unsigned enabled = 0;
	for (int i = 0; i < 4; i++)
		if (dv->dr7 & (1ULL << (2 * i)))
			enabled |= 1u << i;
	unsigned hit = (unsigned)(e->dr6 & 0xf) & enabled & ~hub_slots(dv);
	if (hit && (dv->control & KVM_GUESTDBG_USE_HW_BP) && vm_events_wanted(vm, SYM_EV_HW_POINT)) {
		struct sym_event ev = { .type = SYM_EV_HW_POINT, .cpu = cpu->id, .regs = &r };
		ev.hw.hit = hit;
		sym_event_deliver(vm, &ev);
	}
	if (dv->over) {
		pthread_mutex_lock(&d->lock);
		struct breakpoint *b = find(d, dv->over_gpa);
		if (b) {
			uint8_t *p = byte_at(vm, b->gpa);
			b->lifted = false;
			if (b->wanted && p)
				*p = INT3;
			else if (!b->wanted)
				*b = d->bp[--d->n]; /* unhooked while lifted: the original stays */
		}
		dv->over = false;
		pthread_mutex_unlock(&d->lock);
	}
	/* A single-step trap (DR6.BS; some KVMs leave DR6 out of the exit). */
	if (vm_events_wanted(vm, SYM_EV_STEP) && (dv->control & KVM_GUESTDBG_SINGLESTEP) &&
	    (!e->dr6 || (e->dr6 & DR6_BS))) {
		struct sym_event ev = { .type = SYM_EV_STEP, .cpu = cpu->id, .regs = &r };
		ev.step.rip = dv->step_from;
		sym_event_deliver(vm, &ev);
	}
}
