/* The emu engine through its engine_ops on a VM without devices or event
 * loop: state round trip, CPUID policy essentials, device writes to guest
 * RAM (DMA) dropping code decoded from it, state swaps that keep it and
 * the TLB, reading only some parts of the state, vCPU work items and a
 * vCPU run from inside one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cpu/cpuid.h"
#include "cpu/emu/sys.h"
#include "symbiont/vcpu.h"

struct fx {
	struct vm *vm;
	struct vcpu *vcpu;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	f->vm = calloc(1, sizeof(*f->vm));
	assert_int_equal(guest_mem_init(&f->vm->mem, 16ULL << 20), 0);
	pthread_mutex_init(&f->vm->io_lock, NULL);
	pthread_mutex_init(&f->vm->work_lock, NULL);
	f->vm->ncpus = 1;
	f->vm->engine = &emu_engine_ops;
	assert_int_equal(emu_engine_ops.init(f->vm, err, sizeof(err)), 0);
	f->vcpu = calloc(1, sizeof(*f->vcpu));
	f->vcpu->vm = f->vm;
	f->vm->vcpus[0] = f->vcpu;
	assert_int_equal(emu_engine_ops.vcpu_init(f->vcpu, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	emu_engine_ops.vcpu_destroy(f->vcpu);
	emu_engine_ops.destroy(f->vm);
	guest_mem_free(&f->vm->mem);
	pthread_mutex_destroy(&f->vm->io_lock);
	free(f->vcpu);
	free(f->vm);
	free(f);
	return 0;
}

static void test_state_round_trip(void **state)
{
	struct fx *f = *state;
	struct x86_state s, t;

	x86_state_flat32(&s);
	s.gpr[X86_RBX] = 0x1234;
	s.rip = 0x5000;
	s.rflags = 0x202 | 0x40 | 0x1; /* IF, ZF, CF */
	s.cr8 = 3;
	assert_int_equal(emu_engine_ops.vcpu_set_state(f->vcpu, &s), 0);
	assert_int_equal(emu_engine_ops.vcpu_get_state(f->vcpu, &t), 0);
	assert_int_equal(t.gpr[X86_RBX], 0x1234);
	assert_int_equal(t.rip, 0x5000);
	assert_int_equal(t.rflags, s.rflags);
	assert_int_equal(t.cr0, s.cr0);
	assert_int_equal(t.cr8, 3);
	assert_int_equal(t.seg[SEG_CS].sel, 0x08);
	assert_int_equal(t.seg[SEG_CS].limit, 0xffffffff);
	assert_int_equal(t.apic_base & ~0xfffULL, 0xfee00000ULL);
	assert_true(t.apic_base & APIC_BASE_BSP);
}

static void test_cpuid_policy(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	uint32_t r[4];

	emu_cpuid(cpu, 0, 0, r);
	assert_memory_equal(&r[1], "Genu", 4);
	emu_cpuid(cpu, 1, 0, r);
	assert_true(r[2] & (1u << 24)); /* TSC-deadline: implemented by lapic.c */
	assert_true(r[2] & (1u << 31)); /* hypervisor */
	assert_true(r[2] & (1u << 0));  /* SSE3 and SSSE3: sse.c lists them as implemented */
	assert_true(r[2] & (1u << 9));
	assert_int_equal(!!(r[2] & (1u << 19)), emu_sse4_host_ok()); /* SSE4.1/4.2 when the host has them */
	assert_int_equal(!!(r[2] & (1u << 20)), emu_sse4_host_ok());
	assert_false(r[2] & (1u << 3));  /* no MONITOR/MWAIT */
	assert_true(r[2] & (1u << 22));  /* MOVBE (bitops.c) */
	assert_true(r[2] & (1u << 26));  /* XSAVE (xsave.c) */
	assert_false(r[2] & (1u << 27)); /* OSXSAVE: CR4.OSXSAVE is clear */
	cpu->cr4 |= CR4_OSXSAVE;
	emu_cpuid(cpu, 1, 0, r);
	assert_true(r[2] & (1u << 27));
	cpu->cr4 &= ~CR4_OSXSAVE;
	emu_cpuid(cpu, 0xd, 0, r);
	assert_int_equal(r[0], 0x207); /* x87, SSE, AVX, PKRU */
	assert_int_equal(r[1], 576);   /* for XCR0 = x87 */
	assert_int_equal(r[2], 2696);  /* PKRU at 2688 */
	cpu->xcr0 = 0x203;
	emu_cpuid(cpu, 0xd, 0, r);
	assert_int_equal(r[1], 2696);
	cpu->xcr0 = 1;
	emu_cpuid(cpu, 0xd, 9, r);
	assert_int_equal(r[0], 8);
	assert_int_equal(r[1], 2688);
	emu_cpuid(cpu, 0xd, 1, r);
	assert_int_equal(r[0], 3); /* XSAVEOPT, XSAVEC */
	emu_cpuid(cpu, 0xd, 2, r);
	assert_int_equal(r[0], 256); /* AVX: the YMM upper halves */
	assert_int_equal(r[1], 576);
	cpu->xcr0 = 7;
	emu_cpuid(cpu, 0xd, 0, r);
	assert_int_equal(r[1], 832);
	cpu->xcr0 = 1;
	emu_cpuid(cpu, 7, 0, r);
	assert_true(r[2] & (1u << 3));  /* PKU */
	assert_false(r[2] & (1u << 4)); /* OSPKE: CR4.PKE is clear */
	emu_cpuid(cpu, 1, 0, r);
	assert_true(r[2] & (1u << 21)); /* x2APIC (lapic.c) */
	assert_true(r[3] & (1u << 26)); /* SSE2 */
	emu_cpuid(cpu, 0x80000001, 0, r);
	assert_true(r[3] & (1u << 29)); /* LM */
	assert_true(r[3] & (1u << 20)); /* NX */
	emu_cpuid(cpu, 0x15, 0, r);
	assert_int_equal((uint64_t)r[2] * r[1] / r[0], EMU_TSC_HZ);
	emu_cpuid(cpu, 0x40000010, 0, r);
	assert_int_equal(r[0], EMU_TSC_HZ / 1000);
	assert_int_equal(r[1], EMU_CRYSTAL_HZ / 1000);
	emu_cpuid(cpu, 0x80000008, 0, r);
	assert_int_equal(r[0] & 0xff, 40);
}

/* emu's model is the portable one (--cpu-model portable, cpu/cpuid.h): the
 * portable filter takes nothing from any of its leaves, and a feature emu
 * gains must be added to the model (or kvm guests of that model could not
 * move to emu and back). */
static void test_cpuid_is_the_portable_model(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	static const uint32_t leaves[][2] = { { 1, 0 },   { 6, 0 },   { 7, 0 },   { 7, 1 },         { 0xd, 0 },
		                              { 0xd, 1 }, { 0xd, 2 }, { 0xd, 9 }, { 0x80000001, 0 } };
	uint32_t r[4];

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		emu_cpuid(cpu, leaves[i][0], leaves[i][1], r);
		struct cpuid_regs p = { r[0], r[1], r[2], r[3] };
		cpuid_portable_filter(leaves[i][0], leaves[i][1], &p);
		assert_int_equal(p.eax, r[0]);
		assert_int_equal(p.ebx, r[1]);
		assert_int_equal(p.ecx, r[2]);
		assert_int_equal(p.edx, r[3]);
	}
	assert_int_equal(EMU_TSC_HZ, CPUID_PORTABLE_TSC_KHZ * 1000ull);
	/* and the model keeps what it does not describe: a host leaf with
	 * every bit set loses exactly the features emu lacks */
	struct cpuid_regs all = { ~0u, ~0u, ~0u, ~0u };
	cpuid_portable_filter(1, 0, &all);
	emu_cpuid(cpu, 1, 0, r);
	/* (OSXSAVE, bit 27, is CR4's state: it passes, and emu's is clear here;
	 * SSE4.1/4.2 and with them FMA, AVX and F16C depend on the host's SSE4) */
	const uint32_t host_dep = (1u << 12) | (1u << 19) | (1u << 20) | (1u << 28) | (1u << 29);
	assert_int_equal(all.ecx & ~(host_dep | (1u << 27)), r[2] & ~host_dep);
	assert_true(all.ecx & (1u << 26)); /* XSAVE */
	struct cpuid_regs xs = { ~0u, ~0u, 2696, ~0u };
	cpuid_portable_filter(0xd, 0, &xs);
	assert_int_equal(xs.eax, 0x207); /* x87, SSE, AVX and PKRU of the host's components */
	assert_int_equal(xs.ecx, 2696);
	assert_int_equal(xs.edx, 0);
	assert_true(all.ecx & (1u << 28)); /* AVX */
}

/* mov $imm, %eax; hlt */
static void put_code(struct fx *f, uint64_t gpa, uint32_t imm)
{
	uint8_t code[6] = { 0xb8, (uint8_t)imm, (uint8_t)(imm >> 8), (uint8_t)(imm >> 16), (uint8_t)(imm >> 24), 0xf4 };
	memcpy(f->vm->mem.host + gpa, code, sizeof(code));
}

static void run_at(struct fx *f, uint64_t rip)
{
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	cpu->rip = rip;
	cpu->halted = false;
	/* The runner applies queued device writes before every slice; here
	 * the loop's interrupt check does it. */
	atomic_store(&cpu->irq_pending, true);
	emu_exec(cpu);
	assert_true(cpu->halted);
}

static void test_dma_write_drops_decoded_code(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	struct x86_state s;

	x86_state_flat32(&s);
	s.rip = 0x1000;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	put_code(f, 0x1000, 1);
	run_at(f, 0x1000);
	assert_int_equal(cpu->gpr[X86_RAX], 1);
	put_code(f, 0x1000, 2); /* a device rewrites the page */
	emu_engine_ops.mem_written(f->vm, 0x1000, 6);
	run_at(f, 0x1000);
	assert_int_equal(cpu->gpr[X86_RAX], 2);
	/* A range crossing pages and one that overflows the queue both work. */
	put_code(f, 0x1ffe, 3);
	run_at(f, 0x1ffe);
	assert_int_equal(cpu->gpr[X86_RAX], 3);
	put_code(f, 0x1ffe, 4);
	emu_engine_ops.mem_written(f->vm, 0x1ff0, 0x20);
	run_at(f, 0x1ffe);
	assert_int_equal(cpu->gpr[X86_RAX], 4);
	put_code(f, 0x1000, 5);
	for (int i = 0; i < 100; i++)
		emu_engine_ops.mem_written(f->vm, 0x100000 + i * 0x1000, 8);
	emu_engine_ops.mem_written(f->vm, 0x1000, 6);
	run_at(f, 0x1000);
	assert_int_equal(cpu->gpr[X86_RAX], 5);
	/* An overflowing burst of writes elsewhere keeps the decoded code of
	 * pages it did not touch: the page below is rewritten behind the
	 * engine's back, so running the old instruction proves its block
	 * survived. */
	put_code(f, 0x3000, 7);
	run_at(f, 0x3000);
	assert_int_equal(cpu->gpr[X86_RAX], 7);
	put_code(f, 0x3000, 8);
	for (int i = 0; i < 100; i++)
		emu_engine_ops.mem_written(f->vm, 0x100000 + i * 0x2000, 8);
	run_at(f, 0x3000);
	assert_int_equal(cpu->gpr[X86_RAX], 7);
}

/* A state set with X86_STATE_SAME_MEMORY (a SymCall's swap) keeps the code
 * the engine decoded; any other set_state (a restore, with new RAM) drops
 * it.  The page is rewritten behind the engine's back, so running the old
 * instruction proves its block survived. */
static void test_same_memory_keeps_decoded_code(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	struct x86_state s;

	x86_state_flat32(&s);
	s.rip = 0x3000;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	put_code(f, 0x3000, 7);
	run_at(f, 0x3000);
	assert_int_equal(cpu->gpr[X86_RAX], 7);
	put_code(f, 0x3000, 8);
	emu_engine_ops.vcpu_get_state(f->vcpu, &s);
	s.parts |= X86_STATE_SAME_MEMORY;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	run_at(f, 0x3000);
	assert_int_equal(cpu->gpr[X86_RAX], 7);
	s.parts &= ~X86_STATE_SAME_MEMORY;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	run_at(f, 0x3000);
	assert_int_equal(cpu->gpr[X86_RAX], 8);
}

/* The light swap: a state set over the same memory with the same page
 * tables and paging controls keeps the TLB (SymCall's entry and return);
 * other page tables drop the non-global entries, as a MOV to CR3 does;
 * other paging controls, or a state with new RAM, drop them all. */
static void test_same_memory_keeps_tlb(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	struct emu_tlb_entry *local = &cpu->tlb[5], *global = &cpu->tlb[6];
	struct x86_state s;

	x86_state_flat32(&s);
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
#define FILL()                             \
	do {                               \
		local->tag_read = 0x5000;  \
		local->global = 0;         \
		global->tag_read = 0x6000; \
		global->global = 1;        \
	} while (0)
	FILL();
	assert_int_equal(emu_engine_ops.vcpu_get_parts(f->vcpu, &s, X86_STATE_EVENTS | X86_STATE_FPU), 0);
	s.rip = 0x7000; /* the registers change, the paging does not */
	s.parts |= X86_STATE_SAME_MEMORY;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(local->tag_read, 0x5000);
	assert_int_equal(global->tag_read, 0x6000);
	s.cr3 = 0x9000;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(local->tag_read, ~0ULL);
	assert_int_equal(global->tag_read, 0x6000);
	FILL();
	s.cr0 ^= CR0_WP;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(local->tag_read, ~0ULL);
	assert_int_equal(global->tag_read, ~0ULL);
	FILL();
	s.parts &= ~X86_STATE_SAME_MEMORY;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(local->tag_read, ~0ULL);
	assert_int_equal(global->tag_read, ~0ULL);
#undef FILL
}

/* get_parts reads the registers and the parts asked for, says which, and
 * leaves the others alone. */
static void test_get_parts(void **state)
{
	struct fx *f = *state;
	struct x86_state s, t;
	uint8_t fill[1024];

	memset(fill, 0xa5, sizeof(fill));
	memset(&t, 0xa5, sizeof(t));

	x86_state_flat32(&s);
	s.gpr[X86_RSI] = 0xabcd;
	s.cr8 = 5;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(emu_engine_ops.vcpu_get_parts(f->vcpu, &t, X86_STATE_EVENTS), 0);
	assert_int_equal(t.parts, X86_STATE_EVENTS);
	assert_int_equal(t.gpr[X86_RSI], 0xabcd);
	assert_int_equal(t.cr8, 5);
	assert_int_equal(t.ev.mp_state, X86_MP_RUNNABLE);
	assert_memory_equal(t.lapic, fill, sizeof(t.lapic));
	assert_memory_equal(&t.msr, fill, sizeof(t.msr));
	assert_memory_equal(t.fxsave, fill, sizeof(t.fxsave));
	assert_int_equal(emu_engine_ops.vcpu_get_parts(f->vcpu, &t, X86_STATE_ALL), 0);
	assert_int_equal(t.parts, X86_STATE_ALL);
	assert_int_equal(t.msr.pat, 0x0007040600070406ULL); /* the power-on PAT */
	assert_memory_not_equal(t.lapic, fill, sizeof(t.lapic));
	assert_int_equal(t.fxsave[24], 0x80); /* MXCSR's power-on 0x1f80 */
}

static void read_rip(struct vm *vm, void *arg)
{
	struct x86_state s;
	char err[128];
	assert_int_equal(vm_vcpu_get_state(vm, 0, &s, err, sizeof(err)), 0);
	*(uint64_t *)arg = s.rip;
}

/* vCPU work: queued once (a second waits its turn), run by the engine's
 * thread where vCPU state may be read without a pause; refused by an
 * engine that runs none. */
static void test_vcpu_work(void **state)
{
	struct fx *f = *state;
	struct engine_ops no_work = emu_engine_ops;
	struct x86_state s;
	uint64_t rip = 0;
	char err[128];

	x86_state_flat32(&s);
	s.rip = 0x4321;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	assert_int_equal(vm_vcpu_get_state(f->vm, 0, &s, err, sizeof(err)), -1); /* running, not paused */
	assert_false(vm_work_pending(f->vm));
	assert_int_equal(vm_vcpu_work(f->vm, read_rip, &rip, err, sizeof(err)), 0);
	assert_true(vm_work_pending(f->vm));
	assert_int_equal(vm_vcpu_work(f->vm, read_rip, &rip, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "waiting"));
	vm_run_work(f->vm); /* as run_all does between slices */
	assert_int_equal(rip, 0x4321);
	assert_false(vm_work_pending(f->vm));
	assert_int_equal(vm_vcpu_get_state(f->vm, 0, &s, err, sizeof(err)), -1); /* out of the work again */
	no_work.runs_work = false;
	f->vm->engine = &no_work;
	assert_int_equal(vm_vcpu_work(f->vm, read_rip, &rip, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "runs no work"));
	f->vm->engine = &emu_engine_ops;
}

struct run_here_fx {
	struct vm *vm;
	int rc;
	char err[128];
	atomic_bool flag;
	int looks;
};

static bool flag_set(void *arg)
{
	struct run_here_fx *r = arg;
	r->looks++;
	return atomic_load(&r->flag);
}

static void run_here_work(struct vm *vm, void *arg)
{
	struct run_here_fx *r = arg;
	r->rc = vm_vcpu_run_here(vm, 0, flag_set, r, 5000000000ull, r->err, sizeof(r->err));
}

static void *end_run_later(void *arg)
{
	struct run_here_fx *r = arg;
	struct timespec d = { 0, 20000000 };
	nanosleep(&d, NULL);
	atomic_store(&r->flag, true);
	vm_vcpu_run_end(r->vm, 0); /* from another thread, as SymCall's requester does */
	return NULL;
}

/* vm_vcpu_run_here: only inside vCPU work; the vCPU runs on the work's
 * thread until done holds, which it looks at again when run_end brings
 * the run back (here from another thread, out of an endless loop), and
 * a vCPU halted with interrupts off ends the run. */
static void test_run_here(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *cpu = emu_cpu_of(f->vcpu);
	struct run_here_fx r = { .vm = f->vm };
	struct x86_state s;
	pthread_t t;
	char err[128];

	assert_int_equal(vm_vcpu_run_here(f->vm, 0, flag_set, &r, 1000000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "inside vCPU work"));
	x86_state_flat32(&s);
	s.rip = 0x5000;
	s.rflags = 0x2; /* interrupts off */
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	put_code(f, 0x5000, 9); /* mov $9, %eax; hlt */
	assert_int_equal(vm_vcpu_work(f->vm, run_here_work, &r, err, sizeof(err)), 0);
	vm_run_work(f->vm);
	assert_int_equal(r.rc, 1); /* halted for good */
	assert_int_equal(cpu->gpr[X86_RAX], 9);
	static const uint8_t loop[2] = { 0xeb, 0xfe }; /* jmp . */
	memcpy(f->vm->mem.host + 0x6000, loop, sizeof(loop));
	s.rip = 0x6000;
	emu_engine_ops.vcpu_set_state(f->vcpu, &s);
	r.looks = 0;
	assert_int_equal(pthread_create(&t, NULL, end_run_later, &r), 0);
	assert_int_equal(vm_vcpu_work(f->vm, run_here_work, &r, err, sizeof(err)), 0);
	vm_run_work(f->vm);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_true(r.looks >= 2);
	assert_int_equal(cpu->rip, 0x6000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpuid_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpuid_is_the_portable_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_write_drops_decoded_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_memory_keeps_decoded_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_memory_keeps_tlb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vcpu_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_here, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
