/* libFuzzer target: the guestos readers on a guest whose kernel structures
 * the input corrupts, as a hostile guest may.  The synthetic guest of
 * tests/unit/guestos_synth.h is built once, with the default guest kernel's
 * real layout (build/guest, or GUEST_DIR) or, where that is absent, with a
 * made-up layout so the target still runs; each input is a list of writes
 * into its objects (task structs, creds, mms, fd tables, dentries, mounts,
 * modules, page tables, per-CPU data) and vCPU registers, every query runs,
 * and the writes are undone.  Whatever the writes, every query must return
 * 0 or -1 with a one-line message, in bounded time, touching nothing
 * outside guest RAM.
 *
 * A write is 4 bytes and a payload: object (byte 0), offset into it (bytes
 * 1-2), kind (byte 3): 0 writes the next 8 bytes as they are; 1 writes a
 * pointer to another object (next byte) plus 8 times the byte after; 2
 * writes one byte; 3 sets a vCPU register (offset picks which).
 *
 * The same input also corrupts a kallsyms table (tests/unit/kallsyms_synth.h,
 * the 6.1 layout): every 3 bytes set the byte at a 16-bit offset, and the
 * decoder must then find a table of the right size or say why not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/guestos_synth.h"
#include "../unit/kallsyms_synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OBJS 64
#define MAX_UNDO 256

struct obj {
	uint64_t va, size;
};

struct fuzz_state {
	struct guestos_kernel *k;
	struct synth s;
	struct obj objs[MAX_OBJS];
	int nobjs;
};

struct undo {
	uint64_t va;
	size_t len;
	uint8_t old[8];
};

/* A layout and symbols of our own, for machines without the default guest:
 * offsets inside the sizes guestos_synth.h allocates. */
static struct guestos_kernel *made_up_kernel(void)
{
	static const char map[] = "ffffffff81000000 T _text\n"
	                          "ffffffff81200000 T entry_SYSCALL_64\n"
	                          "ffffffff81400000 D linux_banner\n"
	                          "ffffffff81600000 D init_task\n"
	                          "ffffffff81a00000 D init_top_pgt\n"
	                          "ffffffff81c00000 D modules\n"
	                          "ffffffff81c01000 D __per_cpu_offset\n"
	                          "0000000000001000 D current_task\n"
	                          "ffffffff82000000 B _end\n";
	struct guestos_kernel *k = calloc(1, sizeof(*k));
	struct gos_layout *l;
	char err[256];

	if (!k || gos_symtab_parse(&k->syms, map, sizeof(map) - 1, err, sizeof(err)))
		abort();
	l = &k->layout;
#define SET(f, o, s) (l->f = (struct gos_field){ .off = (o), .size = (s), .present = true })
	SET(list_next, 0, 8), SET(list_prev, 8, 8);
	SET(task_state, 24, 4), SET(task_flags, 44, 4), SET(task_tasks, 2192, 16), SET(task_mm, 2272, 8);
	SET(task_exit_state, 2308, 4), SET(task_pid, 2416, 4), SET(task_tgid, 2420, 4);
	SET(task_real_parent, 2432, 8), SET(task_cred, 2960, 8), SET(task_comm, 2976, 16);
	SET(task_files, 3048, 8);
	SET(cred_uid, 8, 4), SET(cred_euid, 24, 4);
	SET(mm_pgd, 72, 8), SET(mm_arg_start, 312, 8), SET(mm_arg_end, 320, 8);
	SET(files_fdt, 32, 8), SET(fdt_max_fds, 0, 4), SET(fdt_fd, 8, 8);
	SET(file_mnt, 16, 8), SET(file_dentry, 24, 8);
	SET(dentry_parent, 24, 8), SET(dentry_name_len, 36, 4), SET(dentry_name, 40, 8);
	SET(mount_parent, 16, 8), SET(mount_mountpoint, 24, 8), SET(mount_mnt, 32, 32), SET(vfsmount_root, 0, 8);
	SET(module_state, 0, 4), SET(module_list, 8, 16), SET(module_name, 24, 56), SET(module_base, 320, 8);
	SET(module_size, 328, 4), SET(module_kallsyms, 544, 8);
	SET(kallsyms_symtab, 0, 8), SET(kallsyms_num_symtab, 8, 4), SET(kallsyms_strtab, 16, 8);
	SET(task_cgroups, 3056, 8), SET(cset_dfl_cgrp, 104, 8), SET(cgroup_kn, 280, 8);
	SET(kn_parent, 8, 8), SET(kn_name, 16, 8);
#undef SET
	k->sym_entry_syscall = 0xffffffff81200000ULL;
	k->sym_banner = 0xffffffff81400000ULL;
	k->sym_init_task = 0xffffffff81600000ULL;
	k->sym_init_top_pgt = 0xffffffff81a00000ULL;
	k->sym_modules = 0xffffffff81c00000ULL;
	k->sym_per_cpu_offset = 0xffffffff81c01000ULL;
	k->sym_current_task = 0x1000;
	return k;
}

static void add(struct fuzz_state *f, uint64_t va, uint64_t size)
{
	if (f->nobjs < MAX_OBJS)
		f->objs[f->nobjs++] = (struct obj){ va, size };
}

static void add_task(struct fuzz_state *f, const struct syn_task *t)
{
	add(f, t->task, 16384);
	add(f, t->cred, 256);
	if (t->mm)
		add(f, t->mm, 1024), add(f, t->pgd, 8192);
	if (t->files)
		add(f, t->files, 256), add(f, t->fdt, 64), add(f, t->fds, 24);
}

static struct fuzz_state *state(void)
{
	static struct fuzz_state *f;
	const char *dir = getenv("GUEST_DIR") ? getenv("GUEST_DIR") : "build/guest";
	char kernel[512], map[512], err[256];

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(map, sizeof(map), "%s/System.map", dir);
	if (!access(kernel, R_OK) && !access(map, R_OK)) {
		f->k = guestos_kernel_load(kernel, map, err, sizeof(err));
		if (!f->k) {
			fprintf(stderr, "fuzz_guestos: %s\n", err);
			abort();
		}
	} else {
		fprintf(stderr, "fuzz_guestos: %s has no kernel; fuzzing a made-up layout\n", dir);
		f->k = made_up_kernel();
	}
	if (synth_build(&f->s, f->k, false))
		abort();
	struct synth *s = &f->s;
	const struct gos_layout *l = &f->k->layout;
	add_task(f, &s->swapper), add_task(f, &s->init), add_task(f, &s->kthreadd), add_task(f, &s->sh);
	uint64_t d[] = { s->d_root, s->d_dev, s->d_console, s->d_tmp, s->d_tmproot, s->d_x, s->d_y };
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		add(f, d[i], 256);
	add(f, s->m_root, 512), add(f, s->m_tmp, 512);
	add(f, s->mod_a, 1024), add(f, s->mod_b, 1024);
	if (s->cset) {
		add(f, s->cset, 512), add(f, s->cgrp, 1024);
		add(f, s->kn_root, 256), add(f, s->kn_web, 256), add(f, s->kn_app, 256);
	}
	add(f, syn_slid(s, f->k->sym_modules), 16);
	add(f, syn_slid(s, f->k->sym_per_cpu_offset), 16);
	add(f, s->pcpu[0] + f->k->sym_current_task, 8), add(f, s->pcpu[1] + f->k->sym_current_task, 8);
	add(f, syn_slid(s, f->k->sym_init_top_pgt), 4096);
	add(f, SYN_PAGE_OFFSET + SYN_PT_POOL, s->pt_next - SYN_PT_POOL);
	uint64_t ks;
	memcpy(&ks, syn_host(s, s->mod_a + l->module_kallsyms.off, 8), 8);
	add(f, ks, 64);
	return f;
}

static void write_undoable(struct fuzz_state *f, struct undo *u, int *nu, uint64_t va, const void *src, size_t len)
{
	if (*nu == MAX_UNDO)
		return;
	u[*nu].va = va;
	u[*nu].len = len;
	memcpy(u[*nu].old, syn_host(&f->s, va, len), len);
	(*nu)++;
	memcpy(syn_host(&f->s, va, len), src, len);
}

static void check(int r, const char *err)
{
	if (r && (!err[0] || strchr(err, '\n')))
		abort(); /* an error must say why, in one line */
}

static void run_queries(struct guestos *g)
{
	struct guestos_process *p = NULL, cur;
	struct guestos_module *m = NULL;
	struct guestos_file *fl = NULL;
	struct guestos_symbol y;
	size_t n;
	char buf[64], err[256];
	int64_t slide;

	err[0] = 0, check(guestos_kaslr_slide(g, &slide, err, sizeof(err)), err);
	err[0] = 0, check(guestos_processes(g, &p, &n, err, sizeof(err)), err);
	free(p);
	for (int cpu = 0; cpu < 2; cpu++)
		err[0] = 0, check(guestos_current(g, cpu, &cur, err, sizeof(err)), err);
	err[0] = 0, check(guestos_modules(g, &m, &n, err, sizeof(err)), err);
	free(m);
	err[0] = 0, check(guestos_symbol_lookup(g, "virtblk_remove", &y, err, sizeof(err)), err);
	err[0] = 0, check(guestos_symbol_at(g, SYN_MOD_BASE + 0x20, &y, err, sizeof(err)), err);
	err[0] = 0, check(guestos_files(g, 42, &fl, &n, err, sizeof(err)), err);
	free(fl);
	err[0] = 0, check(guestos_read_process(g, 42, SYN_USER_DATA, buf, sizeof(buf), err, sizeof(err)), err);
	for (int cpu = 0; cpu < 2; cpu++) {
		struct guestos_task_id id;
		char cgroup[GUESTOS_PATH_LEN];
		if (!guestos_current_id(g, cpu, &id, NULL, 0))
			err[0] = 0,
			check(guestos_task_cgroup(g, id.task, cgroup, sizeof(cgroup), err, sizeof(err)), err);
	}
}

static void fuzz_kallsyms(const uint8_t *data, size_t size)
{
	static struct ksynth clean;
	struct ksynth k;
	struct gos_kallsyms ks;
	char err[256] = "";

	if (!clean.buf && ksynth_build(&clean, 0xffffffff82000000ULL, 700, 0xffffffff81000000ULL))
		abort();
	k = clean;
	k.buf = malloc(clean.len);
	if (!k.buf)
		abort();
	memcpy(k.buf, clean.buf, clean.len);
	for (; size >= 3; data += 3, size -= 3)
		k.buf[(size_t)(data[0] | data[1] << 8) % k.len] = data[2];
	if (gos_kallsyms_find(ksynth_read, &k, k.va - 0x3000, k.va + k.len + 0x3000, 0xffffffff81000000ULL, &ks, err,
	                      sizeof(err)))
		check(-1, err);
	else if (ks.count > 700 * 2 || !ks.map_len)
		abort(); /* the count comes from the table, checked against the markers */
	gos_kallsyms_free(&ks);
	free(k.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *f = state();
	struct guestos_regs saved[2];
	struct undo u[MAX_UNDO];
	int nu = 0;
	char err[256];

	fuzz_kallsyms(data, size);
	memcpy(saved, f->s.regs, sizeof(saved));
	while (size >= 4) {
		const struct obj *o = &f->objs[data[0] % f->nobjs];
		uint64_t off = (uint64_t)(data[1] | data[2] << 8), kind = data[3] & 3, v;
		data += 4, size -= 4;
		if (kind == 3) { /* a vCPU register */
			if (size < 8)
				break;
			memcpy(&v, data, 8);
			data += 8, size -= 8;
			struct guestos_regs *r = &f->s.regs[off & 1];
			uint64_t *fields[] = { &r->cr3, &r->cr4, &r->gs_base, &r->kernel_gs_base, &r->lstar };
			if ((off >> 1) % 6 == 5)
				r->cpl = (int)(v & 3);
			else
				*fields[(off >> 1) % 6] = v;
			continue;
		}
		size_t len = kind == 2 ? 1 : 8;
		if (o->size < len)
			continue;
		off %= o->size - len + 1;
		if (kind == 0 || kind == 2) {
			if (size < len)
				break;
			memcpy(&v, data, len);
			data += len, size -= len;
		} else {
			if (size < 2)
				break;
			v = f->objs[data[0] % f->nobjs].va + 8ULL * data[1];
			data += 2, size -= 2;
		}
		write_undoable(f, u, &nu, o->va + off, &v, len);
	}
	struct guestos *g = guestos_attach(f->k, &f->s.target, err, sizeof(err));
	if (!g)
		abort();
	run_queries(g);
	guestos_detach(g);
	while (nu--) /* newest first, so overlapping writes unwind in order */
		memcpy(syn_host(&f->s, u[nu].va, u[nu].len), u[nu].old, u[nu].len);
	memcpy(f->s.regs, saved, sizeof(saved));
	return 0;
}
