/* The dirty page log (vm_dirty_log_*, src/vm/dirty.c and the engines):
 * the count test guest runs, and between two collects taken with the VM
 * paused every page of guest RAM whose bytes changed must be in the
 * second collect's set (the property live migration rests on), a device
 * write (vm_mem_written) shows up once, and an engine's log ends with
 * vm_dirty_log_stop.  On emu always, on kvm where it runs the test guests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cpu/engine.h"
#include "machine/builder.h"

static const char *guest_path(void)
{
	static char path[512];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/tests/guests/count.elf", build ? build : "build");
	if (access(path, R_OK))
		fail_msg("%s missing: make builds the test guests", path);
	return path;
}

static void *run_vm(void *vm)
{
	vm_run(vm);
	return NULL;
}

static bool bit(const uint64_t *b, uint64_t pg)
{
	return (b[pg / 64] >> (pg % 64)) & 1;
}

static void sleep_ms(int ms)
{
	struct timespec t = { 0, ms * 1000000L };
	nanosleep(&t, NULL);
}

static void log_is_complete(const char *engine)
{
	char err[256] = "";
	struct vm_config cfg = {
		.engine = engine, .kernel = guest_path(), .mem_size = 32ULL << 20, .ncpus = 1, .serial = "null"
	};
	struct machine *m = machine_build(&cfg, err, sizeof(err));
	if (!m) {
		if (!strcmp(engine, "kvm")) {
			printf("skip kvm: %s\n", err);
			return;
		}
		fail_msg("machine_build: %s", err);
	}
	struct vm *vm = machine_vm(m);
	uint64_t words = vm_dirty_words(vm), npages = vm->mem.size / 4096, device_pg = (8u << 20) / 4096;
	uint64_t *bits = calloc(words, 8);
	uint8_t *ref = malloc(vm->mem.size);
	pthread_t th;
	assert_non_null(bits);
	assert_non_null(ref);
	assert_int_equal(pthread_create(&th, NULL, run_vm, vm), 0);
	sleep_ms(100); /* the guest counts */

	assert_int_equal(vm_dirty_log_start(vm, err, sizeof(err)), 0);
	int cpu_pages = 0;
	for (int round = 0; round < 4; round++) {
		assert_int_equal(vm_pause(vm), 0);
		memset(bits, 0, words * 8);
		assert_int_equal(vm_dirty_log_collect(vm, bits, err, sizeof(err)), 0);
		if (round > 0) {
			/* Every page that changed since the last collect is in the set. */
			for (uint64_t pg = 0; pg < npages; pg++)
				if (memcmp(ref + pg * 4096, vm->mem.host + pg * 4096, 4096) && !bit(bits, pg))
					fail_msg("%s: page %#llx changed and is not in the log", engine,
					         (unsigned long long)pg * 4096);
			for (uint64_t pg = 0; pg < npages; pg++)
				cpu_pages += pg != device_pg && bit(bits, pg);
			/* The device write of the round before shows up once. */
			assert_int_equal(bit(bits, device_pg), round == 2);
		}
		memcpy(ref, vm->mem.host, vm->mem.size);
		vm_resume(vm);
		if (round == 1)
			vm_mem_written(vm, device_pg * 4096 + 100, 8);
		sleep_ms(150); /* at 50 ms a step, the guest writes its counter */
	}
	assert_true(cpu_pages >= 3); /* the guest's counter page, each round */
	vm_dirty_log_stop(vm);
	vm_request_exit(vm, 0);
	pthread_join(th, NULL);
	machine_destroy(m);
	free(bits);
	free(ref);
}

static void emu_log(void **state)
{
	(void)state;
	log_is_complete("emu");
}

static void kvm_log(void **state)
{
	(void)state;
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("skip kvm: no /dev/kvm\n");
		return;
	}
	log_is_complete("kvm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(emu_log),
		cmocka_unit_test(kvm_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
