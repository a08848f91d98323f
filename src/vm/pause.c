/* Pausing the guest: a barrier every vCPU thread reaches at a point where
 * its state is whole.  The engines call vm_vcpu_park() when they see
 * vm_pause_pending() after a kick; vm_pause() waits until every thread
 * inside vcpu_run has parked.  Pauses nest so that a service's pause (a
 * consistent read of the guest) and the user's `stop` do not undo each
 * other. */
#include "symbiont/vm.h"
#include "cpu/engine.h"

/* Guest time stops once every vCPU is parked and starts again before any
 * runs (pause_lock held): vm_now() readers retry across the update. */
static void freeze_time(struct vm *vm)
{
	if (vm->time_frozen)
		return;
	atomic_fetch_add_explicit(&vm->time_seq, 1, memory_order_acq_rel);
	atomic_store_explicit(&vm->time_frozen_at, vm_clock_read(&vm->clock) | 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&vm->time_seq, 1, memory_order_acq_rel);
	vm->time_frozen = true;
}

static void thaw_time(struct vm *vm)
{
	if (!vm->time_frozen)
		return;
	atomic_fetch_add_explicit(&vm->time_seq, 1, memory_order_acq_rel);
	uint64_t f = atomic_load_explicit(&vm->time_frozen_at, memory_order_relaxed);
	uint64_t now = vm_clock_read(&vm->clock);
	if (now > f)
		atomic_fetch_add_explicit(&vm->time_stopped, now - f, memory_order_relaxed);
	atomic_store_explicit(&vm->time_frozen_at, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&vm->time_seq, 1, memory_order_acq_rel);
	vm->time_frozen = false;
}

/* A vCPU whose thread has not started yet needs no kick (it looks at the
 * pause before its first instruction), and kvm's kick would signal a
 * thread that does not exist: a pause taken before vm_run (--gdb-wait). */
static void kick_all(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->running && vm->engine && vm->engine->vcpu_kick)
			vm->engine->vcpu_kick(vm->vcpus[i]);
}

int vm_pause_hold(struct vm *vm, bool stop_time)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_fetch_add(&vm->pause_depth, 1);
	kick_all(vm);
	while (vm->parked < vm->vcpu_threads && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	int r = vm_stopping(vm) ? -1 : 0;
	if (r < 0)
		atomic_fetch_sub(&vm->pause_depth, 1);
	else if (stop_time && vm->time_holds++ == 0)
		freeze_time(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

int vm_pause_request(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm_stopping(vm)) {
		pthread_mutex_unlock(&vm->pause_lock);
		return -1;
	}
	atomic_fetch_add(&vm->pause_depth, 1);
	if (vm->time_holds++ == 0)
		freeze_time(vm);
	kick_all(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	return 0;
}

void vm_resume_hold(struct vm *vm, bool stop_time)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->pause_depth) > 0) {
		if (stop_time && vm->time_holds > 0 && --vm->time_holds == 0)
			thaw_time(vm);
		if (atomic_fetch_sub(&vm->pause_depth, 1) == 1)
			pthread_cond_broadcast(&vm->pause_cond);
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_pause(struct vm *vm)
{
	return vm_pause_hold(vm, true);
}

void vm_resume(struct vm *vm)
{
	vm_resume_hold(vm, true);
}

bool vm_is_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	bool p = vm_pause_pending(vm) && vm->parked == vm->vcpu_threads;
	pthread_mutex_unlock(&vm->pause_lock);
	return p;
}

void vm_vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm_pause_pending(vm) && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_hold(struct vcpu *c)
{
	struct vm *vm = c->vm;
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++; /* a throttled vCPU counts as parked for a pause, too */
	pthread_cond_broadcast(&vm->pause_cond);
	while ((vm_pause_pending(vm) || atomic_load(&c->throttled)) && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_throttle(struct vcpu *c, bool on)
{
	struct vm *vm = c->vm;
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&c->throttled, on);
	if (!on)
		pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (on)
		vm->engine->vcpu_kick(c);
}

void vm_vcpu_thread_enter(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpu_threads++;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_thread_leave(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpu_threads--;
	pthread_cond_broadcast(&vm->pause_cond); /* a pauser may be waiting for this one */
	pthread_mutex_unlock(&vm->pause_lock);
}
