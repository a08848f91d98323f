/* The profiling service's state, shared by its control commands (prof.c)
 * and its sampling thread (sampler.c). */
#ifndef PROF_PROF_H
#define PROF_PROF_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "symbiont/guestos.h"
#include "symbiont/vm.h"
#include "services/prof/orc.h"
#include "services/prof/proc_table.h"
#include "services/prof/stacks.h"

#define PROF_DEFAULT_HZ 99   /* prime-ish, so sampling does not beat with the guest's timer */
#define PROF_MAX_HZ     1000 /* each sample pauses the VM: a bound on what a client can cost it */
#define PROF_MAX_STACKS 2048
#define PROF_MAX_PROCS  4096
#define PROF_SYMCACHE   1024           /* kernel RIPs whose symbol is remembered */
#define PROF_USERCACHE  64             /* processes whose executable's symbols are remembered */
#define TOP_LEASE_NS    10000000000ull /* top's sampling stops 10 s after its last query */

struct symcache_entry {
	uint64_t rip;
	bool valid, found;
	char name[128], module[56];
};

struct elfsyms;
struct usercache_entry {
	int32_t pid;
	char comm[16];
	bool valid;
	struct elfsyms *syms; /* NULL: none usable (not found, stripped, position-independent) */
};

struct prof {
	struct vm *vm;

	/* The guest kernel, described on the control thread before the
	 * sampler first runs; from then on used by the sampler alone (a
	 * guestos handle serves one thread). */
	struct guestos_kernel *kernel;
	struct guestos *os;
	char why_not[256]; /* why the guest's processes are not known, once tried */

	/* Sampler thread only. */
	struct guestos_regs regs[VM_MAX_CPUS];
	bool regs_ok[VM_MAX_CPUS];
	struct symcache_entry symcache[PROF_SYMCACHE];
	/* Kernel call chains: the guest kernel's ORC tables (read once), and
	 * each vCPU's kernel stack as it was at the sample. */
	struct orc_table orc;
	bool orc_tried;
	uint8_t *stack_copy; /* ORC_STACK_SIZE per vCPU */
	struct orc_stack stack[VM_MAX_CPUS];
	struct orc_regs oregs[VM_MAX_CPUS];
	/* User symbols: the guest root this cache was filled from. */
	char user_root[4096];
	unsigned user_root_gen;
	struct usercache_entry usercache[PROF_USERCACHE];

	pthread_t thread;
	bool thread_running;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* on CLOCK_MONOTONIC */

	/* Under lock. */
	bool quit;
	bool profiling;
	unsigned hz;
	char guest_root[4096]; /* prof-start's guest_root: "" none */
	unsigned guest_root_gen;
	uint64_t prof_started_ns;
	uint64_t top_lease_until_ns;
	struct stack_table stacks;
	uint64_t by_mode[4];                 /* samples per enum sample_mode while profiling */
	uint64_t paused_rounds;              /* skipped: someone else held the VM paused */
	uint64_t prof_rounds, prof_pause_ns; /* rounds taken, and how long they held the VM paused */
	struct proc_table procs;
	uint64_t rounds, idle; /* every round since the sampler first ran; idle vCPU-samples */
};

uint64_t prof_now_ns(void);
/* Starts the sampler thread if it is not running, and wakes it to look at
 * what is wanted now.  Call without lock held.  -1 with a message. */
int sampler_kick(struct prof *p, char *err, size_t errlen);
/* Ends and joins the thread (service stop). */
void sampler_quit(struct prof *p);

#endif
