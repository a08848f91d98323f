/* Guest OS awareness: what runs inside a Linux guest, read from outside it.
 *
 * Structure layouts come from the guest kernel's own BTF (the .BTF section of
 * the vmlinux inside its bzImage, parsed with libbpf), symbols from its
 * System.map and, for modules, from each module's in-memory symbol table;
 * the KASLR slide from a live vCPU (MSR_LSTAR against entry_SYSCALL_64,
 * checked by finding this kernel's own banner at linux_banner; without a
 * usable LSTAR, by trying every slide KASLR can choose).  Guest memory is reached only through the
 * checked accessors of symbiont/memory.h, by page walks of the guest's own
 * page tables.
 *
 * The guest is not trusted: whatever bytes it writes into its kernel
 * structures, every query returns a result (possibly truncated) or -1 with a
 * one-line reason in err; every walk is bounded and every read checked.
 *
 * The library sees the VM only through struct guestos_target, so it works
 * the same on every engine and can be tested with a synthetic guest.  A
 * struct guestos is used by one thread at a time; the guest may keep
 * running meanwhile. */
#ifndef SYMBIONT_GUESTOS_H
#define SYMBIONT_GUESTOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/memory.h"
#include "symbiont/x86.h"

/* The vCPU state the library needs, as the VMM reads it from its engine. */
struct guestos_regs {
	uint64_t cr3, cr4, efer;
	uint64_t gs_base;        /* GS.base as loaded now */
	uint64_t kernel_gs_base; /* MSR_KERNEL_GS_BASE, the other side of SWAPGS (0 if unknown) */
	uint64_t lstar;          /* MSR_LSTAR: the SYSCALL entry point (0 if unknown) */
	uint64_t rip, rsp;
	int cpl; /* CS.DPL: 0 in the kernel, 3 in user mode */
};

/* What the VMM provides.  get_regs() returns 0, or -1 if the vCPU's state
 * cannot be read now.  The library never writes guest memory. */
struct guestos_target {
	const struct guest_mem *mem;
	int ncpus;
	int (*get_regs)(void *opaque, int cpu, struct guestos_regs *out);
	void *opaque;
};

/* A guest kernel as described by its image: structure layouts and symbols.
 * Immutable once loaded; one can serve any number of VMs running that kernel. */
struct guestos_kernel;
/* One VM's view through a guestos_kernel. */
struct guestos;

/* Loads the layouts from the kernel image (bzImage or vmlinux) and the
 * symbols from its System.map (NULL or "": from the guest's kallsyms once
 * attached).  NULL with one line in err if the kernel is
 * not a Linux this library understands (a multiboot kernel, no BTF, missing
 * structures) or a file cannot be read. */
struct guestos_kernel *guestos_kernel_load(const char *kernel_path, const char *system_map_path, char *err,
                                           size_t errlen);
/* The same from buffers (the System.map text need not be NUL-terminated). */
struct guestos_kernel *guestos_kernel_from_image(const uint8_t *image, size_t image_len, const char *system_map,
                                                 size_t map_len, char *err, size_t errlen);
void guestos_kernel_free(struct guestos_kernel *k);
/* Where a kernel's System.map is: the configured path ("none": "", no
 * System.map), else System.map beside the kernel image if there is one,
 * else "". */
void guestos_system_map_path(const char *kernel_path, const char *configured, char *out, size_t len);
/* The registers the library needs, from an engine's whole vCPU state. */
void guestos_regs_from_x86(const struct x86_state *s, struct guestos_regs *out);
/* The same from an event's registers (symbiont/event.h), for a service's
 * get_regs while it handles the event. */
struct sym_regs;
void guestos_regs_from_event(const struct sym_regs *r, struct guestos_regs *out);

/* Attaches to a VM.  Nothing is read from the guest yet: the KASLR slide is
 * found at the first query, once the guest kernel has set up SYSCALL.  The
 * kernel and target must outlive the returned handle. */
struct guestos *guestos_attach(const struct guestos_kernel *k, const struct guestos_target *t, char *err,
                               size_t errlen);
void guestos_detach(struct guestos *g);

/* Where the kernel image's symbols come from: "System.map", or "kallsyms in
 * guest memory (N symbols at ADDR)" when the kernel was loaded without a
 * System.map (system_map_path NULL or "") and the running kernel's own
 * tables were decoded at the first query. */
const char *guestos_symbol_source(const struct guestos *g);

/* The KASLR slide (running address minus System.map address). */
int guestos_kaslr_slide(struct guestos *g, int64_t *slide, char *err, size_t errlen);

#define GUESTOS_COMM_LEN    16
#define GUESTOS_CMDLINE_LEN 256
#define GUESTOS_MODNAME_LEN 56
#define GUESTOS_SYMNAME_LEN 128
#define GUESTOS_PATH_LEN    512

struct guestos_process {
	uint64_t task; /* guest-virtual address of its task_struct */
	int32_t pid, tgid;
	int32_t ppid;       /* the parent's tgid; 0 for the idle task, -1 if unreadable */
	uint32_t uid, euid; /* UINT32_MAX if the task's cred is unreadable */
	char state;         /* as ps shows it: R S D T t X Z P I */
	bool kernel_thread; /* PF_KTHREAD: no user memory, no command line */
	bool cmdline_cut;   /* the command line was longer than cmdline[] */
	char comm[GUESTOS_COMM_LEN];
	char cmdline[GUESTOS_CMDLINE_LEN]; /* arguments joined by spaces; "" if none */
};

/* Every process (thread-group leader) in task-list order, as a malloc'd
 * array.  The list is walked until two walks agree, so a guest that forks
 * or exits meanwhile gives a consistent list, not a torn one. */
int guestos_processes(struct guestos *g, struct guestos_process **out, size_t *n, char *err, size_t errlen);
/* The task (thread) running on vCPU cpu. */
int guestos_current(struct guestos *g, int cpu, struct guestos_process *out, char *err, size_t errlen);

/* Who runs on vCPU cpu, in a few reads (no command line, owner or
 * parent): cheap enough for an event callback that must not keep its
 * vCPU waiting. */
struct guestos_task_id {
	uint64_t task; /* its task_struct */
	int32_t pid;   /* the thread's id */
	int32_t tgid;  /* its process's id (what ps shows as PID) */
	char comm[GUESTOS_COMM_LEN];
};
int guestos_current_id(struct guestos *g, int cpu, struct guestos_task_id *out, char *err, size_t errlen);
/* The cgroup (v2, the default hierarchy) of the task at task, as
 * /proc/PID/cgroup shows it: "/" or "/a/b". */
int guestos_task_cgroup(struct guestos *g, uint64_t task, char *out, size_t len, char *err, size_t errlen);

struct guestos_module {
	uint64_t module;     /* guest-virtual address of its struct module */
	uint64_t base, size; /* its core (text and data) mapping */
	char name[GUESTOS_MODNAME_LEN];
};
int guestos_modules(struct guestos *g, struct guestos_module **out, size_t *n, char *err, size_t errlen);

struct guestos_symbol {
	uint64_t addr;   /* running address of the symbol */
	uint64_t offset; /* for guestos_symbol_at: the address asked minus addr */
	char name[GUESTOS_SYMNAME_LEN];
	char module[GUESTOS_MODNAME_LEN]; /* "" for the kernel image */
};
/* By name: the kernel's System.map first, then each module's symbol table;
 * "module:name" looks in that module only. */
int guestos_symbol_lookup(struct guestos *g, const char *name, struct guestos_symbol *out, char *err, size_t errlen);
/* The symbol at or below addr, in the kernel image or a module. */
int guestos_symbol_at(struct guestos *g, uint64_t addr, struct guestos_symbol *out, char *err, size_t errlen);

/* Reads len bytes at virtual address va: of the kernel, or of process pid
 * (through its mm's page tables).  All or nothing. */
int guestos_read_kernel(struct guestos *g, uint64_t va, void *buf, size_t len, char *err, size_t errlen);
/* The guest-physical address a kernel virtual address maps to now. */
int guestos_kernel_gpa(struct guestos *g, uint64_t va, uint64_t *gpa, char *err, size_t errlen);
int guestos_read_process(struct guestos *g, int32_t pid, uint64_t va, void *buf, size_t len, char *err, size_t errlen);

struct guestos_file {
	int fd;
	bool path_cut; /* the path was longer than path[] or its dentries were unreadable */
	char path[GUESTOS_PATH_LEN];
};
/* The path of process pid's executable (its mm's exe_file). */
int guestos_exe_path(struct guestos *g, int32_t pid, char *out, size_t len, char *err, size_t errlen);
/* The open files of process pid, by descriptor, as a malloc'd array. */
int guestos_files(struct guestos *g, int32_t pid, struct guestos_file **out, size_t *n, char *err, size_t errlen);

#endif
