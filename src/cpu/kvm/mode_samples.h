/* Guest user and kernel time on kvm, by sampling: KVM accounts neither
 * (the host sees one "guest" time), so while someone reads the metrics
 * (a lease of LEASE_NS from each read) a thread kicks every vCPU out of
 * KVM_RUN SAMPLE_HZ times a second and the vCPU's thread notes whether it
 * was running guest user code (CS.DPL 3) or kernel code; a halted vCPU is
 * not counted (KVM's own statistics time its halts).  Without readers
 * there is no thread and no kick. */
#ifndef SYMBIONT_KVM_MODE_SAMPLES_H
#define SYMBIONT_KVM_MODE_SAMPLES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* One vCPU's samples. */
struct kvm_mode_counts {
	atomic_bool wanted; /* a sample is asked for: take it at the next return from KVM_RUN */
	_Atomic uint64_t user, kernel;
};

struct kvm_mode_sampler {
	struct vm *vm;
	/* what the engine gives it: a vCPU's counts, and how to kick it */
	struct kvm_mode_counts *(*counts_of)(struct vcpu *cpu);
	void (*kick)(struct vcpu *cpu);
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	uint64_t lease_until_ns;
};

void kvm_mode_sampler_init(struct kvm_mode_sampler *s, struct vm *vm,
                           struct kvm_mode_counts *(*counts_of)(struct vcpu *), void (*kick)(struct vcpu *));
/* A reader of the metrics: sampling runs (or goes on) for the lease. */
void kvm_mode_sampler_renew(struct kvm_mode_sampler *s);
/* Ends the thread (before the vCPUs go); idempotent. */
void kvm_mode_sampler_stop(struct kvm_mode_sampler *s);
/* On the vCPU's thread, out of KVM_RUN: the sample, if one is wanted. */
void kvm_mode_sample(struct kvm_mode_counts *c, int vcpu_fd);

#endif
