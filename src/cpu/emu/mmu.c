/* Softmmu: segmentation checks, the guest page walk, the TLB and the slow
 * paths of every memory access.  The fast paths are inline in mmu.h.
 *
 * The TLB maps 4 KiB linear pages whatever the guest page size was (a 2 MiB
 * page fills one 4 KiB entry per page touched), with one tag per access kind
 * so that a page read before it was dirty takes the slow path on its first
 * write: only a walk that set D installs a write tag.  Pages that are not RAM
 * are cached with TLB_IO so every access reaches the slow path, which sends
 * it to the LAPIC or the MMIO bus.  Write tags of pages holding translated
 * code carry TLB_CODE so writes reach emu_code_written(); so do those of
 * watched pages (sym_watch), whose writes the slow path reports as
 * SYM_EV_PAGE_WRITE.  Unwatched pages never leave the fast path. */
#include <stdio.h>

#include "cpu/emu/mmu.h"
#include "cpu/emu/sys.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

#define TLB_CODE  4ULL
#define TLB_FLAGS (TLB_SUPER | TLB_IO | TLB_CODE | TLB_USER)

#define PTE_P       (1ULL << 0)
#define PTE_W       (1ULL << 1)
#define PTE_U       (1ULL << 2)
#define PTE_A       (1ULL << 5)
#define PTE_D       (1ULL << 6)
#define PTE_PS      (1ULL << 7)
#define PTE_G       (1ULL << 8)
#define PTE_NX      (1ULL << 63)
#define PTE_ADDR    (((1ULL << EMU_PHYS_BITS) - 1) & ~0xfffULL)
#define PTE_RSVD_HI (((1ULL << 52) - 1) & ~((1ULL << EMU_PHYS_BITS) - 1))

/* ---- segmentation -------------------------------------------------------- */

static _Noreturn void seg_fault(struct emu_cpu *cpu, int seg)
{
	emu_raise_err(cpu, seg == SEG_SS ? EXC_SS : EXC_GP, 0);
}

uint64_t emu_linear_slow(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size, bool write)
{
	const struct x86_seg *s = &cpu->seg[seg];
	uint64_t last;

	if (cpu->code_mode == EMU_MODE64) {
		/* Only reached for a non-canonical address. */
		seg_fault(cpu, seg);
	}
	if (size == 0)
		size = 1;
	if ((cpu->cr0 & CR0_PE) && !(cpu->rflags & RFLAGS_VM)) {
		if (s->unusable)
			seg_fault(cpu, seg);
		if (write) {
			if ((s->type & 8) || !(s->type & 2))
				seg_fault(cpu, seg);
		} else if ((s->type & 0xa) == 8) { /* execute-only code */
			seg_fault(cpu, seg);
		}
	}
	last = off + size - 1;
	if (!(s->type & 8) && (s->type & 4)) { /* expand-down data */
		uint64_t top = s->db ? 0xffffffffULL : 0xffffULL;
		if (off <= s->limit || last > top || last < off)
			seg_fault(cpu, seg);
	} else if (last > s->limit || last < off) {
		seg_fault(cpu, seg);
	}
	return (s->base + off) & 0xffffffffULL;
}

/* ---- page walk ------------------------------------------------------------ */

/* Page-table entries that are not in RAM read as zero (not present): the
 * guest only hurts itself. */
static uint64_t pte_load(struct emu_cpu *cpu, uint64_t gpa, bool wide, uint64_t **where)
{
	void *p = gpa_to_host(cpu->mem, gpa, wide ? 8 : 4);
	*where = p;
	if (!p)
		return 0;
	return wide ? __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED)
	            : __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

static void pte_set(struct emu_cpu *cpu, uint64_t *where, uint64_t bits)
{
	/* A and D sit in the low word for both entry widths (little endian). */
	if (!where)
		return;
	__atomic_fetch_or((uint32_t *)where, (uint32_t)bits, __ATOMIC_RELAXED);
	if (cpu->vm) /* a write to guest RAM like any other, for the dirty log */
		vm_mem_dirty(cpu->vm, host_to_gpa(cpu->mem, where), 4);
}

uint32_t emu_walk(struct emu_cpu *cpu, uint64_t la, int acc, bool user, struct emu_walk *w)
{
	bool nxe = (cpu->efer & EFER_NXE) != 0, pae = (cpu->cr4 & CR4_PAE) != 0;
	bool wp = (cpu->cr0 & CR0_WP) != 0;
	uint32_t pf = (acc == ACC_WRITE ? PFERR_W : 0) | (user ? PFERR_U : 0);
	uint64_t *slot[4], val[4], ent = 0, leaf_base;
	bool rw = true, us = true, nx = false;
	int n = 0, shift;

	if (acc == ACC_EXEC && nxe && pae)
		pf |= PFERR_ID;

	if (!pae) {
		/* Two-level 32-bit paging, 4 MiB pages with CR4.PSE. */
		uint64_t pde = pte_load(cpu, (cpu->cr3 & 0xfffff000ULL) + ((la >> 22) & 0x3ff) * 4, false, &slot[n]);
		val[n++] = pde;
		if (!(pde & PTE_P))
			return EMU_WALK_FAULT | pf;
		rw = pde & PTE_W;
		us = pde & PTE_U;
		if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
			ent = pde;
			shift = 22;
			leaf_base = pde & 0xffc00000ULL;
		} else {
			ent = pte_load(cpu, (pde & 0xfffff000ULL) + ((la >> 12) & 0x3ff) * 4, false, &slot[n]);
			val[n++] = ent;
			if (!(ent & PTE_P))
				return EMU_WALK_FAULT | pf;
			rw = rw && (ent & PTE_W);
			us = us && (ent & PTE_U);
			shift = 12;
			leaf_base = ent & 0xfffff000ULL;
		}
	} else {
		uint64_t rsvd = PTE_RSVD_HI | (nxe ? 0 : PTE_NX), table;
		int level;

		if (cpu->efer & EFER_LMA) {
			table = cpu->cr3 & PTE_ADDR;
			level = 4;
		} else {
			/* PAE: the PDPTE has no permission bits. */
			uint64_t pdpte =
			        pte_load(cpu, (cpu->cr3 & 0xffffffe0ULL) + ((la >> 30) & 3) * 8, true, &slot[n]);
			if (!(pdpte & PTE_P))
				return EMU_WALK_FAULT | pf;
			if (pdpte & (PTE_RSVD_HI | 0x1e6))
				return EMU_WALK_FAULT | pf | PFERR_P | PFERR_RSVD;
			table = pdpte & PTE_ADDR;
			level = 2;
			la &= 0xffffffffULL;
		}
		for (;; level--) {
			shift = 12 + 9 * (level - 1);
			ent = pte_load(cpu, table + ((la >> shift) & 511) * 8, true, &slot[n]);
			val[n++] = ent;
			if (!(ent & PTE_P))
				return EMU_WALK_FAULT | pf;
			if (ent & rsvd)
				return EMU_WALK_FAULT | pf | PFERR_P | PFERR_RSVD;
			rw = rw && (ent & PTE_W);
			us = us && (ent & PTE_U);
			nx = nx || (nxe && (ent & PTE_NX));
			if (level == 1)
				break;
			if (ent & PTE_PS) {
				/* 1 GiB (level 3) or 2 MiB (level 2); bits 12 is PAT. */
				uint64_t low = ((1ULL << shift) - 1) & ~0x1fffULL;
				if (level == 4 || (ent & low))
					return EMU_WALK_FAULT | pf | PFERR_P | PFERR_RSVD;
				break;
			}
			table = ent & PTE_ADDR;
		}
		leaf_base = ent & PTE_ADDR & ~((1ULL << shift) - 1);
	}

	/* Permissions of the whole walk. */
	if (user && !us)
		return EMU_WALK_FAULT | pf | PFERR_P;
	if (acc == ACC_WRITE && !rw && (user || wp))
		return EMU_WALK_FAULT | pf | PFERR_P;
	if (acc == ACC_EXEC && nx)
		return EMU_WALK_FAULT | pf | PFERR_P;
	/* SMEP: no supervisor fetch from a user page; SMAP: no supervisor data
	 * access to one, at CPL 3 (implicit accesses) or with AC clear */
	if (!user && us && (acc == ACC_EXEC ? cpu->smep_bits : cpu->smap_bits))
		return EMU_WALK_FAULT | pf | PFERR_P;
	/* Protection keys: data accesses to user pages, in 4-level paging */
	unsigned pkey = (cpu->efer & EFER_LMA) ? (unsigned)(ent >> 59) & 15 : 0;
	if (us && acc != ACC_EXEC && (cpu->cr4 & CR4_PKE) && (cpu->efer & EFER_LMA)) {
		uint32_t rights = cpu->pkru >> (2 * pkey);
		if ((rights & 1) || (acc == ACC_WRITE && (rights & 2) && (user || wp)))
			return EMU_WALK_FAULT | pf | PFERR_P | PFERR_PK;
	}

	/* Locked read-modify-writes only where a bit is missing: they are most
	 * of a walk's cost otherwise. */
	for (int i = 0; i < n; i++)
		if (!(val[i] & PTE_A))
			pte_set(cpu, slot[i], PTE_A);
	if (acc == ACC_WRITE && !(val[n - 1] & PTE_D))
		pte_set(cpu, slot[n - 1], PTE_D);

	w->gpa = leaf_base | (la & ((1ULL << shift) - 1));
	w->page_size = 1ULL << shift;
	w->user = us;
	w->write = rw;
	w->nx = nx;
	w->global = (ent & PTE_G) && (cpu->cr4 & CR4_PGE);
	w->dirty = acc == ACC_WRITE || (ent & PTE_D);
	w->pkey = (uint8_t)pkey;
	return 0;
}

/* ---- TLB ------------------------------------------------------------------- */

struct xlat {
	uint64_t gpa;
	uint8_t *host; /* NULL: device */
	bool code;     /* write to a page holding translated code */
};

static bool is_lapic_page(struct emu_cpu *cpu, uint64_t gpa_page)
{
	return cpu->lapic && (cpu->apic_base & APIC_BASE_EN) && gpa_page == (cpu->apic_base & PTE_ADDR);
}

static uint64_t *tag_of(struct emu_tlb_entry *e, int acc)
{
	return acc == ACC_READ ? &e->tag_read : acc == ACC_WRITE ? &e->tag_write : &e->tag_exec;
}

/* Each vCPU has its own block cache: a page holds code if any of them
 * translated from it, and a write must reach all of them. */
static bool any_has_code(struct emu_cpu *cpu, uint64_t gpa_page)
{
	if (!cpu->vm)
		return emu_page_has_code(cpu, gpa_page);
	for (int i = 0; i < cpu->vm->ncpus; i++)
		if (cpu->vm->vcpus[i] && cpu->vm->vcpus[i]->priv &&
		    emu_page_has_code(emu_cpu_of(cpu->vm->vcpus[i]), gpa_page))
			return true;
	return false;
}

static void code_written_all(struct emu_cpu *cpu, uint64_t gpa, unsigned n)
{
	if (!cpu->vm) {
		emu_code_written(cpu, gpa, n);
		return;
	}
	for (int i = 0; i < cpu->vm->ncpus; i++)
		if (cpu->vm->vcpus[i] && cpu->vm->vcpus[i]->priv)
			emu_code_written(emu_cpu_of(cpu->vm->vcpus[i]), gpa, n);
}

/* Reads of this page must reach PAGE_READ: it is watched and someone listens. */
static inline bool read_watched(struct emu_cpu *cpu, uint64_t gpa_page)
{
	return cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_PAGE_READ) && sym_watched(cpu->vm, gpa_page);
}

static struct xlat tlb_fill(struct emu_cpu *cpu, uint64_t la, int acc, bool user)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	uint64_t page = la & EMU_PAGE_MASK, gpa_page;
	struct emu_walk w;
	struct xlat x;
	uint8_t *host;
	bool io, wp = (cpu->cr0 & CR0_WP) != 0;

	if (cpu->cr0 & CR0_PG) {
		uint32_t err = emu_walk(cpu, la, acc, user, &w);
		if (err) {
			cpu->cr2 = la;
			emu_raise_err(cpu, EXC_PF, err & ~EMU_WALK_FAULT);
		}
	} else {
		w.gpa = la;
		w.page_size = 4096;
		w.user = w.write = w.dirty = true;
		w.nx = w.global = false;
		w.pkey = 0;
	}
	gpa_page = w.gpa & EMU_PAGE_MASK;
	host = gpa_to_host(cpu->mem, gpa_page, 4096);
	io = !host || is_lapic_page(cpu, gpa_page);

	e->gpa_page = gpa_page;
	e->addend = io ? 0 : (uintptr_t)host - (uintptr_t)page;
	e->global = w.global;
	e->page_shift = (uint8_t)__builtin_ctzll(w.page_size);
	{
		uint64_t fl = (io ? TLB_IO : 0) | (w.user && (cpu->cr0 & CR0_PG) ? TLB_USER : 0);
		e->tag_read = page | fl | (w.user ? 0 : TLB_SUPER);
		e->tag_exec = w.nx ? TLB_EMPTY : page | fl | (w.user ? 0 : TLB_SUPER);
		if (!w.dirty)
			e->tag_write = TLB_EMPTY;
		else if (w.user && w.write)
			e->tag_write = page | fl;
		else if (w.write || !wp)
			e->tag_write = page | fl | TLB_SUPER;
		else
			e->tag_write = TLB_EMPTY;
		if (e->tag_write != TLB_EMPTY && !io &&
		    (any_has_code(cpu, gpa_page) ||
		     (cpu->vm && (sym_watched(cpu->vm, gpa_page) || vm_dirty_page_clean(cpu->vm, gpa_page)))))
			e->tag_write |= TLB_CODE;
		if (w.user && (cpu->cr4 & CR4_PKE) && (cpu->efer & EFER_LMA) && (cpu->pkru >> (2 * w.pkey) & 3)) {
			/* a key that restricts: its accesses walk again, and are checked there */
			if (cpu->pkru >> (2 * w.pkey) & 1)
				e->tag_read = TLB_EMPTY;
			e->tag_write = TLB_EMPTY;
		}
		if (!io && read_watched(cpu, gpa_page))
			e->tag_read |= TLB_CODE; /* on a read tag: the reads of a read-watched page */
		if (unlikely(cpu->dr_data) && emu_dr_page(cpu, page)) {
			/* a data breakpoint's page: every access compared (debugreg.c) */
			e->tag_read |= TLB_CODE;
			if (e->tag_write != TLB_EMPTY)
				e->tag_write |= TLB_CODE;
		}
	}
	x.gpa = w.gpa;
	x.host = io ? NULL : host + (la & 0xfff);
	x.code = (acc == ACC_WRITE && (e->tag_write & TLB_CODE)) || (acc == ACC_READ && (e->tag_read & TLB_CODE));
	return x;
}

/* Translation for the slow paths: the TLB with relaxed tags, else a walk. */
static struct xlat translate(struct emu_cpu *cpu, uint64_t la, int acc, bool user)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	uint64_t tag = *tag_of(e, acc);
	struct xlat x;

	if ((tag & ~TLB_FLAGS) != (la & EMU_PAGE_MASK) || tag == TLB_EMPTY || (user && (tag & TLB_SUPER)) ||
	    (!user && (tag & TLB_USER) && (acc == ACC_EXEC ? cpu->smep_bits : cpu->smap_bits)))
		return tlb_fill(cpu, la, acc, user);
	x.gpa = e->gpa_page | (la & 0xfff);
	x.host = (tag & TLB_IO) ? NULL : (uint8_t *)(uintptr_t)(la + e->addend);
	x.code = (tag & TLB_CODE) != 0;
	return x;
}

void emu_tlb_flush(struct emu_cpu *cpu, bool include_global)
{
	for (int i = 0; i < EMU_TLB_SIZE; i++) {
		struct emu_tlb_entry *e = &cpu->tlb[i];
		if (include_global || !e->global) {
			e->tag_read = e->tag_write = e->tag_exec = TLB_EMPTY;
			e->global = 0;
		}
	}
}

static uint64_t entry_page(const struct emu_tlb_entry *e)
{
	if (e->tag_read != TLB_EMPTY)
		return e->tag_read & EMU_PAGE_MASK;
	if (e->tag_exec != TLB_EMPTY)
		return e->tag_exec & EMU_PAGE_MASK;
	if (e->tag_write != TLB_EMPTY)
		return e->tag_write & EMU_PAGE_MASK;
	return TLB_EMPTY;
}

void emu_tlb_flush_page(struct emu_cpu *cpu, uint64_t la)
{
	/* The 4 KiB entry for la, and every entry that came from the same
	 * large guest page (INVLPG invalidates the whole translation). */
	for (int i = 0; i < EMU_TLB_SIZE; i++) {
		struct emu_tlb_entry *e = &cpu->tlb[i];
		uint64_t p = entry_page(e);
		if (p == TLB_EMPTY)
			continue;
		if ((p >> e->page_shift) == (la >> e->page_shift) || (p & EMU_PAGE_MASK) == (la & EMU_PAGE_MASK)) {
			e->tag_read = e->tag_write = e->tag_exec = TLB_EMPTY;
			e->global = 0;
		}
	}
}

static void protect_one(struct emu_cpu *cpu, uint64_t gpa_page)
{
	for (int i = 0; i < EMU_TLB_SIZE; i++) {
		struct emu_tlb_entry *e = &cpu->tlb[i];
		if (e->tag_write != TLB_EMPTY && e->gpa_page == gpa_page)
			e->tag_write |= TLB_CODE;
	}
}

void emu_tlb_protect_code(struct emu_cpu *cpu, uint64_t gpa_page)
{
	gpa_page &= EMU_PAGE_MASK;
	if (!cpu->vm) {
		protect_one(cpu, gpa_page);
		return;
	}
	for (int i = 0; i < cpu->vm->ncpus; i++)
		if (cpu->vm->vcpus[i] && cpu->vm->vcpus[i]->priv)
			protect_one(emu_cpu_of(cpu->vm->vcpus[i]), gpa_page);
}

/* ---- devices ------------------------------------------------------------------ */

uint64_t emu_phys_io_read(struct emu_cpu *cpu, uint64_t gpa, unsigned size)
{
	if (is_lapic_page(cpu, gpa & EMU_PAGE_MASK))
		return lapic_mmio_read(cpu, gpa & 0xfff, size);
	if (!cpu->vm)
		return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	return vm_mmio_read(cpu->vm, gpa, size);
}

void emu_phys_io_write(struct emu_cpu *cpu, uint64_t gpa, uint64_t val, unsigned size)
{
	if (is_lapic_page(cpu, gpa & EMU_PAGE_MASK)) {
		lapic_mmio_write(cpu, gpa & 0xfff, val, size);
		return;
	}
	if (cpu->vm)
		vm_mmio_write(cpu->vm, gpa, val, size);
}

/* ---- slow paths ------------------------------------------------------------------ */

static uint64_t next_la(struct emu_cpu *cpu, uint64_t la)
{
	return (cpu->efer & EFER_LMA) ? la : la & 0xffffffffULL;
}

static void read_part(struct emu_cpu *cpu, struct xlat x, uint8_t *dst, unsigned n)
{
	if (x.host) {
		memcpy(dst, x.host, n);
		if (x.code && read_watched(cpu, x.gpa & EMU_PAGE_MASK))
			emu_event_page_read(cpu, x.gpa, n);
		return;
	}
	for (unsigned i = 0; i < n;) {
		unsigned sz = (n - i >= 8 && !((x.gpa + i) & 7))   ? 8
		              : (n - i >= 4 && !((x.gpa + i) & 3)) ? 4
		              : (n - i >= 2 && !((x.gpa + i) & 1)) ? 2
		                                                   : 1;
		uint64_t v = emu_phys_io_read(cpu, x.gpa + i, sz);
		memcpy(dst + i, &v, sz);
		i += sz;
	}
}

void emu_tlb_protect_watched(struct emu_cpu *cpu)
{
	for (int i = 0; i < EMU_TLB_SIZE; i++) {
		struct emu_tlb_entry *e = &cpu->tlb[i];
		if (e->tag_write != TLB_EMPTY && !(e->tag_write & TLB_IO) && sym_watched(cpu->vm, e->gpa_page))
			e->tag_write |= TLB_CODE;
		if (e->tag_read != TLB_EMPTY && !(e->tag_read & TLB_IO) && read_watched(cpu, e->gpa_page))
			e->tag_read |= TLB_CODE;
	}
}

void emu_tlb_protect_all(struct emu_cpu *cpu)
{
	for (int i = 0; i < EMU_TLB_SIZE; i++) {
		struct emu_tlb_entry *e = &cpu->tlb[i];
		if (e->tag_write != TLB_EMPTY && !(e->tag_write & TLB_IO))
			e->tag_write |= TLB_CODE;
	}
}

uint8_t *emu_watched_host(struct emu_cpu *cpu, uint64_t la, uint64_t *gpa)
{
	struct xlat x;
	if (!cpu->vm || !vm_events_wanted(cpu->vm, SYM_EV_PAGE_WRITE) || cpu->dr_data)
		return NULL; /* (with data breakpoints, element by element: each is compared) */
	x = translate(cpu, la, ACC_WRITE, emu_user_access(cpu)); /* faults as the store would */
	if (!x.host || !x.code || !sym_watched(cpu->vm, x.gpa) || any_has_code(cpu, x.gpa & EMU_PAGE_MASK))
		return NULL;
	*gpa = x.gpa;
	vm_mem_dirty(cpu->vm, x.gpa, 1); /* the caller writes the page at once */
	return x.host;
}

static void write_part(struct emu_cpu *cpu, struct xlat x, const uint8_t *src, unsigned n)
{
	if (x.host) {
		memcpy(x.host, src, n);
		if (x.code) {
			if (cpu->vm)
				vm_mem_dirty(cpu->vm, x.gpa, n); /* the first write since the log was collected */
			bool watched = cpu->vm && sym_watched(cpu->vm, x.gpa);
			if (watched && vm_events_wanted(cpu->vm, SYM_EV_PAGE_WRITE))
				emu_event_page_write(cpu, x.gpa, n);
			code_written_all(cpu, x.gpa, n);
			if (!watched && !any_has_code(cpu, x.gpa & EMU_PAGE_MASK) && !cpu->dr_data) {
				struct emu_tlb_entry *e;
				for (int i = 0; i < EMU_TLB_SIZE; i++) {
					e = &cpu->tlb[i];
					if (e->tag_write != TLB_EMPTY && e->gpa_page == (x.gpa & EMU_PAGE_MASK))
						e->tag_write &= ~TLB_CODE;
				}
			}
		}
		return;
	}
	for (unsigned i = 0; i < n;) {
		unsigned sz = (n - i >= 8 && !((x.gpa + i) & 7))   ? 8
		              : (n - i >= 4 && !((x.gpa + i) & 3)) ? 4
		              : (n - i >= 2 && !((x.gpa + i) & 1)) ? 2
		                                                   : 1;
		uint64_t v = 0;
		memcpy(&v, src + i, sz);
		emu_phys_io_write(cpu, x.gpa + i, v, sz);
		i += sz;
	}
}

uint64_t emu_read_slow(struct emu_cpu *cpu, uint64_t la, unsigned size, bool user)
{
	unsigned off = la & 0xfff;
	uint64_t v = 0;

	if (unlikely(cpu->dr_data))
		emu_dr_data(cpu, la, size, false);
	if (off + size <= 0x1000) {
		struct xlat x = translate(cpu, la, ACC_READ, user);
		if (x.host && x.code) {
			read_part(cpu, x, (uint8_t *)&v, size); /* a read-watched page */
			return v;
		}
		if (x.host)
			return emu_load_host(x.host, size);
		if (!(x.gpa & (size - 1)))
			return emu_phys_io_read(cpu, x.gpa, size);
		read_part(cpu, x, (uint8_t *)&v, size);
		return v;
	}
	{
		unsigned n1 = 0x1000 - off;
		struct xlat a = translate(cpu, la, ACC_READ, user);
		struct xlat b = translate(cpu, next_la(cpu, la + n1), ACC_READ, user);
		read_part(cpu, a, (uint8_t *)&v, n1);
		read_part(cpu, b, (uint8_t *)&v + n1, size - n1);
	}
	return v;
}

void emu_write_slow(struct emu_cpu *cpu, uint64_t la, uint64_t val, unsigned size, bool user)
{
	unsigned off = la & 0xfff;

	if (unlikely(cpu->dr_data))
		emu_dr_data(cpu, la, size, true);
	if (off + size <= 0x1000) {
		struct xlat x = translate(cpu, la, ACC_WRITE, user);
		if (!x.host && !(x.gpa & (size - 1)))
			emu_phys_io_write(cpu, x.gpa, val, size);
		else
			write_part(cpu, x, (const uint8_t *)&val, size);
		return;
	}
	{
		/* Both translations first: a fault on the second page must leave
		 * the first one unwritten. */
		unsigned n1 = 0x1000 - off;
		struct xlat a = translate(cpu, la, ACC_WRITE, user);
		struct xlat b = translate(cpu, next_la(cpu, la + n1), ACC_WRITE, user);
		write_part(cpu, a, (const uint8_t *)&val, n1);
		write_part(cpu, b, (const uint8_t *)&val + n1, size - n1);
	}
}

/* Out-of-line copies of the inline fast paths in mmu.h. */
uint64_t(emu_linear)(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size, bool write)
{
	return emu_linear_fast(cpu, seg, off, size, write);
}

uint64_t(emu_read)(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size)
{
	return emu_read_la(cpu, emu_linear_fast(cpu, seg, off, size, false), size, emu_user_access(cpu));
}

void(emu_write)(struct emu_cpu *cpu, int seg, uint64_t off, uint64_t val, unsigned size)
{
	emu_write_la(cpu, emu_linear_fast(cpu, seg, off, size, true), val, size, emu_user_access(cpu));
}

static void bytes_la(struct emu_cpu *cpu, uint64_t la, void *buf, unsigned len, bool write, bool user)
{
	uint8_t *p = buf;

	if (unlikely(cpu->dr_data))
		emu_dr_data(cpu, la, len, write);
	if (write) {
		/* Probe every page first so a fault leaves memory untouched. */
		uint64_t a = la;
		unsigned left = len;
		while (left) {
			unsigned n = 0x1000 - (a & 0xfff);
			if (n > left)
				n = left;
			translate(cpu, a, ACC_WRITE, user);
			a = next_la(cpu, a + n);
			left -= n;
		}
	}
	while (len) {
		unsigned n = 0x1000 - (la & 0xfff);
		struct xlat x;
		if (n > len)
			n = len;
		x = translate(cpu, la, write ? ACC_WRITE : ACC_READ, user);
		if (write)
			write_part(cpu, x, p, n);
		else
			read_part(cpu, x, p, n);
		p += n;
		la = next_la(cpu, la + n);
		len -= n;
	}
}

void emu_read_bytes(struct emu_cpu *cpu, int seg, uint64_t off, void *dst, unsigned len)
{
	uint64_t la = emu_linear_fast(cpu, seg, off, len, false);
	bytes_la(cpu, la, dst, len, false, emu_user_access(cpu));
}

void emu_write_bytes(struct emu_cpu *cpu, int seg, uint64_t off, const void *src, unsigned len)
{
	uint64_t la = emu_linear_fast(cpu, seg, off, len, true);
	bytes_la(cpu, la, (void *)src, len, true, emu_user_access(cpu));
}

uint64_t emu_read_linear(struct emu_cpu *cpu, uint64_t la, unsigned size, bool supervisor)
{
	return emu_read_la(cpu, next_la(cpu, la), size, !supervisor && emu_user_access(cpu));
}

void emu_write_linear(struct emu_cpu *cpu, uint64_t la, uint64_t val, unsigned size, bool supervisor)
{
	emu_write_la(cpu, next_la(cpu, la), val, size, !supervisor && emu_user_access(cpu));
}

uint64_t emu_fetch_gpa_slow(struct emu_cpu *cpu, uint64_t la)
{
	return translate(cpu, la, ACC_EXEC, emu_user_access(cpu)).gpa;
}

uint64_t(emu_fetch_gpa)(struct emu_cpu *cpu, uint64_t la)
{
	return emu_fetch_gpa_inline(cpu, la);
}

void emu_mmu_update_smap(struct emu_cpu *cpu)
{
	cpu->smep_bits = cpu->cr4 & CR4_SMEP ? TLB_USER : 0;
	cpu->smap_bits = (cpu->cr4 & CR4_SMAP) && (cpu->cpl == 3 || !(cpu->rflags & RFLAGS_AC)) ? TLB_USER : 0;
}

void emu_set_pkru(struct emu_cpu *cpu, uint32_t v)
{
	if (v != cpu->pkru)
		emu_tlb_flush(cpu, true); /* entries hold the rights of the old value */
	cpu->pkru = v;
}
