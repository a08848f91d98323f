/* SymSpy pages as the VMM sees them: copied out of guest memory under their
 * seqcount and checked field by field (a hostile guest controls every byte),
 * into plain host structures.  Core, not a service's: the service that takes
 * the guest's SymSpy MSR writes records the pages in vm->symspy, and any
 * service (monitoring, guest OS awareness) reads them with
 * symspy_read_global()/symspy_read_cpu(), never making the guest exit. */
#ifndef SYMBIONT_SYMSPY_H
#define SYMBIONT_SYMSPY_H

#include <stddef.h>
#include <stdint.h>

#include "symbiont/abi/symspy.h"

struct guest_mem;
struct vm;

struct symspy_global {
	uint64_t updates, update_ns;
	uint64_t kaslr_base;
	uint64_t mem_total_kb, mem_free_kb, mem_available_kb, page_cache_kb, anon_kb, buffers_kb;
	double loadavg[3];
	uint32_t nr_cpus, nr_running, nr_tasks;
	unsigned nrq; /* entries of rq_len in use: min(nr_cpus, SYM_SYMSPY_MAX_CPUS) */
	uint32_t rq_len[SYM_SYMSPY_MAX_CPUS];
	char release[SYM_SYMSPY_RELEASE_LEN];
};

struct symspy_cpu {
	uint32_t cpu;
	uint64_t switches, switch_ns;
	int32_t pid, tgid;
	char comm[SYM_SYMSPY_COMM_LEN];
};

/* Checks a page the guest wrote (len bytes at page, a copy the guest can no
 * longer change) and fills out: 0, or -1 with one line in err. */
int symspy_parse_global(const void *page, size_t len, struct symspy_global *out, char *err, size_t errlen);
int symspy_parse_cpu(const void *page, size_t len, struct symspy_cpu *out, char *err, size_t errlen);

/* Copies the page at gpa (page-aligned, all in RAM) into buf while the guest
 * may be writing it: retries until the seqcount at seq_off is even and the
 * same before and after the copy, at most tries times.  0, or -1 with one
 * line in err (outside RAM, or always being written). */
int symspy_snapshot(const struct guest_mem *mem, uint64_t gpa, size_t seq_off, void *buf, size_t len, int tries,
                    char *err, size_t errlen);

/* The guest's pages as vm->symspy records them, copied and checked: 0, or
 * -1 with one line in err (no page shared, or one that fails the checks). */
int symspy_read_global(struct vm *vm, struct symspy_global *out, char *err, size_t errlen);
int symspy_read_cpu(struct vm *vm, int cpu, struct symspy_cpu *out, char *err, size_t errlen);

#endif
