/* Services' access to vCPU state (symbiont/vcpu.h): only while every vCPU
 * is parked, so the engine's copy is the whole truth and nobody runs it. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "cpu/engine.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

bool vm_in_vcpu_work(struct vm *vm)
{
	return atomic_load(&vm->in_work) && pthread_equal(vm->work_thread, pthread_self());
}

static struct vcpu *parked_vcpu(struct vm *vm, int cpu, char *err, size_t errlen)
{
	if (cpu < 0 || cpu >= vm->ncpus || !vm->vcpus[cpu]) {
		snprintf(err, errlen, "no vCPU %d (the VM has %d)", cpu, vm->ncpus);
		return NULL;
	}
	/* vCPU work first: vm_is_paused() takes the pause lock */
	if (!vm_in_vcpu_work(vm) && !vm_is_paused(vm)) {
		snprintf(err, errlen, "vCPU state is read and written only while the VM is paused");
		return NULL;
	}
	return vm->vcpus[cpu];
}

int vm_vcpu_get_state(struct vm *vm, int cpu, struct x86_state *s, char *err, size_t errlen)
{
	struct vcpu *v = parked_vcpu(vm, cpu, err, errlen);
	if (!v)
		return -1;
	if (vm->engine->vcpu_get_state(v, s) < 0) {
		snprintf(err, errlen, "%s: cannot read vCPU %d's state", vm->engine->name, cpu);
		return -1;
	}
	return 0;
}

int vm_vcpu_get_parts(struct vm *vm, int cpu, struct x86_state *s, uint32_t parts, char *err, size_t errlen)
{
	struct vcpu *v = parked_vcpu(vm, cpu, err, errlen);
	int r;
	if (!v)
		return -1;
	r = vm->engine->vcpu_get_parts ? vm->engine->vcpu_get_parts(v, s, parts & X86_STATE_ALL)
	                               : vm->engine->vcpu_get_state(v, s);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read vCPU %d's state", vm->engine->name, cpu);
		return -1;
	}
	return 0;
}

int vm_vcpu_set_state(struct vm *vm, int cpu, const struct x86_state *s, char *err, size_t errlen)
{
	struct vcpu *v = parked_vcpu(vm, cpu, err, errlen);
	if (!v)
		return -1;
	if (vm->engine->vcpu_set_state(v, s) < 0) {
		snprintf(err, errlen, "%s: cannot set vCPU %d's state", vm->engine->name, cpu);
		return -1;
	}
	return 0;
}

int vm_vcpu_work(struct vm *vm, void (*fn)(struct vm *vm, void *arg), void *arg, char *err, size_t errlen)
{
	bool busy;

	if (!vm->engine || !vm->engine->runs_work) {
		snprintf(err, errlen, "the %s engine runs no work on its vCPU thread",
		         vm->engine ? vm->engine->name : "(no)");
		return -1;
	}
	pthread_mutex_lock(&vm->work_lock);
	busy = atomic_load(&vm->work_fn) != NULL;
	if (!busy) {
		vm->work_arg = arg;
		atomic_store_explicit(&vm->work_fn, fn, memory_order_release);
	}
	pthread_mutex_unlock(&vm->work_lock);
	if (busy) {
		snprintf(err, errlen, "another vCPU work item is waiting");
		return -1;
	}
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->engine->vcpu_kick)
			vm->engine->vcpu_kick(vm->vcpus[i]);
	return 0;
}

int vm_vcpu_run_here(struct vm *vm, int cpu, bool (*done)(void *arg), void *arg, uint64_t max_ns, char *err,
                     size_t errlen)
{
	if (!vm->engine || !vm->engine->vcpu_run_here) {
		snprintf(err, errlen, "the %s engine cannot run a vCPU inside vCPU work",
		         vm->engine ? vm->engine->name : "(no)");
		return -1;
	}
	if (!vm_in_vcpu_work(vm)) {
		snprintf(err, errlen, "a vCPU is run here only inside vCPU work");
		return -1;
	}
	if (cpu < 0 || cpu >= vm->ncpus || !vm->vcpus[cpu]) {
		snprintf(err, errlen, "no vCPU %d (the VM has %d)", cpu, vm->ncpus);
		return -1;
	}
	return vm->engine->vcpu_run_here(vm->vcpus[cpu], done, arg, max_ns);
}

void vm_vcpu_run_end(struct vm *vm, int cpu)
{
	if (vm->engine && vm->engine->vcpu_run_end && cpu >= 0 && cpu < vm->ncpus && vm->vcpus[cpu])
		vm->engine->vcpu_run_end(vm->vcpus[cpu]);
}

void vm_run_work(struct vm *vm)
{
	void (*fn)(struct vm *, void *);
	void *arg;

	pthread_mutex_lock(&vm->work_lock);
	fn = atomic_load(&vm->work_fn);
	arg = vm->work_arg;
	atomic_store(&vm->work_fn, NULL); /* fn may queue the next item */
	pthread_mutex_unlock(&vm->work_lock);
	if (!fn)
		return;
	vm->work_thread = pthread_self();
	atomic_store(&vm->in_work, true);
	fn(vm, arg);
	atomic_store(&vm->in_work, false);
}

int vm_vcpu_stats(struct vm *vm, int cpu, device_stat_fn emit, void *ctx)
{
	if (cpu < 0 || cpu >= vm->ncpus || !vm->vcpus[cpu])
		return -1;
	struct vcpu *v = vm->vcpus[cpu];
	clockid_t cid;
	struct timespec ts;
	/* The host CPU time of the thread the vCPU runs on (on emu, vCPU 0's
	 * thread runs them all: the others' threads only wait). */
	if (v->running && pthread_getcpuclockid(v->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
		emit(ctx, "thread_cpu_ns", (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
	if (vm->engine->vcpu_stats)
		vm->engine->vcpu_stats(v, emit, ctx);
	return 0;
}

int vm_set_hw_points(struct vm *vm, const struct vm_hw_point p[VM_HW_POINTS], char *err, size_t errlen)
{
	for (int i = 0; i < VM_HW_POINTS; i++) {
		if (!p[i].on)
			continue;
		unsigned len = p[i].type == VM_HWP_EXEC ? 1 : p[i].len;
		if (p[i].type > VM_HWP_ACCESS || (len != 1 && len != 2 && len != 4 && len != 8) ||
		    (p[i].addr & (len - 1))) {
			snprintf(err, errlen, "debug-register point %d: a length of 1, 2, 4 or 8 bytes, aligned to it",
			         i);
			return -1;
		}
	}
	if (!vm->engine->set_hw_points) {
		snprintf(err, errlen,
		         "the %s engine has no debug-register points (it hooks code and watches pages exactly)",
		         vm->engine->name);
		return -1;
	}
	return vm->engine->set_hw_points(vm, p, err, errlen);
}
