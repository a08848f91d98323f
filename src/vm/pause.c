/* Pausing the guest: a barrier every vCPU thread reaches at a point where
 * its state is whole.  The engines call vm_vcpu_park() when they see
 * vm_pause_pending() after a kick; vm_pause() waits until every thread
 * inside vcpu_run has parked.  Pauses nest so that a service's pause (a
 * consistent read of the guest) and the user's `stop` do not undo each
 * other. */
#include "symbiont/vm.h"
#include "cpu/engine.h"

static void kick_all(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->engine && vm->engine->vcpu_kick)
			vm->engine->vcpu_kick(vm->vcpus[i]);
}

int vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_fetch_add(&vm->pause_depth, 1);
	kick_all(vm);
	while (vm->parked < vm->vcpu_threads && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	int r = vm_stopping(vm) ? -1 : 0;
	if (r < 0)
		atomic_fetch_sub(&vm->pause_depth, 1);
	pthread_mutex_unlock(&vm->pause_lock);
	return r;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (atomic_load(&vm->pause_depth) > 0 && atomic_fetch_sub(&vm->pause_depth, 1) == 1)
		pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
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
