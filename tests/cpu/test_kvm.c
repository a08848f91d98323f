/* The KVM engine run directly on a minimal struct vm (no board, no loader):
 * tiny guest blobs in real and protected mode whose port I/O and MMIO land
 * on test devices, state round trips, the CPUID policy, and kicks.
 * Skipped when /dev/kvm cannot be opened. */
#include <inttypes.h>
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
#include "cpu/kvm/syscall_points.h"
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

/* Starts code (32-bit flat, at 0x1000) on its own thread and returns once
 * it has written to the serial port, and then after_ms more. */
static void run_until_output(struct fixture *f, struct kick_arg *a, const uint8_t *code, size_t len, int after_ms)
{
	struct x86_state s;

	put(f, 0x1000, code, len);
	x86_state_flat32(&s);
	s.rip = 0x1000;
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	assert_int_equal(pthread_create(&f->cpu.thread, NULL, run_thread, a), 0);
	f->cpu.running = true;
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&f->vm->io_lock);
		int n = f->port.ntext;
		pthread_mutex_unlock(&f->vm->io_lock);
		if (n)
			break;
		usleep(1000);
	}
	usleep((useconds_t)after_ms * 1000);
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

	/* Wait until the guest has run (its write arrives), then stop it. */
	run_until_output(f, &a, code, sizeof(code), 0);
	vm_request_exit(f->vm, 7);
	pthread_join(f->cpu.thread, NULL);
	f->cpu.running = false;
	assert_int_equal(a.rc, 0);
	assert_string_equal(f->port.text, "x");
	assert_int_equal(f->vm->exit_status, 7);
	fixture_free(f);
}

/* KVM's own statistics in the engine's metrics (cpu/kvm/vcpu_stats.c): a
 * guest that halts with interrupts off for half a second shows most of it
 * as halted_ns (counted when the halt ends: here, at the stop) and a halt
 * KVM handled itself. */
struct stat_seen {
	uint64_t halted_ns, halt_exits, exits, samples, user_ns, kernel_ns;
	bool has_halted, has_halt_exits;
};

static void on_stat(void *ctx, const char *key, uint64_t v)
{
	struct stat_seen *s = ctx;
	if (!strcmp(key, "halted_ns"))
		s->halted_ns = v, s->has_halted = true;
	else if (!strcmp(key, "kvm_halt_exits"))
		s->halt_exits = v, s->has_halt_exits = true;
	else if (!strcmp(key, "kvm_exits"))
		s->exits = v;
	else if (!strcmp(key, "mode_samples"))
		s->samples = v;
	else if (!strcmp(key, "user_ns"))
		s->user_ns = v;
	else if (!strcmp(key, "kernel_ns"))
		s->kernel_ns = v;
}

/* Guest user and kernel time by sampling (cpu/kvm/mode_samples.c): once
 * the metrics are read, a kernel-mode loop gets kernel samples at about
 * 100 a second and no user ones. */
static void test_mode_samples(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03, 0xb0, 's', 0xee, /* out 's' to 0x3f8 */
		0xeb, 0xfe,                              /* jmp . */
	};
	struct fixture *f = fixture_new();
	struct kick_arg a = { f, -2 };
	struct stat_seen first = { 0 }, seen = { 0 };

	run_until_output(f, &a, code, sizeof(code), 0);
	kvm_engine_ops.vcpu_stats(&f->cpu, on_stat, &first); /* a reader: sampling starts */
	usleep(500000);
	kvm_engine_ops.vcpu_stats(&f->cpu, on_stat, &seen);
	vm_request_exit(f->vm, 7);
	pthread_join(f->cpu.thread, NULL);
	f->cpu.running = false;
	assert_int_equal(a.rc, 0);
	if (seen.samples < 10)
		fail_msg("%" PRIu64 " samples in 500 ms of sampling at 100 Hz", seen.samples);
	assert_int_equal(seen.user_ns, 0);
	assert_true(seen.kernel_ns > 0);
	fixture_free(f);
}

static void test_halt_stats(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03, 0xb0, 'h', 0xee, /* out 'h' to 0x3f8 */
		0xfa, 0xf4,                              /* cli; hlt */
		0xeb, 0xfe,                              /* jmp . */
	};
	struct fixture *f = fixture_new();
	struct kick_arg a = { f, -2 };
	struct stat_seen seen = { 0 };

	run_until_output(f, &a, code, sizeof(code), 500);
	vm_request_exit(f->vm, 7);
	pthread_join(f->cpu.thread, NULL);
	f->cpu.running = false;
	assert_int_equal(a.rc, 0);
	kvm_engine_ops.vcpu_stats(&f->cpu, on_stat, &seen);
	if (!seen.has_halted) {
		printf("skip: kvm statistics: this KVM has no binary stats file (Linux 5.14+)\n");
		fixture_free(f);
		skip();
	}
	assert_true(seen.has_halt_exits);
	assert_true(seen.halt_exits >= 1);
	assert_true(seen.exits >= seen.halt_exits);
	if (seen.halted_ns < 300000000ull)
		fail_msg("halted_ns %" PRIu64 " after a 500 ms halt", seen.halted_ns);
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
/* Syscall events by debug-register points (syscall_points.c).  A 64-bit
 * caller at 0x1000 sets STAR and LSTAR (its LSTAR write reaches the VMM
 * through the MSR filter while syscall events are wanted) and makes
 * getpid(5) with RFLAGS.IOPL 3; the kernel at 0x2000 returns arg0 + 100
 * with SWAPGS; SYSRETQ, and the caller, now in ring 3, sends RAX to the
 * doorbell.  The caller starts in ring 0 because kvm_pvm cannot run a
 * ring-3 SYSCALL of a guest that is not its own kind (it enters LSTAR in
 * ring 3); the points are kernel code either way. */
static const uint8_t sc_code[] = {
	0xb9, 0x81, 0x00, 0x00, 0xc0, /* 0x1000 mov $STAR, %ecx */
	0x31, 0xc0,                   /* 0x1005 xor %eax, %eax */
	0xba, 0x08, 0x00, 0x18, 0x00, /* 0x1007 mov $0x00180008, %edx: SYSRET base 0x18 */
	0x0f, 0x30,                   /* 0x100c wrmsr */
	0xb9, 0x82, 0x00, 0x00, 0xc0, /* 0x100e mov $LSTAR, %ecx */
	0xb8, 0x00, 0x20, 0x00, 0x00, /* 0x1013 mov $0x2000, %eax */
	0x31, 0xd2,                   /* 0x1018 xor %edx, %edx */
	0x0f, 0x30,                   /* 0x101a wrmsr */
	0xb8, 0x27, 0x00, 0x00, 0x00, /* 0x101c mov $39, %eax */
	0xbf, 0x05, 0x00, 0x00, 0x00, /* 0x1021 mov $5, %edi */
	0x0f, 0x05,                   /* 0x1026 syscall */
	0xe7, 0xf4,                   /* 0x1028 out %eax, $0xf4 (ring 3, IOPL 3) */
	0xeb, 0xfe,                   /* 0x102a jmp . */
};
static const uint8_t sc_entry[] = {
	0x48, 0x8d, 0x47, 0x64, /* 0x2000 lea 100(%rdi), %rax */
	0x0f, 0x01, 0xf8,       /* 0x2004 swapgs */
	0x48, 0x0f, 0x07,       /* 0x2007 sysretq */
};

struct sc_hits {
	int enters, exits;
	bool ok;
	bool deny;
	uint64_t ret_seen;
};

static enum sym_action on_sc(void *opaque, struct sym_event *ev)
{
	struct sc_hits *h = opaque;
	if (ev->type == SYM_EV_SYSCALL_ENTER) {
		h->enters++;
		h->ok &= ev->syscall.nr == 39 && ev->syscall.args[0] == 5 && ev->regs->rip == 0x1026 &&
		         ev->regs->cpl == 3 && ev->regs->gpr[X86_RSP] == 0x8000;
		if (h->deny) {
			ev->syscall.ret = 0x42;
			return SYM_SKIP;
		}
		ev->syscall.args[0] = 7; /* the kernel then returns 107 */
		return SYM_CONTINUE;
	}
	h->exits++;
	h->ret_seen = (uint64_t)ev->syscall.ret;
	/* a refused call's exit comes at once, with the registers of its entry */
	h->ok &= ev->syscall.nr == 39 && ev->regs->rip == (h->deny ? 0x1026 : 0x1028) && ev->regs->cpl == 3;
	ev->syscall.ret = 0x55;
	return SYM_CONTINUE;
}

/* 64-bit long mode at 0x1000 on identity-mapped page tables at 0x10000
 * (pt: the PML4, PDPT and PD entries of one 2 MiB page at 0), stack at
 * 0x8000; the state in *s, for the caller to adjust before setting it. */
static void long_mode(struct fixture *f, const uint64_t pt[3], struct x86_state *s)
{
	put(f, 0x10000, &pt[0], 8);
	put(f, 0x11000, &pt[1], 8);
	put(f, 0x12000, &pt[2], 8);
	x86_state_flat32(s);
	s->seg[SEG_CS].l = 1;
	s->seg[SEG_CS].db = 0;
	s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	s->cr4 = CR4_PAE;
	s->cr3 = 0x10000;
	s->efer = EFER_LME | EFER_LMA;
	s->gpr[X86_RSP] = 0x8000;
	s->rip = 0x1000;
}

static int sc_case(bool deny, struct sc_hits *h)
{
	struct sym_filter fe = { .type = SYM_EV_SYSCALL_ENTER }, fx = { .type = SYM_EV_SYSCALL_EXIT };
	struct fixture *f = fixture_new();
	struct x86_state s;
	uint64_t pt[3] = { 0x11007, 0x12007, 0x87 }; /* PML4 -> PDPT -> PD: 2 MiB at 0, user, writable */
	char err[160];
	int status;

	put(f, 0x1000, sc_code, sizeof(sc_code));
	put(f, 0x2000, sc_entry, sizeof(sc_entry));
	long_mode(f, pt, &s);
	s.efer |= EFER_SCE;
	s.rflags = RFLAGS_FIXED | 0x3000; /* IOPL 3: ring 3 may use the doorbell */
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	*h = (struct sc_hits){ .ok = true, .deny = deny };
	struct sym_sub *se = sym_subscribe(f->vm, &fe, on_sc, h, err, sizeof(err));
	assert_non_null(se);
	struct sym_sub *sx = sym_subscribe(f->vm, &fx, on_sc, h, err, sizeof(err));
	assert_non_null(sx);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	status = f->vm->exit_status;
	sym_unsubscribe(se);
	sym_unsubscribe(sx);
	fixture_free(f);
	return status;
}

static void test_syscall_events(void **state)
{
	struct sc_hits h;
	(void)state;
	/* entry sees getpid(5) and makes it getpid(7); exit sees 107, makes it 0x55 */
	assert_int_equal(sc_case(false, &h), 0x55);
	assert_int_equal(h.enters, 1);
	assert_int_equal(h.exits, 1);
	assert_int_equal(h.ret_seen, 107);
	assert_true(h.ok);
	/* refused at entry with 0x42: the kernel never runs; the exit comes at
	 * once with 0x42, and its subscriber's 0x55 is what the guest gets */
	assert_int_equal(sc_case(true, &h), 0x55);
	assert_int_equal(h.enters, 1);
	assert_int_equal(h.exits, 1);
	assert_int_equal(h.ret_seen, 0x42);
	assert_true(h.ok);
}

/* Exception events by a point on the IDT's handler: a UD2 at 0x1005 in
 * 64-bit ring 0; the guest's #UD handler at 0x2100 sends 0x66.  The event
 * names vector 6 at the UD2, from the frame the CPU pushed. */
struct exc_hits {
	int n;
	bool ok;
};

static enum sym_action on_exc(void *opaque, struct sym_event *ev)
{
	struct exc_hits *h = opaque;
	h->n++;
	h->ok &= ev->exception.vector == 6 && !ev->exception.has_error && ev->regs->rip == 0x1005 &&
	         ev->regs->cpl == 0 && ev->regs->gpr[X86_RSP] == 0x8000;
	return SYM_CONTINUE;
}

/* Runs the ring-0 code already put at 0x1000 in long mode with a flat
 * 64-bit GDT at 0x4000 and the IDT at 0x3000, subscribed to #UD events
 * into *h; the guest's exit status. */
static int run_with_ud_events(struct fixture *f, struct exc_hits *h)
{
	static const uint64_t pt[3] = { 0x11003, 0x12003, 0x83 };
	static const uint64_t gdt[2] = { 0, 0x00af9a000000ffffULL };
	struct sym_filter fv = { .type = SYM_EV_EXCEPTION, .vector = 6 };
	struct x86_state s;
	char err[160];

	put(f, 0x4000, gdt, sizeof(gdt));
	long_mode(f, pt, &s);
	s.gdt = (struct x86_dtable){ 0x4000, 15 };
	s.idt = (struct x86_dtable){ 0x3000, 0xfff };
	assert_int_equal(kvm_engine_ops.vcpu_set_state(&f->cpu, &s), 0);
	struct sym_sub *sub = sym_subscribe(f->vm, &fv, on_exc, h, err, sizeof(err));
	assert_non_null(sub);
	assert_int_equal(kvm_engine_ops.vcpu_run(&f->cpu), 0);
	sym_unsubscribe(sub);
	return f->vm->exit_status;
}

static void test_exception_events(void **state)
{
	static const uint8_t code[] = {
		0xb8, 0x01, 0x00, 0x00, 0x00, /* 0x1000 mov $1, %eax */
		0x0f, 0x0b,                   /* 0x1005 ud2 */
	};
	static const uint8_t handler[] = {
		0xb8, 0x66, 0x00, 0x00, 0x00, /* 0x2100 mov $0x66, %eax */
		0xe7, 0xf4,                   /* out %eax, $0xf4 */
		0xeb, 0xfe,                   /* jmp . */
	};
	uint8_t gate[16] = { 0x00, 0x21, 0x08, 0x00, 0x00, 0x8e, 0x00, 0x00 }; /* 0x2100, CS 0x08, interrupt gate */
	struct exc_hits h = { .ok = true };
	struct fixture *f = fixture_new();
	(void)state;

	put(f, 0x1000, code, sizeof(code));
	put(f, 0x2100, handler, sizeof(handler));
	put(f, 0x3000 + 6 * 16, gate, sizeof(gate));
	assert_int_equal(run_with_ud_events(f, &h), 0x66);
	assert_int_equal(h.n, 1);
	assert_true(h.ok);
	fixture_free(f);
}

/* While the VMM's points are armed KVM takes every #DB; one the guest
 * raised itself (here its own single-step: TF set, a NOP) goes back to it:
 * its #DB handler sends 0x77 (swallowed, the code after the NOP would
 * send 0x11). */
static void test_guest_db_given_back(void **state)
{
	static const uint8_t code[] = {
		0x9c,                                           /* 0x1000 pushfq */
		0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, /* 0x1001 orq $0x100, (%rsp) */
		0x9d,                                           /* 0x1009 popfq: TF */
		0x90,                                           /* 0x100a nop: #DB after it */
		0xb8, 0x11, 0x00, 0x00, 0x00,                   /* 0x100b mov $0x11, %eax */
		0xe7, 0xf4,                                     /* out %eax, $0xf4 */
		0xeb, 0xfe,
	};
	static const uint8_t handler[] = { 0xb8, 0x77, 0x00, 0x00, 0x00, 0xe7, 0xf4, 0xeb, 0xfe };
	uint8_t gate1[16] = { 0x00, 0x21, 0x08, 0x00, 0x00, 0x8e }; /* #DB: 0x2100 */
	uint8_t gate6[16] = { 0x00, 0x22, 0x08, 0x00, 0x00, 0x8e }; /* #UD: 0x2200, the subscribed one */
	struct exc_hits h = { .ok = true };
	struct fixture *f = fixture_new();
	(void)state;

	put(f, 0x1000, code, sizeof(code));
	put(f, 0x2100, handler, sizeof(handler));
	put(f, 0x2200, handler, sizeof(handler));
	put(f, 0x3000 + 1 * 16, gate1, sizeof(gate1));
	put(f, 0x3000 + 6 * 16, gate6, sizeof(gate6));
	assert_int_equal(run_with_ud_events(f, &h), 0x77);
	assert_int_equal(h.n, 0); /* no #UD */
	fixture_free(f);
}

/* The engine-independent parts of the points: the SYSRETQ scan and the
 * sharing of the four debug registers (no /dev/kvm needed). */
static void test_points_pure(void **state)
{
	static const uint8_t entry[] = { 0x0f, 0x01, 0xf8, 0x0f, 0x07, 0x48, 0x0f, 0x05, 0x48, 0x0f, 0x07, 0xc3 };
	uint64_t dr[4] = { 0 }, dr7 = 0x30000; /* R/W bits of DR0 stay the debugger's */
	uint8_t kind[4], vec[4];
	const uint64_t addrs[3] = { 0x100, 0x200, 0x300 };
	const uint8_t kinds[3] = { KVM_PT_SYSCALL, KVM_PT_SYSRET, KVM_PT_EXCEPTION }, vecs[3] = { 0, 0, 14 };
	(void)state;

	assert_int_equal(kvm_find_sysret(entry, sizeof(entry)), 8); /* not SYSRETL (0f 07), not 48 0f 05 */
	assert_int_equal(kvm_find_sysret(entry, 10), -1);           /* cut short */
	assert_int_equal(kvm_find_sysret(entry, 0), -1);
	assert_int_equal(kvm_points_demand(true, false, 0), 1);
	assert_int_equal(kvm_points_demand(false, true, 1u << 14 | 1u << 6), 4);
	/* the debugger holds DR1: the hub takes DR3, DR2, DR0 */
	assert_int_equal(kvm_points_assign(1u << 1, addrs, kinds, vecs, 3, dr, &dr7, kind, vec), 0);
	assert_int_equal(dr[3], 0x100);
	assert_int_equal(dr[2], 0x200);
	assert_int_equal(dr[0], 0x300);
	assert_int_equal(kind[1], KVM_PT_NONE);
	assert_int_equal(kind[0], KVM_PT_EXCEPTION);
	assert_int_equal(vec[0], 14);
	assert_int_equal(dr7, 0x1 | 0x10 | 0x40); /* enabled, instruction (R/W 0, LEN 0) */
	/* the debugger holds three: one fits, two do not */
	dr7 = 0;
	assert_int_equal(kvm_points_assign(0x7, addrs, kinds, vecs, 3, dr, &dr7, kind, vec), 2);
	assert_int_equal(kind[3], KVM_PT_SYSCALL);
}

/* The debug registers are shared: the hub's points and the debugger's must
 * fit in four, and whichever comes second is refused in one line. */
static void test_points_arbitration(void **state)
{
	struct sym_filter fx = { .type = SYM_EV_SYSCALL_EXIT }, fv = { .type = SYM_EV_EXCEPTION, .vector = 14 };
	struct vm_hw_point p[VM_HW_POINTS] = { { 0 } };
	struct sc_hits h = { .ok = true };
	struct fixture *f = fixture_new();
	char err[160];
	(void)state;

	p[0] = (struct vm_hw_point){ .on = true, .type = VM_HWP_EXEC, .len = 1, .addr = 0x1000 };
	p[1] = (struct vm_hw_point){ .on = true, .type = VM_HWP_EXEC, .len = 1, .addr = 0x1004 };
	assert_int_equal(vm_set_hw_points(f->vm, p, err, sizeof(err)), 0);
	struct sym_sub *sx = sym_subscribe(f->vm, &fx, on_sc, &h, err, sizeof(err)); /* entry + SYSRETQ: 2 */
	assert_non_null(sx);
	assert_null(sym_subscribe(f->vm, &fv, on_sc, &h, err, sizeof(err))); /* a 5th */
	assert_non_null(strstr(err, "no debug register left"));
	fv.vector = -1;
	assert_null(sym_subscribe(f->vm, &fv, on_sc, &h, err, sizeof(err)));
	assert_non_null(strstr(err, "one vector each"));
	p[2] = (struct vm_hw_point){ .on = true, .type = VM_HWP_EXEC, .len = 1, .addr = 0x1008 };
	assert_int_equal(vm_set_hw_points(f->vm, p, err, sizeof(err)), -1); /* DR2 is the hub's */
	assert_non_null(strstr(err, "debug register 2 is taken"));
	sym_unsubscribe(sx);
	assert_int_equal(vm_set_hw_points(f->vm, p, err, sizeof(err)), 0);
	fixture_free(f);
}

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
		cmocka_unit_test(test_flat32_pio_mmio),    cmocka_unit_test(test_real_mode),
		cmocka_unit_test(test_triple_fault),       cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_state_roundtrip),    cmocka_unit_test(test_kick),
		cmocka_unit_test(test_engine_select),      cmocka_unit_test(test_hooks_and_step),
		cmocka_unit_test(test_msr_write_events),   cmocka_unit_test(test_syscall_events),
		cmocka_unit_test(test_points_arbitration), cmocka_unit_test(test_exception_events),
		cmocka_unit_test(test_points_pure),        cmocka_unit_test(test_guest_db_given_back),
		cmocka_unit_test(test_halt_stats),         cmocka_unit_test(test_mode_samples),
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	have_kvm = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		print_message("no usable /dev/kvm: the KVM engine tests are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
