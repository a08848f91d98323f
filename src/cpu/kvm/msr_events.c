/* MSR write events on KVM (msr_events.h).
 *
 * The filter denies guest writes (reads stay KVM's) to exactly the MSRs
 * the subscribers named (one filter range each, up to 16), so the writes
 * nobody watches (the TSC deadline, on every timer tick) stay in the
 * kernel; a subscriber to every MSR, or more than 16 of them, gets three
 * ranges that hold the architectural and AMD64 MSRs and KVM's own
 * paravirtual ones.  A denied write exits here instead of raising #GP.
 * MSRs outside those ranges, and any KVM does not let a filter cover (the
 * x2APIC registers on recent kernels), are written without an event.
 * MSRs KVM does not know (symbiont's own SymSpy and SymCall registers) are
 * never written by KVM: a subscriber takes them (SYM_SKIP) or the guest
 * gets #GP, as on emu.  The write the VMM
 * then does goes through KVM_SET_MSRS, which KVM treats as the host's: for
 * the few MSRs where KVM tells the two apart (the TSC is set, not offset by
 * the guest's view) the effect can differ from the guest's own WRMSR; a
 * value KVM refuses raises #GP in the guest, as the WRMSR would have. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpu/kvm/guest_debug.h"
#include "cpu/kvm/msr_events.h"
#include "symbiont/event.h"

#define RANGE_MSRS 0x3000 /* 12288: KVM_MSR_FILTER_MAX_BITMAP_SIZE bytes of bits */

static const uint32_t range_base[] = { 0x00000000, 0xc0000000, 0x4b564d00 };

/* All zero: every write in the range denied (a set bit allows). */
static uint8_t deny_all[RANGE_MSRS / 8];

void kvm_msr_events_init(struct kvm_msr_events *m, int vm_fd)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR, .args[0] = KVM_MSR_EXIT_REASON_FILTER };

	pthread_mutex_init(&m->lock, NULL);
	atomic_store(&m->gen, 0); /* vm->msrs_gen starts at 0: no filter, none wanted */
	m->supported = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) > 0 &&
	               ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) > 0 &&
	               ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

void kvm_msr_events_destroy(struct kvm_msr_events *m)
{
	pthread_mutex_destroy(&m->lock);
}

int kvm_msr_events_sync(struct kvm_msr_events *m, struct vm *vm, int vm_fd, char *err, size_t errlen)
{
	struct kvm_msr_filter f = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	uint32_t msrs[KVM_MSR_FILTER_MAX_RANGES];
	int r = 0;

	pthread_mutex_lock(&m->lock);
	unsigned gen = atomic_load(&vm->msrs_gen);
	bool lstar = kvm_msr_events_lstar_wanted(vm);
	if (gen != atomic_load(&m->gen) || lstar != m->lstar) {
		int n = sym_msrs(vm, msrs, KVM_MSR_FILTER_MAX_RANGES);
		bool listed = false;
		for (int i = 0; i < n && i < KVM_MSR_FILTER_MAX_RANGES; i++)
			listed |= msrs[i] == MSR_LSTAR;
		if (lstar && n >= 0 && !listed && n < KVM_MSR_FILTER_MAX_RANGES)
			msrs[n++] = MSR_LSTAR;
		else if (lstar && n >= 0 && !listed)
			n = -1; /* no range left: the wide ones, which hold LSTAR */
		if (n < 0 || n > KVM_MSR_FILTER_MAX_RANGES) {
			for (size_t i = 0; i < sizeof(range_base) / sizeof(range_base[0]); i++)
				f.ranges[i] = (struct kvm_msr_filter_range){ .flags = KVM_MSR_FILTER_WRITE,
					                                     .nmsrs = RANGE_MSRS,
					                                     .base = range_base[i],
					                                     .bitmap = deny_all };
		} else {
			for (int i = 0; i < n; i++)
				f.ranges[i] = (struct kvm_msr_filter_range){
					.flags = KVM_MSR_FILTER_WRITE, .nmsrs = 1, .base = msrs[i], .bitmap = deny_all
				};
		}
		/* KVM applies a new filter to every vCPU before its next entry. */
		if (ioctl(vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
			snprintf(err, errlen, "kvm: KVM_X86_SET_MSR_FILTER: %s", strerror(errno));
			r = -1;
		} else {
			atomic_store(&m->gen, gen);
			m->lstar = lstar;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void kvm_msr_events_exit(struct vcpu *cpu, int fd, struct kvm_run *run)
{
	struct sym_regs r;
	struct sym_event ev = { .type = SYM_EV_MSR_WRITE, .cpu = cpu->id, .regs = &r };
	uint64_t cr0;
	union {
		struct kvm_msrs h;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m = { .h.nmsrs = 1 };

	if (run->msr.reason != KVM_MSR_EXIT_REASON_FILTER) {
		run->msr.error = 1; /* not asked for: what KVM would do */
		return;
	}
	memset(&r, 0, sizeof(r));
	if (kvm_event_regs(cpu, fd, &r, &cr0) < 0)
		ev.regs = NULL;
	ev.msr.msr = run->msr.index;
	ev.msr.value = run->msr.data;
	if (ev.regs && sym_event_deliver(cpu->vm, &ev) == SYM_SKIP) {
		run->msr.error = 0; /* dropped: the WRMSR completes without effect */
		return;
	}
	m.h.entries[0].index = run->msr.index;
	m.h.entries[0].data = ev.msr.value;
	run->msr.error = ioctl(fd, KVM_SET_MSRS, &m) == 1 ? 0 : 1;
}
