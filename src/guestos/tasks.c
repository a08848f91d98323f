/* Processes: the task list from init_task, each task's identity, owner,
 * state, name and command line, and the task each vCPU is running.
 *
 * The task states are the kernel's TASK_* bits, which are #defines and so
 * not in BTF; they have kept their values (and ps's letters for them) since
 * Linux 4.14. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define TASK_INTERRUPTIBLE   0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_STOPPED         0x0004
#define TASK_TRACED          0x0008
#define EXIT_DEAD            0x0010
#define EXIT_ZOMBIE          0x0020
#define TASK_PARKED          0x0040
#define TASK_NOLOAD          0x0400
#define PF_KTHREAD           0x00200000
#define KERNEL_VA_MIN        0xffff800000000000ULL

static char state_letter(uint64_t state, uint64_t exit_state)
{
	if (exit_state & EXIT_ZOMBIE)
		return 'Z';
	if (exit_state & EXIT_DEAD)
		return 'X';
	if ((state & (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)) == (TASK_UNINTERRUPTIBLE | TASK_NOLOAD))
		return 'I';
	if (state & TASK_INTERRUPTIBLE)
		return 'S';
	if (state & TASK_UNINTERRUPTIBLE)
		return 'D';
	if (state & TASK_STOPPED)
		return 'T';
	if (state & TASK_TRACED)
		return 't';
	if (state & TASK_PARKED)
		return 'P';
	return state ? '?' : 'R';
}

int gos_task_root(struct guestos *g, uint64_t task, uint64_t *root)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t mm, pgd;

	if (gos_kread_field(g, task, &l->task_mm, &mm) || mm < KERNEL_VA_MIN ||
	    gos_kread_field(g, mm, &l->mm_pgd, &pgd) || pgd < KERNEL_VA_MIN || (pgd & 0xfff) ||
	    gva_translate(g->t.mem, g->root, g->la57, pgd, root))
		return -1;
	return 0;
}

/* The command line from the process's own memory: arguments separated by
 * NULs, joined here by spaces.  Pages the guest has not populated or has
 * swapped out end it early; that is not an error. */
static void read_cmdline(struct guestos *g, uint64_t task, struct guestos_process *p)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t root, start, end, len;
	uint8_t buf[GUESTOS_CMDLINE_LEN];
	size_t got = 0;

	if (gos_task_root(g, task, &root))
		return;
	if (gos_kread_field(g, task, &l->task_mm, &start) || gos_kread_field(g, start, &l->mm_arg_end, &end) ||
	    gos_kread_field(g, start, &l->mm_arg_start, &start) || end <= start)
		return;
	len = end - start;
	if (len > sizeof(buf) - 1) {
		len = sizeof(buf) - 1;
		p->cmdline_cut = true;
	}
	while (got < len) {
		size_t chunk = 4096 - ((start + got) & 0xfff);
		if (chunk > len - got)
			chunk = len - got;
		if (gva_read(g->t.mem, root, g->la57, start + got, buf + got, chunk)) {
			p->cmdline_cut = true;
			break;
		}
		got += chunk;
	}
	while (got && buf[got - 1] == 0) /* the last argument's NUL */
		got--;
	for (size_t i = 0; i < got; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	if (gos_text(p->cmdline, sizeof(p->cmdline), buf, got))
		p->cmdline_cut = true;
}

/* Everything the queries report about the task at task. */
static int read_task(struct guestos *g, uint64_t task, struct guestos_process *p, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t pid, tgid, parent, ptgid = (uint32_t)-1, cred, uid = UINT32_MAX, euid = UINT32_MAX, state, exit_state,
	                            flags;
	uint8_t comm[64];

	memset(p, 0, sizeof(*p));
	p->task = task;
	if (gos_kread_field(g, task, &l->task_pid, &pid) || gos_kread_field(g, task, &l->task_tgid, &tgid) ||
	    gos_kread_field(g, task, &l->task_state, &state) ||
	    gos_kread_field(g, task, &l->task_exit_state, &exit_state) ||
	    gos_kread_field(g, task, &l->task_flags, &flags) ||
	    gos_kread(g, task + l->task_comm.off, comm, l->task_comm.size))
		return gos_err(err, errlen, "guestos: task 0x%" PRIx64 " is not readable", task);
	/* A parent or cred that cannot be read is reported as unknown (-1),
	 * never as 0, which would claim root or the idle task. */
	if (!gos_kread_field(g, task, &l->task_real_parent, &parent)) {
		if (parent == task)
			ptgid = 0;
		else if (gos_kread_field(g, parent, &l->task_tgid, &ptgid))
			ptgid = (uint32_t)-1;
	}
	if (gos_kread_field(g, task, &l->task_cred, &cred) || gos_kread_field(g, cred, &l->cred_uid, &uid) ||
	    gos_kread_field(g, cred, &l->cred_euid, &euid))
		uid = euid = UINT32_MAX;
	p->pid = (int32_t)pid;
	p->tgid = (int32_t)tgid;
	p->ppid = (int32_t)ptgid;
	p->uid = (uint32_t)uid;
	p->euid = (uint32_t)euid;
	p->state = state_letter(state, exit_state);
	p->kernel_thread = flags & PF_KTHREAD;
	gos_text(p->comm, sizeof(p->comm), comm, l->task_comm.size);
	if (!p->kernel_thread)
		read_cmdline(g, task, p);
	return 0;
}

/* The task list as task_struct addresses: init_task first, then the ring. */
static int task_snapshot(struct guestos *g, uint64_t **tasks, size_t *n, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t init = gos_slid(g, g->k->sym_init_task);
	uint64_t *nodes;
	size_t count;

	if (gos_list_snapshot(g, init + l->task_tasks.off, GOS_MAX_TASKS, &nodes, &count, err, errlen))
		return -1;
	/* The nodes are the tasks' list_heads; make room for init_task in front. */
	uint64_t *t = malloc((count + 1) * sizeof(*t));
	if (!t) {
		free(nodes);
		return gos_err(err, errlen, "guestos: out of memory");
	}
	t[0] = init;
	for (size_t i = 0; i < count; i++)
		t[i + 1] = nodes[i] - l->task_tasks.off;
	free(nodes);
	*tasks = t;
	*n = count + 1;
	return 0;
}

int guestos_processes(struct guestos *g, struct guestos_process **out, size_t *n, char *err, size_t errlen)
{
	uint64_t *tasks;
	size_t count, got = 0;
	struct guestos_process *p;

	*out = NULL;
	*n = 0;
	if (gos_ready(g, err, errlen) || task_snapshot(g, &tasks, &count, err, errlen))
		return -1;
	p = calloc(count, sizeof(*p));
	if (!p) {
		free(tasks);
		return gos_err(err, errlen, "guestos: out of memory");
	}
	/* A task that vanished between the snapshot and now is left out. */
	for (size_t i = 0; i < count; i++)
		if (!read_task(g, tasks[i], &p[got], NULL, 0))
			got++;
	free(tasks);
	*out = p;
	*n = got;
	return 0;
}

int gos_task_by_pid(struct guestos *g, int32_t pid, uint64_t *task, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t *tasks, v;
	size_t count;

	if (task_snapshot(g, &tasks, &count, err, errlen))
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (!gos_kread_field(g, tasks[i], &l->task_pid, &v) && (int32_t)v == pid) {
			*task = tasks[i];
			free(tasks);
			return 0;
		}
	}
	free(tasks);
	return gos_err(err, errlen, "guestos: no process %" PRId32, pid);
}

/* The per-CPU area of cpu: its GS base (the kernel's while in the kernel,
 * the one SWAPGS put aside while in user mode) when that is one of the
 * kernel's __per_cpu_offset[] entries, else __per_cpu_offset[cpu]. */
static int per_cpu_base(struct guestos *g, int cpu, uint64_t *base)
{
	const struct guestos_kernel *k = g->k;
	struct guestos_regs r;
	uint64_t offsets_va = gos_slid(g, k->sym_per_cpu_offset), own;

	if (gos_kread_u64(g, offsets_va + (uint64_t)cpu * 8, &own))
		return -1;
	memset(&r, 0, sizeof(r));
	if (!g->t.get_regs(g->t.opaque, cpu, &r)) {
		uint64_t cand[2] = { r.cpl == 0 ? r.gs_base : r.kernel_gs_base,
			             r.cpl == 0 ? r.kernel_gs_base : r.gs_base };
		for (int c = 0; c < 2; c++) {
			for (int i = 0; i < g->t.ncpus; i++) {
				uint64_t off;
				if (!gos_kread_u64(g, offsets_va + (uint64_t)i * 8, &off) && off == cand[c] && off) {
					*base = off;
					return 0;
				}
			}
		}
	}
	*base = own;
	return 0;
}

int guestos_current(struct guestos *g, int cpu, struct guestos_process *out, char *err, size_t errlen)
{
	uint64_t base, task;

	if (cpu < 0 || cpu >= g->t.ncpus)
		return gos_err(err, errlen, "guestos: no vCPU %d (the VM has %d)", cpu, g->t.ncpus);
	if (gos_ready(g, err, errlen))
		return -1;
	if (per_cpu_base(g, cpu, &base) || gos_kread_u64(g, base + g->k->sym_current_task, &task) ||
	    task < KERNEL_VA_MIN)
		return gos_err(err, errlen, "guestos: vCPU %d's current task is not readable", cpu);
	return read_task(g, task, out, err, errlen);
}

int guestos_current_id(struct guestos *g, int cpu, struct guestos_task_id *out, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t base, task, pid, tgid;
	uint8_t comm[64];

	if (cpu < 0 || cpu >= g->t.ncpus)
		return gos_err(err, errlen, "guestos: no vCPU %d (the VM has %d)", cpu, g->t.ncpus);
	if (gos_ready(g, err, errlen))
		return -1;
	if (per_cpu_base(g, cpu, &base) || gos_kread_u64(g, base + g->k->sym_current_task, &task) ||
	    task < KERNEL_VA_MIN || gos_kread_field(g, task, &l->task_pid, &pid) ||
	    gos_kread_field(g, task, &l->task_tgid, &tgid) ||
	    gos_kread(g, task + l->task_comm.off, comm, l->task_comm.size))
		return gos_err(err, errlen, "guestos: vCPU %d's current task is not readable", cpu);
	out->task = task;
	out->pid = (int32_t)pid;
	out->tgid = (int32_t)tgid;
	gos_text(out->comm, sizeof(out->comm), comm, l->task_comm.size);
	return 0;
}

int guestos_read_process(struct guestos *g, int32_t pid, uint64_t va, void *buf, size_t len, char *err, size_t errlen)
{
	uint64_t task, root;

	if (gos_ready(g, err, errlen) || gos_task_by_pid(g, pid, &task, err, errlen))
		return -1;
	if (gos_task_root(g, task, &root))
		return gos_err(err, errlen, "guestos: process %" PRId32 " has no user memory", pid);
	if (gva_read(g->t.mem, root, g->la57, va, buf, len))
		return gos_err(err, errlen, "guestos: process %" PRId32 " has no memory at 0x%" PRIx64 "+%zu", pid, va,
		               len);
	return 0;
}
