/* KVM's statistics of one vCPU (vcpu_stats.h).  The file (Linux 5.14 and
 * later) starts with a header naming where the descriptors and the data
 * are; each descriptor names one statistic, its type, unit and scale, and
 * its offset in the data.  The descriptors are read once; a query reads
 * the data in one pread.  Only what is plain to report is kept: cumulative
 * counts with no unit, and the halt times (cumulative nanoseconds). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "cpu/kvm/vcpu_stats.h"

#define DATA_MAX 512 /* words of data read per query: more than any KVM has */

static bool is_halt_ns(const struct kvm_stats_desc *d)
{
	return (d->flags & KVM_STATS_UNIT_MASK) == KVM_STATS_UNIT_SECONDS &&
	       (d->flags & KVM_STATS_BASE_MASK) == KVM_STATS_BASE_POW10 && d->exponent == -9 &&
	       !strncmp(d->name, "halt_", 5) && strcmp(d->name + strlen(d->name) - 3, "_ns") == 0;
}

void kvm_vcpu_stats_open(struct kvm_vcpu_stats *s, int vcpu_fd)
{
	struct kvm_stats_header h;
	char *descs = NULL;
	size_t dsize;

	memset(s, 0, sizeof(*s));
	s->fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
	if (s->fd < 0)
		return;
	if (pread(s->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.name_size == 0 || h.name_size > 256 ||
	    h.num_desc == 0 || h.num_desc > 4096)
		goto fail;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	if (!(descs = malloc(dsize * h.num_desc)) ||
	    pread(s->fd, descs, dsize * h.num_desc, h.desc_offset) != (ssize_t)(dsize * h.num_desc))
		goto fail;
	s->data_off = h.data_offset;
	for (uint32_t i = 0; i < h.num_desc && s->n < KVM_STATS_MAX; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * dsize);
		bool count = (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE &&
		             (d->flags & KVM_STATS_UNIT_MASK) == KVM_STATS_UNIT_NONE;
		bool halt = (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE && is_halt_ns(d);
		if (d->size != 1 || d->offset % 8 || d->offset / 8 >= DATA_MAX || !(count || halt) ||
		    !memchr(d->name, 0, h.name_size))
			continue;
		snprintf(s->item[s->n].name, sizeof(s->item[s->n].name), "kvm_%s", d->name);
		s->item[s->n].off = d->offset / 8;
		s->item[s->n].halt_ns = halt;
		s->n++;
	}
	free(descs);
	return;
fail:
	free(descs);
	close(s->fd);
	s->fd = -1;
}

void kvm_vcpu_stats_close(struct kvm_vcpu_stats *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

uint64_t kvm_vcpu_stats_emit(const struct kvm_vcpu_stats *s, device_stat_fn emit, void *ctx)
{
	uint64_t data[DATA_MAX], halted = 0;
	uint32_t words = 0;

	if (s->fd < 0)
		return 0;
	for (int i = 0; i < s->n; i++)
		if (s->item[i].off + 1 > words)
			words = s->item[i].off + 1;
	ssize_t got = pread(s->fd, data, words * 8, (off_t)s->data_off);
	if (got != (ssize_t)(words * 8))
		return 0;
	for (int i = 0; i < s->n; i++) {
		if (s->item[i].halt_ns)
			halted += data[s->item[i].off];
		else
			emit(ctx, s->item[i].name, data[s->item[i].off]);
	}
	emit(ctx, "halted_ns", halted);
	return halted;
}
