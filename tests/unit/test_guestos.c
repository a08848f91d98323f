/* guestos: every query against a synthetic guest laid out with the default
 * guest kernel's real BTF offsets (tests/unit/guestos_synth.h), then the
 * same guest made hostile (loops, pointers outside RAM, unterminated and
 * oversized strings, dentry and mount loops, garbage LSTAR), which must give
 * an error or a truncated answer, never a hang or a crash.  Also: kernels
 * that are not a Linux with BTF are refused in one line, and the BTF member
 * resolver on a BTF built here with anonymous members, bitfields and arrays.
 * The cases that need build/guest/vmlinuz skip when it is absent. */
#include <bpf/btf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "guestos_synth.h"

struct fixture {
	struct guestos_kernel *k; /* NULL when the default guest is absent */
	char why[512];
	struct synth s;
	struct guestos *g;
};

static struct fixture *fx(void **state)
{
	return *state;
}

static int group_setup(void **state)
{
	const char *dir = getenv("GUEST_DIR") ? getenv("GUEST_DIR") : "build/guest";
	char kernel[512], map[512];
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(map, sizeof(map), "%s/System.map", dir);
	if (access(kernel, R_OK) || access(map, R_OK)) {
		snprintf(f->why, sizeof(f->why), "%s/vmlinuz or System.map is absent (make guest)", dir);
		printf("not tested: guestos cases on the real kernel's layout: %s\n", f->why);
	} else {
		f->k = guestos_kernel_load(kernel, map, f->why, sizeof(f->why));
		if (!f->k) {
			fprintf(stderr, "guestos_kernel_load: %s\n", f->why);
			free(f);
			return -1;
		}
	}
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	guestos_kernel_free(fx(state)->k);
	free(*state);
	return 0;
}

/* Per case: a fresh scene and a fresh attachment. */
static int build(void **state, bool la57)
{
	struct fixture *f = fx(state);
	char err[256];

	if (!f->k)
		return 0;
	if (synth_build(&f->s, f->k, la57))
		return -1;
	f->g = guestos_attach(f->k, &f->s.target, err, sizeof(err));
	return f->g ? 0 : -1;
}
static int setup(void **state)
{
	return build(state, false);
}
static int setup_la57(void **state)
{
	return build(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = fx(state);
	if (f->k) {
		guestos_detach(f->g);
		synth_free(&f->s);
		f->g = NULL;
	}
	return 0;
}

#define NEED_KERNEL(f)          \
	do {                    \
		if (!(f)->k)    \
			skip(); \
	} while (0)

static void assert_one_line(const char *err, const char *want)
{
	assert_true(err[0] != 0);
	assert_null(strchr(err, '\n'));
	if (want && !strstr(err, want)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, want);
		fail();
	}
}

static const struct guestos_process *find_pid(const struct guestos_process *p, size_t n, int32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].pid == pid)
			return &p[i];
	fprintf(stderr, "no pid %d in the list\n", pid);
	abort();
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The layout the default kernel's BTF gives, checked where C fixes it. */
static void test_real_layout(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	assert_int_equal(l->list_next.off, 0);
	assert_int_equal(l->list_prev.off, 8);
	assert_int_equal(l->task_comm.size, 16);
	assert_int_equal(l->task_pid.size, 4);
	assert_int_equal(l->task_tgid.off, l->task_pid.off + 4);
	/* qstr { union { struct { u32 hash, len; }; u64 hash_len; }; name }: len
	 * sits in an anonymous struct in an anonymous union. */
	assert_int_equal(l->dentry_name_len.off + 4, l->dentry_name.off);
	/* mm_struct keeps its members in one anonymous struct. */
	assert_int_equal(l->mm_arg_end.off, l->mm_arg_start.off + 8);
	assert_true(l->module_base.present && l->module_kallsyms.present);
	assert_true(f->k->sym_current_task > 0 && f->k->sym_current_task < 0x100000);
	/* The banner as built, e.g. "Linux version 6.1.0-57-cloud-amd64 ...". */
	assert_true(f->k->banner_len > 20);
	assert_int_equal(strncmp(f->k->banner, "Linux version ", 14), 0);
}

static void test_kaslr_slide(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	int64_t slide;
	char err[256];

	/* vCPU 0 is in user mode on the KPTI user tables with a PCID. */
	assert_int_equal(guestos_kaslr_slide(f->g, &slide, err, sizeof(err)), 0);
	assert_int_equal(slide, SYN_SLIDE);
	assert_int_equal(f->g->root, f->s.root);
}

static void test_processes(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_process *p;
	size_t n;
	char err[256];

	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_int_equal(p[0].pid, 0);
	assert_string_equal(p[0].comm, "swapper/0");
	assert_true(p[0].kernel_thread);
	assert_int_equal(p[0].state, 'R');
	assert_int_equal(p[1].pid, 1);
	assert_int_equal(p[1].ppid, 0);
	assert_int_equal(p[1].uid, 0);
	assert_int_equal(p[1].state, 'S');
	assert_string_equal(p[1].comm, "init");
	assert_string_equal(p[1].cmdline, "/sbin/init");
	assert_int_equal(p[2].pid, 2);
	assert_int_equal(p[2].state, 'I');
	assert_true(p[2].kernel_thread);
	assert_string_equal(p[2].cmdline, "");
	assert_int_equal(p[3].pid, 42);
	assert_int_equal(p[3].ppid, 1);
	assert_int_equal(p[3].uid, 1000);
	assert_int_equal(p[3].euid, 1000);
	assert_int_equal(p[3].state, 'R');
	assert_string_equal(p[3].comm, "sh");
	assert_string_equal(p[3].cmdline, "sh -c echo hi");
	assert_false(p[3].cmdline_cut);
	assert_int_equal(p[3].task, f->s.sh.task);
	free(p);
}

static void test_current(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_process p;
	char err[256];

	assert_int_equal(guestos_current(f->g, 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.pid, 42); /* from KERNEL_GS_BASE: vCPU 0 is in user mode */
	assert_int_equal(guestos_current(f->g, 1, &p, err, sizeof(err)), 0);
	assert_int_equal(p.pid, 1); /* from GS base */
	/* A GS base that is no CPU's falls back to __per_cpu_offset[cpu]. */
	f->s.regs[1].gs_base = 0x1234;
	assert_int_equal(guestos_current(f->g, 1, &p, err, sizeof(err)), 0);
	assert_int_equal(p.pid, 1);
	assert_int_equal(guestos_current(f->g, 2, &p, err, sizeof(err)), -1);
	assert_one_line(err, "no vCPU 2");

	/* The cheap form for event callbacks names the same tasks. */
	struct guestos_task_id id;
	struct guestos_process full;
	assert_int_equal(guestos_current_id(f->g, 0, &id, err, sizeof(err)), 0);
	assert_int_equal(guestos_current(f->g, 0, &full, err, sizeof(err)), 0);
	assert_int_equal(id.pid, full.pid);
	assert_int_equal(id.tgid, full.tgid);
	assert_int_equal(id.task, full.task);
	assert_string_equal(id.comm, full.comm);
	assert_int_equal(guestos_current_id(f->g, 1, &id, err, sizeof(err)), 0);
	assert_int_equal(id.pid, 1);
	assert_int_equal(guestos_current_id(f->g, 2, &id, err, sizeof(err)), -1);
	assert_one_line(err, "no vCPU 2");
}

static void test_cgroup(void **state)
{
	struct fixture *f = fx(state);
	const struct gos_layout *l = &f->k->layout;
	struct synth *s = &f->s;
	char cg[GUESTOS_PATH_LEN], err[256];

	assert_int_equal(guestos_task_cgroup(f->g, s->sh.task, cg, sizeof(cg), err, sizeof(err)), 0);
	assert_string_equal(cg, "/web/app");
	assert_int_equal(guestos_task_cgroup(f->g, s->sh.task, cg, 8, err, sizeof(err)), -1); /* no room */
	assert_one_line(err, "longer than 7 bytes");
	syn_put(s, s->cset, &l->cset_dfl_cgrp, s->cgrp); /* the root cgroup: "/" */
	syn_put(s, s->cgrp, &l->cgroup_kn, s->kn_root);
	assert_int_equal(guestos_task_cgroup(f->g, s->sh.task, cg, sizeof(cg), err, sizeof(err)), 0);
	assert_string_equal(cg, "/");
	/* hostile: a node that is its own parent, a parent outside RAM */
	syn_put(s, s->cgrp, &l->cgroup_kn, s->kn_app);
	syn_put(s, s->kn_web, &l->kn_parent, s->kn_web);
	assert_int_equal(guestos_task_cgroup(f->g, s->sh.task, cg, sizeof(cg), err, sizeof(err)), -1);
	assert_one_line(err, "cgroup");
	syn_put(s, s->kn_web, &l->kn_parent, 0xffff888fffff0000ULL);
	assert_int_equal(guestos_task_cgroup(f->g, s->sh.task, cg, sizeof(cg), err, sizeof(err)), -1);
	assert_one_line(err, "not readable");
}

static void test_modules(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_module *m;
	size_t n;
	char err[256];

	assert_int_equal(guestos_modules(f->g, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].name, "virtio_blk");
	assert_int_equal(m[0].base, SYN_MOD_BASE);
	assert_int_equal(m[0].size, 0x5000);
	assert_int_equal(m[0].module, f->s.mod_a);
	assert_string_equal(m[1].name, "ext4");
	free(m);
}

/* Copies the vmlinux's bytes at link-time [lo, hi) to the scene's image. */
static void copy_image(struct fixture *f, const uint8_t *elf, uint64_t lo, uint64_t hi)
{
	Elf64_Ehdr eh;
	memcpy(&eh, elf, sizeof(eh));
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && lo >= ph.p_vaddr && hi <= ph.p_vaddr + ph.p_filesz) {
			syn_bytes(&f->s, syn_slid(&f->s, lo), elf + ph.p_offset + (lo - ph.p_vaddr), hi - lo);
			return;
		}
	}
	fail_msg("0x%lx-0x%lx is not in one segment of the vmlinux", (unsigned long)lo, (unsigned long)hi);
}

/* Without System.map: the scene gets the real kernel's kallsyms tables at
 * their slid addresses (relative base relocated, as KASLR does), and a
 * kernel loaded without a map finds and decodes them, agrees with
 * System.map on symbols and the process list, and says where its symbols
 * came from.  Then the tables are corrupted: every query answers or fails
 * in one line. */
static void test_kallsyms_in_memory(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const char *dir = getenv("GUEST_DIR") ? getenv("GUEST_DIR") : "build/guest";
	char kernel[512], err[256];
	uint64_t lo, hi, base;
	uint8_t *elf;
	size_t elflen;

	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	assert_int_equal(gos_symtab_find(&f->k->syms, "kallsyms_offsets", &lo), 0);
	assert_int_equal(gos_symtab_find(&f->k->syms, "kallsyms_token_index", &hi), 0);
	assert_int_equal(gos_symtab_find(&f->k->syms, "kallsyms_relative_base", &base), 0);
	assert_int_equal(boot_vmlinux_file(kernel, &elf, &elflen, err, sizeof(err)), 0);
	copy_image(f, elf, lo, hi + 512);
	free(elf);
	uint64_t text = syn_slid(&f->s, f->k->syms.text_start);
	syn_bytes(&f->s, syn_slid(&f->s, base), &text, 8);

	struct guestos_kernel *k2 = guestos_kernel_load(kernel, NULL, err, sizeof(err));
	assert_non_null(k2);
	struct guestos *g2 = guestos_attach(k2, &f->s.target, err, sizeof(err));
	assert_non_null(g2);
	struct guestos_symbol y;
	if (guestos_symbol_lookup(g2, "init_task", &y, err, sizeof(err)))
		fail_msg("init_task without System.map: %s", err);
	assert_int_equal(y.addr, syn_slid(&f->s, f->k->sym_init_task));
	assert_non_null(strstr(guestos_symbol_source(g2), "kallsyms in guest memory"));
	assert_string_equal(guestos_symbol_source(f->g), "System.map");
	assert_int_equal(guestos_symbol_at(g2, syn_slid(&f->s, f->k->sym_entry_syscall) + 3, &y, err, sizeof(err)), 0);
	assert_string_equal(y.name, "entry_SYSCALL_64");
	struct guestos_process *p1, *p2;
	size_t n1, n2;
	assert_int_equal(guestos_processes(f->g, &p1, &n1, err, sizeof(err)), 0);
	assert_int_equal(guestos_processes(g2, &p2, &n2, err, sizeof(err)), 0);
	assert_int_equal(n1, n2);
	assert_int_equal(p1[n1 - 1].pid, p2[n2 - 1].pid);
	free(p1), free(p2);
	guestos_detach(g2);

	/* Corrupted tables: each attach decodes or refuses, in one line. */
	int refused = 0;
	for (uint64_t at = lo; at < hi + 512; at += (hi - lo) / 97) {
		uint8_t *b = syn_host(&f->s, syn_slid(&f->s, at), 8), old[8];
		memcpy(old, b, 8);
		memset(b, 0xa5, 8);
		g2 = guestos_attach(k2, &f->s.target, err, sizeof(err));
		assert_non_null(g2);
		err[0] = 0;
		if (guestos_symbol_lookup(g2, "init_task", &y, err, sizeof(err))) {
			assert_one_line(err, NULL);
			refused++;
		}
		guestos_detach(g2);
		memcpy(b, old, 8);
	}
	assert_true(refused > 0);
	guestos_kernel_free(k2);
}

static void test_symbols(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_symbol y;
	char err[256];

	assert_int_equal(guestos_symbol_lookup(f->g, "init_task", &y, err, sizeof(err)), 0);
	assert_int_equal(y.addr, syn_slid(&f->s, f->k->sym_init_task));
	assert_string_equal(y.module, "");
	/* Per-CPU symbols are offsets: the slide does not apply. */
	assert_int_equal(guestos_symbol_lookup(f->g, "current_task", &y, err, sizeof(err)), 0);
	assert_int_equal(y.addr, f->k->sym_current_task);
	assert_int_equal(guestos_symbol_at(f->g, syn_slid(&f->s, f->k->sym_entry_syscall) + 5, &y, err, sizeof(err)),
	                 0);
	assert_string_equal(y.name, "entry_SYSCALL_64");
	assert_int_equal(y.offset, 5);
	/* Module symbols, from the modules' own symbol tables. */
	assert_int_equal(guestos_symbol_lookup(f->g, "virtblk_probe", &y, err, sizeof(err)), 0);
	assert_int_equal(y.addr, SYN_MOD_BASE + 0x100);
	assert_string_equal(y.module, "virtio_blk");
	assert_int_equal(guestos_symbol_lookup(f->g, "ext4:ext4_fill_super", &y, err, sizeof(err)), 0);
	assert_int_equal(y.addr, SYN_MOD_BASE + 0x12000);
	assert_int_equal(guestos_symbol_lookup(f->g, "ext4:virtblk_probe", &y, err, sizeof(err)), -1);
	assert_one_line(err, "no symbol virtblk_probe in module ext4");
	assert_int_equal(guestos_symbol_at(f->g, SYN_MOD_BASE + 0x410, &y, err, sizeof(err)), 0);
	assert_string_equal(y.name, "virtblk_remove");
	assert_string_equal(y.module, "virtio_blk");
	assert_int_equal(y.offset, 0x10);
	assert_int_equal(guestos_symbol_lookup(f->g, "no_such_symbol_anywhere", &y, err, sizeof(err)), -1);
	assert_one_line(err, "no symbol no_such_symbol_anywhere");
	assert_int_equal(guestos_symbol_at(f->g, 0x1234, &y, err, sizeof(err)), -1);
	assert_one_line(err, "no symbol at 0x1234");
}

static void test_read_memory(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	char buf[256], err[256];
	const char *banner = synth_banner(f->k);

	assert_int_equal(
	        guestos_read_kernel(f->g, syn_slid(&f->s, f->k->sym_banner), buf, strlen(banner) + 1, err, sizeof(err)),
	        0);
	assert_string_equal(buf, banner);
	assert_int_equal(guestos_read_process(f->g, 42, SYN_USER_DATA, buf, 25, err, sizeof(err)), 0);
	assert_string_equal(buf, "user data of the process");
	/* A read across the end of the mapped page is all or nothing. */
	assert_int_equal(guestos_read_process(f->g, 42, SYN_USER_DATA + 4090, buf, 10, err, sizeof(err)), -1);
	assert_one_line(err, "process 42 has no memory at 0x400ffa+10");
	assert_int_equal(guestos_read_process(f->g, 2, SYN_USER_DATA, buf, 8, err, sizeof(err)), -1);
	assert_one_line(err, "process 2 has no user memory");
	assert_int_equal(guestos_read_process(f->g, 999, SYN_USER_DATA, buf, 8, err, sizeof(err)), -1);
	assert_one_line(err, "no process 999");
	assert_int_equal(guestos_read_kernel(f->g, 0xffff000000000000ULL, buf, 8, err, sizeof(err)), -1);
	assert_one_line(err, "not mapped");
}

static void test_files(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_file *fl;
	size_t n;
	char err[256];

	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(fl[i].fd, i);
		assert_false(fl[i].path_cut);
	}
	for (int i = 0; i < 3; i++)
		assert_string_equal(fl[i].path, "/dev/console");
	assert_string_equal(fl[3].path, "pipe:[4242]");       /* named by pipefs_dname */
	assert_string_equal(fl[4].path, "nsfs:[4026531840]"); /* a d_dname this layer does not know */
	assert_string_equal(fl[5].path, "/tmp/x/y.txt");      /* across the /tmp mount */
	assert_string_equal(fl[6].path, "/tmp/x/gone (deleted)");
	free(fl);
	assert_int_equal(guestos_files(f->g, 2, &fl, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(fl);
	assert_int_equal(guestos_files(f->g, 7, &fl, &n, err, sizeof(err)), -1);
	assert_one_line(err, "no process 7");
}

/* 5-level paging: the same scene under a PML5. */
static void test_la57(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_process *p;
	struct guestos_file *fl;
	size_t n;
	char buf[32], err[256];

	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	assert_true(f->g->la57);
	assert_int_equal(n, 4);
	assert_string_equal(p[3].cmdline, "sh -c echo hi");
	free(p);
	assert_int_equal(guestos_read_process(f->g, 42, SYN_USER_DATA, buf, 25, err, sizeof(err)), 0);
	assert_string_equal(buf, "user data of the process");
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), 0);
	assert_string_equal(fl[5].path, "/tmp/x/y.txt");
	free(fl);
}

/* A guest that keeps adding and removing kthreadd while the list is read,
 * writing the pointers one at a time as a CPU would. */
struct churn {
	struct synth *s;
	atomic_bool stop;
};

static void *churn_task_list(void *arg)
{
	struct churn *c = arg;
	struct synth *s = c->s;
	const struct gos_layout *l = &s->k->layout;
	uint64_t init = s->init.task + l->task_tasks.off, kt = s->kthreadd.task + l->task_tasks.off,
	         sh = s->sh.task + l->task_tasks.off;

	while (!atomic_load(&c->stop)) {
		syn_put(s, init, &l->list_next, sh); /* list_del(kthreadd) */
		syn_put(s, sh, &l->list_prev, init);
		syn_put(s, init, &l->list_next, kt); /* list_add(kthreadd) after init */
		syn_put(s, sh, &l->list_prev, kt);
	}
	return NULL;
}

static void test_changing_task_list(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct churn c = { .s = &f->s };
	pthread_t th;
	int ok = 0, busy = 0;
	char err[256];

	assert_int_equal(pthread_create(&th, NULL, churn_task_list, &c), 0);
	double t0 = now();
	while (now() - t0 < 0.3) {
		struct guestos_process *p;
		size_t n;
		if (guestos_processes(f->g, &p, &n, err, sizeof(err))) {
			assert_one_line(err, "guestos: list");
			busy++;
			continue;
		}
		/* Never a torn list: exactly one of the two states the guest
		 * moves between. */
		assert_true(n == 3 || n == 4);
		assert_int_equal(p[0].pid, 0);
		assert_int_equal(p[1].pid, 1);
		if (n == 4)
			assert_int_equal(p[2].pid, 2);
		assert_int_equal(p[n - 1].pid, 42);
		free(p);
		ok++;
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	print_message("changing list: %d consistent answers, %d refused as changing\n", ok, busy);
	assert_true(ok + busy > 0);
}

/* The guest rewires its task list into a loop that skips the head. */
static void test_hostile_task_loop(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	struct guestos_process *p;
	size_t n;
	char err[256];

	syn_put(&f->s, f->s.sh.task + l->task_tasks.off, &l->list_next, f->s.init.task + l->task_tasks.off);
	double t0 = now();
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_true(now() - t0 < 2.0);
	assert_one_line(err, "guestos: list");
	/* A loop whose back links agree: init <-> kthreadd, never back to the head. */
	uint64_t ring[] = { f->s.init.task + l->task_tasks.off, f->s.kthreadd.task + l->task_tasks.off };
	syn_ring(&f->s, ring, 2);
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_one_line(err, "guestos: list");
	/* Other queries that walk the list fail the same way. */
	struct guestos_file *fl;
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), -1);
	assert_one_line(err, "guestos: list");
}

static void test_hostile_outside_ram(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	const uint64_t beyond = SYN_PAGE_OFFSET + (512ULL << 20); /* mapped, but no RAM */
	struct guestos_process *p;
	size_t n;
	char buf[8], err[256];

	/* sh's cred, mm->pgd and parent point outside RAM: still listed,
	 * with unknowns marked as such. */
	syn_put(&f->s, f->s.sh.task, &l->task_cred, beyond);
	syn_put(&f->s, f->s.sh.mm, &l->mm_pgd, beyond);
	syn_put(&f->s, f->s.sh.task, &l->task_real_parent, beyond);
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	const struct guestos_process *sh = find_pid(p, n, 42);
	assert_non_null(sh);
	assert_int_equal(sh->uid, UINT32_MAX);
	assert_int_equal(sh->ppid, -1);
	assert_string_equal(sh->cmdline, "");
	free(p);
	assert_int_equal(guestos_read_process(f->g, 42, SYN_USER_DATA, buf, 8, err, sizeof(err)), -1);
	assert_one_line(err, NULL);
	/* A page table entry that points outside RAM. */
	uint64_t *pt = gpa_to_host(&f->s.mem, syn_pa(&f->s, f->s.sh.pgd), 8);
	pt[0] = 0x7fff0000000ULL | PTE_P | PTE_RW | PTE_US;
	assert_int_equal(guestos_read_process(f->g, 42, SYN_USER_DATA, buf, 8, err, sizeof(err)), -1);
	/* The task list itself leaves RAM. */
	syn_put(&f->s, f->s.init.task + l->task_tasks.off, &l->list_next, beyond);
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_one_line(err, "is not readable");
	/* The fd table of sh lies outside RAM. */
	syn_ring(&f->s,
	         (uint64_t[]){ syn_slid(&f->s, f->k->sym_init_task) + l->task_tasks.off,
	                       f->s.sh.task + l->task_tasks.off },
	         2);
	syn_put(&f->s, f->s.sh.fdt, &l->fdt_fd, beyond);
	struct guestos_file *fl;
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), -1);
	assert_one_line(err, "descriptor array is not readable");
}

static void test_hostile_strings(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	struct guestos_process *p;
	struct guestos_module *m;
	size_t n;
	char err[256];
	uint8_t junk[64];

	/* comm with no NUL and control bytes; a 1 GiB command line. */
	memset(junk, 'A', sizeof(junk));
	junk[3] = '\n';
	junk[4] = 0x1b;
	syn_bytes(&f->s, f->s.sh.task + l->task_comm.off, junk, l->task_comm.size);
	syn_put(&f->s, f->s.sh.mm, &l->mm_arg_end, SYN_USER_ARGS + (1ULL << 30));
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	const struct guestos_process *sh = find_pid(p, n, 42);
	assert_non_null(sh);
	assert_int_equal(strlen(sh->comm), GUESTOS_COMM_LEN - 1);
	assert_memory_equal(sh->comm, "AAA??AAAAAAAAAA", 15);
	assert_true(sh->cmdline_cut);
	assert_int_equal(strncmp(sh->cmdline, "sh -c echo hi", 13), 0);
	free(p);
	/* An unterminated module name. */
	syn_bytes(&f->s, f->s.mod_a + l->module_name.off, junk + 5, l->module_name.size);
	assert_int_equal(guestos_modules(f->g, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(strlen(m[0].name), GUESTOS_MODNAME_LEN - 1);
	free(m);
	/* A dentry name length far beyond NAME_MAX. */
	syn_put(&f->s, f->s.d_y, &l->dentry_name_len, 0xffffffffu);
	struct guestos_file *fl;
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), 0);
	assert_true(strlen(fl[5].path) < GUESTOS_PATH_LEN);
	free(fl);
}

static void test_hostile_dentry_and_mount_loops(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	struct guestos_file *fl;
	size_t n;
	char err[256];

	/* x and y.txt are each other's parents. */
	syn_put(&f->s, f->s.d_x, &l->dentry_parent, f->s.d_y);
	double t0 = now();
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), 0);
	assert_true(now() - t0 < 2.0);
	assert_true(fl[5].path_cut);
	assert_string_equal(fl[0].path, "/dev/console");
	free(fl);
	/* Two mounts, each mounted on the other's root. */
	syn_put(&f->s, f->s.d_x, &l->dentry_parent, f->s.d_tmproot);
	uint64_t other = syn_mount(&f->s, f->s.m_tmp, f->s.d_tmproot, f->s.d_root);
	syn_put(&f->s, f->s.m_tmp, &l->mount_parent, other);
	syn_put(&f->s, f->s.m_tmp, &l->mount_mountpoint, f->s.d_root);
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), 0);
	assert_true(fl[5].path_cut);
	free(fl);
	/* A huge max_fds over a short array: bounded, then unreadable. */
	syn_put(&f->s, f->s.sh.fdt, &l->fdt_max_fds, 0xffffffffu);
	syn_put(&f->s, f->s.sh.fdt, &l->fdt_fd, SYN_PAGE_OFFSET + SYN_RAM - 4096);
	assert_int_equal(guestos_files(f->g, 42, &fl, &n, err, sizeof(err)), -1);
	assert_one_line(err, "descriptor array");
}

static void test_hostile_modules(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const struct gos_layout *l = &f->k->layout;
	struct guestos_symbol y;
	char err[256];

	/* A symbol count in the billions over a table near the end of RAM, and
	 * a string table pointer outside it. */
	uint64_t ks = SYN_PAGE_OFFSET + SYN_RAM - 8192;
	syn_put(&f->s, f->s.mod_a, &l->module_kallsyms, ks);
	syn_put(&f->s, ks, &l->kallsyms_symtab, SYN_PAGE_OFFSET + SYN_RAM - 4096);
	syn_put(&f->s, ks, &l->kallsyms_num_symtab, 0xffffffffu);
	syn_put(&f->s, ks, &l->kallsyms_strtab, SYN_PAGE_OFFSET + (1ULL << 31));
	double t0 = now();
	assert_int_equal(guestos_symbol_at(f->g, SYN_MOD_BASE + 0x10, &y, err, sizeof(err)), -1);
	assert_one_line(err, "symbols are unreadable");
	assert_int_equal(guestos_symbol_lookup(f->g, "ext4_fill_super", &y, err, sizeof(err)), 0);
	assert_true(now() - t0 < 2.0);
	/* Six modules that each claim 200000 symbols: one lookup reads at most
	 * GOS_MAX_SYMREADS of them. */
	uint64_t big = syn_alloc(&f->s, 200000 * sizeof(Elf64_Sym), 4096), kbig = syn_alloc(&f->s, 64, 64);
	syn_put(&f->s, kbig, &l->kallsyms_symtab, big);
	syn_put(&f->s, kbig, &l->kallsyms_num_symtab, 200000);
	syn_put(&f->s, kbig, &l->kallsyms_strtab, big);
	uint64_t ring[7] = { syn_slid(&f->s, f->k->sym_modules) };
	for (int i = 1; i < 7; i++) {
		uint64_t m = syn_module(&f->s, "many", SYN_MOD_BASE + 0x100000 * (uint64_t)i, 0x1000, NULL, NULL, 0);
		syn_put(&f->s, m, &l->module_kallsyms, kbig);
		ring[i] = m + l->module_list.off;
	}
	syn_ring(&f->s, ring, 7);
	t0 = now();
	assert_int_equal(guestos_symbol_lookup(f->g, "not_there", &y, err, sizeof(err)), -1);
	assert_true(now() - t0 < 5.0);
	assert_one_line(err, "in the first 1000000 module symbols");
	/* The module list points into itself. */
	syn_put(&f->s, ring[3], &l->list_next, ring[1]);
	struct guestos_module *m;
	size_t n;
	assert_int_equal(guestos_modules(f->g, &m, &n, err, sizeof(err)), -1);
	assert_one_line(err, "guestos: list");
}

static void test_hostile_lstar(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	struct guestos_process *p;
	size_t n;
	int64_t slide;
	char err[256];

	/* A guest that points LSTAR elsewhere, or an engine that cannot read
	 * it: the slide comes from scanning for the banner instead. */
	for (int cpu = 0; cpu < 2; cpu++)
		f->s.regs[cpu].lstar = 0xffffffff81234567ULL;
	assert_int_equal(guestos_kaslr_slide(f->g, &slide, err, sizeof(err)), 0);
	assert_int_equal(slide, SYN_SLIDE);
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	free(p);
	for (int cpu = 0; cpu < 2; cpu++)
		f->s.regs[cpu].lstar = 0;
	f->g->ready = false;
	assert_int_equal(guestos_kaslr_slide(f->g, &slide, err, sizeof(err)), 0);
	assert_int_equal(slide, SYN_SLIDE);
	/* CR3 outside RAM on every vCPU: nothing to find. */
	uint64_t cr3[2] = { f->s.regs[0].cr3, f->s.regs[1].cr3 };
	for (int cpu = 0; cpu < 2; cpu++)
		f->s.regs[cpu].cr3 = 0x7ff000000000ULL;
	f->g->ready = false;
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_one_line(err, "has not started yet");
	f->s.regs[1].lstar = 0xffffffff81234567ULL;
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_one_line(err, "is not this kernel's entry_SYSCALL_64");
	/* The guest comes back: the next query finds it again. */
	f->s.regs[1].cr3 = cr3[1];
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), 0);
	free(p);
	/* Another kernel's banner: a Linux, but not this one. */
	f->s.regs[0].cr3 = cr3[0];
	f->s.regs[1].lstar = f->s.regs[0].lstar = syn_slid(&f->s, f->k->sym_entry_syscall);
	syn_bytes(&f->s, syn_slid(&f->s, f->k->sym_banner), "Linux version 9.9.9-other", 26);
	assert_int_equal(guestos_processes(f->g, &p, &n, err, sizeof(err)), -1);
	assert_one_line(err, "is not this kernel's entry_SYSCALL_64");
}

/* A multiboot kernel, an ELF64 without BTF and junk are refused in one line,
 * before any VM is involved. */
static void test_not_linux(void **state)
{
	static const char map[] = "ffffffff81000000 T _text\nffffffff82000000 B _end\n";
	uint8_t image[8192] = { 0 };
	char err[256];
	(void)state;

	uint32_t mb[3] = { 0x1BADB002, 0x00010003, 0 };
	mb[2] = -(mb[0] + mb[1]);
	memcpy(image + 64, mb, sizeof(mb));
	assert_null(guestos_kernel_from_image(image, sizeof(image), map, sizeof(map) - 1, err, sizeof(err)));
	assert_one_line(err, "multiboot");

	Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	memset(image, 0, sizeof(image));
	memcpy(image, &eh, sizeof(eh));
	assert_null(guestos_kernel_from_image(image, sizeof(image), map, sizeof(map) - 1, err, sizeof(err)));
	assert_one_line(err, "no BTF");

	memset(image, 0x5a, sizeof(image));
	assert_null(guestos_kernel_from_image(image, sizeof(image), map, sizeof(map) - 1, err, sizeof(err)));
	assert_one_line(err, "not a Linux kernel");

	assert_null(guestos_kernel_load("/nonexistent/vmlinuz", "/nonexistent/System.map", err, sizeof(err)));
	assert_one_line(err, "guestos: /nonexistent/vmlinuz");
}

/* The real kernel with a System.map that lacks what the queries need. */
static void test_bad_system_map(void **state)
{
	struct fixture *f = fx(state);
	NEED_KERNEL(f);
	const char *dir = getenv("GUEST_DIR") ? getenv("GUEST_DIR") : "build/guest";
	char path[512], err[256];
	snprintf(path, sizeof(path), "%s/vmlinuz", dir);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *img = malloc(len);
	assert_int_equal(fread(img, 1, len, fp), (size_t)len);
	fclose(fp);

	static const char junk[] = "not a map\n\x01\x02\xff\n";
	assert_null(guestos_kernel_from_image(img, len, junk, sizeof(junk) - 1, err, sizeof(err)));
	assert_one_line(err, "System.map has no symbols");
	static const char partial[] = "ffffffff81000000 T _text\nffffffff83830000 B _end\n";
	assert_null(guestos_kernel_from_image(img, len, partial, sizeof(partial) - 1, err, sizeof(err)));
	assert_one_line(err, "System.map has no entry_SYSCALL_64");
	free(img);
}

static void test_symtab_parse(void **state)
{
	static const char map[] = "ffffffff81000000 T _text\n"
	                          "0000000000001000 D per_cpu_thing\n"
	                          "ffffffff81000100 t helper\n"
	                          "garbage line\n"
	                          "ffffffff81000200 T zeta\r\n"
	                          "ffffffff81000200 T alpha\n"
	                          "ffffffff82000000 B _end"; /* no final newline */
	struct gos_symtab s;
	uint64_t a;
	char err[256];
	(void)state;

	assert_int_equal(gos_symtab_parse(&s, map, sizeof(map) - 1, err, sizeof(err)), 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(gos_symtab_find(&s, "zeta", &a), 0);
	assert_int_equal(a, 0xffffffff81000200ULL);
	assert_int_equal(gos_symtab_find(&s, "per_cpu_thing", &a), 0);
	assert_int_equal(a, 0x1000);
	assert_int_equal(gos_symtab_find(&s, "nothing", &a), -1);
	assert_string_equal(gos_sym_name(&s, gos_symtab_at(&s, 0xffffffff81000150ULL)), "helper");
	assert_null(gos_symtab_at(&s, 0x1000)); /* outside _text.._end */
	gos_symtab_free(&s);
}

/* The member resolver on a BTF made here: anonymous struct in an anonymous
 * union, bitfields, an array of structs, a typedef and a const on the way. */
static void test_btf_members(void **state)
{
	struct btf *b = btf__new_empty();
	struct gos_field fl;
	(void)state;

	assert_non_null(b);
	int u32 = btf__add_int(b, "unsigned int", 4, 0);
	int u64 = btf__add_int(b, "long unsigned int", 8, 0);
	/* struct inner { u64 base; u32 size; } */
	int inner = btf__add_struct(b, "inner", 16);
	btf__add_field(b, "base", u64, 0, 0);
	btf__add_field(b, "size", u32, 64, 0);
	int inner_t = btf__add_typedef(b, "inner_t", inner);
	int inner_c = btf__add_const(b, inner_t);
	int arr = btf__add_array(b, u32, inner_c, 3);
	/* struct { u32 lo; u32 len:12, flags:4; } (anonymous) */
	int anon_s = btf__add_struct(b, NULL, 8);
	btf__add_field(b, "lo", u32, 0, 0);
	btf__add_field(b, "len", u32, 32, 12);
	btf__add_field(b, "flags", u32, 44, 4);
	int anon_u = btf__add_union(b, NULL, 8);
	btf__add_field(b, NULL, anon_s, 0, 0);
	btf__add_field(b, "whole", u64, 0, 0);
	/* struct outer { u64 a; union {...}; inner_t mem[3]; } */
	btf__add_struct(b, "outer", 64);
	btf__add_field(b, "a", u64, 0, 0);
	btf__add_field(b, NULL, anon_u, 64, 0);
	btf__add_field(b, "mem", arr, 128, 0);

	assert_int_equal(gos_btf_member(b, "outer", "lo", &fl), 0);
	assert_int_equal(fl.off, 8);
	assert_int_equal(fl.size, 4);
	assert_int_equal(gos_btf_member(b, "outer", "len", &fl), 0);
	assert_int_equal(fl.off, 12);
	assert_int_equal(fl.bit_off, 0);
	assert_int_equal(fl.bit_size, 12);
	uint8_t bytes[2] = { 0x34, 0xa2 }; /* len 0x234, flags 0xa */
	assert_int_equal(gos_field_get(&fl, bytes), 0x234);
	assert_int_equal(gos_btf_member(b, "outer", "flags", &fl), 0);
	assert_int_equal(fl.off, 13);
	assert_int_equal(fl.bit_off, 4);
	assert_int_equal(fl.bit_size, 4);
	assert_int_equal(gos_field_get(&fl, bytes + 1), 0xa);
	assert_int_equal(gos_btf_member(b, "outer", "mem.size", &fl), 0);
	assert_int_equal(fl.off, 24);
	assert_int_equal(fl.size, 4);
	assert_int_equal(gos_btf_member(b, "outer", "whole", &fl), 0);
	assert_int_equal(fl.off, 8);
	assert_int_equal(fl.size, 8);
	assert_int_equal(gos_btf_member(b, "outer", "missing", &fl), -1);
	assert_int_equal(gos_btf_member(b, "outer", "len.x", &fl), -1); /* into a bitfield */
	assert_int_equal(gos_btf_member(b, "nosuch", "a", &fl), -1);
	btf__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_layout),
		cmocka_unit_test_setup_teardown(test_kaslr_slide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_current, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symbols, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kallsyms_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_la57, setup_la57, teardown),
		cmocka_unit_test_setup_teardown(test_changing_task_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_task_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_dentry_and_mount_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_lstar, setup, teardown),
		cmocka_unit_test(test_not_linux),
		cmocka_unit_test(test_bad_system_map),
		cmocka_unit_test(test_symtab_parse),
		cmocka_unit_test(test_btf_members),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
