// SPDX-License-Identifier: GPL-2.0
/*
 * symbiotic: the guest side of symbiont's symbiotic interfaces (docs/abi.md).
 *
 * SymSpy: one global page and one page per CPU, their physical addresses
 * written to symbiont's MSRs, which the VMM reads without any exit.  The
 * global page (kernel release, KASLR base, memory totals, load average,
 * run-queue lengths) is rewritten every UPDATE_MS by a deferrable work (an
 * idle guest is not woken for it); a CPU's
 * page (its current task) on every context switch, from the sched_switch
 * tracepoint.  Each page carries a seqcount so the VMM can tell a torn copy.
 * With them, a ring of the kernel's own page-cache insertions and deletions
 * (abi/pcache.h), from the filemap tracepoints: the ground truth the VMM
 * scores its passive inference (Geiger) against.
 *
 * SymCall: each CPU registers an entry point, a stack of its own, its GS
 * base and a call area through MSRs.  The VMM enters symcall_entry() on a
 * stopped vCPU with interrupts off; the handler answers in the call area,
 * rings the doorbell port and spins until the VMM restores the vCPU.  It
 * may have interrupted anything (user mode, an interrupt handler, code
 * holding locks), so it takes no lock and sleeps on nothing: the process
 * list is an RCU walk, and a CPU on which RCU is not watching (idle) answers
 * EBUSY so that the VMM tries again later.
 *
 * On a machine that is not symbiont (no signature in the hypervisor CPUID
 * leaves, or neither feature bit) the module loads, says so once and does
 * nothing.  CPUs that come online after the module loaded take no part.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kallsyms.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/path.h>
#include <linux/xarray.h>
#include <linux/umh.h>
#include <linux/vmalloc.h>
#include <linux/pgtable.h>
#include <linux/pid_namespace.h>
#include <linux/sched/mm.h>
#include <linux/rcupdate.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/sched/loadavg.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <linux/utsname.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#include <asm/cpufeature.h>
#include <asm/io.h>
#include <asm/msr.h>
#include <asm/page.h>
#include <asm/segment.h>

#include "symbiont/abi/cpuid.h"
#include "symbiont/abi/pcache.h"
#include "symbiont/abi/symcall.h"
#include "symbiont/abi/symspy.h"
#include "symbiotic.h"

#define UPDATE_MS 100
#define KB(pages) ((u64)(pages) << (PAGE_SHIFT - 10))
/* Where the kernel is linked (__START_KERNEL): KASLR moves it in 2 MiB steps. */
#define KERNEL_LINK_BASE 0xffffffff81000000ul
#define KASLR_ALIGN      0x200000ul

static struct sym_symspy_global *global;
static DEFINE_PER_CPU(struct sym_symspy_cpu *, cpu_page);
static struct tracepoint *tp_switch;
static struct delayed_work update_work;
static unsigned long kaslr_base;

#define CALL_STACK_ORDER 2 /* 16 KiB */
static DEFINE_PER_CPU(struct sym_symcall_area *, call_area);
static DEFINE_PER_CPU(void *, call_stack);
static bool calls_on;

static bool symbiont_has(u32 feature)
{
	u32 eax, ebx, ecx, edx;

	if (!boot_cpu_has(X86_FEATURE_HYPERVISOR))
		return false;
	cpuid(SYM_CPUID_LEAF_SIGNATURE, &eax, &ebx, &ecx, &edx);
	if (ebx != SYM_CPUID_SIG_EBX || ecx != SYM_CPUID_SIG_ECX || edx != SYM_CPUID_SIG_EDX ||
	    eax < SYM_CPUID_LEAF_INFO)
		return false;
	cpuid(SYM_CPUID_LEAF_INFO, &eax, &ebx, &ecx, &edx);
	return eax >= 1 && (ecx & feature);
}

/* Seqcount writer side: the VMM copies between two equal even values. */
static void write_begin(u32 *seq)
{
	WRITE_ONCE(*seq, *seq + 1);
	smp_wmb();
}

static void write_end(u32 *seq)
{
	smp_wmb();
	WRITE_ONCE(*seq, *seq + 1);
}

/*
 * The run-time address of _text, which modules cannot name: the kernel
 * starts on a 2 MiB boundary at or below any of its functions, and kallsyms
 * names that boundary _text (or startup_64, its alias).
 */
static unsigned long find_kaslr_base(void)
{
	char name[KSYM_SYMBOL_LEN];
	unsigned long a = (unsigned long)&_printk & ~(KASLR_ALIGN - 1);
	int i;

	for (i = 0; i < 512 && a >= __START_KERNEL_map; i++, a -= KASLR_ALIGN) {
		sprint_symbol(name, a);
		if (str_has_prefix(name, "_text+0x0/") || str_has_prefix(name, "startup_64+0x0/"))
			return a;
	}
	return 0;
}

static void update_global(void)
{
	struct sym_symspy_global *g = global;
	u32 rq[SYM_SYMSPY_MAX_CPUS] = {};
	struct task_struct *p, *t;
	u32 running = 0, tasks = 0;
	struct sysinfo si;
	unsigned long avail;
	long cached;

	si_meminfo(&si);
	avail = si_mem_available();
	cached = global_node_page_state(NR_FILE_PAGES) - global_node_page_state(NR_SWAPCACHE) - si.bufferram;
	if (cached < 0)
		cached = 0;

	rcu_read_lock();
	for_each_process_thread(p, t)
	{
		tasks++;
		if (task_is_running(t)) {
			unsigned int cpu = task_cpu(t);

			running++;
			if (cpu < SYM_SYMSPY_MAX_CPUS)
				rq[cpu]++;
		}
	}
	rcu_read_unlock();

	write_begin(&g->seq);
	g->updates++;
	g->update_ns = ktime_get_ns();
	g->kaslr_base = kaslr_base;
	g->mem_total_kb = KB(si.totalram);
	g->mem_free_kb = KB(si.freeram);
	g->mem_available_kb = KB(avail);
	g->page_cache_kb = KB(cached);
	g->anon_kb = KB(global_node_page_state(NR_ANON_MAPPED));
	g->buffers_kb = KB(si.bufferram);
	g->loadavg[0] = avenrun[0] >> (FSHIFT - SYM_SYMSPY_FSHIFT);
	g->loadavg[1] = avenrun[1] >> (FSHIFT - SYM_SYMSPY_FSHIFT);
	g->loadavg[2] = avenrun[2] >> (FSHIFT - SYM_SYMSPY_FSHIFT);
	g->nr_cpus = num_online_cpus();
	g->nr_running = running;
	g->nr_tasks = tasks;
	memcpy(g->rq_len, rq, sizeof(g->rq_len));
	strscpy_pad(g->release, init_utsname()->release, sizeof(g->release));
	write_end(&g->seq);
}

static void update_fn(struct work_struct *work)
{
	update_global();
	schedule_delayed_work(&update_work, msecs_to_jiffies(UPDATE_MS));
}

/* On the CPU itself, interrupts off (the scheduler, or an IPI). */
static void set_current_task(struct sym_symspy_cpu *c, struct task_struct *next)
{
	write_begin(&c->seq);
	c->switches++;
	c->switch_ns = ktime_get_mono_fast_ns();
	c->pid = next->pid;
	c->tgid = next->tgid;
	memcpy(c->comm, next->comm, sizeof(c->comm));
	c->comm[sizeof(c->comm) - 1] = '\0';
	write_end(&c->seq);
}

static void probe_switch(void *data, bool preempt, struct task_struct *prev, struct task_struct *next,
                         unsigned int prev_state)
{
	struct sym_symspy_cpu *c = this_cpu_read(cpu_page);

	if (c)
		set_current_task(c, next);
}

/* ---- the page-cache ring (abi/pcache.h) ---------------------------------- */

#define PCACHE_ORDER_MAX 8 /* 1 MiB, 21844 records */
#define PCACHE_ORDER_MIN 4 /* what is left when memory is fragmented */

static struct sym_pcache_ring *pcache;
static unsigned int pcache_order;
static struct tracepoint *tp_pc_add, *tp_pc_del;

/* Any CPU, any context the filemap code runs in: a claimed slot, no lock. */
static void pcache_record(struct folio *folio, u16 op)
{
	struct sym_pcache_ring *r = READ_ONCE(pcache);
	struct address_space *mapping = folio->mapping;
	struct inode *host = mapping ? mapping->host : NULL;
	struct sym_pcache_rec *rec;
	u64 idx;

	if (!r)
		return;
	idx = (u64)atomic64_fetch_add(1, (atomic64_t *)&r->head);
	rec = (struct sym_pcache_rec *)(r + 1) + idx % r->nrec;
	WRITE_ONCE(rec->seq, 0);
	smp_wmb();
	rec->tsc = rdtsc_ordered();
	rec->pfn = folio_pfn(folio);
	rec->index = folio->index;
	rec->ino = host ? host->i_ino : 0;
	rec->dev = host ? (host->i_sb ? host->i_sb->s_dev : host->i_rdev) : 0;
	rec->op = op;
	rec->order = folio_order(folio);
	smp_wmb();
	WRITE_ONCE(rec->seq, idx + 1);
}

static void probe_pc_add(void *data, struct folio *folio)
{
	pcache_record(folio, SYM_PCACHE_ADD);
}

static void probe_pc_del(void *data, struct folio *folio)
{
	pcache_record(folio, SYM_PCACHE_DELETE);
}

static void pcache_stop(void)
{
	if (!pcache)
		return;
	wrmsr_safe(SYM_MSR_PCACHE_RING, 0, 0);
	tracepoint_probe_unregister(tp_pc_add, probe_pc_add, NULL);
	tracepoint_probe_unregister(tp_pc_del, probe_pc_del, NULL);
	tracepoint_synchronize_unregister();
	free_pages((unsigned long)pcache, pcache_order);
	pcache = NULL;
}

/* Best effort: a VMM that does not take the ring, or a kernel without the
 * tracepoints, leaves the rest of SymSpy as it is. */
static void pcache_start(void)
{
	struct sym_pcache_ring *r = NULL;
	unsigned int order;
	u64 v;

	if (!tp_pc_add || !tp_pc_del) {
		pr_info("no filemap tracepoints: no page-cache ring\n");
		return;
	}
	for (order = PCACHE_ORDER_MAX; order >= PCACHE_ORDER_MIN && !r; order--)
		r = (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, order);
	if (!r)
		return;
	order++;
	r->magic = SYM_PCACHE_MAGIC;
	r->layout = SYM_PCACHE_LAYOUT;
	r->rec_size = sizeof(struct sym_pcache_rec);
	r->nrec = ((PAGE_SIZE << order) - sizeof(*r)) / sizeof(struct sym_pcache_rec);
	v = __pa(r) | SYM_PCACHE_ENABLE;
	if (wrmsr_safe(SYM_MSR_PCACHE_RING, (u32)v, (u32)(v >> 32))) {
		free_pages((unsigned long)r, order);
		return;
	}
	pcache_order = order;
	WRITE_ONCE(pcache, r);
	if (tracepoint_probe_register(tp_pc_add, probe_pc_add, NULL)) {
		tp_pc_add = tp_pc_del = NULL;
		wrmsr_safe(SYM_MSR_PCACHE_RING, 0, 0);
		WRITE_ONCE(pcache, NULL);
		free_pages((unsigned long)r, order);
		return;
	}
	if (tracepoint_probe_register(tp_pc_del, probe_pc_del, NULL)) {
		tracepoint_probe_unregister(tp_pc_add, probe_pc_add, NULL);
		tracepoint_synchronize_unregister();
		tp_pc_add = tp_pc_del = NULL;
		wrmsr_safe(SYM_MSR_PCACHE_RING, 0, 0);
		WRITE_ONCE(pcache, NULL);
		free_pages((unsigned long)r, order);
		return;
	}
	pr_info("page-cache ring shared: %u records\n", r->nrec);
}

static void find_switch_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_switch"))
		tp_switch = tp;
	else if (!strcmp(tp->name, "mm_filemap_add_to_page_cache"))
		tp_pc_add = tp;
	else if (!strcmp(tp->name, "mm_filemap_delete_from_page_cache"))
		tp_pc_del = tp;
}

static int msr_set_page(u32 msr, void *page)
{
	u64 v = page ? (__pa(page) | SYM_SYMSPY_ENABLE) : 0;

	return wrmsr_safe(msr, (u32)v, (u32)(v >> 32));
}

static void cpu_register(void *failed)
{
	struct sym_symspy_cpu *c = this_cpu_read(cpu_page);

	set_current_task(c, current);
	if (msr_set_page(SYM_MSR_SYMSPY_CPU, c))
		atomic_inc(failed);
}

static void cpu_unregister(void *unused)
{
	msr_set_page(SYM_MSR_SYMSPY_CPU, NULL);
}

static int wrmsr64_safe(u32 msr, u64 v)
{
	return wrmsr_safe(msr, (u32)v, (u32)(v >> 32));
}

static u64 call_processes(struct sym_symcall_area *a, u32 *status)
{
	struct sym_symcall_proc *out = (struct sym_symcall_proc *)a->data;
	size_t max = SYM_SYMCALL_DATA_MAX / sizeof(*out), n = 0;
	struct task_struct *p;

	/* An idle CPU is in an RCU extended quiescent state: another CPU could
	 * free a task under this walk.  Let the VMM come back. */
	if (!rcu_is_watching() && num_online_cpus() > 1) {
		*status = SYM_SYMCALL_EBUSY;
		return 0;
	}
	rcu_read_lock();
	for_each_process(p)
	{
		struct sym_symcall_proc *r;

		if (n == max) {
			*status = SYM_SYMCALL_TRUNC;
			break;
		}
		r = &out[n++];
		r->pid = p->tgid;
		r->ppid = rcu_dereference(p->real_parent)->tgid;
		r->uid = from_kuid(&init_user_ns, task_uid(p));
		r->state = READ_ONCE(p->__state);
		r->flags = (p->flags & PF_KTHREAD) ? SYM_PROC_KTHREAD : 0;
		memcpy(r->comm, p->comm, sizeof(r->comm));
		r->comm[sizeof(r->comm) - 1] = '\0';
		r->pad = 0;
	}
	rcu_read_unlock();
	a->data_len = n * sizeof(*out);
	return n;
}

/*
 * A user process's mm, held (mmget), or NULL with *status set.  The
 * interrupted code may hold anything: locks are only tried, and a lock
 * that is taken makes the call answer EBUSY for the VMM to come back.
 */
static struct mm_struct *grab_mm(pid_t pid, u32 *status)
{
	struct task_struct *p;
	struct mm_struct *mm = NULL;

	if (!rcu_is_watching() && num_online_cpus() > 1) {
		*status = SYM_SYMCALL_EBUSY;
		return NULL;
	}
	rcu_read_lock();
	p = pid_task(find_pid_ns(pid, &init_pid_ns), PIDTYPE_PID);
	if (p && spin_trylock(&p->alloc_lock)) { /* task_lock(), tried */
		mm = p->mm;
		if (mm && !(p->flags & PF_KTHREAD))
			mmget(mm);
		else
			mm = NULL;
		spin_unlock(&p->alloc_lock);
		if (!mm)
			*status = SYM_SYMCALL_ENOENT;
	} else {
		*status = p ? SYM_SYMCALL_EBUSY : SYM_SYMCALL_ENOENT;
	}
	rcu_read_unlock();
	return mm;
}

/*
 * mmput() may sleep when it drops the last reference, and mmput_async()
 * then queues work, taking a workqueue lock the interrupted code may hold.
 * So the last reference (the process exited meanwhile: rare) goes to a
 * slot that an irq_work, run once interrupts are back on, hands to a
 * worker.  With every slot taken the reference is kept: the mm leaks
 * rather than deadlock.
 */
#define MM_SLOTS 16
static struct mm_struct *mm_to_put[MM_SLOTS];
static struct irq_work mm_put_kick;
static struct work_struct mm_put_work;

static void mm_put_fn(struct work_struct *w)
{
	int i;

	for (i = 0; i < MM_SLOTS; i++) {
		struct mm_struct *mm = xchg(&mm_to_put[i], NULL);

		if (mm)
			mmput(mm);
	}
}

static void mm_put_kick_fn(struct irq_work *w)
{
	schedule_work(&mm_put_work);
}

static void drop_mm(struct mm_struct *mm)
{
	int i;

	if (atomic_add_unless(&mm->mm_users, -1, 1))
		return;
	for (i = 0; i < MM_SLOTS; i++)
		if (!cmpxchg(&mm_to_put[i], NULL, mm))
			break;
	if (i < MM_SLOTS)
		irq_work_queue(&mm_put_kick);
}

static void vma_path(struct mm_struct *mm, struct vm_area_struct *vma, char *out, size_t len)
{
	char *p;

	out[0] = '\0';
	if (vma->vm_file) {
		/* d_path's first pass takes no lock; a rename racing it
		 * may make it take rename_lock, which nothing here holds. */
		p = d_path(&vma->vm_file->f_path, out, len);
		if (IS_ERR(p))
			out[0] = '\0';
		else if (p != out)
			memmove(out, p, strlen(p) + 1);
	} else if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk) {
		strscpy(out, "[heap]", len);
	} else if (vma->vm_start <= mm->start_stack && vma->vm_end >= mm->start_stack) {
		strscpy(out, "[stack]", len);
	}
}

static u64 call_vmas(struct sym_symcall_area *a, u32 *status)
{
	struct sym_symcall_vma *out = (struct sym_symcall_vma *)a->data;
	size_t max = SYM_SYMCALL_DATA_MAX / sizeof(*out), n = 0;
	struct mm_struct *mm = grab_mm((pid_t)READ_ONCE(a->args[0]), status);
	struct vm_area_struct *vma;

	if (!mm)
		return 0;
	if (!mmap_read_trylock(mm)) {
		*status = SYM_SYMCALL_EBUSY;
		drop_mm(mm);
		return 0;
	}
	{
		VMA_ITERATOR(vmi, mm, 0);
		for_each_vma(vmi, vma)
		{
			struct sym_symcall_vma *r;

			if (n == max) {
				*status = SYM_SYMCALL_TRUNC;
				break;
			}
			r = &out[n++];
			memset(r, 0, sizeof(*r));
			r->start = vma->vm_start;
			r->end = vma->vm_end;
			r->pgoff = vma->vm_pgoff;
			r->flags = ((vma->vm_flags & VM_READ) ? SYM_VMA_READ : 0) |
			           ((vma->vm_flags & VM_WRITE) ? SYM_VMA_WRITE : 0) |
			           ((vma->vm_flags & VM_EXEC) ? SYM_VMA_EXEC : 0) |
			           ((vma->vm_flags & VM_SHARED) ? SYM_VMA_SHARED : 0);
			vma_path(mm, vma, r->path, sizeof(r->path));
		}
	}
	mmap_read_unlock(mm);
	drop_mm(mm);
	a->data_len = n * sizeof(*out);
	return n;
}

/* The page tables of mm, read under its mmap lock (so no table is freed). */
static u64 call_translate(struct sym_symcall_area *a, u32 *status)
{
	unsigned long addr = READ_ONCE(a->args[1]);
	struct mm_struct *mm = grab_mm((pid_t)READ_ONCE(a->args[0]), status);
	u64 phys = 0;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;
	pte_t *pte;

	if (!mm)
		return 0;
	if (!mmap_read_trylock(mm)) {
		*status = SYM_SYMCALL_EBUSY;
		drop_mm(mm);
		return 0;
	}
	*status = SYM_SYMCALL_ENOENT;
	if (addr >= TASK_SIZE_MAX)
		goto out;
	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd) || pgd_bad(*pgd))
		goto out;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d) || p4d_bad(*p4d))
		goto out;
	pud = pud_offset(p4d, addr);
	if (pud_none(*pud))
		goto out;
	if (pud_large(*pud)) {
		phys = ((u64)pud_pfn(*pud) << PAGE_SHIFT) | (addr & ~PUD_MASK);
		*status = SYM_SYMCALL_OK;
		goto out;
	}
	pmd = pmd_offset(pud, addr);
	if (pmd_none(*pmd))
		goto out;
	if (pmd_large(*pmd)) {
		phys = ((u64)pmd_pfn(*pmd) << PAGE_SHIFT) | (addr & ~PMD_MASK);
		*status = SYM_SYMCALL_OK;
		goto out;
	}
	pte = pte_offset_kernel(pmd, addr);
	if (pte_present(*pte)) {
		phys = ((u64)pte_pfn(*pte) << PAGE_SHIFT) | (addr & ~PAGE_MASK);
		*status = SYM_SYMCALL_OK;
	}
out:
	mmap_read_unlock(mm);
	drop_mm(mm);
	return phys;
}

/*
 * SymMod.  The call handler runs with interrupts off in whatever context
 * it interrupted, so allocating, writing a file and running insmod happen
 * in a worker; the calls start the work and answer EBUSY until it is done.
 */
#define SYMMOD_PATH "/symmod.ko"

enum symmod_state { SM_IDLE, SM_BUSY, SM_READY, SM_DONE };

static struct {
	atomic_t state; /* enum symmod_state */
	u32 op;         /* the call the worker does or did */
	void *buf;      /* SM_READY: want bytes */
	size_t want;
	long result; /* SM_DONE */
	char name[MODULE_NAME_LEN];
	struct work_struct work;
	struct irq_work kick; /* queues work: the call handler may have interrupted the workqueue's own lock holder */
} symmod;

static int run_helper(const char *prog, const char *arg)
{
	char *argv[] = { (char *)prog, (char *)arg, NULL };
	static char *envp[] = { "HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", NULL };

	return call_usermodehelper(argv[0], argv, envp, UMH_WAIT_PROC);
}

static long write_module_file(const void *buf, size_t len)
{
	struct file *f = filp_open(SYMMOD_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	loff_t pos = 0;
	ssize_t n;

	if (IS_ERR(f))
		return PTR_ERR(f);
	n = kernel_write(f, buf, len, &pos);
	filp_close(f, NULL);
	return n == (ssize_t)len ? 0 : n < 0 ? n : -EIO;
}

static void symmod_work(struct work_struct *w)
{
	long r = 0;

	switch (symmod.op) {
	case SYM_SYMCALL_SYMMOD_BEGIN:
		vfree(symmod.buf);
		symmod.buf = vzalloc(symmod.want);
		atomic_set(&symmod.state, symmod.buf ? SM_READY : SM_DONE);
		symmod.result = symmod.buf ? 0 : -ENOMEM;
		return;
	case SYM_SYMCALL_SYMMOD_LOAD:
		r = write_module_file(symmod.buf, symmod.want);
		if (!r)
			r = run_helper("/sbin/insmod", SYMMOD_PATH);
		vfree(symmod.buf);
		symmod.buf = NULL;
		break;
	case SYM_SYMCALL_SYMMOD_UNLOAD: r = run_helper("/sbin/rmmod", symmod.name); break;
	}
	symmod.result = r;
	smp_wmb(); /* the result before the state that says it is there */
	atomic_set(&symmod.state, SM_DONE);
}

/* In hard interrupt context, once the interrupted code has let interrupts
 * in again: then no workqueue lock is held on this CPU. */
static void symmod_kick(struct irq_work *w)
{
	schedule_work(&symmod.work);
}

/* Starts op in the worker, or answers from it: EBUSY until done. */
static u64 symmod_step(u32 op, u32 *status)
{
	int st = atomic_read(&symmod.state);

	if (st == SM_DONE && symmod.op == op) {
		smp_rmb();
		atomic_set(&symmod.state, op == SYM_SYMCALL_SYMMOD_BEGIN && !symmod.result ? SM_READY : SM_IDLE);
		return (u64)symmod.result;
	}
	if (st == SM_BUSY) {
		*status = SYM_SYMCALL_EBUSY;
		return 0;
	}
	symmod.op = op;
	atomic_set(&symmod.state, SM_BUSY);
	irq_work_queue(&symmod.kick); /* lockless, from any context */
	*status = SYM_SYMCALL_EBUSY;
	return 0;
}

static u64 call_symmod(struct sym_symcall_area *a, u32 call, u32 *status)
{
	u64 off = READ_ONCE(a->args[0]), len = READ_ONCE(a->args[1]);

	switch (call) {
	case SYM_SYMCALL_SYMMOD_BEGIN:
		if (off == 0 || off > SYM_SYMMOD_MAX)
			return (u64)-EINVAL;
		if (atomic_read(&symmod.state) == SM_READY && symmod.want == off && symmod.op == call)
			return 0;
		if (atomic_read(&symmod.state) != SM_BUSY)
			symmod.want = off;
		return symmod_step(call, status);
	case SYM_SYMCALL_SYMMOD_DATA:
		if (atomic_read(&symmod.state) != SM_READY || len > SYM_SYMCALL_DATA_MAX || off > symmod.want ||
		    len > symmod.want - off)
			return (u64)-EINVAL;
		memcpy(symmod.buf + off, a->data, len);
		return len;
	case SYM_SYMCALL_SYMMOD_LOAD:
		if (atomic_read(&symmod.state) == SM_READY)
			return symmod_step(call, status);
		if (atomic_read(&symmod.state) == SM_IDLE)
			return (u64)-EINVAL;
		return symmod_step(call, status);
	case SYM_SYMCALL_SYMMOD_UNLOAD:
		if (atomic_read(&symmod.state) != SM_BUSY &&
		    !(atomic_read(&symmod.state) == SM_DONE && symmod.op == call)) {
			if (strnlen(a->data, sizeof(symmod.name)) == sizeof(symmod.name))
				return (u64)-EINVAL;
			strscpy(symmod.name, a->data, sizeof(symmod.name));
		}
		return symmod_step(call, status);
	}
	*status = SYM_SYMCALL_ENOSYS;
	return 0;
}

/*
 * The page cache of a file by path.  Resolving a path may sleep (a lookup
 * that misses the dentry cache reads the disk) and so may writeback, so a
 * worker does both, as for SymMod: the call starts it and answers EBUSY
 * until the same call (same path, same first index) finds it done.
 */
static struct {
	atomic_t state; /* enum symmod_state: IDLE, BUSY or DONE */
	u32 op;
	u64 start;
	char path[SYM_SYMCALL_PATH_MAX];
	long err; /* DONE: 0 or -errno */
	u64 ret;
	void *out; /* DONE: out_len bytes for data[] */
	size_t out_len;
	struct work_struct work;
	struct irq_work kick;
} fcache;

/* Its cached pages from start on, each folio held while it is read. */
static u64 fcache_list(struct address_space *mapping, u64 start, struct sym_symcall_fcache *head)
{
	struct sym_symcall_fcache_page *rec = (void *)(head + 1);
	size_t max = (SYM_SYMCALL_DATA_MAX - sizeof(*head)) / sizeof(*rec);
	XA_STATE(xas, &mapping->i_pages, start);
	struct folio *folio;
	u32 n = 0;

	head->next = SYM_FCACHE_END;
	rcu_read_lock();
	xas_for_each(&xas, folio, ULONG_MAX)
	{
		unsigned long i, nr;
		u64 pfn;
		pgoff_t first;

		if (xas_retry(&xas, folio) || xa_is_value(folio))
			continue; /* a shadow or swap entry: not in memory */
		if (!folio_try_get_rcu(folio)) {
			xas_reset(&xas);
			continue;
		}
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			xas_reset(&xas);
			continue;
		}
		first = folio->index;
		nr = folio_nr_pages(folio);
		pfn = folio_pfn(folio);
		folio_put(folio);
		for (i = 0; i < nr; i++) {
			if (first + i < start)
				continue;
			if (n == max) {
				head->next = first + i;
				goto full;
			}
			rec[n].index = first + i;
			rec[n].gpa = (pfn + i) << PAGE_SHIFT;
			n++;
		}
	}
full:
	rcu_read_unlock();
	head->count = n;
	return n;
}

static void fcache_work(struct work_struct *w)
{
	struct sym_symcall_fcache *head = fcache.out;
	struct address_space *mapping;
	struct inode *inode;
	struct path path;
	long r;

	fcache.ret = 0;
	fcache.out_len = 0;
	memset(head, 0, sizeof(*head));
	r = kern_path(fcache.path, LOOKUP_FOLLOW, &path);
	if (r)
		goto out;
	inode = d_inode(path.dentry);
	if (!S_ISREG(inode->i_mode)) {
		r = S_ISDIR(inode->i_mode) ? -EISDIR : -EINVAL;
		goto put;
	}
	mapping = inode->i_mapping;
	if (fcache.op == SYM_SYMCALL_FILE_DROP) {
		/* as fadvise(DONTNEED), but waiting for the writeback so that
		 * dirty pages are clean and go too */
		filemap_write_and_wait(mapping);
		fcache.ret = invalidate_mapping_pages(mapping, 0, -1);
		head->next = SYM_FCACHE_END;
	} else {
		fcache.ret = fcache_list(mapping, fcache.start, head);
	}
	head->size = i_size_read(inode);
	head->cached = READ_ONCE(mapping->nrpages);
	fcache.out_len = sizeof(*head) + head->count * sizeof(struct sym_symcall_fcache_page);
put:
	path_put(&path);
out:
	fcache.err = r;
	smp_wmb(); /* the results before the state that says they are there */
	atomic_set(&fcache.state, SM_DONE);
}

static void fcache_kick(struct irq_work *w)
{
	schedule_work(&fcache.work);
}

static u64 call_fcache(struct sym_symcall_area *a, u32 call, u32 *status)
{
	u64 start = READ_ONCE(a->args[0]);
	const char *path = (const char *)a->data;
	size_t len = strnlen(path, SYM_SYMCALL_PATH_MAX);
	int st = atomic_read(&fcache.state);

	if (!fcache.out) {
		*status = SYM_SYMCALL_ERRNO;
		return (u64)-ENOMEM;
	}
	if (st == SM_BUSY) {
		*status = SYM_SYMCALL_EBUSY;
		return 0;
	}
	if (len == SYM_SYMCALL_PATH_MAX || path[0] != '/') {
		*status = SYM_SYMCALL_ERRNO;
		return (u64)(len == SYM_SYMCALL_PATH_MAX ? -ENAMETOOLONG : -EINVAL);
	}
	if (st == SM_DONE && fcache.op == call && fcache.start == start && !strcmp(fcache.path, path)) {
		smp_rmb();
		atomic_set(&fcache.state, SM_IDLE);
		if (fcache.err) {
			*status = SYM_SYMCALL_ERRNO;
			return (u64)fcache.err;
		}
		memcpy(a->data, fcache.out, fcache.out_len);
		a->data_len = fcache.out_len;
		return fcache.ret;
	}
	/* idle, or done with a call the VMM gave up on: start this one */
	fcache.op = call;
	fcache.start = start;
	memcpy(fcache.path, path, len + 1);
	atomic_set(&fcache.state, SM_BUSY);
	irq_work_queue(&fcache.kick);
	*status = SYM_SYMCALL_EBUSY;
	return 0;
}

/* Calls other modules register (symbiotic_register_call): the point of
 * SymMod, a module loaded at run time gives the VMM a new interface. */
#define MAX_REGISTERED 16

static struct {
	u32 nr;
	symbiotic_call_fn fn;
} registered[MAX_REGISTERED];
static DEFINE_SPINLOCK(registered_lock); /* writers only: the handler reads with READ_ONCE */

int symbiotic_register_call(u32 nr, symbiotic_call_fn fn)
{
	int i, free = -1, r = -ENOSPC;

	if (nr < SYM_SYMCALL_FIRST_REGISTERED || !fn)
		return -EINVAL;
	spin_lock(&registered_lock);
	for (i = 0; i < MAX_REGISTERED; i++) {
		if (READ_ONCE(registered[i].fn) && registered[i].nr == nr) {
			r = -EEXIST;
			goto out;
		}
		if (!READ_ONCE(registered[i].fn) && free < 0)
			free = i;
	}
	if (free >= 0) {
		registered[free].nr = nr;
		smp_wmb();
		WRITE_ONCE(registered[free].fn, fn);
		r = 0;
	}
out:
	spin_unlock(&registered_lock);
	return r;
}
EXPORT_SYMBOL_GPL(symbiotic_register_call);

void symbiotic_unregister_call(u32 nr)
{
	int i;

	spin_lock(&registered_lock);
	for (i = 0; i < MAX_REGISTERED; i++)
		if (READ_ONCE(registered[i].fn) && registered[i].nr == nr)
			WRITE_ONCE(registered[i].fn, NULL);
	spin_unlock(&registered_lock);
	/* a handler running on another CPU ends before its module goes: the
	 * VMM makes one call at a time and waits for its doorbell */
}
EXPORT_SYMBOL_GPL(symbiotic_unregister_call);

static u64 call_registered(struct sym_symcall_area *a, u32 call, u32 *status)
{
	int i;

	for (i = 0; i < MAX_REGISTERED; i++) {
		symbiotic_call_fn fn = READ_ONCE(registered[i].fn);

		smp_rmb();
		if (fn && registered[i].nr == call)
			return fn(a, status);
	}
	*status = SYM_SYMCALL_ENOSYS;
	return 0;
}

/*
 * Entered by the VMM, not called: CPL 0, interrupts off, this CPU's GS
 * base, on the CPU's SymCall stack.  Never returns; the VMM puts the
 * interrupted state back after the doorbell.
 */
static void __noreturn symcall_entry(void)
{
	struct sym_symcall_area *a = this_cpu_read(call_area);
	u32 status = SYM_SYMCALL_OK;
	u64 ret = 0;

	a->data_len = 0;
	switch (READ_ONCE(a->call)) {
	case SYM_SYMCALL_NULL: ret = READ_ONCE(a->args[0]) + 1; break;
	case SYM_SYMCALL_PROCESSES: ret = call_processes(a, &status); break;
	case SYM_SYMCALL_VMAS: ret = call_vmas(a, &status); break;
	case SYM_SYMCALL_TRANSLATE: ret = call_translate(a, &status); break;
	case SYM_SYMCALL_SYMMOD_BEGIN:
	case SYM_SYMCALL_SYMMOD_DATA:
	case SYM_SYMCALL_SYMMOD_LOAD:
	case SYM_SYMCALL_SYMMOD_UNLOAD: ret = call_symmod(a, READ_ONCE(a->call), &status); break;
	case SYM_SYMCALL_FILE_PAGES:
	case SYM_SYMCALL_FILE_DROP: ret = call_fcache(a, READ_ONCE(a->call), &status); break;
	case SYM_SYMCALL_SPIN: /* the VMM's cut-off, tested */
		for (;;)
			cpu_relax();
	default: ret = call_registered(a, READ_ONCE(a->call), &status);
	}
	a->ret = ret;
	a->status = status;
	outl(READ_ONCE(a->id), SYM_PORT_DOORBELL);
	for (;;)
		cpu_relax();
}

static void cpu_call_register(void *failed)
{
	struct sym_symcall_area *a = this_cpu_read(call_area);
	unsigned long sp = (unsigned long)this_cpu_read(call_stack) + (PAGE_SIZE << CALL_STACK_ORDER) - 8;
	u64 gs;

	rdmsrl(MSR_GS_BASE, gs);
	if (wrmsr64_safe(SYM_MSR_SYMCALL_RIP, (unsigned long)symcall_entry) || wrmsr64_safe(SYM_MSR_SYMCALL_RSP, sp) ||
	    wrmsr64_safe(SYM_MSR_SYMCALL_CS, __KERNEL_CS) || wrmsr64_safe(SYM_MSR_SYMCALL_GS, gs) ||
	    wrmsr64_safe(SYM_MSR_SYMCALL_AREA, __pa(a) | SYM_SYMCALL_ENABLE))
		atomic_inc(failed);
}

static void cpu_call_unregister(void *unused)
{
	wrmsr64_safe(SYM_MSR_SYMCALL_AREA, 0);
}

static void free_call_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
	{
		if (per_cpu(call_area, cpu))
			free_pages((unsigned long)per_cpu(call_area, cpu), get_order(SYM_SYMCALL_AREA_SIZE));
		if (per_cpu(call_stack, cpu))
			free_pages((unsigned long)per_cpu(call_stack, cpu), CALL_STACK_ORDER);
		per_cpu(call_area, cpu) = NULL;
		per_cpu(call_stack, cpu) = NULL;
	}
}

static void symcall_init(void)
{
	atomic_t failed = ATOMIC_INIT(0);
	int cpu;

	for_each_possible_cpu(cpu)
	{
		struct sym_symcall_area *a =
		        (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO, get_order(SYM_SYMCALL_AREA_SIZE));
		void *stack = (void *)__get_free_pages(GFP_KERNEL, CALL_STACK_ORDER);

		per_cpu(call_area, cpu) = a;
		per_cpu(call_stack, cpu) = stack;
		if (!a || !stack) {
			free_call_pages();
			pr_warn("no memory for SymCall areas\n");
			return;
		}
		a->magic = SYM_SYMCALL_MAGIC;
		a->layout = SYM_SYMCALL_LAYOUT;
	}
	cpus_read_lock();
	on_each_cpu(cpu_call_register, &failed, 1);
	cpus_read_unlock();
	if (atomic_read(&failed)) {
		pr_warn("symbiont refused the SymCall registration\n");
		on_each_cpu(cpu_call_unregister, NULL, 1);
		free_call_pages();
		return;
	}
	calls_on = true;
	pr_info("SymCall entry registered\n");
}

static void symcall_exit(void)
{
	if (!calls_on)
		return;
	on_each_cpu(cpu_call_unregister, NULL, 1);
	free_call_pages();
}

static void free_pages_all(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
	{
		free_page((unsigned long)per_cpu(cpu_page, cpu));
		per_cpu(cpu_page, cpu) = NULL;
	}
	free_page((unsigned long)global);
	global = NULL;
}

static int symspy_init(void)
{
	atomic_t failed = ATOMIC_INIT(0);
	int cpu;

	global = (void *)get_zeroed_page(GFP_KERNEL);
	if (!global)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
	{
		struct sym_symspy_cpu *c = (void *)get_zeroed_page(GFP_KERNEL);

		if (!c) {
			free_pages_all();
			return -ENOMEM;
		}
		c->magic = SYM_SYMSPY_CPU_MAGIC;
		c->layout = SYM_SYMSPY_LAYOUT;
		c->cpu = cpu;
		per_cpu(cpu_page, cpu) = c;
	}
	kaslr_base = find_kaslr_base();
	global->magic = SYM_SYMSPY_GLOBAL_MAGIC;
	global->layout = SYM_SYMSPY_LAYOUT;
	global->size = sizeof(*global);
	update_global();

	for_each_kernel_tracepoint(find_switch_tp, NULL);
	if (!tp_switch || tracepoint_probe_register(tp_switch, probe_switch, NULL)) {
		pr_warn("no sched_switch tracepoint: per-CPU tasks are not followed\n");
		tp_switch = NULL;
	}
	cpus_read_lock();
	on_each_cpu(cpu_register, &failed, 1);
	cpus_read_unlock();
	if (atomic_read(&failed) || msr_set_page(SYM_MSR_SYMSPY_GLOBAL, global)) {
		pr_warn("symbiont refused the SymSpy pages: idle\n");
		on_each_cpu(cpu_unregister, NULL, 1);
		if (tp_switch) {
			tracepoint_probe_unregister(tp_switch, probe_switch, NULL);
			tracepoint_synchronize_unregister();
			tp_switch = NULL;
		}
		free_pages_all();
		return 0;
	}
	INIT_DEFERRABLE_WORK(&update_work, update_fn);
	schedule_delayed_work(&update_work, msecs_to_jiffies(UPDATE_MS));
	pr_info("SymSpy pages shared\n");
	pcache_start();
	return 0;
}

static int __init symbiotic_init(void)
{
	bool spy = symbiont_has(SYM_FEAT_SYMSPY), call = symbiont_has(SYM_FEAT_SYMCALL);

	if (!spy && !call) {
		pr_info("not running on symbiont with SymSpy or SymCall: idle\n");
		return 0;
	}
	INIT_WORK(&symmod.work, symmod_work);
	init_irq_work(&symmod.kick, symmod_kick);
	INIT_WORK(&mm_put_work, mm_put_fn);
	init_irq_work(&mm_put_kick, mm_put_kick_fn);
	INIT_WORK(&fcache.work, fcache_work);
	init_irq_work(&fcache.kick, fcache_kick);
	fcache.out = vmalloc(SYM_SYMCALL_DATA_MAX);
	if (call)
		symcall_init();
	return spy ? symspy_init() : 0;
}

static void symspy_exit(void)
{
	if (!global)
		return;
	pcache_stop();
	cancel_delayed_work_sync(&update_work);
	msr_set_page(SYM_MSR_SYMSPY_GLOBAL, NULL);
	on_each_cpu(cpu_unregister, NULL, 1);
	if (tp_switch) {
		tracepoint_probe_unregister(tp_switch, probe_switch, NULL);
		tracepoint_synchronize_unregister();
	}
	free_pages_all();
}

static void __exit symbiotic_exit(void)
{
	symcall_exit();
	irq_work_sync(&symmod.kick);
	cancel_work_sync(&symmod.work);
	irq_work_sync(&mm_put_kick);
	flush_work(&mm_put_work);
	irq_work_sync(&fcache.kick);
	cancel_work_sync(&fcache.work);
	vfree(fcache.out);
	mm_put_fn(NULL);
	vfree(symmod.buf);
	symspy_exit();
}

module_init(symbiotic_init);
module_exit(symbiotic_exit);
MODULE_DESCRIPTION("Guest side of symbiont's symbiotic interfaces (SymSpy, SymCall)");
MODULE_LICENSE("GPL");
