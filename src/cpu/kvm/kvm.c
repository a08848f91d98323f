/* The KVM engine: guest code runs under Linux KVM with the in-kernel
 * irqchip (8259A pair, IOAPIC, local APICs).  The PIT is NOT created in the
 * kernel: the board's PIT model drives GSI 0 through vm->irqchip like every
 * other device, so both engines share one timer model.
 *
 * Exits the VMM sees: port I/O and MMIO to the board (the in-kernel chips
 * handle ports 0x20/0xa0/0x4d0 and the IOAPIC/LAPIC MMIO without exits),
 * and the guest-caused ends of the VM:
 *   triple fault (KVM_EXIT_SHUTDOWN)  "guest triple fault", exit status 1
 *   system event shutdown / reset      status 0 (no reboot: like -no-reboot)
 *   system event crash                 status 1
 * Entry failures and KVM internal errors are engine failures: one line on
 * stderr, status 1, vcpu_run returns -1.
 *
 * Kicking a vCPU: vcpu_kick sets kvm_run.immediate_exit and sends
 * KICK_SIGNAL to the vCPU thread.  The flag covers a kick that lands just
 * before KVM_RUN is entered; the signal interrupts a KVM_RUN in progress. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/cpuid.h"
#include "cpu/engine.h"
#include "cpu/kvm/guest_debug.h"
#include "cpu/kvm/msr_events.h"
#include "cpu/kvm/mode_samples.h"
#include "cpu/kvm/vcpu_stats.h"
#include "symbiont/abi/cpuid.h"
#include "symbiont/event.h"
#include "symbiont/layout.h"

#define KVM_DEV "/dev/kvm"

#define APIC_REG_SVR    0xf0
#define APIC_REG_LVT0   0x350
#define APIC_REG_LVT1   0x360
#define APIC_LVT_MASKED (1u << 16)
#define APIC_DM_NMI     0x400
#define APIC_DM_EXTINT  0x700
#define APIC_SVR_ENABLE (1u << 8)

#define KICK_SIGNAL (SIGRTMIN + 3)

struct kvm_vm {
	int sys_fd, vm_fd;
	int run_size;
	struct kvm_cpuid2 *supported; /* KVM_GET_SUPPORTED_CPUID, unfiltered */
	struct vm *vm;
	struct kvm_debug *debug;       /* code hooks written into guest memory (guest_debug.h) */
	struct kvm_msr_events msr;     /* MSR write events (msr_events.h) */
	struct kvm_mode_sampler modes; /* user/kernel time by sampling (mode_samples.h) */
};

/* The MSRs of struct x86_msrs, by number (msr_field finds each one's
 * place).  TSC_DEADLINE comes after the local APIC is set. */
static const uint32_t state_msrs[] = {
	MSR_STAR,
	MSR_LSTAR,
	MSR_CSTAR,
	MSR_SFMASK,
	MSR_KERNEL_GS_BASE,
	MSR_SYSENTER_CS,
	MSR_SYSENTER_ESP,
	MSR_SYSENTER_EIP,
	MSR_TSC,
	MSR_TSC_ADJUST,
	MSR_TSC_AUX,
	MSR_PAT,
	MSR_MISC_ENABLE,
	MSR_MTRR_DEF_TYPE,
	MSR_MTRR_FIX64K,
	MSR_MTRR_FIX16K_80000,
	MSR_MTRR_FIX16K_A0000,
	MSR_MTRR_FIX4K_C0000,
	MSR_MTRR_FIX4K_C0000 + 1,
	MSR_MTRR_FIX4K_C0000 + 2,
	MSR_MTRR_FIX4K_C0000 + 3,
	MSR_MTRR_FIX4K_C0000 + 4,
	MSR_MTRR_FIX4K_C0000 + 5,
	MSR_MTRR_FIX4K_C0000 + 6,
	MSR_MTRR_FIX4K_C0000 + 7,
	MSR_MTRR_PHYS_BASE0,
	MSR_MTRR_PHYS_BASE0 + 1,
	MSR_MTRR_PHYS_BASE0 + 2,
	MSR_MTRR_PHYS_BASE0 + 3,
	MSR_MTRR_PHYS_BASE0 + 4,
	MSR_MTRR_PHYS_BASE0 + 5,
	MSR_MTRR_PHYS_BASE0 + 6,
	MSR_MTRR_PHYS_BASE0 + 7,
	MSR_MTRR_PHYS_BASE0 + 8,
	MSR_MTRR_PHYS_BASE0 + 9,
	MSR_MTRR_PHYS_BASE0 + 10,
	MSR_MTRR_PHYS_BASE0 + 11,
	MSR_MTRR_PHYS_BASE0 + 12,
	MSR_MTRR_PHYS_BASE0 + 13,
	MSR_MTRR_PHYS_BASE0 + 14,
	MSR_MTRR_PHYS_BASE0 + 15,
	MSR_TSC_DEADLINE,
};
#define NSTATE_MSRS (sizeof(state_msrs) / sizeof(state_msrs[0]))

#define KVM_EXIT_REASONS 64 /* counted by reason below this, "other" above */

struct kvm_vcpu {
	int fd;
	struct kvm_run *run;
	uint64_t exits[KVM_EXIT_REASONS + 1], run_ns; /* for metrics */
	struct kvm_vcpu_stats kstats;                 /* and KVM's own */
	struct kvm_mode_counts modes;                 /* and user/kernel samples */
	/* Which of state_msrs this KVM saves and restores (probed once: a
	 * module without, say, MTRRs still moves everything else). */
	bool msr_ok[NSTATE_MSRS];
	struct kvm_debug_vcpu dbg;
};

static struct kvm_vm *kvm_of(struct vm *vm)
{
	return vm->engine_priv;
}
static struct kvm_vcpu *kcpu_of(struct vcpu *cpu)
{
	return cpu->priv;
}

/* ---- VM-wide set-up ------------------------------------------------------ */

static void kvm_set_irq(void *chip, unsigned gsi, int level)
{
	struct kvm_vm *k = chip;
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };
	if (ioctl(k->vm_fd, KVM_IRQ_LINE, &l) < 0)
		fprintf(stderr, "kvm: KVM_IRQ_LINE gsi %u: %s\n", gsi, strerror(errno));
}

static void kvm_msi(void *chip, uint64_t addr, uint32_t data)
{
	struct kvm_vm *k = chip;
	struct kvm_msi m = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
	if (ioctl(k->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
		fprintf(stderr, "kvm: KVM_SIGNAL_MSI: %s\n", strerror(errno));
}

static const struct irqchip_ops kvm_irqchip_ops = {
	.set_irq = kvm_set_irq,
	.msi = kvm_msi,
};

static void kick_handler(int sig)
{
	(void)sig;
}

static struct kvm_cpuid2 *get_supported_cpuid(int sys_fd)
{
	for (int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static int set_mem_slot_flags(struct kvm_vm *k, uint32_t slot, uint64_t gpa, uint64_t size, void *host, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	return ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static int set_mem_slot(struct kvm_vm *k, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	return set_mem_slot_flags(k, slot, gpa, size, host, 0);
}

static void kvm_vcpu_kick(struct vcpu *cpu);
static struct kvm_mode_counts *mode_counts_of(struct vcpu *cpu)
{
	struct kvm_vcpu *kc = cpu->priv;
	return kc ? &kc->modes : NULL;
}

static void kvm_destroy(struct vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);
	if (!k)
		return;
	kvm_mode_sampler_stop(&k->modes);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	kvm_debug_free(k->debug, vm);
	kvm_msr_events_destroy(&k->msr);
	free(k->supported);
	free(k);
	vm->engine_priv = NULL;
	if (vm->irqchip == &kvm_irqchip_ops) {
		vm->irqchip = NULL;
		vm->irqchip_ctx = NULL;
	}
}

static int kvm_init(struct vm *vm, char *err, size_t errlen)
{
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
		{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
		{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI" },
	};
	struct kvm_vm *k = calloc(1, sizeof(*k));
	struct sigaction sa;
	int v;

	if (!k) {
		snprintf(err, errlen, "kvm: out of memory");
		return -1;
	}
	k->vm = vm;
	kvm_mode_sampler_init(&k->modes, vm, mode_counts_of, kvm_vcpu_kick);
	k->vm_fd = -1;
	vm->engine_priv = k;
	if (!(k->debug = kvm_debug_new())) {
		snprintf(err, errlen, "kvm: out of memory");
		kvm_destroy(vm);
		return -1;
	}
	k->sys_fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		snprintf(err, errlen, "kvm: cannot open %s: %s", KVM_DEV, strerror(errno));
		goto fail;
	}
	v = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(err, errlen, "kvm: API version %d, need %d", v, KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			snprintf(err, errlen, "kvm: missing capability KVM_CAP_%s", need[i].name);
			goto fail;
		}
	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "kvm: KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	k->supported = get_supported_cpuid(k->sys_fd);
	if (!k->supported) {
		snprintf(err, errlen, "kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto fail;
	}
	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		snprintf(err, errlen, "kvm: KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	/* Only VMX without unrestricted guest uses these; elsewhere the calls
	 * may legitimately fail, so failure is not fatal. */
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		(void)ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	(void)ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "kvm: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		goto fail;
	}
	kvm_msr_events_init(&k->msr, k->vm_fd);
	if (vm->mem.low_size && set_mem_slot(k, 0, 0, vm->mem.low_size, vm->mem.host) < 0) {
		snprintf(err, errlen, "kvm: mapping low RAM: %s", strerror(errno));
		goto fail;
	}
	if (vm->mem.size > vm->mem.low_size &&
	    set_mem_slot(k, 1, MEM_4G, vm->mem.size - vm->mem.low_size, vm->mem.host + vm->mem.low_size) < 0) {
		snprintf(err, errlen, "kvm: mapping high RAM: %s", strerror(errno));
		goto fail;
	}
	/* The kick signal only has to interrupt KVM_RUN: no SA_RESTART, and a
	 * handler that does nothing. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(KICK_SIGNAL, &sa, NULL) < 0) {
		snprintf(err, errlen, "kvm: sigaction: %s", strerror(errno));
		goto fail;
	}
	vm->irqchip = &kvm_irqchip_ops;
	vm->irqchip_ctx = k;
	return 0;
fail:
	kvm_destroy(vm);
	return -1;
}

/* ---- CPUID policy -------------------------------------------------------- */

static void put_entry(struct kvm_cpuid2 *c, uint32_t func, uint32_t index, uint32_t flags, const struct cpuid_regs *r)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
	memset(e, 0, sizeof(*e));
	e->function = func;
	e->index = index;
	e->flags = flags;
	e->eax = r->eax;
	e->ebx = r->ebx;
	e->ecx = r->ecx;
	e->edx = r->edx;
}

/* The portable model's time leaves: the TSC rate the vCPU runs at (2 GHz
 * where KVM could scale it) over KVM's 1 GHz APIC timer as the crystal,
 * so a guest computes both right wherever it moves.  The host's own leaves
 * describe the host's TSC, which the guest may not run at. */
static void portable_timing(struct kvm_cpuid_entry2 *e, uint32_t tsc_khz)
{
	if (e->function == 0x15) {
		e->eax = 1000000; /* TSC / crystal = ebx / eax */
		e->ebx = tsc_khz;
		e->ecx = 1000000000; /* crystal Hz */
		e->edx = 0;
	} else if (e->function == 0x16) {
		e->eax = e->ebx = tsc_khz / 1000; /* MHz */
		e->ecx = 100;
		e->edx = 0;
	}
}

/* KVM's supported CPUID, told the truth about topology (ncpus cores, one
 * thread each, APIC id = vCPU id) and with KVM's own paravirt leaves
 * replaced by symbiont's hypervisor leaves. */
static struct kvm_cpuid2 *build_cpuid(const struct kvm_cpuid2 *sup, int id, int ncpus, uint32_t tsc_khz, bool portable,
                                      uint32_t features)
{
	/* KVM's local APIC timer counts at 1 GHz (one bus cycle per ns). */
	const struct cpuid_hv_info hv = {
		.engine = SYM_ENGINE_KVM, .tsc_khz = tsc_khz, .apic_khz = 1000000, .features = features
	};
	size_t n = sup->nent + (SYM_CPUID_LEAF_MAX - SYM_CPUID_LEAF_SIGNATURE + 1);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	uint32_t apic_id = (uint32_t)id;
	unsigned core_bits = cpuid_core_bits(ncpus);
	struct cpuid_regs r;

	if (!c)
		return NULL;
	for (uint32_t i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 e = sup->entries[i];
		if ((e.function & 0xffffff00u) == SYM_CPUID_LEAF_SIGNATURE)
			continue; /* KVM's paravirt leaves: replaced below */
		if (portable) {
			struct cpuid_regs p = { e.eax, e.ebx, e.ecx, e.edx };
			cpuid_portable_filter(e.function, e.index, &p);
			e.eax = p.eax, e.ebx = p.ebx, e.ecx = p.ecx, e.edx = p.edx;
			portable_timing(&e, tsc_khz);
		}
		switch (e.function) {
		case 1:
			e.ebx = (e.ebx & 0x0000ffffu) | (apic_id << 24) | ((uint32_t)(1u << core_bits) << 16);
			e.ecx |= SYM_CPUID_1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e.edx |= 1u << 28; /* HTT: the EBX[23:16] count is valid */
			break;
		case 4:
			/* cores per package - 1 in EAX[31:26]; no cache is shared
			 * between threads (EAX[25:14] = 0) */
			if (e.eax & 0x1f)
				e.eax = (e.eax & 0x3fffu) | (((1u << core_bits) - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			cpuid_topology_leaf(e.index, ncpus, apic_id, &r);
			e.eax = r.eax, e.ebx = r.ebx, e.ecx = r.ecx, e.edx = r.edx;
			break;
		case 0x80000008: e.ecx = (e.ecx & ~0xf0ffu) | (core_bits << 12) | (uint32_t)(ncpus - 1); break;
		}
		c->entries[c->nent++] = e;
	}
	for (uint32_t leaf = SYM_CPUID_LEAF_SIGNATURE; leaf <= SYM_CPUID_LEAF_MAX; leaf++) {
		cpuid_hypervisor_leaf(leaf, &hv, &r);
		put_entry(c, leaf, 0, 0, &r);
	}
	return c;
}

/* ---- vCPUs --------------------------------------------------------------- */

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS (req): *value is read or
 * written. */
static int msr_io(int fd, unsigned long req, uint32_t index, uint64_t *value)
{
	/* struct kvm_msrs ends in a flexible array: one entry after it. */
	union {
		struct kvm_msrs hdr;
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m;
	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = index;
	m.hdr.entries[0].data = *value;
	if (ioctl(fd, req, &m) != 1)
		return -1;
	*value = m.hdr.entries[0].data;
	return 0;
}

static int set_msr(int fd, uint32_t index, uint64_t value)
{
	return msr_io(fd, KVM_SET_MSRS, index, &value);
}

static int get_msr(int fd, uint32_t index, uint64_t *value)
{
	uint64_t v = 0;
	if (msr_io(fd, KVM_GET_MSRS, index, &v) < 0)
		return -1;
	*value = v;
	return 0;
}

static void probe_msrs(struct kvm_vcpu *kc)
{
	for (size_t i = 0; i < NSTATE_MSRS; i++) {
		uint64_t v;
		kc->msr_ok[i] = get_msr(kc->fd, state_msrs[i], &v) == 0;
	}
}

static inline uint32_t lapic_get(const struct kvm_lapic_state *l, unsigned reg)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], 4);
	return v;
}

static inline void lapic_set(struct kvm_lapic_state *l, unsigned reg, uint32_t v)
{
	memcpy(&l->regs[reg], &v, 4);
}

/* The local APIC as firmware leaves it: software-enabled, and on the BSP
 * LINT0 in ExtINT mode (the 8259A's output) and LINT1 as NMI, so a guest
 * that keeps the PIC in legacy mode gets its interrupts. */
static int setup_lapic(int fd, int bsp)
{
	struct kvm_lapic_state l;
	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	lapic_set(&l, APIC_REG_SVR, lapic_get(&l, APIC_REG_SVR) | APIC_SVR_ENABLE | 0xff);
	if (bsp) {
		lapic_set(&l, APIC_REG_LVT0, APIC_DM_EXTINT);
		lapic_set(&l, APIC_REG_LVT1, APIC_DM_NMI);
	} else {
		lapic_set(&l, APIC_REG_LVT0, APIC_DM_EXTINT | APIC_LVT_MASKED);
		lapic_set(&l, APIC_REG_LVT1, APIC_DM_NMI | APIC_LVT_MASKED);
	}
	return ioctl(fd, KVM_SET_LAPIC, &l);
}

static void kvm_vcpu_destroy(struct vcpu *cpu)
{
	struct kvm_vcpu *kc = kcpu_of(cpu);
	struct kvm_vm *k = kvm_of(cpu->vm);
	if (!kc)
		return;
	if (k)
		kvm_mode_sampler_stop(&k->modes); /* it reads every vCPU */
	if (kc->run)
		munmap(kc->run, k ? (size_t)k->run_size : sizeof(struct kvm_run));
	kvm_vcpu_stats_close(&kc->kstats);
	if (kc->fd >= 0)
		close(kc->fd);
	free(kc);
	cpu->priv = NULL;
}

static int kvm_vcpu_init(struct vcpu *cpu, char *err, size_t errlen)
{
	struct kvm_vm *k = kvm_of(cpu->vm);
	struct kvm_vcpu *kc = calloc(1, sizeof(*kc));
	struct kvm_cpuid2 *cpuid = NULL;
	int ncpus = cpu->vm->ncpus > 0 ? cpu->vm->ncpus : 1;
	int tsc_khz;

	if (!kc) {
		snprintf(err, errlen, "kvm: out of memory");
		return -1;
	}
	cpu->priv = kc;
	kc->kstats.fd = -1;
	kc->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->id);
	if (kc->fd < 0) {
		snprintf(err, errlen, "kvm: KVM_CREATE_VCPU %d: %s", cpu->id, strerror(errno));
		goto fail;
	}
	kc->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, kc->fd, 0);
	if (kc->run == MAP_FAILED) {
		kc->run = NULL;
		snprintf(err, errlen, "kvm: mmap kvm_run: %s", strerror(errno));
		goto fail;
	}
	if (vm_cpu_model_portable(cpu->vm) && ioctl(kc->fd, KVM_SET_TSC_KHZ, CPUID_PORTABLE_TSC_KHZ) < 0 &&
	    cpu->id == 0)
		fprintf(stderr,
		        "symbiont: note: kvm cannot scale this host's TSC (%s): the portable model runs at the "
		        "host's rate, and a guest moved to or from emu keeps a wrong one\n",
		        strerror(errno));
	tsc_khz = ioctl(kc->fd, KVM_GET_TSC_KHZ, 0);
	/* SymSpy and SymCall need only the MSR writes from the guest */
	cpuid = build_cpuid(k->supported, cpu->id, ncpus, tsc_khz > 0 ? (uint32_t)tsc_khz : 0,
	                    vm_cpu_model_portable(cpu->vm), k->msr.supported ? SYM_FEAT_SYMSPY | SYM_FEAT_SYMCALL : 0);
	if (!cpuid || ioctl(kc->fd, KVM_SET_CPUID2, cpuid) < 0) {
		snprintf(err, errlen, "kvm: KVM_SET_CPUID2: %s", strerror(errno));
		goto fail;
	}
	free(cpuid);
	cpuid = NULL;
	if (set_msr(kc->fd, MSR_MISC_ENABLE, MISC_ENABLE_FAST_STRING) < 0 || set_msr(kc->fd, MSR_TSC, 0) < 0) {
		snprintf(err, errlen, "kvm: KVM_SET_MSRS: %s", strerror(errno));
		goto fail;
	}
	if (setup_lapic(kc->fd, cpu->id == 0) < 0) {
		snprintf(err, errlen, "kvm: local APIC set-up: %s", strerror(errno));
		goto fail;
	}
	probe_msrs(kc);
	kvm_vcpu_stats_open(&kc->kstats, kc->fd);
	return 0;
fail:
	free(cpuid);
	kvm_vcpu_destroy(cpu);
	return -1;
}

static void seg_to_kvm(struct kvm_segment *k, const struct x86_seg *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

static void seg_from_kvm(struct x86_seg *s, const struct kvm_segment *k)
{
	memset(s, 0, sizeof(*s));
	s->base = k->base;
	s->limit = k->limit;
	s->sel = k->selector;
	s->type = k->type;
	s->present = k->present;
	s->dpl = k->dpl;
	s->db = k->db;
	s->s = k->s;
	s->l = k->l;
	s->g = k->g;
	s->avl = k->avl;
	s->unusable = k->unusable;
}

/* struct x86_state's segment order is the architectural one (ES CS SS DS
 * FS GS); kvm_sregs names them. */
static struct kvm_segment *sreg_seg(struct kvm_sregs *sr, int i)
{
	switch (i) {
	case SEG_ES: return &sr->es;
	case SEG_CS: return &sr->cs;
	case SEG_SS: return &sr->ss;
	case SEG_DS: return &sr->ds;
	case SEG_FS: return &sr->fs;
	default: return &sr->gs;
	}
}

/* ---- the parts of struct x86_state beyond the registers ------------------- */

static uint64_t *msr_field(struct x86_msrs *m, uint32_t index)
{
	switch (index) {
	case MSR_STAR: return &m->star;
	case MSR_LSTAR: return &m->lstar;
	case MSR_CSTAR: return &m->cstar;
	case MSR_SFMASK: return &m->sfmask;
	case MSR_KERNEL_GS_BASE: return &m->kernel_gs_base;
	case MSR_SYSENTER_CS: return &m->sysenter_cs;
	case MSR_SYSENTER_ESP: return &m->sysenter_esp;
	case MSR_SYSENTER_EIP: return &m->sysenter_eip;
	case MSR_TSC: return &m->tsc;
	case MSR_TSC_ADJUST: return &m->tsc_adjust;
	case MSR_TSC_AUX: return &m->tsc_aux;
	case MSR_TSC_DEADLINE: return &m->tsc_deadline;
	case MSR_PAT: return &m->pat;
	case MSR_MISC_ENABLE: return &m->misc_enable;
	case MSR_MTRR_DEF_TYPE: return &m->mtrr_def_type;
	case MSR_MTRR_FIX64K: return &m->mtrr_fixed[0];
	case MSR_MTRR_FIX16K_80000: return &m->mtrr_fixed[1];
	case MSR_MTRR_FIX16K_A0000: return &m->mtrr_fixed[2];
	}
	if (index >= MSR_MTRR_FIX4K_C0000 && index < MSR_MTRR_FIX4K_C0000 + 8)
		return &m->mtrr_fixed[3 + index - MSR_MTRR_FIX4K_C0000];
	return &m->mtrr_var[(index - MSR_MTRR_PHYS_BASE0) & 15];
}

/* All of state_msrs this KVM has, but TSC_DEADLINE when !deadline (it
 * follows the local APIC). */
static int msrs_io(struct kvm_vcpu *kc, struct x86_msrs *m, bool set, bool deadline)
{
	/* struct kvm_msrs ends in a flexible array: the entries follow it. */
	union {
		struct kvm_msrs hdr;
		uint8_t buf[sizeof(struct kvm_msrs) + NSTATE_MSRS * sizeof(struct kvm_msr_entry)];
	} b;
	struct kvm_msr_entry *e = b.hdr.entries;
	unsigned n = 0;
	int r;

	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < NSTATE_MSRS; i++) {
		if (!kc->msr_ok[i] || (state_msrs[i] == MSR_TSC_DEADLINE) != deadline)
			continue;
		e[n].index = state_msrs[i];
		if (set)
			e[n].data = *msr_field(m, state_msrs[i]);
		n++;
	}
	b.hdr.nmsrs = n;
	r = ioctl(kc->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &b);
	if (r != (int)n) {
		if (r >= 0 && r < (int)n)
			fprintf(stderr, "kvm: %s MSR 0x%x failed\n", set ? "setting" : "reading", e[r].index);
		return -1;
	}
	if (!set)
		for (unsigned i = 0; i < n; i++)
			*msr_field(m, e[i].index) = e[i].data;
	return 0;
}

/* struct kvm_fpu holds an FXSAVE image's fields: convert field by field. */
static void fpu_to_kvm(struct kvm_fpu *f, const uint8_t *img)
{
	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, img + 0, 2);
	memcpy(&f->fsw, img + 2, 2);
	f->ftwx = img[4];
	memcpy(&f->last_opcode, img + 6, 2);
	memcpy(&f->last_ip, img + 8, 8);
	memcpy(&f->last_dp, img + 16, 8);
	memcpy(&f->mxcsr, img + 24, 4);
	for (int i = 0; i < 8; i++)
		memcpy(f->fpr[i], img + 32 + 16 * i, 16);
	memcpy(f->xmm, img + 160, 256);
}

static void fpu_from_kvm(uint8_t *img, const struct kvm_fpu *f)
{
	uint32_t mask = 0xffff; /* MXCSR_MASK: the bits KVM's CPUs have */
	memset(img, 0, 512);
	memcpy(img + 0, &f->fcw, 2);
	memcpy(img + 2, &f->fsw, 2);
	img[4] = f->ftwx;
	memcpy(img + 6, &f->last_opcode, 2);
	memcpy(img + 8, &f->last_ip, 8);
	memcpy(img + 16, &f->last_dp, 8);
	memcpy(img + 24, &f->mxcsr, 4);
	memcpy(img + 28, &mask, 4);
	for (int i = 0; i < 8; i++)
		memcpy(img + 32 + 16 * i, f->fpr[i], 16);
	memcpy(img + 160, f->xmm, 256);
}

/* The x87/SSE image goes through KVM_GET/SET_XSAVE, whose first 512 bytes
 * are the FXSAVE image: KVM_GET/SET_FPU leave MXCSR out.  XSTATE_BV (at
 * byte 512) gets the x87 and SSE bits so the loaded values count. */
#define XSAVE_PKRU_OFF 2688 /* the PKRU component in the standard format */
#define XSAVE_YMM_OFF  576  /* the AVX component (YMM upper halves) */

static int fpu_set(struct kvm_vcpu *kc, const uint8_t *img, uint32_t pkru, const uint8_t *ymmh)
{
	struct kvm_xsave *x = malloc(sizeof(*x));
	uint32_t mxcsr_mask;
	uint8_t *b;
	int r = -1;

	if (!x)
		return -1;
	b = (uint8_t *)x->region;
	if (ioctl(kc->fd, KVM_GET_XSAVE, x) == 0) {
		memcpy(&mxcsr_mask, b + 28, 4);
		memcpy(b, img, 512);
		memcpy(b + 28, &mxcsr_mask, 4); /* the CPU's, not the image's */
		b[512] |= 3;
		static const uint8_t zero[256];
		if (memcmp(ymmh, zero, 256)) { /* (likewise AVX state on a host without AVX) */
			memcpy(b + XSAVE_YMM_OFF, ymmh, 256);
			b[512] |= 4;
		}
		if (pkru) { /* (a host without PKU refuses this: the guest needs it) */
			memcpy(b + XSAVE_PKRU_OFF, &pkru, 4);
			b[513] |= 2; /* XSTATE_BV bit 9 */
		}
		r = ioctl(kc->fd, KVM_SET_XSAVE, x) < 0 ? -1 : 0;
	} else {
		struct kvm_fpu f;
		fpu_to_kvm(&f, img);
		r = ioctl(kc->fd, KVM_SET_FPU, &f) < 0 ? -1 : 0;
	}
	free(x);
	return r;
}

static int fpu_get(struct kvm_vcpu *kc, uint8_t *img, uint32_t *pkru, uint8_t *ymmh)
{
	struct kvm_xsave *x = malloc(sizeof(*x));
	int r = 0;

	if (!x)
		return -1;
	*pkru = 0;
	memset(ymmh, 0, 256);
	if (ioctl(kc->fd, KVM_GET_XSAVE, x) == 0) {
		memcpy(img, x->region, 512);
		if (((const uint8_t *)x->region)[512] & 4) /* XSTATE_BV bit 2: YMM saved */
			memcpy(ymmh, (const uint8_t *)x->region + XSAVE_YMM_OFF, 256);
		if (((const uint8_t *)x->region)[513] & 2) /* XSTATE_BV bit 9: PKRU saved */
			memcpy(pkru, (const uint8_t *)x->region + XSAVE_PKRU_OFF, 4);
	} else {
		struct kvm_fpu f;
		if (ioctl(kc->fd, KVM_GET_FPU, &f) < 0)
			r = -1;
		else
			fpu_from_kvm(img, &f);
	}
	free(x);
	return r;
}

/* XCR0 through KVM's XCR interface.  A kernel or CPUID without XSAVE
 * refuses it: fine while XCR0 is the power-on 1, which is then in force. */
static int xcr0_set(struct kvm_vcpu *kc, uint64_t xcr0)
{
	struct kvm_xcrs x;
	memset(&x, 0, sizeof(x));
	x.nr_xcrs = 1;
	x.xcrs[0].xcr = 0;
	x.xcrs[0].value = xcr0 ? xcr0 : 1;
	if (ioctl(kc->fd, KVM_SET_XCRS, &x) < 0 && x.xcrs[0].value != 1)
		return -1;
	return 0;
}

static uint64_t xcr0_get(struct kvm_vcpu *kc)
{
	struct kvm_xcrs x;
	memset(&x, 0, sizeof(x));
	if (ioctl(kc->fd, KVM_GET_XCRS, &x) < 0)
		return 1;
	for (uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (x.xcrs[i].xcr == 0)
			return x.xcrs[i].value;
	return 1;
}

static int set_parts(struct kvm_vcpu *kc, const struct x86_state *s)
{
	struct x86_msrs m = s->msr;

	if ((s->parts & X86_STATE_MSRS) && msrs_io(kc, &m, true, false) < 0)
		return -1;
	if ((s->parts & X86_STATE_FPU) && (xcr0_set(kc, s->xcr0) < 0 || fpu_set(kc, s->fxsave, s->pkru, s->ymmh) < 0))
		return -1;
	if (s->parts & X86_STATE_DEBUG) {
		struct kvm_debugregs d;
		memset(&d, 0, sizeof(d));
		memcpy(d.db, s->dr, sizeof(d.db));
		d.dr6 = s->dr6;
		d.dr7 = s->dr7;
		if (ioctl(kc->fd, KVM_SET_DEBUGREGS, &d) < 0)
			return -1;
	}
	if (s->parts & X86_STATE_LAPIC) {
		struct kvm_lapic_state l;
		memcpy(l.regs, s->lapic, sizeof(l.regs));
		if (ioctl(kc->fd, KVM_SET_LAPIC, &l) < 0)
			return -1;
	}
	if ((s->parts & X86_STATE_MSRS) && msrs_io(kc, &m, true, true) < 0)
		return -1;
	if (s->parts & X86_STATE_EVENTS) {
		const struct x86_events *e = &s->ev;
		struct kvm_vcpu_events ev;
		struct kvm_mp_state mp;
		memset(&ev, 0, sizeof(ev));
		ev.exception.injected = e->exception_injected;
		ev.exception.nr = e->exception_nr;
		ev.exception.has_error_code = e->exception_has_error;
		ev.exception.error_code = e->exception_error;
		ev.interrupt.injected = e->interrupt_injected;
		ev.interrupt.nr = e->interrupt_nr;
		ev.interrupt.soft = e->interrupt_soft;
		ev.interrupt.shadow = e->interrupt_shadow ? KVM_X86_SHADOW_INT_STI : 0;
		ev.nmi.pending = e->nmi_pending;
		ev.nmi.masked = e->nmi_masked;
		ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
		if (ioctl(kc->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
			return -1;
		mp.mp_state = e->mp_state == X86_MP_HALTED      ? KVM_MP_STATE_HALTED
		              : e->mp_state == X86_MP_WAIT_SIPI ? KVM_MP_STATE_INIT_RECEIVED
		                                                : KVM_MP_STATE_RUNNABLE;
		if (ioctl(kc->fd, KVM_SET_MP_STATE, &mp) < 0)
			return -1;
	}
	return 0;
}

/* The parts asked for, an ioctl or two each (the MSRs two). */
static int get_parts(struct kvm_vcpu *kc, struct x86_state *s, uint32_t parts)
{
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;

	if ((parts & X86_STATE_MSRS) &&
	    (msrs_io(kc, &s->msr, false, false) < 0 || msrs_io(kc, &s->msr, false, true) < 0))
		return -1;
	if (parts & X86_STATE_FPU) {
		if (fpu_get(kc, s->fxsave, &s->pkru, s->ymmh) < 0)
			return -1;
		s->xcr0 = xcr0_get(kc);
	}
	if (parts & X86_STATE_DEBUG) {
		struct kvm_debugregs d;
		if (ioctl(kc->fd, KVM_GET_DEBUGREGS, &d) < 0)
			return -1;
		memcpy(s->dr, d.db, sizeof(s->dr));
		s->dr6 = d.dr6;
		s->dr7 = d.dr7;
	}
	if (parts & X86_STATE_LAPIC) {
		struct kvm_lapic_state l;
		if (ioctl(kc->fd, KVM_GET_LAPIC, &l) < 0)
			return -1;
		memcpy(s->lapic, l.regs, sizeof(s->lapic));
	}
	s->parts = parts;
	if (!(parts & X86_STATE_EVENTS))
		return 0;
	if (ioctl(kc->fd, KVM_GET_VCPU_EVENTS, &ev) < 0 || ioctl(kc->fd, KVM_GET_MP_STATE, &mp) < 0)
		return -1;
	s->ev.exception_injected = ev.exception.injected || ev.exception.pending;
	s->ev.exception_nr = ev.exception.nr;
	s->ev.exception_has_error = ev.exception.has_error_code;
	s->ev.exception_error = ev.exception.error_code;
	s->ev.interrupt_injected = ev.interrupt.injected;
	s->ev.interrupt_nr = ev.interrupt.nr;
	s->ev.interrupt_soft = ev.interrupt.soft;
	s->ev.interrupt_shadow = ev.interrupt.shadow != 0;
	s->ev.nmi_pending = ev.nmi.pending;
	s->ev.nmi_masked = ev.nmi.masked;
	s->ev.mp_state = mp.mp_state == KVM_MP_STATE_HALTED     ? X86_MP_HALTED
	                 : mp.mp_state == KVM_MP_STATE_RUNNABLE ? X86_MP_RUNNABLE
	                                                        : X86_MP_WAIT_SIPI;
	return 0;
}

static int kvm_vcpu_set_state(struct vcpu *cpu, const struct x86_state *s)
{
	struct kvm_vcpu *kc = kcpu_of(cpu);
	struct kvm_regs regs;
	struct kvm_sregs sr;

	/* Read first so fields struct x86_state does not carry (the pending
	 * interrupt bitmap) keep their values. */
	if (ioctl(kc->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	for (int i = 0; i < SEG_COUNT; i++)
		seg_to_kvm(sreg_seg(&sr, i), &s->seg[i]);
	seg_to_kvm(&sr.tr, &s->tr);
	seg_to_kvm(&sr.ldt, &s->ldt);
	sr.gdt.base = s->gdt.base;
	sr.gdt.limit = s->gdt.limit;
	sr.idt.base = s->idt.base;
	sr.idt.limit = s->idt.limit;
	sr.cr0 = s->cr0;
	sr.cr2 = s->cr2;
	sr.cr3 = s->cr3;
	sr.cr4 = s->cr4;
	sr.cr8 = s->cr8;
	sr.efer = s->efer;
	sr.apic_base = s->apic_base;
	if (cpu->id != 0)
		sr.apic_base &= ~APIC_BASE_BSP;
	if (ioctl(kc->fd, KVM_SET_SREGS, &sr) < 0)
		return -1;

	memset(&regs, 0, sizeof(regs));
	regs.rax = s->gpr[X86_RAX];
	regs.rcx = s->gpr[X86_RCX];
	regs.rdx = s->gpr[X86_RDX];
	regs.rbx = s->gpr[X86_RBX];
	regs.rsp = s->gpr[X86_RSP];
	regs.rbp = s->gpr[X86_RBP];
	regs.rsi = s->gpr[X86_RSI];
	regs.rdi = s->gpr[X86_RDI];
	regs.r8 = s->gpr[X86_R8];
	regs.r9 = s->gpr[X86_R9];
	regs.r10 = s->gpr[X86_R10];
	regs.r11 = s->gpr[X86_R11];
	regs.r12 = s->gpr[X86_R12];
	regs.r13 = s->gpr[X86_R13];
	regs.r14 = s->gpr[X86_R14];
	regs.r15 = s->gpr[X86_R15];
	regs.rip = s->rip;
	regs.rflags = s->rflags | RFLAGS_FIXED;
	if (ioctl(kc->fd, KVM_SET_REGS, &regs) < 0)
		return -1;
	kvm_points_forget(&kc->dbg.pts); /* LSTAR may be another now */
	return set_parts(kc, s);
}

static int kvm_vcpu_get_parts(struct vcpu *cpu, struct x86_state *s, uint32_t parts)
{
	struct kvm_vcpu *kc = kcpu_of(cpu);
	struct kvm_regs regs;
	struct kvm_sregs sr;

	if (ioctl(kc->fd, KVM_GET_REGS, &regs) < 0 || ioctl(kc->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->gpr[X86_RAX] = regs.rax;
	s->gpr[X86_RCX] = regs.rcx;
	s->gpr[X86_RDX] = regs.rdx;
	s->gpr[X86_RBX] = regs.rbx;
	s->gpr[X86_RSP] = regs.rsp;
	s->gpr[X86_RBP] = regs.rbp;
	s->gpr[X86_RSI] = regs.rsi;
	s->gpr[X86_RDI] = regs.rdi;
	s->gpr[X86_R8] = regs.r8;
	s->gpr[X86_R9] = regs.r9;
	s->gpr[X86_R10] = regs.r10;
	s->gpr[X86_R11] = regs.r11;
	s->gpr[X86_R12] = regs.r12;
	s->gpr[X86_R13] = regs.r13;
	s->gpr[X86_R14] = regs.r14;
	s->gpr[X86_R15] = regs.r15;
	s->rip = regs.rip;
	s->rflags = regs.rflags;
	for (int i = 0; i < SEG_COUNT; i++)
		seg_from_kvm(&s->seg[i], sreg_seg(&sr, i));
	seg_from_kvm(&s->tr, &sr.tr);
	seg_from_kvm(&s->ldt, &sr.ldt);
	s->gdt.base = sr.gdt.base;
	s->gdt.limit = sr.gdt.limit;
	s->idt.base = sr.idt.base;
	s->idt.limit = sr.idt.limit;
	s->cr0 = sr.cr0;
	s->cr2 = sr.cr2;
	s->cr3 = sr.cr3;
	s->cr4 = sr.cr4;
	s->cr8 = sr.cr8;
	s->efer = sr.efer;
	s->apic_base = sr.apic_base;
	return get_parts(kc, s, parts);
}

static int kvm_vcpu_get_state(struct vcpu *cpu, struct x86_state *s)
{
	return kvm_vcpu_get_parts(cpu, s, X86_STATE_ALL);
}

/* ---- running ------------------------------------------------------------- */

static uint64_t load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, p, size > 8 ? 8 : size); /* x86 hosts are little-endian */
	return v;
}

static void handle_io(struct vm *vm, struct kvm_run *run)
{
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	for (uint32_t i = 0; i < run->io.count; i++, p += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			vm_pio_write(vm, run->io.port, load_le(p, size), size);
		} else {
			uint64_t v = vm_pio_read(vm, run->io.port, size);
			memcpy(p, &v, size);
		}
	}
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;

	if (run->mmio.is_write) {
		vm_mmio_write(vm, run->mmio.phys_addr, load_le(run->mmio.data, len), len);
	} else {
		uint64_t v = vm_mmio_read(vm, run->mmio.phys_addr, len);
		memcpy(run->mmio.data, &v, len);
	}
}

__attribute__((format(printf, 2, 3))) static int engine_fail(struct vcpu *cpu, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "kvm: vcpu %d: ", cpu->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	vm_request_exit(cpu->vm, 1);
	return -1;
}

/* KVM finishes an instruction that exited to user space (the OUT that was
 * just handled, an MMIO read's destination register) only when it is
 * entered again.  Before vcpu_run returns the vCPU enters once with
 * immediate_exit set, which completes that and comes straight back, so
 * the state get_state reads is whole: the OUT is not done twice by
 * whatever runs the vCPU next. */
static int complete_pending(struct vcpu *cpu)
{
	struct kvm_vcpu *kc = kcpu_of(cpu);
	atomic_store((_Atomic uint8_t *)&kc->run->immediate_exit, 1);
	if (ioctl(kc->fd, KVM_RUN, 0) < 0 && errno != EINTR && errno != EAGAIN)
		return engine_fail(cpu, "KVM_RUN to complete I/O: %s", strerror(errno));
	atomic_store((_Atomic uint8_t *)&kc->run->immediate_exit, 0);
	return 0;
}

/* Whether guest debugging must be looked at before this entry: hooks or
 * stepping wanted, or still set up from before. */
static inline bool unlikely_debug(struct vm *vm, const struct kvm_vcpu *kc)
{
	unsigned want = SYM_EV_BIT(SYM_EV_CODE_HOOK) | SYM_EV_BIT(SYM_EV_STEP) | SYM_EV_BIT(SYM_EV_HW_POINT) |
	                SYM_EV_BIT(SYM_EV_SYSCALL_ENTER) | SYM_EV_BIT(SYM_EV_SYSCALL_EXIT) |
	                SYM_EV_BIT(SYM_EV_EXCEPTION);
	return (atomic_load_explicit(&vm->events_active, memory_order_relaxed) & want) || kc->dbg.control ||
	       kc->dbg.hooks_gen != atomic_load_explicit(&vm->hooks_gen, memory_order_relaxed);
}

/* Code hooks and single-step through KVM's guest debugging (guest_debug.c);
 * on kvm_pvm single-step only (its emulator fails on the hooks' INT3).
 * Syscall entry and exit and exceptions by debug-register points
 * (syscall_points.c).  MSR writes through KVM's MSR filter where it has one
 * (msr_events.c). */
static unsigned kvm_events_on(struct vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);
	return SYM_EV_BIT(SYM_EV_STEP) | SYM_EV_BIT(SYM_EV_HW_POINT) | SYM_EV_BIT(SYM_EV_SYSCALL_ENTER) |
	       SYM_EV_BIT(SYM_EV_SYSCALL_EXIT) | SYM_EV_BIT(SYM_EV_EXCEPTION) |
	       (kvm_is_pvm() ? 0 : SYM_EV_BIT(SYM_EV_CODE_HOOK)) |
	       (k && k->msr.supported ? SYM_EV_BIT(SYM_EV_MSR_WRITE) : 0);
}

static void kvm_debug_changed(struct vm *vm);

static int kvm_set_hw_points(struct vm *vm, const struct vm_hw_point p[VM_HW_POINTS], char *err, size_t errlen)
{
	/* the hub's syscall and exception points take the highest registers */
	uint32_t vectors = vm_events_wanted(vm, SYM_EV_EXCEPTION) ? sym_exception_vectors(vm) : 0;
	int hub = kvm_points_demand(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER),
	                            vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT), vectors);
	for (int i = 0; i < VM_HW_POINTS; i++)
		if (p[i].on && i >= 4 - hub) {
			snprintf(err, errlen,
			         "kvm: debug register %d is taken: syscall and exception events hold %d of the 4", i,
			         hub);
			return -1;
		}
	kvm_debug_set_points(kvm_of(vm)->debug, p);
	kvm_debug_changed(vm); /* each vCPU takes them at its next entry */
	return 0;
}

static int kvm_event_check(struct vm *vm, const struct sym_filter *f, char *err, size_t errlen)
{
	return kvm_points_check(vm, f, kvm_debug_points_held(kvm_of(vm)->debug), err, errlen);
}

static void kvm_debug_changed(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->running)
			kvm_vcpu_kick(vm->vcpus[i]);
}

static int kvm_vcpu_run(struct vcpu *cpu)
{
	struct vm *vm = cpu->vm;
	struct kvm_vcpu *kc = kcpu_of(cpu);
	struct kvm_run *run = kc->run;
	sigset_t set;

	/* The vCPU thread must take the kick signal. */
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		if (vm_stopping(vm))
			return complete_pending(cpu);
		if (vm_pause_pending(vm) || atomic_load(&cpu->throttled)) {
			vm_vcpu_hold(cpu); /* outside KVM_RUN: the state is the kernel's to give */
			continue;
		}
		if (unlikely_debug(vm, kc)) {
			char err[160];
			if (!kvm_of(vm)->msr.supported)
				kvm_points_forget(&kc->dbg.pts); /* no LSTAR write exits: read it each time */
			if (kvm_debug_prepare(kvm_of(vm)->debug, &kc->dbg, cpu, kc->fd, err, sizeof(err)) < 0)
				return engine_fail(cpu, "%s", err);
		}
		if (kvm_msr_events_stale(&kvm_of(vm)->msr, vm)) {
			char err[160];
			if (kvm_msr_events_sync(&kvm_of(vm)->msr, vm, kvm_of(vm)->vm_fd, err, sizeof(err)) < 0)
				return engine_fail(cpu, "%s", err);
		}
		uint64_t t0 = host_clock_ns();
		int rr = ioctl(kc->fd, KVM_RUN, 0);
		kc->run_ns += host_clock_ns() - t0;
		kvm_mode_sample(&kc->modes, kc->fd);
		if (rr == 0)
			kc->exits[run->exit_reason < KVM_EXIT_REASONS ? run->exit_reason : KVM_EXIT_REASONS]++;
		if (rr < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Clear the kick flag before vm_stopping() is read
				 * again, so a kick after this point is never lost. */
				atomic_store((_Atomic uint8_t *)&run->immediate_exit, 0);
				atomic_thread_fence(memory_order_seq_cst);
				continue;
			}
			return engine_fail(cpu, "KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: handle_io(vm, run); break;
		case KVM_EXIT_MMIO: handle_mmio(vm, run); break;
		case KVM_EXIT_INTR: break;
		case KVM_EXIT_DEBUG: kvm_debug_exit(kvm_of(vm)->debug, &kc->dbg, cpu, kc->fd, &run->debug.arch); break;
		case KVM_EXIT_X86_WRMSR:
			kvm_msr_events_exit(cpu, kc->fd, run);
			if (run->msr.index == MSR_LSTAR)
				kvm_points_forget(&kc->dbg.pts); /* the syscall entry moved */
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; nothing will wake us. */
			fprintf(stderr, "guest halted\n");
			vm_request_exit(vm, 1);
			return 0;
		case KVM_EXIT_SHUTDOWN:
			fprintf(stderr, "guest triple fault\n");
			vm_request_exit(vm, 1);
			return 0;
		case KVM_EXIT_SYSTEM_EVENT:
			vm_request_exit(vm, run->system_event.type == KVM_SYSTEM_EVENT_CRASH ? 1 : 0);
			return 0;
		case KVM_EXIT_FAIL_ENTRY:
			return engine_fail(cpu, "entry failed, hardware reason 0x%llx",
			                   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR: {
			struct kvm_regs regs;
			struct kvm_sregs sr;
			unsigned long long rip = ~0ULL;
			if (ioctl(kc->fd, KVM_GET_REGS, &regs) == 0 && ioctl(kc->fd, KVM_GET_SREGS, &sr) == 0)
				rip = sr.cs.base + regs.rip;
			return engine_fail(
			        cpu, "internal error, suberror %u%s at linear rip 0x%llx", run->internal.suberror,
			        run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation failed)" : "",
			        rip);
		}
		default: return engine_fail(cpu, "unexpected exit reason %u", run->exit_reason);
		}
	}
}

static void kvm_vcpu_stats(struct vcpu *cpu, device_stat_fn emit, void *ctx)
{
	static const char *const names[] = {
		[KVM_EXIT_IO] = "exits_io",     [KVM_EXIT_MMIO] = "exits_mmio",         [KVM_EXIT_HLT] = "exits_hlt",
		[KVM_EXIT_INTR] = "exits_intr", [KVM_EXIT_SHUTDOWN] = "exits_shutdown",
	};
	struct kvm_vcpu *kc = kcpu_of(cpu);
	uint64_t other = 0, total = 0;
	if (!kc)
		return;
	for (unsigned r = 0; r <= KVM_EXIT_REASONS; r++) {
		total += kc->exits[r];
		if (r < sizeof(names) / sizeof(names[0]) && names[r])
			emit(ctx, names[r], kc->exits[r]);
		else
			other += kc->exits[r];
	}
	emit(ctx, "exits_other", other);
	emit(ctx, "exits", total);
	emit(ctx, "run_ns", kc->run_ns);
	uint64_t halted = kvm_vcpu_stats_emit(&kc->kstats, emit, ctx);
	/* Guest time by privilege, estimated from the samples: the time in
	 * KVM_RUN less the halts, shared as the samples were. */
	kvm_mode_sampler_renew(&kvm_of(cpu->vm)->modes);
	uint64_t u = atomic_load(&kc->modes.user), kn = atomic_load(&kc->modes.kernel);
	emit(ctx, "mode_samples", u + kn);
	if (u + kn) {
		uint64_t active = kc->run_ns > halted ? kc->run_ns - halted : 0;
		uint64_t user = (uint64_t)((double)active * (double)u / (double)(u + kn));
		emit(ctx, "user_ns", user);
		emit(ctx, "kernel_ns", active - user);
	}
}

static void kvm_vcpu_kick(struct vcpu *cpu)
{
	struct kvm_vcpu *kc = kcpu_of(cpu);
	if (!kc || !kc->run)
		return;
	atomic_store((_Atomic uint8_t *)&kc->run->immediate_exit, 1);
	atomic_thread_fence(memory_order_seq_cst);
	pthread_kill(cpu->thread, KICK_SIGNAL);
}

/* The table vcpu_init gave KVM_SET_CPUID2, built again (it is a function of
 * the host's supported CPUID, the vCPU's id and count and the TSC rate). */
static int kvm_vcpu_cpuid(struct vcpu *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	struct kvm_vm *k = kvm_of(cpu->vm);
	struct kvm_vcpu *kc = cpu->priv;
	int ncpus = cpu->vm->ncpus > 0 ? cpu->vm->ncpus : 1;
	int tsc_khz = ioctl(kc->fd, KVM_GET_TSC_KHZ, 0);
	struct kvm_cpuid2 *c =
	        build_cpuid(k->supported, cpu->id, ncpus, tsc_khz > 0 ? (uint32_t)tsc_khz : 0,
	                    vm_cpu_model_portable(cpu->vm), k->msr.supported ? SYM_FEAT_SYMSPY | SYM_FEAT_SYMCALL : 0);

	memset(out, 0, 4 * sizeof(out[0]));
	for (uint32_t i = 0; c && i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == leaf && (e->index == sub || !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))) {
			out[0] = e->eax, out[1] = e->ebx, out[2] = e->ecx, out[3] = e->edx;
			break;
		}
	}
	free(c);
	return c ? 0 : -1; /* a leaf KVM does not list reads as zeros */
}

/* ---- dirty page log (live migration): the kernel's, per memory slot ---- */

static int kvm_dirty_log(struct vm *vm, bool on, char *err, size_t errlen)
{
	struct kvm_vm *k = kvm_of(vm);
	uint32_t fl = on ? KVM_MEM_LOG_DIRTY_PAGES : 0;
	if ((vm->mem.low_size && set_mem_slot_flags(k, 0, 0, vm->mem.low_size, vm->mem.host, fl) < 0) ||
	    (vm->mem.size > vm->mem.low_size && set_mem_slot_flags(k, 1, MEM_4G, vm->mem.size - vm->mem.low_size,
	                                                           vm->mem.host + vm->mem.low_size, fl) < 0)) {
		snprintf(err, errlen, "kvm: dirty page logging: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* One slot's log (the kernel clears it as it hands it over), ORed into out
 * from page first on. */
static int collect_slot(struct kvm_vm *k, uint32_t slot, uint64_t pages, uint64_t first, uint64_t *out)
{
	uint64_t words = (pages + 63) / 64;
	uint64_t *b = calloc(words, sizeof(uint64_t));
	struct kvm_dirty_log log = { .slot = slot };
	if (!b)
		return -1;
	log.dirty_bitmap = b;
	if (ioctl(k->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		free(b);
		return -1;
	}
	for (uint64_t w = 0; w < words; w++)
		for (uint64_t v = b[w]; v; v &= v - 1) {
			uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(v);
			out[pg / 64] |= 1ull << (pg % 64);
		}
	free(b);
	return 0;
}

static int kvm_dirty_collect(struct vm *vm, uint64_t *out, char *err, size_t errlen)
{
	struct kvm_vm *k = kvm_of(vm);
	uint64_t low = vm->mem.low_size / 4096;
	if ((low && collect_slot(k, 0, low, 0, out) < 0) ||
	    (vm->mem.size > vm->mem.low_size && collect_slot(k, 1, vm->mem.size / 4096 - low, low, out) < 0)) {
		snprintf(err, errlen, "kvm: reading the dirty log: %s", strerror(errno));
		return -1;
	}
	vm_dirty_take(vm, out); /* the devices' writes */
	return 0;
}

const struct engine_ops kvm_engine_ops = {
	.name = "kvm",
	.has_irqchip = true,
	.init = kvm_init,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_set_state = kvm_vcpu_set_state,
	.vcpu_get_state = kvm_vcpu_get_state,
	.vcpu_get_parts = kvm_vcpu_get_parts,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.vcpu_stats = kvm_vcpu_stats,
	.vcpu_destroy = kvm_vcpu_destroy,
	.destroy = kvm_destroy,
	.vcpu_cpuid = kvm_vcpu_cpuid,
	.debug_changed = kvm_debug_changed,
	.set_hw_points = kvm_set_hw_points,
	.events_on = kvm_events_on,
	.event_check = kvm_event_check,
	.dirty_log = kvm_dirty_log,
	.dirty_collect = kvm_dirty_collect,
};
