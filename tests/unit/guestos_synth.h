/* A synthetic Linux guest for the guestos tests and fuzz target: guest memory
 * laid out as a running kernel lays it out, with the member offsets of a real
 * kernel (whatever guestos_kernel the caller loaded from its BTF), so the
 * library reads it exactly as it would read the real guest.
 *
 * Physical memory (128 MiB):
 *   0x0100000  page-table pool
 *   0x1000000  the kernel image (_text.._end), mapped at _text + slide with
 *              2 MiB pages; init_top_pgt, init_task, linux_banner, modules
 *              and __per_cpu_offset live in it at their System.map offsets
 *   0x4000000  heap for kernel objects, reached through the direct map
 *              (PAGE_OFFSET + physical, one 1 GiB page) and user pages (4K)
 *
 * The scene: init_task (swapper/0), init (pid 1, uid 0), kthreadd (pid 2,
 * idle kernel thread), sh (pid 42, uid 1000, files on / and on a /tmp
 * mount, a pipe, a namespace file, a deleted file); two modules with symbols; vCPU 0 in user mode in sh with the KPTI
 * user page tables and a PCID in CR3, vCPU 1 in the kernel running init.
 * No cmocka here: the fuzz target uses it too. */
#ifndef GUESTOS_SYNTH_H
#define GUESTOS_SYNTH_H

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define SYN_RAM         (128ULL << 20)
#define SYN_PT_POOL     0x100000ULL
#define SYN_PT_END      0x1000000ULL
#define SYN_KPHYS       0x1000000ULL
#define SYN_HEAP        0x4000000ULL
#define SYN_PAGE_OFFSET 0xffff888000000000ULL
#define SYN_SLIDE       0x6000000LL
#define SYN_MOD_BASE    0xffffffffc0000000ULL
#define SYN_USER_ARGS   0x7ffc0000f000ULL /* a page with sh's argv strings */
#define SYN_USER_DATA   0x400000ULL       /* a page of sh's data */
#define SYN_PCID        3
#define SYN_CMDLINE     "sh\0-c\0echo hi"
#define SYN_BANNER      "Linux version 6.1.0-synthetic (test) #1 SMP"

#define PTE_P  1ULL
#define PTE_RW 2ULL
#define PTE_US 4ULL
#define PTE_PS 0x80ULL

struct syn_task {
	uint64_t task, cred, mm, files, fdt, fds, pgd;
};

struct synth {
	struct guest_mem mem;
	const struct guestos_kernel *k;
	bool la57;
	uint64_t root; /* physical init_top_pgt */
	uint64_t pt_next, heap_next;
	struct syn_task swapper, init, kthreadd, sh;
	uint64_t d_root, d_dev, d_console, d_tmp, d_tmproot, d_x, d_y, d_gone;
	uint64_t m_root, m_tmp; /* struct mount */
	uint64_t mod_a, mod_b;
	/* sh's cgroup, /web/app: its css_set, cgroup and kernfs nodes */
	uint64_t cset, cgrp, kn_root, kn_web, kn_app;
	uint64_t pcpu[2];
	struct guestos_regs regs[2];
	struct guestos_target target;
};

static inline uint64_t syn_slid(const struct synth *s, uint64_t link)
{
	(void)s;
	return link + (uint64_t)SYN_SLIDE;
}

/* The physical address of a kernel virtual address the builder made. */
static inline uint64_t syn_pa(const struct synth *s, uint64_t va)
{
	const struct gos_symtab *y = &s->k->syms;
	if (va >= SYN_PAGE_OFFSET && va < SYN_PAGE_OFFSET + SYN_RAM)
		return va - SYN_PAGE_OFFSET;
	if (va >= syn_slid(s, y->text_start) && va < syn_slid(s, y->text_end))
		return va - syn_slid(s, y->text_start) + SYN_KPHYS;
	fprintf(stderr, "synth: 0x%llx is not a kernel address of the scene\n", (unsigned long long)va);
	abort();
}

static inline uint8_t *syn_host(struct synth *s, uint64_t va, uint64_t len)
{
	uint8_t *p = gpa_to_host(&s->mem, syn_pa(s, va), len);
	if (!p)
		abort();
	return p;
}

static inline void syn_put(struct synth *s, uint64_t va, const struct gos_field *f, uint64_t v)
{
	uint8_t *p = syn_host(s, va + f->off, f->size);
	for (uint32_t i = 0; i < f->size && i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void syn_bytes(struct synth *s, uint64_t va, const void *data, size_t len)
{
	memcpy(syn_host(s, va, len), data, len);
}

static inline uint64_t syn_pt_page(struct synth *s)
{
	uint64_t pa = s->pt_next;
	if (pa + 4096 > SYN_PT_END)
		abort();
	s->pt_next += 4096;
	memset(gpa_to_host(&s->mem, pa, 4096), 0, 4096);
	return pa;
}

/* Kernel object of len bytes from the heap, zeroed; its direct-map address. */
static inline uint64_t syn_alloc(struct synth *s, uint64_t len, uint64_t align)
{
	uint64_t pa = (s->heap_next + align - 1) & ~(align - 1);
	if (pa + len > SYN_RAM)
		abort();
	s->heap_next = pa + len;
	memset(gpa_to_host(&s->mem, pa, len), 0, len);
	return SYN_PAGE_OFFSET + pa;
}

static inline uint64_t syn_string(struct synth *s, const char *str)
{
	uint64_t va = syn_alloc(s, strlen(str) + 1, 8);
	syn_bytes(s, va, str, strlen(str) + 1);
	return va;
}

/* Maps one page of size (4K, 2M or 1G) at va under the table at root. */
static inline void syn_map(struct synth *s, uint64_t root, uint64_t va, uint64_t pa, uint64_t size, bool user)
{
	uint64_t table = root;
	for (int level = s->la57 ? 5 : 4; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		uint64_t *t = gpa_to_host(&s->mem, table, 4096);
		uint64_t idx = (va >> shift) & 511;
		if ((1ULL << shift) == size) {
			t[idx] = pa | PTE_P | PTE_RW | (level > 1 ? PTE_PS : 0) | (user ? PTE_US : 0);
			return;
		}
		if (!(t[idx] & PTE_P))
			t[idx] = syn_pt_page(s) | PTE_P | PTE_RW | PTE_US;
		table = t[idx] & 0x000ffffffffff000ULL;
	}
}

static inline uint64_t syn_sym(const struct synth *s, const char *name)
{
	uint64_t a;
	if (gos_symtab_find(&s->k->syms, name, &a))
		abort();
	return a;
}

/* A dentry called name under parent (itself if parent is 0). */
static inline uint64_t syn_dentry(struct synth *s, const char *name, uint64_t parent)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t d = syn_alloc(s, 256, 64);
	syn_put(s, d, &l->dentry_name_len, strlen(name));
	syn_put(s, d, &l->dentry_name, syn_string(s, name));
	syn_put(s, d, &l->dentry_parent, parent ? parent : d);
	syn_put(s, d, &l->dentry_hash_pprev, d); /* hashed: not deleted */
	return d;
}

static inline uint64_t syn_mount(struct synth *s, uint64_t parent, uint64_t mountpoint, uint64_t root)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t m = syn_alloc(s, 512, 64);
	syn_put(s, m, &l->mount_parent, parent ? parent : m);
	syn_put(s, m, &l->mount_mountpoint, mountpoint ? mountpoint : root);
	syn_put(s, m + l->mount_mnt.off, &l->vfsmount_root, root);
	return m;
}

static inline uint64_t syn_file(struct synth *s, uint64_t mount, uint64_t dentry)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t f = syn_alloc(s, 512, 64);
	syn_put(s, f, &l->file_mnt, mount + l->mount_mnt.off);
	syn_put(s, f, &l->file_dentry, dentry);
	return f;
}

/* A file of a pseudo filesystem: a root dentry whose d_op has the d_dname
 * method called method (none if System.map lacks it), inode number ino, on a
 * superblock of file system type fstype, mounted nowhere. */
static inline uint64_t syn_pseudo_file(struct synth *s, const char *method, uint64_t ino, const char *fstype)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t d = syn_dentry(s, "", 0), ops = syn_alloc(s, 128, 64), inode = syn_alloc(s, 128, 64);
	uint64_t sb = syn_alloc(s, 128, 64), type = syn_alloc(s, 64, 64), addr = 0;
	uint64_t m = syn_mount(s, 0, 0, syn_dentry(s, "/", 0)), f = syn_alloc(s, 512, 64);

	if (!gos_symtab_find(&s->k->syms, method, &addr))
		addr = syn_slid(s, addr);
	syn_put(s, ops, &l->dops_dname, addr);
	syn_put(s, d, &l->dentry_op, ops);
	syn_put(s, inode, &l->inode_ino, ino);
	syn_put(s, d, &l->dentry_inode, inode);
	syn_put(s, type, &l->fstype_name, syn_string(s, fstype));
	syn_put(s, sb, &l->sb_type, type);
	syn_put(s, d, &l->dentry_sb, sb);
	syn_put(s, f, &l->file_mnt, m + l->mount_mnt.off);
	syn_put(s, f, &l->file_dentry, d);
	return f;
}

/* Links list_heads (addresses) into one ring in the given order. */
static inline void syn_ring(struct synth *s, const uint64_t *nodes, int n)
{
	const struct gos_layout *l = &s->k->layout;
	for (int i = 0; i < n; i++) {
		syn_put(s, nodes[i], &l->list_next, nodes[(i + 1) % n]);
		syn_put(s, nodes[i], &l->list_prev, nodes[(i + n - 1) % n]);
	}
}

static inline void syn_task(struct synth *s, struct syn_task *t, uint64_t task, int pid, uint64_t parent, uint32_t uid,
                            uint64_t state, uint64_t flags, const char *comm)
{
	const struct gos_layout *l = &s->k->layout;
	char name[64] = { 0 };

	t->task = task;
	t->cred = syn_alloc(s, 256, 64);
	syn_put(s, t->cred, &l->cred_uid, uid);
	syn_put(s, t->cred, &l->cred_euid, uid);
	syn_put(s, task, &l->task_pid, pid);
	syn_put(s, task, &l->task_tgid, pid);
	syn_put(s, task, &l->task_real_parent, parent ? parent : task);
	syn_put(s, task, &l->task_cred, t->cred);
	syn_put(s, task, &l->task_state, state);
	syn_put(s, task, &l->task_flags, flags);
	snprintf(name, sizeof(name), "%s", comm);
	syn_bytes(s, task + l->task_comm.off, name, l->task_comm.size);
}

/* Gives a task an address space: a PGD pair (kernel copy, then the KPTI user
 * copy) whose kernel half is init_top_pgt's, and a command line page. */
static inline void syn_mm(struct synth *s, struct syn_task *t, const char *args, size_t args_len)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t *kern, *user, page;

	t->pgd = syn_alloc(s, 8192, 8192);
	kern = (uint64_t *)syn_host(s, t->pgd, 8192);
	user = kern + 512;
	memcpy(kern + 256, (uint64_t *)gpa_to_host(&s->mem, s->root, 4096) + 256, 256 * 8);
	page = syn_alloc(s, 4096, 4096);
	syn_bytes(s, page, args, args_len);
	syn_map(s, syn_pa(s, t->pgd), SYN_USER_ARGS, syn_pa(s, page), 4096, true);
	page = syn_alloc(s, 4096, 4096);
	syn_bytes(s, page, "user data of the process", 25);
	syn_map(s, syn_pa(s, t->pgd), SYN_USER_DATA, syn_pa(s, page), 4096, true);
	memcpy(user, kern, 256 * 8); /* user half shared, kernel half absent */
	t->mm = syn_alloc(s, 1024, 64);
	syn_put(s, t->mm, &l->mm_pgd, t->pgd);
	syn_put(s, t->mm, &l->mm_arg_start, SYN_USER_ARGS);
	syn_put(s, t->mm, &l->mm_arg_end, SYN_USER_ARGS + args_len);
	syn_put(s, t->task, &l->task_mm, t->mm);
}

/* A file table of nfd slots with the given files (0 = empty slot). */
static inline void syn_files(struct synth *s, struct syn_task *t, const uint64_t *files, int nfd)
{
	const struct gos_layout *l = &s->k->layout;
	t->files = syn_alloc(s, 256, 64);
	t->fdt = syn_alloc(s, 64, 64);
	t->fds = syn_alloc(s, (uint64_t)nfd * 8, 64);
	for (int i = 0; i < nfd; i++)
		syn_bytes(s, t->fds + (uint64_t)i * 8, &files[i], 8);
	syn_put(s, t->fdt, &l->fdt_max_fds, (uint64_t)nfd);
	syn_put(s, t->fdt, &l->fdt_fd, t->fds);
	syn_put(s, t->files, &l->files_fdt, t->fdt);
	syn_put(s, t->task, &l->task_files, t->files);
}

static inline uint64_t syn_module(struct synth *s, const char *name, uint64_t base, uint64_t size,
                                  const char *const *syms, const uint64_t *offs, int nsyms)
{
	const struct gos_layout *l = &s->k->layout;
	uint64_t m = syn_alloc(s, 1024, 64), ks = syn_alloc(s, 64, 64);
	uint64_t symtab = syn_alloc(s, (uint64_t)(nsyms + 1) * sizeof(Elf64_Sym), 64), strtab = syn_alloc(s, 1024, 64);
	uint32_t stroff = 1;
	char modname[64] = { 0 };

	snprintf(modname, sizeof(modname), "%s", name);
	syn_bytes(s, m + l->module_name.off, modname, l->module_name.size < 64 ? l->module_name.size : 64);
	syn_put(s, m, &l->module_base, base);
	syn_put(s, m, &l->module_size, size);
	syn_put(s, m, &l->module_kallsyms, ks);
	for (int i = 0; i < nsyms; i++) { /* symbol 0 is the ELF null symbol */
		Elf64_Sym y = { .st_name = stroff,
			        .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			        .st_shndx = 1,
			        .st_value = base + offs[i],
			        .st_size = 16 };
		syn_bytes(s, symtab + (uint64_t)(i + 1) * sizeof(y), &y, sizeof(y));
		syn_bytes(s, strtab + stroff, syms[i], strlen(syms[i]) + 1);
		stroff += (uint32_t)strlen(syms[i]) + 1;
	}
	syn_put(s, ks, &l->kallsyms_symtab, symtab);
	syn_put(s, ks, &l->kallsyms_num_symtab, (uint64_t)nsyms + 1);
	syn_put(s, ks, &l->kallsyms_strtab, strtab);
	return m;
}

static inline int syn_get_regs(void *opaque, int cpu, struct guestos_regs *out)
{
	struct synth *s = opaque;
	if (cpu < 0 || cpu > 1)
		return -1;
	*out = s->regs[cpu];
	return 0;
}

/* The banner the scene's kernel prints: the real one when the image had it. */
static inline const char *synth_banner(const struct guestos_kernel *k)
{
	return k->banner_len ? k->banner : SYN_BANNER;
}

/* Builds the scene; 0, or -1 if guest memory cannot be had. */
static inline int synth_build(struct synth *s, const struct guestos_kernel *k, bool la57)
{
	const struct gos_layout *l;
	const struct gos_symtab *y = &k->syms;

	memset(s, 0, sizeof(*s));
	if (guest_mem_init(&s->mem, SYN_RAM))
		return -1;
	s->k = k;
	l = &k->layout;
	s->la57 = la57;
	s->pt_next = SYN_PT_POOL;
	s->heap_next = SYN_HEAP;
	s->root = syn_pa(s, syn_slid(s, k->sym_init_top_pgt));

	/* Page tables: the image with 2 MiB pages, the direct map with 1 GiB. */
	memset(gpa_to_host(&s->mem, s->root, 4096), 0, 4096);
	uint64_t img = (y->text_end - y->text_start + (2 << 20) - 1) & ~((2ULL << 20) - 1);
	if (SYN_KPHYS + img > SYN_HEAP) { /* the image would overlap the heap */
		guest_mem_free(&s->mem);
		return -1;
	}
	for (uint64_t off = 0; off < img; off += 2 << 20)
		syn_map(s, s->root, syn_slid(s, y->text_start) + off, SYN_KPHYS + off, 2 << 20, false);
	syn_map(s, s->root, SYN_PAGE_OFFSET, 0, 1ULL << 30, false);
	syn_bytes(s, syn_slid(s, k->sym_banner), synth_banner(k), strlen(synth_banner(k)) + 1);

	/* Files: / with /dev/console, and a mount on /tmp holding x/y.txt. */
	s->d_root = syn_dentry(s, "/", 0);
	s->d_dev = syn_dentry(s, "dev", s->d_root);
	s->d_console = syn_dentry(s, "console", s->d_dev);
	s->d_tmp = syn_dentry(s, "tmp", s->d_root);
	s->d_tmproot = syn_dentry(s, "/", 0);
	s->d_x = syn_dentry(s, "x", s->d_tmproot);
	s->d_y = syn_dentry(s, "y.txt", s->d_x);
	s->d_gone = syn_dentry(s, "gone", s->d_x);
	syn_put(s, s->d_gone, &k->layout.dentry_hash_pprev, 0); /* unlinked */
	s->m_root = syn_mount(s, 0, 0, s->d_root);
	s->m_tmp = syn_mount(s, s->m_root, s->d_tmp, s->d_tmproot);

	/* Tasks. */
	uint64_t swapper = syn_slid(s, k->sym_init_task);
	syn_task(s, &s->swapper, swapper, 0, 0, 0, 0, 0x00200000, "swapper/0");
	syn_task(s, &s->init, syn_alloc(s, 16384, 64), 1, swapper, 0, 1, 0, "init");
	syn_task(s, &s->kthreadd, syn_alloc(s, 16384, 64), 2, swapper, 0, 0x402, 0x00200000, "kthreadd");
	syn_task(s, &s->sh, syn_alloc(s, 16384, 64), 42, s->init.task, 1000, 0, 0, "sh");
	syn_mm(s, &s->init, "/sbin/init", 11);
	syn_mm(s, &s->sh, SYN_CMDLINE, sizeof(SYN_CMDLINE));
	uint64_t console = syn_file(s, s->m_root, s->d_console), y_txt = syn_file(s, s->m_tmp, s->d_y);
	uint64_t init_files[] = { console, console, console };
	uint64_t pipe = syn_pseudo_file(s, "pipefs_dname", 4242, "pipefs");
	uint64_t ns = syn_pseudo_file(s, "ns_dname", 4026531840u, "nsfs");
	uint64_t gone = syn_file(s, s->m_tmp, s->d_gone);
	uint64_t sh_files[] = { console, console, console, pipe, ns, y_txt, gone, 0 };
	syn_files(s, &s->init, init_files, 3);
	syn_files(s, &s->sh, sh_files, 8);
	uint64_t ring[] = { swapper + l->task_tasks.off, s->init.task + l->task_tasks.off,
		            s->kthreadd.task + l->task_tasks.off, s->sh.task + l->task_tasks.off };
	syn_ring(s, ring, 4);

	/* sh is in the cgroup /web/app; the others in the root (no css_set
	 * pointer written: reading theirs fails). */
	if (l->task_cgroups.present && l->cset_dfl_cgrp.present && l->cgroup_kn.present && l->kn_parent.present &&
	    l->kn_name.present) {
		s->kn_root = syn_alloc(s, 256, 64);
		s->kn_web = syn_alloc(s, 256, 64);
		s->kn_app = syn_alloc(s, 256, 64);
		syn_put(s, s->kn_root, &l->kn_name, syn_string(s, ""));
		syn_put(s, s->kn_web, &l->kn_parent, s->kn_root);
		syn_put(s, s->kn_web, &l->kn_name, syn_string(s, "web"));
		syn_put(s, s->kn_app, &l->kn_parent, s->kn_web);
		syn_put(s, s->kn_app, &l->kn_name, syn_string(s, "app"));
		s->cgrp = syn_alloc(s, 1024, 64);
		syn_put(s, s->cgrp, &l->cgroup_kn, s->kn_app);
		s->cset = syn_alloc(s, 512, 64);
		syn_put(s, s->cset, &l->cset_dfl_cgrp, s->cgrp);
		syn_put(s, s->sh.task, &l->task_cgroups, s->cset);
	}

	/* Modules. */
	static const char *const a_syms[] = { "virtblk_probe", "virtblk_remove" };
	static const uint64_t a_offs[] = { 0x100, 0x400 };
	static const char *const b_syms[] = { "ext4_fill_super" };
	static const uint64_t b_offs[] = { 0x2000 };
	s->mod_a = syn_module(s, "virtio_blk", SYN_MOD_BASE, 0x5000, a_syms, a_offs, 2);
	s->mod_b = syn_module(s, "ext4", SYN_MOD_BASE + 0x10000, 0x80000, b_syms, b_offs, 1);
	uint64_t mods[] = { syn_slid(s, k->sym_modules), s->mod_a + l->module_list.off, s->mod_b + l->module_list.off };
	syn_ring(s, mods, 3);

	/* Per-CPU areas: current is sh on CPU 0, init on CPU 1. */
	uint64_t offsets = syn_slid(s, k->sym_per_cpu_offset);
	for (int cpu = 0; cpu < 2; cpu++) {
		s->pcpu[cpu] = syn_alloc(s, k->sym_current_task + 4096, 4096);
		syn_bytes(s, offsets + (uint64_t)cpu * 8, &s->pcpu[cpu], 8);
	}
	syn_bytes(s, s->pcpu[0] + k->sym_current_task, &s->sh.task, 8);
	syn_bytes(s, s->pcpu[1] + k->sym_current_task, &s->init.task, 8);

	/* vCPU 0: user mode in sh, KPTI user copy loaded, a PCID in CR3. */
	uint64_t lstar = syn_slid(s, k->sym_entry_syscall), cr4 = la57 ? 1ULL << 12 : 0;
	s->regs[0] = (struct guestos_regs){ .cr3 = (syn_pa(s, s->sh.pgd) | 0x1000 | SYN_PCID),
		                            .cr4 = cr4,
		                            .kernel_gs_base = s->pcpu[0],
		                            .lstar = lstar,
		                            .rip = 0x401000,
		                            .cpl = 3 };
	/* vCPU 1: in the kernel, on the kernel copy of init's tables. */
	s->regs[1] = (struct guestos_regs){
		.cr3 = syn_pa(s, s->init.pgd), .cr4 = cr4, .gs_base = s->pcpu[1], .lstar = lstar, .rip = lstar, .cpl = 0
	};
	s->target = (struct guestos_target){ .mem = &s->mem, .ncpus = 2, .get_regs = syn_get_regs, .opaque = s };
	return 0;
}

static inline void synth_free(struct synth *s)
{
	guest_mem_free(&s->mem);
}

#endif
