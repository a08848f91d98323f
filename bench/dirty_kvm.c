/* What Geiger's write tracking would cost on kvm (issue 12: "on kvm, measure
 * the cost of the write tracking it needs"): Geiger on emu sees every write
 * to a watched page as it happens; on kvm the only stock source is KVM's
 * dirty page log, collected (and re-armed) periodically.  A test guest in
 * 32-bit flat mode writes one word into every page of a 128 MiB buffer, pass
 * after pass, counting its passes in memory; the bench measures:
 *   - its page-write rate without tracking (the peer) and while the log is
 *     collected every INTERVAL_MS (each collect write-protects the pages
 *     again, so every page's first write after it faults into KVM);
 *   - the collect itself: time per call for the VM's RAM, as a scan rate
 *     (GiB of guest RAM per second) and the dirty pages it found.
 * Usage: dirty_kvm [SECONDS [INTERVAL_MS]]; skips (exit 0, says why) with no
 * usable /dev/kvm.  On a KVM that emulates guest kernel code (kvm_pvm) the
 * guest's loop is emulated too, so its rates are that emulator's. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/engine.h"
#include "symbiont/memory.h"
#include "symbiont/vm.h"

#define RAM        (256ull << 20)
#define BUF_START  0x1000000u /* 16 MiB */
#define BUF_END    0x9000000u /* 144 MiB: 128 MiB, 32768 pages */
#define BUF_PAGES  ((BUF_END - BUF_START) / 4096)
#define PASSES_GPA 0x2000u
#define ROUNDS     3

/* clang-format off */
static const uint8_t guest_code[] = {
	0xbb, 0, 0, 0, 0,                   /* 1000 mov ebx, 0                    */
	0xbf, 0, 0, 0, 0x01,                /* 1005 mov edi, BUF_START           */
	0x89, 0x1f,                         /* 100a mov [edi], ebx                */
	0x81, 0xc7, 0x00, 0x10, 0, 0,       /* 100c add edi, 4096                 */
	0x81, 0xff, 0, 0, 0, 0x09,          /* 1012 cmp edi, BUF_END             */
	0x72, 0xf0,                         /* 1018 jb 100a                       */
	0x43,                               /* 101a inc ebx                       */
	0x89, 0x1d, 0x00, 0x20, 0, 0,       /* 101b mov [PASSES_GPA], ebx         */
	0xeb, 0xe2,                         /* 1021 jmp 1005                      */
};
/* clang-format on */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double v[ROUNDS])
{
	qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
	return v[ROUNDS / 2];
}

static uint32_t passes(struct vm *vm)
{
	uint32_t v = 0;
	gpa_read(&vm->mem, PASSES_GPA, &v, sizeof(v));
	return v;
}

static void *run(void *p)
{
	struct vcpu *cpu = p;
	kvm_engine_ops.vcpu_run(cpu);
	return NULL;
}

static int die(const char *what, const char *err)
{
	fprintf(stderr, "dirty_kvm: %s: %s\n", what, err);
	return 1;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int interval_ms = argc > 2 ? atoi(argv[2]) : 100;
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vcpu cpu = { 0 };
	struct x86_state s;
	char err[256] = "";
	pthread_t th;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("dirty_kvm: skipped: no usable /dev/kvm (%s)\n", strerror(errno));
		return 0;
	}
	close(fd);
	if (!vm || seconds <= 0 || interval_ms < 1)
		return die("usage", "dirty_kvm [SECONDS [INTERVAL_MS]]");
	vm->wake_fd = -1;
	vm->ncpus = 1;
	pthread_mutex_init(&vm->io_lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	if (guest_mem_init(&vm->mem, RAM))
		return die("guest memory", "cannot allocate");
	vm->engine = &kvm_engine_ops;
	if (kvm_engine_ops.init(vm, err, sizeof(err)) < 0)
		return die("kvm", err);
	cpu.vm = vm;
	cpu.id = 0;
	vm->vcpus[0] = &cpu;
	if (kvm_engine_ops.vcpu_init(&cpu, err, sizeof(err)) < 0)
		return die("kvm vcpu", err);
	gpa_write(&vm->mem, 0x1000, guest_code, sizeof(guest_code));
	x86_state_flat32(&s);
	s.rip = 0x1000;
	if (kvm_engine_ops.vcpu_set_state(&cpu, &s))
		return die("kvm", "cannot set the vCPU's state");
	if (pthread_create(&th, NULL, run, &cpu))
		return die("thread", strerror(errno));
	cpu.thread = th;
	cpu.running = true;

	/* warm up: every page touched once (KVM maps it) */
	while (passes(vm) < 2)
		usleep(1000);

	/* Alternating rounds, medians: the host's other load moves each one. */
	double untracked_r[ROUNDS], tracked_r[ROUNDS], collect_s = 0, found = 0;
	int collects = 0;
	uint64_t *bits = calloc(vm_dirty_words(vm), sizeof(uint64_t));
	if (!bits)
		return die("dirty log", "out of memory");
	for (int r = 0; r < ROUNDS; r++) {
		uint32_t p0 = passes(vm);
		double t0 = now_s();
		usleep((useconds_t)(seconds * 1e6));
		untracked_r[r] = (double)(passes(vm) - p0) * BUF_PAGES / (now_s() - t0);

		if (vm_dirty_log_start(vm, err, sizeof(err)))
			return die("dirty log", err);
		p0 = passes(vm);
		t0 = now_s();
		while (now_s() - t0 < seconds) {
			usleep((useconds_t)interval_ms * 1000);
			memset(bits, 0, vm_dirty_words(vm) * sizeof(uint64_t));
			double c0 = now_s();
			if (vm_dirty_log_collect(vm, bits, err, sizeof(err)))
				return die("dirty log collect", err);
			collect_s += now_s() - c0;
			collects++;
			for (uint64_t i = 0; i < vm_dirty_words(vm); i++)
				found += __builtin_popcountll(bits[i]);
		}
		tracked_r[r] = (double)(passes(vm) - p0) * BUF_PAGES / (now_s() - t0);
		vm_dirty_log_stop(vm);
	}
	vm_request_exit(vm, 0);
	pthread_join(th, NULL);
	double untracked = median(untracked_r), tracked = median(tracked_r);

	double per_collect = collect_s / collects;
	printf("kvm dirty-page tracking, test guest writing %u pages (128 MiB) over and over, %.0f MiB of RAM, "
	       "medians of %d alternating rounds of %.1f s each way\n",
	       BUF_PAGES, (double)RAM / 1048576, ROUNDS, seconds);
	printf("  page writes, not tracked        %12.0f pages/s (the peer)\n", untracked);
	printf("  page writes, log collected every %d ms %7.0f pages/s   %.2fx of the peer\n", interval_ms, tracked,
	       tracked / untracked);
	printf("  one collect (KVM_GET_DIRTY_LOG, re-arm, merge)  %.3f ms for %.0f MiB: %.1f GiB of guest RAM per "
	       "second; %.0f dirty pages found each (%d collects)\n",
	       per_collect * 1e3, (double)RAM / 1048576, (double)RAM / (1 << 30) / per_collect, found / collects,
	       collects);
	kvm_engine_ops.vcpu_destroy(&cpu);
	kvm_engine_ops.destroy(vm);
	free(bits);
	return 0;
}
