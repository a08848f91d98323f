/* Private interface between the files of src/guestos/:
 *   layout.c    structure layouts from the kernel's BTF (libbpf)
 *   symbols.c   the System.map symbol table
 *   kallsyms.c  the kernel's kallsyms tables decoded into System.map lines
 *   kernel.c    guestos_kernel: layouts + symbols from a kernel image
 *   vmem.c      page walks and guest-virtual reads
 *   guestos.c   attaching to a VM, the KASLR slide, the kernel's page tables
 *   list.c      consistent walks of kernel lists
 *   text.c      copying guest strings into safe host strings
 *   tasks.c     process list, current task
 *   modules.c   module list and module symbols
 *   files.c     open files and their paths
 *   cgroups.c   a task's cgroup path
 *   symquery.c  symbol queries across kernel and modules */
#ifndef SYMBIONT_GUESTOS_INT_H
#define SYMBIONT_GUESTOS_INT_H

#include "symbiont/guestos.h"

/* Bounds on every walk over guest data: a hostile or changing guest gets a
 * truncated answer or an error, never a long loop. */
#define GOS_MAX_TASKS      65536
#define GOS_MAX_MODULES    4096
#define GOS_MAX_MODSYMS    200000  /* per module */
#define GOS_MAX_SYMREADS   1000000 /* per query, over all modules */
#define GOS_MAX_PATH_STEPS 1000000 /* per guestos_files(), over all its files */
#define GOS_MAX_FDS        65536
#define GOS_MAX_PATH_DEPTH 256 /* dentries and mount crossings of one path */
#define GOS_NAME_MAX       255
#define GOS_WALK_TRIES     4

/* Where one member lives inside its structure.  bit_size != 0 for a
 * bitfield, whose bits start bit_off bits after off. */
struct gos_field {
	uint32_t off, size;
	uint8_t bit_off, bit_size;
	bool present;
};

/* Every member the queries read, by structure. */
struct gos_layout {
	struct gos_field list_next, list_prev;
	struct gos_field task_tasks, task_pid, task_tgid, task_real_parent, task_cred, task_state, task_exit_state,
	        task_flags, task_comm, task_mm, task_files;
	struct gos_field cred_uid, cred_euid;
	struct gos_field mm_pgd, mm_arg_start, mm_arg_end, mm_exe_file;
	struct gos_field files_fdt, fdt_max_fds, fdt_fd;
	struct gos_field file_dentry, file_mnt;
	struct gos_field dentry_name_len, dentry_name, dentry_parent;
	/* Optional: names of pseudo-filesystem files and deleted files. */
	struct gos_field dentry_op, dops_dname, dentry_inode, inode_ino, dentry_sb, sb_type, fstype_name,
	        dentry_hash_pprev;
	struct gos_field mount_mnt, mount_parent, mount_mountpoint, vfsmount_root;
	struct gos_field module_list, module_name, module_state, module_base, module_size, module_kallsyms;
	struct gos_field kallsyms_symtab, kallsyms_num_symtab, kallsyms_strtab;
	struct gos_field pcpu_hot_current; /* 6.2+: current lives in pcpu_hot */
	/* Optional: a task's cgroup on the default (v2) hierarchy. */
	struct gos_field task_cgroups, cset_dfl_cgrp, cgroup_kn, kn_parent, kn_name;
};

struct btf;
/* Resolves the member path "a.b.c" of struct type into f: components may sit
 * in anonymous structs and unions, the last may be a bitfield, and an array
 * on the way is entered at element 0.  -1 if any part is missing. */
int gos_btf_member(const struct btf *btf, const char *type, const char *path, struct gos_field *f);
/* Fills l from the kernel's BTF; -1 with the first missing member named. */
int gos_layout_from_btf(const struct btf *btf, struct gos_layout *l, char *err, size_t errlen);
/* A field's value from its bytes (the f->size bytes at f->off of the
 * structure): little endian, bitfields shifted and masked. */
uint64_t gos_field_get(const struct gos_field *f, const uint8_t *bytes);

struct gos_sym {
	uint64_t addr;
	uint32_t name; /* offset into the names buffer */
	char type;
};
struct gos_symtab {
	struct gos_sym *by_addr; /* sorted by address (image symbols only) */
	uint32_t *by_name;       /* indices into by_addr, sorted by name */
	size_t n;
	char *names;
	uint64_t text_start, text_end; /* _text.._end: the part KASLR moves */
};
int gos_symtab_parse(struct gos_symtab *s, const char *text, size_t len, char *err, size_t errlen);
void gos_symtab_free(struct gos_symtab *s);
/* Link-time address of a symbol, or -1 if absent. */
int gos_symtab_find(const struct gos_symtab *s, const char *name, uint64_t *addr);
/* The symbol at or below a link-time address inside the image, or NULL. */
const struct gos_sym *gos_symtab_at(const struct gos_symtab *s, uint64_t addr);
static inline const char *gos_sym_name(const struct gos_symtab *s, const struct gos_sym *y)
{
	return s->names + y->name;
}

/* Reads len bytes at virtual address va; 0 or -1. */
typedef int (*gos_read_fn)(void *ctx, uint64_t va, void *buf, size_t len);
struct gos_kallsyms {
	char *map; /* the symbols as System.map text, map_len bytes */
	size_t map_len;
	uint64_t relative_base; /* kallsyms_relative_base as read: the running _text */
	uint64_t table_va;      /* where kallsyms_num_syms is */
	uint32_t count;         /* kallsyms_num_syms */
};
/* Finds and decodes the kernel's kallsyms tables somewhere in [lo, hi),
 * read through read().  Image symbols are written at link_text plus their
 * offset from _text (link_text 0: as running).  0, or -1 with a reason. */
int gos_kallsyms_find(gos_read_fn read, void *ctx, uint64_t lo, uint64_t hi, uint64_t link_text,
                      struct gos_kallsyms *ks, char *err, size_t errlen);
void gos_kallsyms_free(struct gos_kallsyms *ks);

struct guestos_kernel {
	struct gos_layout layout;
	struct gos_symtab syms;
	/* Link-time addresses of the symbols the queries start from. */
	uint64_t sym_entry_syscall, sym_banner, sym_init_task, sym_init_top_pgt, sym_modules;
	uint64_t sym_per_cpu_offset;
	uint64_t sym_current_task; /* per-CPU offset of current_task (or pcpu_hot) */
	/* linux_banner as built, to recognise this kernel in guest memory;
	 * banner_len 0 if the image did not have it. */
	char banner[256];
	size_t banner_len;
	uint64_t link_text; /* _text as linked: the vmlinux's lowest loaded address */
	                    /* Without System.map: the banners the image holds, one of which the
	                     * running kernel's linux_banner must be. */
#define GOS_IMAGE_BANNERS 8
	char image_banners[GOS_IMAGE_BANNERS][256];
	int nimage_banners;
	char sym_source[96]; /* "System.map", or which kallsyms */
};
/* Fills k's symbols from System.map text (or kallsyms written as such). */
int gos_kernel_symbols(struct guestos_kernel *k, const char *map, size_t len, char *err, size_t errlen);

struct guestos {
	const struct guestos_kernel *k;
	struct guestos_kernel *own; /* k with symbols from the guest's kallsyms, when the image had none */
	struct guestos_target t;
	bool ready;    /* slide and root found */
	int64_t slide; /* KASLR: running minus link-time addresses */
	uint64_t root; /* physical address of the kernel's top-level table (init_top_pgt) */
	bool la57;     /* 5-level paging */
};

/* err helpers: always return -1. */
int gos_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Page walks: gva_translate()/gva_read() of symbiont/memory.h. */

/* Finds the slide and the kernel root if not yet known. */
int gos_ready(struct guestos *g, char *err, size_t errlen);
/* Kernel-virtual reads after gos_ready(). */
int gos_kread(struct guestos *g, uint64_t va, void *buf, size_t len);
int gos_kread_u64(struct guestos *g, uint64_t va, uint64_t *v);
/* A NUL-terminated kernel string of at most max - 1 bytes at va (cut if
 * longer), read page by page so one that ends just before an unmapped page
 * is still read.  Raw bytes: pass them through gos_text() before output. */
int gos_kread_str(struct guestos *g, uint64_t va, char *buf, size_t max);
/* Reads the field f of the structure at va. */
int gos_kread_field(struct guestos *g, uint64_t va, const struct gos_field *f, uint64_t *v);
/* Running address of a link-time image symbol address. */
static inline uint64_t gos_slid(const struct guestos *g, uint64_t link_addr)
{
	return link_addr + (uint64_t)g->slide;
}

/* The nodes (list_head addresses, head excluded) of the ring at head: two
 * walks that agree, each bounded by max nodes.  *out is malloc'd. */
int gos_list_snapshot(struct guestos *g, uint64_t head, size_t max, uint64_t **out, size_t *n, char *err,
                      size_t errlen);
/* Copies len guest bytes into dst (size dstlen >= 1) as a printable string:
 * stops at the first NUL, replaces other control and non-ASCII bytes by '?',
 * and truncates to dstlen - 1.  Returns true if it truncated. */
bool gos_text(char *dst, size_t dstlen, const uint8_t *src, size_t len);

/* Task helpers shared by tasks.c and files.c. */
int gos_task_by_pid(struct guestos *g, int32_t pid, uint64_t *task, char *err, size_t errlen);
/* The physical root of a task's user page tables (its mm->pgd), -1 for a
 * kernel thread or unreadable mm. */
int gos_task_root(struct guestos *g, uint64_t task, uint64_t *root);
/* Prepends "/name" to the path being built backwards in buf[*pos..]. */
bool gos_path_prepend(char *buf, size_t *pos, const char *name);
int gos_module_list(struct guestos *g, struct guestos_module **out, size_t *n, char *err, size_t errlen);
/* A module's symbol by name, or its symbol at or below addr; -1 if none.
 * A lookup by name spends *budget symbol reads, shared by the modules one
 * query searches. */
int gos_module_symbol_lookup(struct guestos *g, const struct guestos_module *m, const char *name,
                             struct guestos_symbol *out, size_t *budget);
int gos_module_symbol_at(struct guestos *g, const struct guestos_module *m, uint64_t addr, struct guestos_symbol *out);

#endif
