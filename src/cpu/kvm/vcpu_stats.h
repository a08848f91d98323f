/* KVM's own statistics of one vCPU (its binary stats file,
 * KVM_GET_STATS_FD): what happens inside KVM and never reaches the VMM, as
 * the time the vCPU spent halted and the exits KVM handled itself. */
#ifndef SYMBIONT_KVM_VCPU_STATS_H
#define SYMBIONT_KVM_VCPU_STATS_H

#include <stdint.h>

#include "symbiont/device.h"

#define KVM_STATS_MAX 64

struct kvm_vcpu_stats {
	int fd; /* -1: this KVM has no stats file */
	uint64_t data_off;
	int n;
	struct {
		char name[48];
		uint32_t off; /* in 8-byte words from data_off */
		bool halt_ns; /* a part of the time spent halted, in ns */
	} item[KVM_STATS_MAX];
};

/* Opens the stats file of the vCPU at vcpu_fd and picks the counters worth
 * reporting; without one, s->fd is -1 and nothing is reported. */
void kvm_vcpu_stats_open(struct kvm_vcpu_stats *s, int vcpu_fd);
void kvm_vcpu_stats_close(struct kvm_vcpu_stats *s);
/* halted_ns (the halt time KVM measured: waiting and polling) and every
 * cumulative counter as kvm_NAME; returns halted_ns (0 without a file). */
uint64_t kvm_vcpu_stats_emit(const struct kvm_vcpu_stats *s, device_stat_fn emit, void *ctx);

#endif
