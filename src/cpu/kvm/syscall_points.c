/* Syscall and exception events on KVM by debug-register points
 * (syscall_points.h). */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "cpu/kvm/guest_debug.h"
#include "cpu/kvm/syscall_points.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

#define ENTRY_SCAN    4096        /* how far past LSTAR the SYSRETQ may be */
#define SYSRET_RFLAGS 0x3c7fd7ULL /* what SYSRET takes from R11 */
#define EXC_WITH_ERROR                                                                                          \
	((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 17) | (1u << 21) | \
	 (1u << 29) | (1u << 30))

static bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

long kvm_find_sysret(const uint8_t *code, size_t len)
{
	for (size_t i = 0; i + 3 <= len; i++)
		if (code[i] == 0x48 && code[i + 1] == 0x0f && code[i + 2] == 0x07)
			return (long)i;
	return -1;
}

int kvm_points_demand(bool syscalls, bool exits, uint32_t vectors)
{
	return (syscalls || exits ? 1 : 0) + (exits ? 1 : 0) + __builtin_popcount(vectors);
}

int kvm_points_assign(unsigned debugger, const uint64_t *addrs, const uint8_t *kinds, const uint8_t *vectors, int n,
                      uint64_t dr[4], uint64_t *dr7, uint8_t kind[4], uint8_t vector[4])
{
	int k = 0;
	memset(kind, KVM_PT_NONE, 4);
	for (int slot = 3; slot >= 0 && k < n; slot--) {
		if (debugger & (1u << slot))
			continue;
		dr[slot] = addrs[k];
		*dr7 |= 1ULL << (2 * slot); /* local enable; R/W and LEN 0: an instruction */
		*dr7 &= ~(0xfULL << (16 + 4 * slot));
		kind[slot] = kinds[k];
		vector[slot] = vectors[k];
		k++;
	}
	return n - k;
}

static int get_msrs(int fd, uint64_t *lstar, uint64_t *star)
{
	union {
		struct kvm_msrs h;
		uint8_t bytes[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} m = { .h.nmsrs = 2 };
	m.h.entries[0].index = MSR_LSTAR;
	m.h.entries[1].index = MSR_STAR;
	if (ioctl(fd, KVM_GET_MSRS, &m) != 2)
		return -1;
	*lstar = m.h.entries[0].data;
	*star = m.h.entries[1].data;
	return 0;
}

/* Reads what there is of [va, va+len) page by page, up to the first page
 * that is not mapped; how many bytes. */
static size_t read_mapped(struct vm *vm, const struct kvm_sregs *s, uint64_t va, uint8_t *buf, size_t len)
{
	uint64_t root = gva_cr3_root(s->cr3);
	bool la57 = s->cr4 & CR4_LA57;
	size_t got = 0;
	while (got < len) {
		size_t n = 4096 - ((va + got) & 4095);
		if (n > len - got)
			n = len - got;
		if (gva_read(&vm->mem, root, la57, va + got, buf + got, n) < 0)
			break;
		got += n;
	}
	return got;
}

static void learn_entry(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, const struct kvm_sregs *s)
{
	uint8_t code[ENTRY_SCAN];
	uint64_t old = pv->lstar;
	if (get_msrs(fd, &pv->lstar, &pv->star) < 0)
		return;
	pv->lstar_known = true;
	if (pv->lstar == old && pv->sysret)
		return; /* the same entry: the same SYSRETQ */
	pv->sysret = 0;
	if (!pv->lstar)
		return;
	long at = kvm_find_sysret(code, read_mapped(cpu->vm, s, pv->lstar, code, sizeof(code)));
	if (at >= 0 && canonical(pv->lstar + (uint64_t)at))
		pv->sysret = pv->lstar + (uint64_t)at;
}

/* The handler of vector v in the IDT the vCPU has now (long mode), or 0. */
static uint64_t idt_handler(struct vm *vm, const struct kvm_sregs *s, unsigned v)
{
	uint8_t g[16];
	if (!(s->efer & (1u << 10)) || s->idt.limit < v * 16 + 15 ||
	    read_mapped(vm, s, s->idt.base + v * 16, g, sizeof(g)) != sizeof(g) || !(g[5] & 0x80))
		return 0;
	uint64_t lo = (uint64_t)g[0] | (uint64_t)g[1] << 8, mid = (uint64_t)g[6] | (uint64_t)g[7] << 8;
	uint64_t hi = (uint64_t)g[8] | (uint64_t)g[9] << 8 | (uint64_t)g[10] << 16 | (uint64_t)g[11] << 24;
	uint64_t h = lo | mid << 16 | hi << 32;
	return canonical(h) ? h : 0; /* a hostile IDT's garbage is no address for a debug register */
}

void kvm_points_prepare(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, unsigned debugger, uint64_t dr[4],
                        uint64_t *dr7)
{
	struct vm *vm = cpu->vm;
	bool enter = vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER), exits = vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT);
	uint32_t vectors = vm_events_wanted(vm, SYM_EV_EXCEPTION) ? sym_exception_vectors(vm) : 0;
	uint64_t addrs[4 + 32];
	uint8_t kinds[4 + 32], vecs[4 + 32];
	int n = 0;
	struct kvm_sregs s;

	memset(pv->kind, KVM_PT_NONE, sizeof(pv->kind));
	if (!enter && !exits && !vectors)
		return;
	/* the segment registers only when there is memory to read: the entry
	 * code once per LSTAR, the IDT at every entry while vectors are wanted */
	bool learn = (enter || exits) && !pv->lstar_known;
	if ((learn || vectors) && ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return;
	if (learn)
		learn_entry(pv, cpu, fd, &s);
	if ((enter || exits) && pv->lstar && canonical(pv->lstar)) {
		addrs[n] = pv->lstar, kinds[n] = KVM_PT_SYSCALL, vecs[n++] = 0;
		if (exits && pv->sysret)
			addrs[n] = pv->sysret, kinds[n] = KVM_PT_SYSRET, vecs[n++] = 0;
	}
	for (unsigned v = 0; v < 32; v++) {
		uint64_t h = vectors >> v & 1 ? idt_handler(vm, &s, v) : 0;
		if (h)
			addrs[n] = h, kinds[n] = KVM_PT_EXCEPTION, vecs[n++] = (uint8_t)v;
	}
	kvm_points_assign(debugger, addrs, kinds, vecs, n, dr, dr7, pv->kind, pv->vector);
}

static void regs_to_kvm(const uint64_t gpr[16], struct kvm_regs *k)
{
	k->rax = gpr[X86_RAX], k->rcx = gpr[X86_RCX], k->rdx = gpr[X86_RDX], k->rbx = gpr[X86_RBX];
	k->rsp = gpr[X86_RSP], k->rbp = gpr[X86_RBP], k->rsi = gpr[X86_RSI], k->rdi = gpr[X86_RDI];
	k->r8 = gpr[X86_R8], k->r9 = gpr[X86_R9], k->r10 = gpr[X86_R10], k->r11 = gpr[X86_R11];
	k->r12 = gpr[X86_R12], k->r13 = gpr[X86_R13], k->r14 = gpr[X86_R14], k->r15 = gpr[X86_R15];
}

/* What SYSRET does, from where the vCPU is (the entry point, or the
 * SYSRETQ itself): user CS and SS from STAR, RIP and RFLAGS given.  GS
 * is left alone: at LSTAR the kernel has not swapped it yet, at SYSRETQ
 * it has swapped it back. */
static int return_to_user(int fd, struct kvm_regs *k, uint64_t star, uint64_t rip, uint64_t rflags)
{
	struct kvm_sregs s;
	uint16_t sel = (uint16_t)(star >> 48);
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs = (struct kvm_segment){ .selector = (uint16_t)((sel + 16) | 3),
		                     .limit = 0xffffffff,
		                     .type = 0xb,
		                     .present = 1,
		                     .dpl = 3,
		                     .s = 1,
		                     .l = 1,
		                     .g = 1 };
	s.ss = (struct kvm_segment){ .selector = (uint16_t)((sel + 8) | 3),
		                     .limit = 0xffffffff,
		                     .type = 3,
		                     .present = 1,
		                     .dpl = 3,
		                     .db = 1,
		                     .s = 1,
		                     .g = 1 };
	k->rip = rip;
	k->rflags = (rflags & SYSRET_RFLAGS) | 2;
	if (ioctl(fd, KVM_SET_SREGS, &s) < 0 || ioctl(fd, KVM_SET_REGS, k) < 0)
		return -1;
	return 0;
}

/* On over a point the vCPU stays at: RF on the instruction (the
 * architecture's way), or, where KVM does not honour it (kvm_pvm's
 * emulator of guest kernel code hits the point again), the caller steps
 * over it with the points lifted; true then. */
static bool past_point(int fd, struct kvm_regs *k)
{
	if (kvm_is_pvm()) {
		ioctl(fd, KVM_SET_REGS, k);
		return true;
	}
	k->rflags |= RFLAGS_RF;
	ioctl(fd, KVM_SET_REGS, k);
	return false;
}

static bool syscall_entered(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, struct sym_regs *r,
                            struct kvm_regs *k)
{
	static const int argreg[6] = { X86_RDI, X86_RSI, X86_RDX, X86_R10, X86_R8, X86_R9 };
	struct vm *vm = cpu->vm;
	struct sym_event ev = { .type = SYM_EV_SYSCALL_ENTER, .cpu = cpu->id, .regs = r };

	/* As emu shows it: at the SYSCALL, in user mode. */
	r->rip = k->rcx - 2;
	r->rflags = k->r11;
	r->cpl = 3;
	ev.syscall.nr = k->rax;
	for (int i = 0; i < 6; i++)
		ev.syscall.args[i] = r->gpr[argreg[i]];
	ev.syscall.enter_ns = vm_now(vm);
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER)) {
		if (sym_event_deliver(vm, &ev) == SYM_SKIP && canonical(k->rcx)) {
			/* as if the kernel had answered at once */
			sym_syscall_refused(vm, &ev);
			k->rax = (uint64_t)ev.syscall.ret;
			if (ev.syscall.resume && sym_uregs_rip_ok(ev.syscall.resume_regs.rip)) {
				const struct sym_uregs *u = &ev.syscall.resume_regs;
				regs_to_kvm(u->gpr, k);
				return_to_user(fd, k, pv->star, u->rip,
				               (k->r11 & ~SYM_UREGS_RFLAGS_MASK) | (u->rflags & SYM_UREGS_RFLAGS_MASK));
			} else {
				return_to_user(fd, k, pv->star, k->rcx, k->r11);
			}
			return false;
		}
		k->rax = ev.syscall.nr;
		__u64 *dst[6] = { &k->rdi, &k->rsi, &k->rdx, &k->r10, &k->r8, &k->r9 };
		for (int i = 0; i < 6; i++)
			*dst[i] = ev.syscall.args[i];
	}
	if (vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT))
		sym_syscall_entered(vm, &ev, k->rsp, k->rcx);
	return past_point(fd, k);
}

static bool syscall_returning(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, struct sym_regs *r,
                              struct kvm_regs *k)
{
	struct sym_event ev;
	uint64_t rip = k->rcx, rflags = k->r11;

	if (!canonical(k->rcx)) /* the SYSRETQ faults: the guest's own to take */
		return past_point(fd, k);

	/* As after the return: RCX, R11 and RSP are the user's already. */
	r->rip = k->rcx;
	r->rflags = k->r11;
	r->cpl = 3;
	if (sym_syscall_returning(cpu->vm, r, &ev)) {
		ev.cpu = cpu->id;
		ev.syscall.resume = false;
		sym_event_deliver(cpu->vm, &ev);
		k->rax = (uint64_t)ev.syscall.ret;
		if (ev.syscall.resume && sym_uregs_rip_ok(ev.syscall.resume_regs.rip)) {
			const struct sym_uregs *u = &ev.syscall.resume_regs;
			regs_to_kvm(u->gpr, k);
			rip = u->rip;
			rflags = (rflags & ~SYM_UREGS_RFLAGS_MASK) | (u->rflags & SYM_UREGS_RFLAGS_MASK);
		}
	}
	/* The SYSRETQ done here rather than stepped over: no second exit on
	 * any KVM, RF or not. */
	return_to_user(fd, k, pv->star, rip, rflags);
	return false;
}

static bool exception_entered(struct vcpu *cpu, int fd, struct sym_regs *r, struct kvm_regs *k, unsigned vector)
{
	struct sym_event ev = { .type = SYM_EV_EXCEPTION, .cpu = cpu->id, .regs = r };
	struct kvm_sregs s;
	uint64_t frame[6]; /* [error code,] RIP, CS, RFLAGS, RSP, SS */
	bool has_error = EXC_WITH_ERROR >> vector & 1;

	if (ioctl(fd, KVM_GET_SREGS, &s) == 0 &&
	    read_mapped(cpu->vm, &s, k->rsp, (uint8_t *)frame, sizeof(frame)) == sizeof(frame)) {
		const uint64_t *f = frame + (has_error ? 1 : 0);
		r->rip = f[0];
		r->cpl = (int)(f[1] & 3);
		r->rflags = f[2];
		r->gpr[X86_RSP] = f[3];
		ev.exception.has_error = has_error;
		ev.exception.error = has_error ? (uint32_t)frame[0] : 0;
		ev.exception.cr2 = vector == 14 ? s.cr2 : 0;
	}
	ev.exception.vector = (uint8_t)vector;
	sym_event_deliver(cpu->vm, &ev);
	return past_point(fd, k);
}

bool kvm_points_hit(struct kvm_points_vcpu *pv, struct vcpu *cpu, int fd, unsigned hit)
{
	struct sym_regs r;
	struct kvm_regs k;
	uint64_t cr0;

	for (int slot = 0; slot < 4; slot++) {
		if (!(hit >> slot & 1) || pv->kind[slot] == KVM_PT_NONE)
			continue;
		if (kvm_event_regs(cpu, fd, &r, &cr0) < 0 || ioctl(fd, KVM_GET_REGS, &k) < 0)
			return false;
		switch (pv->kind[slot]) {
		case KVM_PT_SYSCALL: return syscall_entered(pv, cpu, fd, &r, &k);
		case KVM_PT_SYSRET: return syscall_returning(pv, cpu, fd, &r, &k);
		case KVM_PT_EXCEPTION: return exception_entered(cpu, fd, &r, &k, pv->vector[slot]);
		}
		return false; /* one instruction, one point */
	}
	return false;
}

int kvm_points_check(struct vm *vm, const struct sym_filter *f, unsigned debugger, char *err, size_t errlen)
{
	bool enter = vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER), exits = vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT);
	uint32_t vectors = vm_events_wanted(vm, SYM_EV_EXCEPTION) ? sym_exception_vectors(vm) : 0;

	switch (f->type) {
	case SYM_EV_SYSCALL_ENTER: enter = true; break;
	case SYM_EV_SYSCALL_EXIT: exits = true; break;
	case SYM_EV_EXCEPTION:
		if (f->vector < 0) {
			snprintf(err, errlen,
			         "kvm: exception events name one vector each (a debug register on its handler)");
			return -1;
		}
		vectors |= 1u << f->vector;
		break;
	default: return 0;
	}
	int want = kvm_points_demand(enter, exits, vectors), have = 4 - __builtin_popcount(debugger & 0xf);
	if (want > have) {
		snprintf(
		        err, errlen,
		        "kvm: no debug register left: syscall and exception events need %d, the debugger holds %d of 4",
		        want, 4 - have);
		return -1;
	}
	return 0;
}
