/* Guest user and kernel time on kvm by sampling (mode_samples.h). */
#include <errno.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/kvm.h>

#include "cpu/engine.h"
#include "cpu/kvm/mode_samples.h"
#include "symbiont/vm.h"

#define SAMPLE_HZ 100
#define LEASE_NS  (10ull * 1000000000ull)

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *sampler(void *p)
{
	struct kvm_mode_sampler *s = p;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		uint64_t now = mono_ns();
		if (now >= s->lease_until_ns) {
			pthread_cond_wait(&s->cond, &s->lock); /* no reader: no kicks */
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		for (int i = 0; i < s->vm->ncpus; i++) {
			struct vcpu *cpu = s->vm->vcpus[i];
			struct kvm_mode_counts *c = cpu ? s->counts_of(cpu) : NULL;
			if (c && cpu->running) {
				atomic_store(&c->wanted, true);
				s->kick(cpu);
			}
		}
		pthread_mutex_lock(&s->lock);
		struct timespec ts = host_deadline_after_ns(1000000000ULL / SAMPLE_HZ);
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void kvm_mode_sampler_init(struct kvm_mode_sampler *s, struct vm *vm,
                           struct kvm_mode_counts *(*counts_of)(struct vcpu *), void (*kick)(struct vcpu *))
{
	*s = (struct kvm_mode_sampler){ .vm = vm, .counts_of = counts_of, .kick = kick };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

void kvm_mode_sampler_renew(struct kvm_mode_sampler *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->stop) {
		s->lease_until_ns = mono_ns() + LEASE_NS;
		if (!s->started)
			s->started = pthread_create(&s->thread, NULL, sampler, s) == 0;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

void kvm_mode_sampler_stop(struct kvm_mode_sampler *s)
{
	pthread_mutex_lock(&s->lock);
	bool join = s->started && !s->stop;
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->thread, NULL);
}

void kvm_mode_sample(struct kvm_mode_counts *c, int vcpu_fd)
{
	struct kvm_mp_state mp;
	struct kvm_sregs sr;

	/* every return from KVM_RUN comes here: a plain load first, the
	 * locked exchange only when a sample is asked for */
	if (!atomic_load_explicit(&c->wanted, memory_order_relaxed) || !atomic_exchange(&c->wanted, false))
		return;
	if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp) == 0 && mp.mp_state == KVM_MP_STATE_HALTED)
		return;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return;
	atomic_fetch_add(sr.cs.dpl == 3 ? &c->user : &c->kernel, 1);
}
