/* SymSpy: pages a symbiotic guest module shares with symbiont (docs/abi.md).
 *
 * The guest allocates one global page and one page per vCPU, fills them and
 * writes each page's guest-physical address, with bit 0 set, to an MSR: the
 * global one from any vCPU, each vCPU's own from that vCPU.  Writing 0 takes
 * a page back.  The VMM then reads the pages whenever it likes, without any
 * exit.  Each page starts with a seqcount: the writer makes it odd, writes,
 * and makes it even again (with write barriers between), so a reader that
 * sees the same even value before and after copying has a consistent copy.
 *
 * Included by the guest module and by symbiont, so it holds only numbers
 * and layouts (fixed-width, naturally aligned, little-endian). */
#ifndef SYMBIONT_ABI_SYMSPY_H
#define SYMBIONT_ABI_SYMSPY_H

#include <linux/types.h>

/* Present when CPUID 0x40000001 ECX has SYM_FEAT_SYMSPY (abi/cpuid.h). */
#define SYM_MSR_SYMSPY_GLOBAL 0x53594d00u /* "SYM\0": GPA of the global page | SYM_SYMSPY_ENABLE */
#define SYM_MSR_SYMSPY_CPU    0x53594d01u /* GPA of the writing vCPU's page | SYM_SYMSPY_ENABLE */
#define SYM_SYMSPY_ENABLE     1ull

#define SYM_SYMSPY_PAGE_SIZE    4096u
#define SYM_SYMSPY_GLOBAL_MAGIC 0x47535953u /* "SYSG" */
#define SYM_SYMSPY_CPU_MAGIC    0x43535953u /* "SYSC" */
#define SYM_SYMSPY_LAYOUT       1u
#define SYM_SYMSPY_MAX_CPUS     64u /* run-queue lengths the global page holds */
#define SYM_SYMSPY_RELEASE_LEN  65u /* the kernel's __NEW_UTS_LEN + 1 */
#define SYM_SYMSPY_COMM_LEN     16u /* the kernel's TASK_COMM_LEN */
#define SYM_SYMSPY_FSHIFT       11u /* load averages are fixed point, 1 << 11 = 1.0 */

struct sym_symspy_global {
	__u32 magic;      /* SYM_SYMSPY_GLOBAL_MAGIC */
	__u32 layout;     /* SYM_SYMSPY_LAYOUT */
	__u32 seq;        /* seqcount: odd while the guest writes */
	__u32 size;       /* sizeof(struct sym_symspy_global) as the guest built it */
	__u64 updates;    /* times the page was rewritten */
	__u64 update_ns;  /* guest monotonic clock at the last rewrite */
	__u64 kaslr_base; /* run-time virtual address of the kernel's _text */
	/* memory, KiB, as /proc/meminfo counts them */
	__u64 mem_total_kb, mem_free_kb, mem_available_kb;
	__u64 page_cache_kb;                  /* "Cached" */
	__u64 anon_kb;                        /* "AnonPages" */
	__u64 buffers_kb;                     /* "Buffers" */
	__u32 loadavg[3];                     /* 1, 5, 15 minutes, fixed point (SYM_SYMSPY_FSHIFT) */
	__u32 nr_cpus;                        /* online CPUs; rq_len[] holds min(nr_cpus, MAX) */
	__u32 nr_running;                     /* runnable tasks, all CPUs */
	__u32 nr_tasks;                       /* tasks (threads) */
	__u32 rq_len[SYM_SYMSPY_MAX_CPUS];    /* runnable tasks on CPU i, its current one included */
	char release[SYM_SYMSPY_RELEASE_LEN]; /* uname -r, NUL-terminated */
};

struct sym_symspy_cpu {
	__u32 magic;                    /* SYM_SYMSPY_CPU_MAGIC */
	__u32 layout;                   /* SYM_SYMSPY_LAYOUT */
	__u32 seq;                      /* seqcount: odd while the guest writes */
	__u32 cpu;                      /* the guest's number for this CPU */
	__u64 switches;                 /* context switches the module saw on this CPU */
	__u64 switch_ns;                /* guest monotonic clock at the last one */
	__s32 pid;                      /* current task: thread id (0: the idle task) */
	__s32 tgid;                     /* its process id */
	char comm[SYM_SYMSPY_COMM_LEN]; /* its name, NUL-terminated */
};

#endif
