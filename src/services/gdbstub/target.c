/* The VM as a gdb target (gdbstub.h), through the public API alone: vCPU
 * state while the stub holds the VM paused, guest memory through the
 * selected vCPU's own page tables, and breakpoints and watchpoints as
 * event subscriptions whose callbacks stop the guest (SYM_STOP):
 *
 *   Z0/Z1  a CODE_HOOK on the instruction's guest-physical address, not an
 *          INT3 in guest memory: the guest never sees it (reads of its code,
 *          checksums), and emu stops exactly before the instruction.  Where
 *          the engine delivers no hooks (kvm_pvm) the insert fails.
 *   Z2     sym_watch() of the bytes' page and a PAGE_WRITE filtered to the
 *          bytes: emu stops right after the writing instruction.
 *   Z3     the same with PAGE_READ (emu): right after the reading instruction.
 *   Z4     both.
 * Where the engine refuses those events (kvm), Z0, Z1, Z2 and Z4 take a
 * debug-register point instead (vm_set_hw_points: four at most, on the
 * linear address, an aligned 1/2/4/8 bytes; x86 has no read-only data
 * breakpoint, so Z3 is refused there).
 *
 * All of these are physical: a breakpoint fires in every address space
 * that maps the code, as the translation was when it was set. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "services/gdbstub/gdbstub.h"
#include "symbiont/event.h"
#include "symbiont/memory.h"
#include "symbiont/replay.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

#define PTE_P    1ULL
#define PTE_PS   0x80ULL
#define PAE_ADDR 0x000ffffffffff000ULL

static int get_regs(void *t, int cpu, struct x86_state *s)
{
	struct gdbstub *g = t;
	char err[128];
	return vm_vcpu_get_state(g->vm, cpu, s, err, sizeof(err));
}

static int set_regs(void *t, int cpu, const struct x86_state *s)
{
	struct gdbstub *g = t;
	struct x86_state w = *s;
	char err[128];
	if (replay_playing(g->vm))
		return -1; /* a replay runs what was recorded: a change would make it diverge */
	/* Registers, segments, control registers and the FPU; the MSRs (the
	 * TSC among them), events and APIC stay the engine's. */
	w.parts = X86_STATE_FPU;
	return vm_vcpu_set_state(g->vm, cpu, &w, err, sizeof(err));
}

/* Legacy 32-bit and PAE page walks (long mode goes to gva_translate). */
static int walk32(const struct guest_mem *m, const struct x86_state *s, uint64_t la, uint64_t *gpa)
{
	uint32_t e;
	if (s->cr4 & CR4_PAE) {
		uint64_t pdpte, pde, pte;
		if (gpa_read(m, (s->cr3 & 0xffffffe0ULL) + ((la >> 30) & 3) * 8, &pdpte, 8) || !(pdpte & PTE_P) ||
		    gpa_read(m, (pdpte & PAE_ADDR) + ((la >> 21) & 0x1ff) * 8, &pde, 8) || !(pde & PTE_P))
			return -1;
		if (pde & PTE_PS) {
			*gpa = (pde & PAE_ADDR & ~0x1fffffULL) | (la & 0x1fffff);
			return 0;
		}
		if (gpa_read(m, (pde & PAE_ADDR) + ((la >> 12) & 0x1ff) * 8, &pte, 8) || !(pte & PTE_P))
			return -1;
		*gpa = (pte & PAE_ADDR) | (la & 0xfff);
		return 0;
	}
	if (gpa_read(m, (s->cr3 & 0xfffff000ULL) + ((la >> 22) & 0x3ff) * 4, &e, 4) || !(e & PTE_P))
		return -1;
	if ((e & PTE_PS) && (s->cr4 & CR4_PSE)) {
		*gpa = (e & 0xffc00000ULL) | (la & 0x3fffff);
		return 0;
	}
	if (gpa_read(m, (e & 0xfffff000ULL) + ((la >> 12) & 0x3ff) * 4, &e, 4) || !(e & PTE_P))
		return -1;
	*gpa = (e & 0xfffff000ULL) | (la & 0xfff);
	return 0;
}

/* A linear address as vCPU state s translates it now. */
static int translate(const struct guest_mem *m, const struct x86_state *s, uint64_t la, uint64_t *gpa)
{
	if (!(s->cr0 & CR0_PG)) {
		*gpa = s->efer & EFER_LMA ? la : la & 0xffffffffULL;
		return 0;
	}
	if (s->efer & EFER_LMA)
		return gva_translate(m, gva_cr3_root(s->cr3), (s->cr4 & CR4_LA57) != 0, la, gpa);
	if (la >> 32)
		return -1;
	return walk32(m, s, la, gpa);
}

static long access_mem(struct gdbstub *g, int cpu, uint64_t addr, void *buf, size_t len, bool write)
{
	struct x86_state s;
	char err[128];
	size_t done = 0;

	if (vm_vcpu_get_state(g->vm, cpu, &s, err, sizeof(err)) < 0)
		return -1;
	while (done < len) {
		uint64_t la = addr + done, gpa;
		size_t n = 4096 - (la & 0xfff);
		if (n > len - done)
			n = len - done;
		if (translate(&g->vm->mem, &s, la, &gpa) < 0)
			break;
		if (write) {
			if (gpa_write(&g->vm->mem, gpa, (const uint8_t *)buf + done, n) < 0)
				break;
			vm_mem_written(g->vm, gpa, n); /* emu drops code it decoded from there */
		} else if (gpa_read(&g->vm->mem, gpa, (uint8_t *)buf + done, n) < 0) {
			break;
		}
		done += n;
	}
	return done ? (long)done : -1;
}

static long read_mem(void *t, int cpu, uint64_t addr, void *buf, size_t len)
{
	return access_mem(t, cpu, addr, buf, len, false);
}

static long write_mem(void *t, int cpu, uint64_t addr, const void *buf, size_t len)
{
	if (replay_playing(((struct gdbstub *)t)->vm))
		return -1; /* as set_regs */
	return access_mem(t, cpu, addr, (void *)buf, len, true);
}

int gdb_stop_here(struct gdbstub *g, int cpu, enum gdb_stop_kind kind, uint64_t addr, uint64_t rip)
{
	enum sym_action a = SYM_CONTINUE;
	pthread_mutex_lock(&g->lock);
	if (g->scanning && kind != STOP_SEEK) {
		/* going back: where the last hit before the starting point was */
		g->scan_hits++;
		g->hit_count = replay_count(g->vm);
		g->hit_rip = rip;
		g->hit_kind = kind;
		g->hit_addr = addr;
	} else if (g->armed && vm_pause_request(g->vm) == 0) {
		g->armed = false;
		g->event_stop = true;
		g->ev_kind = kind;
		g->ev_cpu = cpu;
		g->ev_addr = addr;
		a = SYM_STOP;
	}
	pthread_mutex_unlock(&g->lock);
	if (a == SYM_STOP) {
		uint64_t one = 1;
		if (write(g->wake_fd, &one, sizeof(one)) < 0) { /* an eventfd write fails only on overflow */
		}
	}
	return a;
}

static enum sym_action on_hook(void *opaque, struct sym_event *ev)
{
	struct gdb_point_sub *p = opaque;
	return (enum sym_action)gdb_stop_here(p->g, ev->cpu, p->type == GDB_BP_HW ? STOP_HWBREAK : STOP_BREAK, p->addr,
	                                      ev->regs ? ev->regs->rip : 0);
}

static enum sym_action on_access(void *opaque, struct sym_event *ev)
{
	struct gdb_point_sub *p = opaque;
	if (ev->cpu < 0 || (ev->type == SYM_EV_PAGE_WRITE && ev->write.dma))
		return SYM_CONTINUE; /* a device's write: no instruction to stop after */
	enum gdb_stop_kind k = p->type == GDB_WP_READ     ? STOP_RWATCH
	                       : p->type == GDB_WP_ACCESS ? STOP_AWATCH
	                                                  : STOP_WATCH;
	return (enum sym_action)gdb_stop_here(p->g, ev->cpu, k, p->addr, ev->regs ? ev->regs->rip : 0);
}

/* A debug-register point was hit: which of ours, and how to report it. */
static enum sym_action on_hw(void *opaque, struct sym_event *ev)
{
	struct gdbstub *g = opaque;
	for (int i = 0; i < VM_HW_POINTS; i++) {
		struct gdb_point_sub *p = g->hw_owner[i];
		if (!(ev->hw.hit & (1u << i)) || !p)
			continue;
		enum gdb_stop_kind k = p->type == GDB_WP_WRITE    ? STOP_WATCH
		                       : p->type == GDB_WP_ACCESS ? STOP_AWATCH
		                       : p->type == GDB_BP_SW     ? STOP_BREAK
		                                                  : STOP_HWBREAK;
		return (enum sym_action)gdb_stop_here(g, ev->cpu, k, p->addr, ev->regs ? ev->regs->rip : 0);
	}
	return SYM_CONTINUE;
}

/* Gives p a debug-register point: 0, or -1 (none free, or refused). */
static int take_hw(struct gdbstub *g, struct gdb_point_sub *p)
{
	char err[160];
	int slot = -1;
	if (p->type == GDB_WP_READ)
		return -1;
	for (int i = 0; i < VM_HW_POINTS && slot < 0; i++)
		if (!g->hw[i].on)
			slot = i;
	if (slot < 0)
		return -1;
	if (!g->hw_sub) {
		struct sym_filter f = { .type = SYM_EV_HW_POINT };
		if (!(g->hw_sub = sym_subscribe(g->vm, &f, on_hw, g, err, sizeof(err))))
			return -1;
	}
	g->hw[slot] = (struct vm_hw_point){
		.on = true,
		.type = p->type == GDB_WP_WRITE    ? VM_HWP_WRITE
		        : p->type == GDB_WP_ACCESS ? VM_HWP_ACCESS
		                                   : VM_HWP_EXEC,
		.len = p->type == GDB_BP_SW || p->type == GDB_BP_HW ? 1 : (uint8_t)p->kind,
		.addr = p->addr,
	};
	if (vm_set_hw_points(g->vm, g->hw, err, sizeof(err)) < 0) {
		g->hw[slot].on = false;
		return -1;
	}
	g->hw_owner[slot] = p;
	p->hw_slot = slot;
	return 0;
}

static struct gdb_point_sub *find(struct gdbstub *g, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	for (int i = 0; i < GDB_MAX_POINTS; i++) {
		struct gdb_point_sub *p = &g->points[i];
		if (p->used && p->type == type && p->addr == addr && p->kind == kind)
			return p;
	}
	return NULL;
}

static void drop(struct gdbstub *g, struct gdb_point_sub *p)
{
	if (p->hw_slot >= 0) {
		char err[160];
		g->hw[p->hw_slot].on = false;
		g->hw_owner[p->hw_slot] = NULL;
		vm_set_hw_points(g->vm, g->hw, err, sizeof(err));
	}
	sym_unsubscribe(p->sub);
	sym_unsubscribe(p->sub2);
	if (p->watched)
		sym_unwatch(g->vm, p->gpa, p->kind);
	memset(p, 0, sizeof(*p));
}

static int insert(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	struct gdbstub *g = t;
	struct gdb_point_sub *p = NULL;
	struct sym_filter f = { .type = SYM_EV_CODE_HOOK };
	struct x86_state s;
	char err[160];
	uint64_t gpa, last;

	bool watch = type == GDB_WP_WRITE || type == GDB_WP_READ || type == GDB_WP_ACCESS;
	if (find(g, type, addr, kind))
		return 0; /* inserting twice is allowed and changes nothing */
	if (watch && kind != 1 && kind != 2 && kind != 4 && kind != 8)
		return -1;
	for (int i = 0; i < GDB_MAX_POINTS && !p; i++)
		if (!g->points[i].used)
			p = &g->points[i];
	if (!p || vm_vcpu_get_state(g->vm, cpu, &s, err, sizeof(err)) < 0 || translate(&g->vm->mem, &s, addr, &gpa) < 0)
		return -1;
	*p = (struct gdb_point_sub){
		.used = true, .g = g, .type = type, .addr = addr, .kind = kind, .gpa = gpa, .hw_slot = -1
	};
	if (watch) {
		/* the bytes must be one physical run (a watch across a page boundary
		 * into a page mapped elsewhere is refused) */
		if (translate(&g->vm->mem, &s, addr + kind - 1, &last) < 0 || last != gpa + kind - 1 ||
		    sym_watch(g->vm, gpa, kind, err, sizeof(err)) < 0) {
			memset(p, 0, sizeof(*p));
			return -1;
		}
		p->watched = true;
		f.type = type == GDB_WP_WRITE ? SYM_EV_PAGE_WRITE : SYM_EV_PAGE_READ;
		f.gpa_start = gpa;
		f.gpa_end = gpa + kind;
		p->sub = sym_subscribe(g->vm, &f, on_access, p, err, sizeof(err));
		if (p->sub && type == GDB_WP_ACCESS) {
			f.type = SYM_EV_PAGE_WRITE;
			if (!(p->sub2 = sym_subscribe(g->vm, &f, on_access, p, err, sizeof(err)))) {
				drop(g, p);
				return -1;
			}
		}
	} else {
		f.hook_gpa = gpa;
		p->sub = sym_subscribe(g->vm, &f, on_hook, p, err, sizeof(err));
	}
	if (!p->sub) {
		/* The engine has neither event (kvm): a debug register, if one is free. */
		if (p->watched)
			sym_unwatch(g->vm, p->gpa, p->kind);
		p->watched = false;
		if (take_hw(g, p) < 0) {
			drop(g, p);
			return -1;
		}
	}
	return 0;
}

static int remove_point(void *t, int cpu, enum gdb_point type, uint64_t addr, uint64_t kind)
{
	struct gdbstub *g = t;
	struct gdb_point_sub *p = find(g, type, addr, kind);
	(void)cpu;
	if (p)
		drop(g, p);
	return 0;
}

void gdb_points_clear(struct gdbstub *g)
{
	for (int i = 0; i < GDB_MAX_POINTS; i++)
		if (g->points[i].used)
			drop(g, &g->points[i]);
	sym_unsubscribe(g->step_sub);
	g->step_sub = NULL;
	sym_unsubscribe(g->hw_sub);
	g->hw_sub = NULL;
}

static bool reversible(void *t)
{
	return replay_can_reverse(((struct gdbstub *)t)->vm);
}

const struct gdb_target_ops gdb_vm_ops = {
	.get_regs = get_regs,
	.set_regs = set_regs,
	.read_mem = read_mem,
	.write_mem = write_mem,
	.insert = insert,
	.remove = remove_point,
	.monitor = gdb_monitor,
	.reversible = reversible,
};
