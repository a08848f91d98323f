/* The KVM engine run directly on a minimal struct vm (no board, no loader):
 * tiny guest blobs in real and protected mode whose port I/O and MMIO land
 * on test devices, state round trips, the CPUID policy, and kicks.
 * Skipped when /dev/kvm cannot be opened. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/engine.h"
#include "symbiont/abi/cpuid.h"
#include "symbiont/event.h"

/* A port/MMIO device that records what the guest wrote. */
struct rec {
	uint64_t last_addr, last_val;
	unsigned last_size;
	int writes, reads;
	char text[64];
	int ntext;
};

static uint64_t rec_read(void *dev, uint64_t off, unsigned size)
{
	struct rec *r = dev;
	r->reads++;
	return 0x11223344u + off + size;
}

static void rec_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	struct rec *r = dev;
	r->writes++;
	r->last_addr = off;
	r->last_val = val;
	r->last_size = size;
	if (off == 0 && size == 1 && r->ntext < (int)sizeof(r->text) - 1)
		r->text[r->ntext++] = (char)val;
}

static const struct io_ops rec_ops = { rec_read, rec_write };

/* Port 0xf4: the guest's "I am done" doorbell. */
static void done_write(void *dev, uint64_t off, uint64_t val, unsigned size)
{
	(void)off, (void)size;
	vm_request_exit(dev, (int)(val & 0xff));
}

static uint64_t done_read(void *dev, uint64_t off, unsigned size)
{
	(void)dev, (void)off, (void)size;
	return ~0ULL;
}

static const struct io_ops done_ops = { done_read, done_write };

static bool have_kvm;

struct fixture {
	struct vm *vm;
	struct vcpu cpu;
	struct rec port, mmio;
};

static struct fixture *fixture_new(void)
{
	struct fixture *f;
	char err[256] = "";
	struct vm *vm;

	if (!have_kvm)
		skip();
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	vm = f->vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->wake_fd = -1;
	vm->ncpus = 1;
	pthread_mutex_init(&vm->io_lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	assert_int_equal(guest_mem_init(&vm->mem, MEM_MIN_SIZE), 0);
	assert_int_equal(io_bus_register(&vm->pio, 0x3f8, 8, &rec_ops, &f->port), 0);
	assert_int_equal(io_bus_register(&vm->pio, 0xf4, 4, &done_ops, vm), 0);
	assert_int_equal(io_bus_register(&vm->mmio, 0xd0000000, 0x1000, &rec_ops, &f->mmio), 0);
	vm->engine = &kvm_engine_ops;
	if (kvm_engine_ops.init(vm, err, sizeof(err)) < 0)
		fail_msg("init: %s", err);
	assert_ptr_not_equal(vm->irqchip, NULL);
	f->cpu.vm = vm;
	f->cpu.id = 0;
	f->cpu.thread = pthread_self();
	vm->vcpus[0] = &f->cpu;
	if (kvm_engine_ops.vcpu_init(&f->cpu, err, sizeof(err)) < 0)
		fail_msg("vcpu_init: %s", err);
	return f;
}

static void fixture_free(struct fixture *f)
{
	kvm_engine_ops.vcpu_destroy(&f->cpu);
	kvm_engine_ops.destroy(f->vm);
	vm_event_hub_free(f->vm); /* allocated by a test's first subscription */
	io_bus_free(&f->vm->pio);
	io_bus_free(&f->vm->mmio);
	guest_mem_free(&f->vm->mem);
	free(f->vm);
	free(f);
}

static void put(struct fixture *f, uint64_t gpa, const void *code, size_t len)
{
	assert_int_equal(gpa_write(&f->vm->mem, gpa, code, len), 0);
}

/* 32-bit flat protected mode at 0x1000: "hi" to port 0x3f8, a word string
 * out (rep outsw, count 2), an MMIO read and write to a user-space device,
 * then the doorbell with the value read. */
static void test_flat32_pio_mmio(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03,       /* mov $0x3f8, %dx */
		0xb0, 'h',  0xee,             /* mov $'h', %al; out %al, %dx */
		0xb0, 'i',  0xee,             /* mov $'i', %al; out %al, %dx */
		0xbe, 0x00, 0x20, 0x00, 0x00, /* mov $0x2000, %esi */
		0xb9, 0x02, 0x00, 0x00, 0x00, /* mov $2, %ecx */
		0x66, 0xba, 0xfa, 0x03,       /* mov $0x3fa, %dx */
		0xf3, 0x66, 0x6f,             /* rep outsw */
		0xa1, 0x08, 0x00, 0x00, 0xd0, /* mov 0xd0000008, %eax */
		0xa3, 0x10, 0x00, 0x00, 0xd0, /* mov %eax, 0xd0000010 */
		0xe7, 0xf4,                   /* out %eax, $0xf4 */
		0xeb, 0xfe,                   /* jmp . */
	};
	static const uint16_t words[2] = { 0xbeef, 0xcafe };
	struct fixture *f = fixture_new();
	struct x86_state s;

	put(f, 0x1000, code, sizeof(code));
	put(f, 0x2000, words, sizeof(words));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);

	assert_string_equal(f->port.text, "hi");
	/* the string out's last item: word 0xcafe to port 0x3fa */
	assert_int_equal(f->port.last_addr, 2);
	assert_int_equal(f->port.last_size, 2);
	assert_int_equal(f->port.last_val, 0xcafe);
	assert_int_equal(f->port.writes, 4);
	assert_int_equal(f->mmio.reads, 1);
	assert_int_equal(f->mmio.writes, 1);
	assert_int_equal(f->mmio.last_addr, 0x10);
	assert_int_equal(f->mmio.last_size, 4);
	assert_int_equal(f->mmio.last_val, 0x11223344u + 8 + 4);
	assert_true(vm_stopping(f->vm));
	assert_int_equal(f->vm->exit_status, (0x11223344u + 8 + 4) & 0xff);

	assert_int_equal(kvm_engine_ops.vcpu_get_state(&f->cpu, &s), 0);
	assert_int_equal(s.rip, 0x1000 + sizeof(code) - 2); /* stopped at the jmp */
	assert_int_equal(s.gpr[X86_RSI], 0x2004);
	assert_int_equal(s.seg[SEG_CS].sel, 0x08);
	assert_int_equal(s.seg[SEG_CS].db, 1);
	assert_true(s.cr0 & CR0_PE);
	/* the light read: the same registers, the events and the FPU */
	struct x86_state t;
	assert_int_equal(kvm_engine_ops.vcpu_get_parts(&f->cpu, &t, X86_STATE_EVENTS | X86_STATE_FPU), 0);
	assert_int_equal(t.parts, X86_STATE_EVENTS | X86_STATE_FPU);
	assert_int_equal(t.rip, s.rip);
	assert_int_equal(t.gpr[X86_RSI], 0x2004);
	assert_int_equal(t.ev.mp_state, s.ev.mp_state);
	assert_memory_equal(t.fxsave, s.fxsave, sizeof(t.fxsave));
	fixture_free(f);
}

/* Real mode from a low address: the engine accepts x86_state_reset with a
 * changed CS:IP, and segment arithmetic is the guest's. */
static void test_real_mode(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0xba, 0xf8, 0x03, /* mov $0x3f8, %dx */
		0x8a, 0x07,       /* mov (%bx), %al  (DS:BX) */
		0xee,             /* out %al, %dx */
		0xb0, 0x2a,       /* mov $42, %al */
		0xe6, 0xf4,       /* out %al, $0xf4 */
		0xeb, 0xfe,       /* jmp . */
	};
	struct fixture *f = fixture_new();
	struct x86_state s;

	put(f, 0x7c00, code, sizeof(code));
	put(f, 0x5010, "R", 1);
	x86_state_reset(&s);
	s.seg[SEG_CS].sel = 0x700;
	s.seg[SEG_CS].base = 0x7000;
	s.rip = 0xc00;
	s.seg[SEG_DS].sel = 0x500;
	s.seg[SEG_DS].base = 0x5000;
	s.gpr[X86_RBX] = 0x10;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	assert_string_equal(f->port.text, "R");
	assert_int_equal(f->vm->exit_status, 42);
	fixture_free(f);
}

/* A triple fault ends the VM with status 1 and returns normally. */
static void test_triple_fault(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0x0f, 0x0b }; /* ud2 with no IDT */
	struct fixture *f = fixture_new();
	struct x86_state s;

	put(f, 0x1000, code, sizeof(code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	s.idt.limit = 0;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	assert_true(vm_stopping(f->vm));
	assert_int_equal(f->vm->exit_status, 1);
	fixture_free(f);
}

/* The CPUID policy, read by the guest itself: hypervisor bit and
 * signature leaf. */
static void test_cpuid(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0xb8, 0x01, 0x00, 0x00, 0x00,       /* mov $1, %eax */
		0x0f, 0xa2,                         /* cpuid */
		0x89, 0x0d, 0x00, 0x30, 0x00, 0x00, /* mov %ecx, 0x3000 */
		0x89, 0x1d, 0x10, 0x30, 0x00, 0x00, /* mov %ebx, 0x3010 */
		0xb8, 0x00, 0x00, 0x00, 0x40,       /* mov $0x40000000, %eax */
		0x0f, 0xa2,                         /* cpuid */
		0xa3, 0x04, 0x30, 0x00, 0x00,       /* mov %eax, 0x3004 */
		0x89, 0x1d, 0x08, 0x30, 0x00, 0x00, /* mov %ebx, 0x3008 */
		0x89, 0x0d, 0x0c, 0x30, 0x00, 0x00, /* mov %ecx, 0x300c */
		0x89, 0x15, 0x14, 0x30, 0x00, 0x00, /* mov %edx, 0x3014 */
		0xe6, 0xf4,                         /* out %al, $0xf4 */
		0xeb, 0xfe,
	};
	struct fixture *f = fixture_new();
	struct x86_state s;
	uint32_t out[6];

	put(f, 0x1000, code, sizeof(code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	assert_int_equal(gpa_read(&f->vm->mem, 0x3000, out, sizeof(out)), 0);
	assert_true(out[0] & SYM_CPUID_1_ECX_HYPERVISOR);
	assert_int_equal(out[4] >> 24, 0); /* initial APIC id of vCPU 0 */
	assert_int_equal(out[1], SYM_CPUID_LEAF_MAX);
	assert_int_equal(out[2], SYM_CPUID_SIG_EBX);
	assert_int_equal(out[3], SYM_CPUID_SIG_ECX);
	assert_int_equal(out[5], SYM_CPUID_SIG_EDX);
	assert_memory_equal(&out[2], "Symbiont", 8);
	fixture_free(f);
}

/* State set is state got, for the fields KVM keeps verbatim. */
static void test_state_roundtrip(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	struct x86_state s, g;

	x86_state_flat32(&s);
	for (int i = 0; i < 16; i++)
		s.gpr[i] = 0x1111111111111111ULL * (uint64_t)i;
	s.rip = 0x4321;
	s.rflags = RFLAGS_FIXED | (1 << 0) | (1 << 6);
	s.gdt.base = 0x5000;
	s.gdt.limit = 0x27;
	s.idt.base = 0x6000;
	s.idt.limit = 0x7ff;
	s.cr2 = 0xdead000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(kvm_engine_ops.vcpu_get_state(&f->cpu, &g), 0);
	assert_memory_equal(g.gpr, s.gpr, sizeof(s.gpr));
	assert_int_equal(g.rip, s.rip);
	assert_int_equal(g.rflags, s.rflags);
	assert_int_equal(g.gdt.base, 0x5000);
	assert_int_equal(g.gdt.limit, 0x27);
	assert_int_equal(g.idt.base, 0x6000);
	assert_int_equal(g.idt.limit, 0x7ff);
	assert_int_equal(g.cr2, 0xdead000);
	assert_int_equal(g.cr0 & (CR0_PE | CR0_PG), CR0_PE);
	for (int i = 0; i < SEG_COUNT; i++) {
		assert_int_equal(g.seg[i].sel, s.seg[i].sel);
		assert_int_equal(g.seg[i].base, 0);
		assert_int_equal(g.seg[i].limit, 0xffffffff);
		assert_int_equal(g.seg[i].db, 1);
	}
	assert_int_equal(g.apic_base & ~0xfffULL, 0xfee00000ULL);
	fixture_free(f);
}

struct kick_arg {
	struct fixture *f;
	int rc;
};

static void *run_thread(void *p)
{
	struct kick_arg *a = p;
	a->rc = kvm_engine_ops.vcpu_run(&a->f->cpu);
	return NULL;
}

/* A guest spinning forever is stopped by vm_request_exit's kick. */
static void test_kick(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03, 0xb0, 'x', 0xee, /* out 'x' to 0x3f8 */
		0xeb, 0xfe,                              /* jmp . */
	};
	struct fixture *f = fixture_new();
	struct kick_arg a = { f, -2 };
	struct x86_state s;

	put(f, 0x1000, code, sizeof(code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(pthread_create(&f->cpu.thread, NULL, run_thread, &a), 0);
	f->cpu.running = true;
	/* Wait until the guest has run (its write arrives), then stop it. */
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&f->vm->io_lock);
		int n = f->port.ntext;
		pthread_mutex_unlock(&f->vm->io_lock);
		if (n)
			break;
		usleep(1000);
	}
	vm_request_exit(f->vm, 7);
	pthread_join(f->cpu.thread, NULL);
	f->cpu.running = false;
	assert_int_equal(a.rc, 0);
	assert_string_equal(f->port.text, "x");
	assert_int_equal(f->vm->exit_status, 7);
	fixture_free(f);
}

/* The event hub's code hooks and single-step on KVM (cpu/kvm/guest_debug.c):
 * a loop of five INCs in 32-bit flat mode; a hook on the INC fires five
 * times with ECX counting down, the guest's result unchanged and the INT3
 * gone from its memory afterwards; stepping sees every instruction. */
struct dbg_hits {
	int hooks, steps;
	uint64_t ecx_seen;
	bool ecx_ok, rip_ok;
};

static enum sym_action on_dbg(void *opaque, struct sym_event *ev)
{
	struct dbg_hits *h = opaque;
	if (ev->type == SYM_EV_CODE_HOOK) {
		h->ecx_ok &= (ev->regs->gpr[X86_RCX] & 0xffffffff) == 5 - (uint64_t)h->hooks;
		h->rip_ok &= ev->regs->rip == 0x1007 && ev->hook.gpa == 0x1007;
		h->hooks++;
	} else {
		h->rip_ok &= ev->step.rip >= 0x1000 && ev->step.rip < 0x100f;
		h->steps++;
	}
	return SYM_CONTINUE;
}

static void test_hooks_and_step(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0x31, 0xc0,                   /* 0x1000 xor %eax, %eax */
		0xb9, 0x05, 0x00, 0x00, 0x00, /* 0x1002 mov $5, %ecx */
		0x40,                         /* 0x1007 inc %eax: the hook */
		0x49,                         /* 0x1008 dec %ecx */
		0x75, 0xfc,                   /* 0x1009 jnz 0x1007 */
		0xe7, 0xf4,                   /* 0x100b out %eax, $0xf4 */
		0xeb, 0xfe,                   /* 0x100d jmp . */
	};
	struct sym_filter flt = { .type = SYM_EV_STEP, .one_cpu = true, .cpu = 0 };
	struct dbg_hits h = { .ecx_ok = true, .rip_ok = true };
	struct fixture *f = fixture_new();
	struct x86_state s;
	uint8_t back;
	char err[160];

	/* Stepping: xor, mov, five rounds of inc/dec/jnz; the OUT ends the run. */
	put(f, 0x1000, code, sizeof(code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	struct sym_sub *sub = sym_subscribe(f->vm, &flt, on_dbg, &h, err, sizeof(err));
	assert_non_null(sub);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	assert_int_equal(f->vm->exit_status, 5);
	assert_true(h.steps >= 17 && h.steps <= 18);
	assert_true(h.rip_ok);
	sym_unsubscribe(sub);
	fixture_free(f);

	f = fixture_new();
	put(f, 0x1000, code, sizeof(code));
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	flt = (struct sym_filter){ .type = SYM_EV_CODE_HOOK, .hook_gpa = 0x1007 };
	h = (struct dbg_hits){ .ecx_ok = true, .rip_ok = true };
	sub = sym_subscribe(f->vm, &flt, on_dbg, &h, err, sizeof(err));
	if (kvm_is_pvm()) {
		/* Refused, not a guest killed by an INT3 the emulator cannot run. */
		assert_null(sub);
		assert_non_null(strstr(err, "does not deliver"));
		printf("skip: kvm code hooks: this host's KVM is kvm_pvm, whose emulator fails on the hooks' INT3\n");
		fixture_free(f);
		return;
	}
	assert_non_null(sub);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	assert_int_equal(f->vm->exit_status, 5);
	assert_int_equal(h.hooks, 5);
	assert_true(h.ecx_ok);
	assert_true(h.rip_ok);
	sym_unsubscribe(sub);
	assert_int_equal(gpa_read(&f->vm->mem, 0x1007, &back, 1), 0);
	assert_int_equal(back, 0xcc); /* written while hooked... */
	fixture_free(f);              /* ...and taken out with the VM */
}

/* MSR write events: the guest writes IA32_SYSENTER_CS twice; a subscriber
 * sees both values, changes the first and refuses the second; the guest
 * then reads back the changed first value (the refused write had no
 * effect and raised no #GP). */
struct msr_hits {
	int n;
	uint64_t values[4];
	bool msr_ok;
};

static enum sym_action on_msr(void *opaque, struct sym_event *ev)
{
	struct msr_hits *h = opaque;
	h->msr_ok &= ev->msr.msr == 0x174 && ev->regs && ev->regs->rip == (h->n ? 0x1017 : 0x100c);
	if (h->n < 4)
		h->values[h->n] = ev->msr.value;
	if (h->n++ == 0) {
		ev->msr.value = 0x77;
		return SYM_CONTINUE;
	}
	return SYM_SKIP;
}

/* flt_msr: the subscription's MSR (0: any; KVM's filter then covers whole
 * ranges, else just that MSR); another MSR than the one written sees no
 * event, and the guest's writes go through untouched. */
static void msr_write_case(uint32_t flt_msr)
{
	static const uint8_t code[] = {
		0xb9, 0x74, 0x01, 0x00, 0x00, /* 0x1000 mov $0x174, %ecx */
		0xb8, 0x34, 0x12, 0x00, 0x00, /* 0x1005 mov $0x1234, %eax */
		0x31, 0xd2,                   /* 0x100a xor %edx, %edx */
		0x0f, 0x30,                   /* 0x100c wrmsr: changed to 0x77 */
		0xb8, 0x78, 0x56, 0x00, 0x00, /* 0x100e mov $0x5678, %eax */
		0x90, 0x90, 0x90, 0x90,       /* 0x1013 */
		0x0f, 0x30,                   /* 0x1017 wrmsr: refused */
		0x0f, 0x32,                   /* 0x1019 rdmsr */
		0xe7, 0xf4,                   /* 0x101b out %eax, $0xf4 */
		0xeb, 0xfe,                   /* 0x101d jmp . */
	};
	struct sym_filter flt = { .type = SYM_EV_MSR_WRITE, .msr = flt_msr };
	struct msr_hits h = { .msr_ok = true };
	struct fixture *f = fixture_new();
	struct x86_state s;
	char err[160];

	put(f, 0x1000, code, sizeof(code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	struct sym_sub *sub = sym_subscribe(f->vm, &flt, on_msr, &h, err, sizeof(err));
	if (!sub) {
		/* A KVM without the MSR filter refuses, in one line. */
		assert_non_null(strstr(err, "does not deliver"));
		printf("skip: kvm MSR write events: this KVM has no MSR filter (%s)\n", err);
		fixture_free(f);
		return;
	}
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	if (flt_msr == 0 || flt_msr == 0x174) {
		assert_int_equal(h.n, 2);
		assert_true(h.msr_ok);
		assert_int_equal(h.values[0], 0x1234);
		assert_int_equal(h.values[1], 0x5678);
		assert_int_equal(f->vm->exit_status, 0x77);
	} else {
		assert_int_equal(h.n, 0);
		assert_int_equal(f->vm->exit_status, 0x5678 & 0xff);
	}
	sym_unsubscribe(sub);
	fixture_free(f);
}

static void test_msr_write_events(void **state)
{
	(void)state;
	msr_write_case(0);     /* any MSR: the filter's whole ranges */
	msr_write_case(0x174); /* that MSR alone: a one-MSR range */
	msr_write_case(0x175); /* another: no event, the writes KVM's */
}

/* "kvm" is KVM when /dev/kvm opens; "auto" avoids kvm_pvm (whose guest
 * kernel code is emulated); unknown names are refused with a reason. */
static void test_engine_select(void **state)
{
	(void)state;
	char err[160] = "";
	struct stat st;
	const struct engine_ops *e;

	e = engine_select("kvm", err, sizeof(err));
	if (have_kvm)
		assert_ptr_equal(e, &kvm_engine_ops);
	else
		assert_null(e), assert_true(strstr(err, "/dev/kvm") != NULL);
	assert_ptr_equal(engine_select("emu", err, sizeof(err)), &emu_engine_ops);
	e = engine_select("auto", err, sizeof(err));
	if (!have_kvm || stat("/sys/module/kvm_pvm", &st) == 0)
		assert_ptr_equal(e, &emu_engine_ops);
	else
		assert_ptr_equal(e, &kvm_engine_ops);
	err[0] = 0;
	assert_null(engine_select("tcg", err, sizeof(err)));
	assert_true(strstr(err, "tcg") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat32_pio_mmio),  cmocka_unit_test(test_real_mode),
		cmocka_unit_test(test_triple_fault),     cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_state_roundtrip),  cmocka_unit_test(test_kick),
		cmocka_unit_test(test_engine_select),    cmocka_unit_test(test_hooks_and_step),
		cmocka_unit_test(test_msr_write_events),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	have_kvm = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		print_message("no usable /dev/kvm: the KVM engine tests are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
