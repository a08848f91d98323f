/* SymCall: synchronous upcalls from symbiont into the guest kernel
 * (docs/abi.md).
 *
 * Each CPU of the guest registers, through MSRs written on that CPU, where
 * a call enters (RIP, CS), the stack it runs on (RSP), its kernel GS base,
 * and a call area: SYM_SYMCALL_AREA_SIZE bytes of physically contiguous
 * memory whose header says which call to make and receives the result.
 * Writing the area MSR (with SYM_SYMCALL_ENABLE) last turns the vCPU's
 * SymCalls on; writing 0 turns them off.
 *
 * To call, the VMM stops the vCPU, saves its state, writes the call number
 * and arguments into the area, and enters RIP at CPL 0 on RSP with
 * interrupts off and the interrupted CR3.  The handler fills in status,
 * result and data, writes the call id to the doorbell port with a 32-bit
 * OUT, and spins (PAUSE) until the VMM puts the saved state back.  A
 * handler that does not ring within the VMM's time limit is cut off the
 * same way and the call fails.
 *
 * Included by the guest module and by symbiont: numbers and layouts only. */
#ifndef SYMBIONT_ABI_SYMCALL_H
#define SYMBIONT_ABI_SYMCALL_H

#include <linux/types.h>

/* Present when CPUID 0x40000001 ECX has SYM_FEAT_SYMCALL (abi/cpuid.h). */
#define SYM_MSR_SYMCALL_RIP  0x53594d10u /* entry point (kernel virtual address) */
#define SYM_MSR_SYMCALL_RSP  0x53594d11u /* stack pointer at entry (RSP % 16 == 8, as after a CALL) */
#define SYM_MSR_SYMCALL_CS   0x53594d12u /* code selector (64-bit, DPL 0); SS is CS + 8 */
#define SYM_MSR_SYMCALL_GS   0x53594d13u /* GS base at entry (this CPU's per-CPU base) */
#define SYM_MSR_SYMCALL_AREA 0x53594d14u /* GPA of the call area | SYM_SYMCALL_ENABLE */
#define SYM_SYMCALL_ENABLE   1ull

#define SYM_PORT_DOORBELL 0x5d0 /* 32-bit OUT of the call id: the handler is done */

#define SYM_SYMCALL_AREA_SIZE 65536u      /* page-aligned, contiguous */
#define SYM_SYMCALL_MAGIC     0x4c435953u /* "SYCL" */
#define SYM_SYMCALL_LAYOUT    1u

/* Call numbers */
#define SYM_SYMCALL_NULL      0u /* nothing: the round trip; ret = args[0] + 1 */
#define SYM_SYMCALL_PROCESSES 1u /* data: struct sym_symcall_proc[ret] */
#define SYM_SYMCALL_VMAS      2u /* args[0] pid: its memory map, data struct sym_symcall_vma[ret] */
#define SYM_SYMCALL_TRANSLATE 3u /* args[0] pid, args[1] virtual address: ret its guest-physical one */
/* SymMod: a module's bytes into the guest, then insmod; and rmmod.  Each
 * answers EBUSY while the guest works on it in process context (a worker),
 * and the VMM calls again until it answers. */
#define SYM_SYMCALL_SYMMOD_BEGIN  4u /* args[0] size: ret 0 when a buffer that big is ready, else -errno */
#define SYM_SYMCALL_SYMMOD_DATA   5u /* args[0] offset, args[1] length of the bytes the VMM put in data[]: ret length */
#define SYM_SYMCALL_SYMMOD_LOAD   6u /* ret the wait status of the guest's insmod (0: loaded) */
#define SYM_SYMCALL_SYMMOD_UNLOAD 7u /* data[]: the module's name, NUL-terminated: ret rmmod's wait status */
#define SYM_SYMMOD_MAX            (16u << 20) /* bytes of a module */
/* The page cache of one file.  data[] in: an absolute path, NUL-terminated
 * within SYM_SYMCALL_PATH_MAX bytes.  The guest resolves it and walks the
 * cache in process context (a worker), answering EBUSY until done, like
 * SymMod; a path it cannot use answers SYM_SYMCALL_ERRNO with ret -errno. */
#define SYM_SYMCALL_FILE_PAGES 8u /* args[0] first page index: data struct sym_symcall_fcache, ret its count */
#define SYM_SYMCALL_FILE_DROP  9u /* written back, then every clean unmapped cached page dropped: ret the dropped */
#define SYM_SYMCALL_PATH_MAX   4096u
/* Calls from SYM_SYMCALL_FIRST_REGISTERED on are the ones modules register
 * with the symbiotic module at run time (symbiotic_register_call). */
#define SYM_SYMCALL_FIRST_REGISTERED 0x100u
#define SYM_SYMCALL_HELLO \
	0x100u /* the example module's (guest/kmod/symmod_hello.c): ret args[0] * 2, data "hello from symmod" */
#define SYM_SYMCALL_SPIN 0xfffeu /* test of the VMM's cut-off: never returns nor rings */

/* status */
#define SYM_SYMCALL_OK      0u
#define SYM_SYMCALL_ENOSYS  1u          /* no such call */
#define SYM_SYMCALL_EBUSY   2u          /* the guest cannot answer now (a lock it needs is held): try again later */
#define SYM_SYMCALL_TRUNC   3u          /* data did not fit; what fitted is there */
#define SYM_SYMCALL_ENOENT  4u          /* no such process (or a kernel thread), or the address is not mapped */
#define SYM_SYMCALL_ERRNO   5u          /* the call failed: ret is -errno */
#define SYM_SYMCALL_PENDING 0xffffffffu /* set by the VMM before the call */

struct sym_symcall_area {
	__u32 magic;    /* SYM_SYMCALL_MAGIC (the guest's) */
	__u32 layout;   /* SYM_SYMCALL_LAYOUT (the guest's) */
	__u32 id;       /* VMM: this call's id, rung back on the doorbell */
	__u32 call;     /* VMM: SYM_SYMCALL_* */
	__u64 args[6];  /* VMM */
	__u32 status;   /* guest: SYM_SYMCALL_OK... */
	__u32 data_len; /* guest: bytes of data[] used */
	__u64 ret;      /* guest: the call's result */
	__u8 data[];    /* guest: up to SYM_SYMCALL_AREA_SIZE - sizeof(header) */
};

#define SYM_SYMCALL_DATA_MAX (SYM_SYMCALL_AREA_SIZE - sizeof(struct sym_symcall_area))

/* One process (thread group leader) of SYM_SYMCALL_PROCESSES. */
struct sym_symcall_proc {
	__s32 pid;   /* tgid */
	__s32 ppid;  /* the real parent's tgid */
	__u32 uid;   /* real uid */
	__u32 state; /* the leader's __state bits (0 running) */
	__u32 flags; /* SYM_PROC_* */
	char comm[16];
	__u32 pad;
};

#define SYM_PROC_KTHREAD 1u

/* One mapping of SYM_SYMCALL_VMAS, in address order. */
struct sym_symcall_vma {
	__u64 start, end; /* [start, end), page-aligned */
	__u64 pgoff;      /* offset in the file, in pages */
	__u32 flags;      /* SYM_VMA_* */
	__u32 pad;
	char path[96]; /* the file's path, "[heap]", "[stack]", or "" (NUL-terminated, cut to fit) */
};

/* SYM_SYMCALL_FILE_PAGES and _DROP data: the file, then (FILE_PAGES) its
 * cached pages from args[0] on in index order, as many as fit. */
struct sym_symcall_fcache {
	__u64 size;   /* the file's size in bytes */
	__u64 cached; /* pages the file has in the cache (after the drop, for FILE_DROP) */
	__u64 next;   /* the index to ask for next; SYM_FCACHE_END: the walk reached the end */
	__u32 count;  /* records that follow */
	__u32 pad;
};

struct sym_symcall_fcache_page {
	__u64 index; /* page index in the file */
	__u64 gpa;   /* guest-physical address of the page holding it */
};

#define SYM_FCACHE_END ~0ull

#define SYM_VMA_READ   1u
#define SYM_VMA_WRITE  2u
#define SYM_VMA_EXEC   4u
#define SYM_VMA_SHARED 8u

#endif
