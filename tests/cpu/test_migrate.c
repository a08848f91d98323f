/* A running guest's vCPU moves between engines: tests/guests/migrate.S
 * runs on emu up to a checkpoint, continues on kvm up to a later one and
 * finishes on emu again.  Each leg is a fresh machine from the builder
 * that gets the previous leg's guest RAM, device states (symbiont/device.h)
 * and whole vCPU state (struct x86_state, X86_STATE_ALL) before it runs.
 * The serial output of the three legs together and the exit status must
 * be those of one uninterrupted run on emu.
 *
 * The guest writes its step number to port 0xf0 after each step; the test
 * claims that port and ends the VM there (the engines complete the OUT
 * before vcpu_run returns, so nothing is done twice).  Also checked: a
 * vCPU state set on one engine reads back the same from the other, part
 * by part, without running anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/engine.h"
#include "machine/builder.h"

#define CHECKPOINT_PORT   0xf0
#define CHECKPOINT_STATUS 250 /* an exit status the guest cannot produce (debug-exit ones are odd) */
#define MEM               (32ULL << 20)

struct leg {
	const char *engine;
	int stop_after; /* step number to stop at; -1: run to the end */
	struct vm *vm;
};

static void checkpoint_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct leg *l = opaque;
	(void)off, (void)size;
	if (l->stop_after >= 0 && (int)val == l->stop_after)
		vm_request_exit(l->vm, CHECKPOINT_STATUS);
}

static const struct io_ops checkpoint_ops = { NULL, checkpoint_write };

/* What one leg hands the next. */
struct carry {
	uint8_t *ram;
	struct x86_state cpu;
	struct {
		char id[32];
		uint8_t *blob;
		size_t len;
	} dev[VM_MAX_DEVICES];
	int ndev;
};

static void carry_free(struct carry *c)
{
	free(c->ram);
	for (int i = 0; i < c->ndev; i++)
		free(c->dev[i].blob);
	memset(c, 0, sizeof(*c));
}

static const char *guest_path(void)
{
	static char path[512];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/tests/guests/migrate.elf", build ? build : "build");
	if (access(path, R_OK))
		fail_msg("%s missing: make builds the test guests", path);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* Builds a machine for the leg, resumes it from in (if any), runs it, and
 * fills out (if the leg stopped at its checkpoint).  Returns vm_run's
 * status; the leg's serial output is appended to *text. */
static int run_leg(struct leg *l, const struct carry *in, struct carry *out, char **text)
{
	char out_path[] = "/tmp/symbiont-migrate-XXXXXX", serial[64], err[256] = "";
	struct vm_config cfg = { .engine = l->engine, .kernel = guest_path(), .mem_size = MEM, .ncpus = 1 };
	struct machine *m;
	struct vm *vm;
	int fd, status;

	fd = mkstemp(out_path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(serial, sizeof(serial), "file:%s", out_path);
	cfg.serial = serial;
	m = machine_build(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("%s: machine_build: %s", l->engine, err);
	vm = l->vm = machine_vm(m);
	assert_int_equal(io_bus_register(&vm->pio, CHECKPOINT_PORT, 4, &checkpoint_ops, l), 0);

	if (in) {
		memcpy(vm->mem.host, in->ram, vm->mem.size);
		vm_mem_written(vm, 0, vm->mem.size);
		pthread_mutex_lock(&vm->io_lock);
		for (int i = 0; i < in->ndev; i++) {
			const struct vm_device *d = vm_device_find(vm, in->dev[i].id);
			/* The interrupt controllers exist on emu only. */
			if (!d)
				continue;
			if (device_load(d->ops, d->dev, in->dev[i].blob, in->dev[i].len, err, sizeof(err)))
				fail_msg("%s: loading %s: %s", l->engine, in->dev[i].id, err);
		}
		pthread_mutex_unlock(&vm->io_lock);
		if (vm->engine->vcpu_set_state(vm->vcpus[0], &in->cpu) < 0)
			fail_msg("%s: cannot set the vCPU state", l->engine);
	}

	status = vm_run(vm);

	if (status == CHECKPOINT_STATUS && out) {
		out->ram = malloc(vm->mem.size);
		assert_non_null(out->ram);
		memcpy(out->ram, vm->mem.host, vm->mem.size);
		assert_int_equal(vm->engine->vcpu_get_state(vm->vcpus[0], &out->cpu), 0);
		assert_int_equal(out->cpu.parts, X86_STATE_ALL);
		pthread_mutex_lock(&vm->io_lock);
		for (int i = 0; i < vm_device_count(vm); i++) {
			const struct vm_device *d = vm_device_at(vm, i);
			snprintf(out->dev[i].id, sizeof(out->dev[i].id), "%s", d->id);
			if (device_save(d->ops, d->dev, &out->dev[i].blob, &out->dev[i].len, err, sizeof(err)))
				fail_msg("%s: saving %s: %s", l->engine, d->id, err);
			out->ndev++;
		}
		pthread_mutex_unlock(&vm->io_lock);
	}
	machine_destroy(m);

	{
		char *leg_text = slurp(out_path), *all;
		size_t n = *text ? strlen(*text) : 0;
		all = realloc(*text, n + strlen(leg_text) + 1);
		assert_non_null(all);
		strcpy(all + n, leg_text);
		*text = all;
		free(leg_text);
	}
	unlink(out_path);
	return status;
}

static bool have_kvm(void)
{
	char err[160] = "";
	if (engine_select("kvm", err, sizeof(err)))
		return true;
	print_message("skipped: %s\n", err);
	return false;
}

static void test_emu_kvm_emu_mid_run(void **state)
{
	(void)state;
	if (!have_kvm()) {
		skip();
		return;
	}
	char *want = NULL, *got = NULL;
	struct leg straight = { "emu", -1, NULL };
	int want_status = run_leg(&straight, NULL, NULL, &want);

	struct carry c1 = { 0 }, c2 = { 0 };
	struct leg a = { "emu", 7, NULL }, b = { "kvm", 15, NULL }, c = { "emu", -1, NULL };
	assert_int_equal(run_leg(&a, NULL, &c1, &got), CHECKPOINT_STATUS);
	/* Each leg ran its own steps: emu 0-7, kvm 8-15, emu the rest. */
	assert_non_null(strstr(got, "step 7 "));
	assert_null(strstr(got, "step 8 "));
	assert_int_equal(run_leg(&b, &c1, &c2, &got), CHECKPOINT_STATUS);
	assert_non_null(strstr(got, "step 15 "));
	assert_null(strstr(got, "step 16 "));
	int status = run_leg(&c, &c2, NULL, &got);

	assert_non_null(strstr(want, "step 23 "));
	assert_non_null(strstr(want, "done\n"));
	assert_string_equal(got, want);
	assert_int_equal(status, want_status);
	carry_free(&c1);
	carry_free(&c2);
	free(want);
	free(got);
}

/* A state with something in every part, set on one engine and read from
 * it, then set on the other and read again: each part the same. */
static void fill_state(struct x86_state *s)
{
	x86_state_flat32(s);
	s->parts = X86_STATE_ALL;
	s->gpr[X86_RAX] = 0x1111;
	s->gpr[X86_RSI] = 0x2222;
	s->rip = 0x100000;
	s->cr0 |= CR0_MP | CR0_NE;
	s->cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->apic_base = APIC_BASE_DEFAULT | APIC_BASE_EN | APIC_BASE_BSP;
	s->msr.star = 0x0023001012345678ULL;
	s->msr.lstar = 0xffffffff81000000ULL;
	s->msr.cstar = 0xffffffff81000100ULL;
	s->msr.sfmask = 0x47700;
	s->msr.kernel_gs_base = 0xffff888000001000ULL;
	s->msr.sysenter_cs = 0x10;
	s->msr.sysenter_esp = 0x8000;
	s->msr.sysenter_eip = 0x9000;
	s->msr.tsc = 0x400000000000ULL; /* far from KVM's fresh TSC: no "synchronizing" snap */
	s->msr.tsc_aux = 7;
	s->msr.pat = 0x0007040600070406ULL;
	s->msr.misc_enable = 1;
	s->msr.mtrr_def_type = 0xc06;
	for (int i = 0; i < 11; i++)
		s->msr.mtrr_fixed[i] = 0x0606060606060606ULL;
	s->msr.mtrr_var[0] = 0x6;
	s->msr.mtrr_var[1] = 0xff0000800ULL;
	memset(s->fxsave, 0, sizeof(s->fxsave));
	s->fxsave[0] = 0x7f, s->fxsave[1] = 0x02;   /* FCW 0x027f */
	s->fxsave[4] = 0x80;                        /* ST7's physical register in use */
	s->fxsave[24] = 0xc0, s->fxsave[25] = 0x9f; /* MXCSR 0x9fc0 */
	for (int i = 0; i < 10; i++)
		s->fxsave[32 + i] = (uint8_t)(0x10 + i); /* ST0 */
	s->fxsave[32 + 9] = 0x3f;
	for (int i = 0; i < 16 * 16; i++)
		s->fxsave[160 + i] = (uint8_t)(i * 7 + 1); /* XMM0-15 */
	s->dr[0] = 0xc0ffe0;
	s->dr[3] = 0x1234;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->ev.mp_state = X86_MP_RUNNABLE;
	s->ev.nmi_masked = false;
	memset(s->lapic, 0, sizeof(s->lapic));
	/* ID 0, TPR 0x20, SVR enabled with vector 0xff, LINT0 ExtINT, LINT1
	 * NMI, timer masked, divide by 16. */
	s->lapic[0x80] = 0x20;
	s->lapic[0xf0] = 0xff, s->lapic[0xf1] = 0x01;
	s->lapic[0xe0] = s->lapic[0xe1] = s->lapic[0xe2] = s->lapic[0xe3] = 0xff;
	s->lapic[0x320 + 2] = 0x01;
	s->lapic[0x330 + 2] = 0x01;
	s->lapic[0x340 + 2] = 0x01;
	s->lapic[0x350 + 1] = 0x07;
	s->lapic[0x360 + 1] = 0x04;
	s->lapic[0x370 + 2] = 0x01;
	s->lapic[0x3e0] = 0x03;
	s->cr8 = 2;
}

static struct machine *bare(const char *engine)
{
	char err[256] = "";
	struct vm_config cfg = {
		.engine = engine, .kernel = guest_path(), .mem_size = MEM, .ncpus = 1, .serial = "null"
	};
	struct machine *m = machine_build(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("%s: %s", engine, err);
	return m;
}

/* kvm_pvm runs guest code without hardware TSC offsetting: the guest reads
 * the host's TSC whatever was written, so a TSC set there cannot be read
 * back. */
static bool tsc_settable(const char *engine)
{
	if (strcmp(engine, "kvm") || access("/sys/module/kvm_pvm", F_OK))
		return true;
	print_message("note: the kvm_pvm module cannot set a guest TSC; not compared on kvm\n");
	return false;
}

static void expect_same(const struct x86_state *a, const struct x86_state *b, const char *where, bool tsc)
{
	if (memcmp(a->gpr, b->gpr, sizeof(a->gpr)) || a->rip != b->rip)
		fail_msg("%s: registers differ", where);
	if (memcmp(&a->msr, &b->msr, offsetof(struct x86_msrs, tsc)) || a->msr.tsc_aux != b->msr.tsc_aux ||
	    a->msr.pat != b->msr.pat || a->msr.mtrr_def_type != b->msr.mtrr_def_type ||
	    memcmp(a->msr.mtrr_fixed, b->msr.mtrr_fixed, sizeof(a->msr.mtrr_fixed)) ||
	    memcmp(a->msr.mtrr_var, b->msr.mtrr_var, sizeof(a->msr.mtrr_var)))
		fail_msg("%s: MSRs differ", where);
	/* The TSC runs between set and get: it must not jump back or far ahead. */
	if (tsc && (b->msr.tsc < a->msr.tsc || b->msr.tsc - a->msr.tsc > 100000000000ULL))
		fail_msg("%s: TSC %llu became %llu", where, (unsigned long long)a->msr.tsc,
		         (unsigned long long)b->msr.tsc);
	/* FCW FSW FTW FOP FIP FDP MXCSR, then the registers (MXCSR_MASK at 28
	 * is what each CPU has). */
	if (memcmp(a->fxsave, b->fxsave, 28) || memcmp(a->fxsave + 32, b->fxsave + 32, 128 + 256)) {
		for (int i = 0; i < 512; i++)
			if (a->fxsave[i] != b->fxsave[i])
				print_message("fxsave[%d]: %02x -> %02x\n", i, a->fxsave[i], b->fxsave[i]);
		fail_msg("%s: x87/SSE image differs", where);
	}
	if (memcmp(a->dr, b->dr, sizeof(a->dr)) || a->dr7 != b->dr7)
		fail_msg("%s: debug registers differ", where);
	if (a->ev.interrupt_shadow != b->ev.interrupt_shadow || a->ev.nmi_pending != b->ev.nmi_pending ||
	    a->ev.nmi_masked != b->ev.nmi_masked || a->ev.mp_state != b->ev.mp_state)
		fail_msg("%s: events differ", where);
	static const unsigned regs[] = {
		0x20, 0x80, 0xd0, 0xe0, 0xf0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x3e0
	};
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (memcmp(a->lapic + regs[i], b->lapic + regs[i], 4))
			fail_msg("%s: local APIC register 0x%x differs", where, regs[i]);
}

static void test_state_parts_cross_engines(void **state)
{
	(void)state;
	if (!have_kvm()) {
		skip();
		return;
	}
	struct machine *e = bare("emu"), *k = bare("kvm");
	struct vcpu *ec = machine_vm(e)->vcpus[0], *kc = machine_vm(k)->vcpus[0];
	struct x86_state s, from_emu, from_kvm, back;

	fill_state(&s);
	assert_int_equal(ec->vm->engine->vcpu_set_state(ec, &s), 0);
	assert_int_equal(ec->vm->engine->vcpu_get_state(ec, &from_emu), 0);
	expect_same(&s, &from_emu, "emu", true);
	assert_int_equal(kc->vm->engine->vcpu_set_state(kc, &from_emu), 0);
	assert_int_equal(kc->vm->engine->vcpu_get_state(kc, &from_kvm), 0);
	expect_same(&from_emu, &from_kvm, "emu -> kvm", tsc_settable("kvm"));
	assert_int_equal(ec->vm->engine->vcpu_set_state(ec, &from_kvm), 0);
	assert_int_equal(ec->vm->engine->vcpu_get_state(ec, &back), 0);
	expect_same(&from_kvm, &back, "kvm -> emu", true);
	machine_destroy(e);
	machine_destroy(k);
}

/* The emu engine alone (every host): each part set comes back. */
static void test_state_parts_emu(void **state)
{
	(void)state;
	struct machine *e = bare("emu");
	struct vcpu *ec = machine_vm(e)->vcpus[0];
	struct x86_state s, got;

	fill_state(&s);
	s.ev.interrupt_shadow = true;
	s.ev.nmi_pending = true;
	assert_int_equal(ec->vm->engine->vcpu_set_state(ec, &s), 0);
	assert_int_equal(ec->vm->engine->vcpu_get_state(ec, &got), 0);
	expect_same(&s, &got, "emu", true);
	/* An FPU image with MXCSR bits this CPU lacks is refused. */
	s.fxsave[26] = 0xff, s.fxsave[27] = 0xff;
	assert_int_equal(ec->vm->engine->vcpu_set_state(ec, &s), -1);
	machine_destroy(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_parts_emu),
		cmocka_unit_test(test_state_parts_cross_engines),
		cmocka_unit_test(test_emu_kvm_emu_mid_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
