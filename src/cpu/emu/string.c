/* String instructions MOVS CMPS STOS LODS SCAS with REP/REPE/REPNE.
 *
 * rSI/rDI/rCX are used at the address size; the source segment may be
 * overridden, the destination is always ES.  A REP instruction runs at
 * most a budget of iterations per execution: if rCX is still non-zero it
 * stays at the same RIP (next_rip = rip) and ends the block, so the loop
 * can take interrupts and resume it, as the hardware does.
 *
 * Fast path (64-bit mode, DF=0): REP MOVS/STOS work a page at a time on
 * host memory when the TLB already maps both pages for the access (code
 * pages and MMIO never hit there, so they take the element-wise path). */
#include <string.h>

#include "cpu/emu/ops.h"

#define REP_BUDGET      4096       /* element-wise iterations per execution */
#define REP_FAST_BUDGET (1u << 20) /* bytes per execution on the fast path */

static inline int64_t str_step(const struct emu_cpu *cpu, unsigned sz)
{
	return (cpu->rflags & RFLAGS_DF) ? -(int64_t)sz : (int64_t)sz;
}

static inline void adv(struct emu_cpu *cpu, unsigned r, int64_t d, unsigned as)
{
	reg_write_a(cpu, r, cpu->gpr[r] + (uint64_t)d, as);
}

/* Host pointer for linear la if the TLB maps it for this access, else NULL. */
static inline uint8_t *tlb_host(struct emu_cpu *cpu, uint64_t la, bool write)
{
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	uint64_t tag = write ? e->tag_write : e->tag_read;
	if ((tag & emu_tlb_mask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK))
		return (uint8_t *)(uintptr_t)(la + e->addend);
	return NULL;
}

/* A write miss on a page holding cached code: drop the code the chunk will
 * overwrite at once (clear_page on a page that held code, say), so the MMU
 * can make the page writable again instead of every element taking its
 * slow path. */
static void unprotect_chunk(struct emu_cpu *cpu, uint64_t la, uint64_t bytes)
{
	/* The entry is there once one element took the slow path. */
	struct emu_tlb_entry *e = emu_tlb_entry_of(cpu, la);
	if ((e->tag_read & emu_tlb_mask(cpu, emu_user_access(cpu))) == (la & EMU_PAGE_MASK) &&
	    emu_page_has_code(cpu, e->gpa_page))
		emu_code_written(cpu, e->gpa_page + (la & 0xfff), (unsigned)bytes);
}

static inline bool rep_fast_ok(const struct emu_cpu *cpu, const struct emu_insn *in)
{
	return cpu->code_mode == EMU_MODE64 && in->addrsize == 8 && !(cpu->rflags & RFLAGS_DF);
}

/* Ends the execution with the instruction still pending. */
static inline void rep_yield(struct emu_cpu *cpu)
{
	emu_rep_yield(cpu);
}

static void stos_one(struct emu_cpu *cpu, const struct emu_insn *in, unsigned sz, unsigned as)
{
	emu_write(cpu, SEG_ES, reg_read_a(cpu, X86_RDI, as), cpu->gpr[X86_RAX], sz);
	adv(cpu, X86_RDI, str_step(cpu, sz), as);
	(void)in;
}

static void movs_one(struct emu_cpu *cpu, const struct emu_insn *in, unsigned sz, unsigned as)
{
	uint64_t v = emu_read(cpu, in->seg, reg_read_a(cpu, X86_RSI, as), sz);
	emu_write(cpu, SEG_ES, reg_read_a(cpu, X86_RDI, as), v, sz);
	adv(cpu, X86_RSI, str_step(cpu, sz), as);
	adv(cpu, X86_RDI, str_step(cpu, sz), as);
}

/* The element-at-a-time REP loop every mode can take: RCX (by address
 * size) counts down; after REP_BUDGET elements it yields with RIP on the
 * instruction, to resume where it stopped. */
static void rep_slow(struct emu_cpu *cpu, const struct emu_insn *in,
                     void (*one)(struct emu_cpu *, const struct emu_insn *, unsigned, unsigned))
{
	unsigned sz = in->opsize, as = in->addrsize;

	for (unsigned i = 0; reg_read_a(cpu, X86_RCX, as); i++) {
		if (i == REP_BUDGET || unlikely(cpu->dr_hit)) { /* a data breakpoint traps between iterations */
			rep_yield(cpu);
			return;
		}
		one(cpu, in, sz, as);
		reg_write_a(cpu, X86_RCX, reg_read_a(cpu, X86_RCX, as) - 1, as);
	}
}

static void fill(uint8_t *p, uint64_t v, unsigned sz, uint64_t n)
{
	if (sz == 1) {
		memset(p, (int)(v & 0xff), n);
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		memcpy(p + i * sz, &v, sz);
}

void op_stos(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = in->addrsize;
	if (!(in->prefix & (PFX_REP | PFX_REPNE))) {
		stos_one(cpu, in, sz, as);
		return;
	}
	if (rep_fast_ok(cpu, in)) {
		uint64_t done = 0;
		unsigned slow = 0;
		while (cpu->gpr[X86_RCX]) {
			uint64_t la = emu_linear(cpu, SEG_ES, cpu->gpr[X86_RDI], sz, true);
			uint64_t n = (0x1000 - (la & 0xfff)) / sz;
			uint8_t *p = n ? tlb_host(cpu, la, true) : NULL;
			uint64_t gpa = 0;
			bool watched = false;
			if (!p && n && (p = emu_watched_host(cpu, la, &gpa)))
				watched = true; /* a watched page: the chunk at once, one event */
			if (!p) {
				if (n)
					unprotect_chunk(cpu, la, (n < cpu->gpr[X86_RCX] ? n : cpu->gpr[X86_RCX]) * sz);
				stos_one(cpu, in, sz, as);
				cpu->gpr[X86_RCX]--;
				/* A data breakpoint traps between iterations; and elements
				 * that take the slow path (MMIO, say) count against a budget
				 * of their own, so a huge count cannot hold the vCPU */
				if ((unlikely(cpu->dr_hit) || ++slow == REP_BUDGET) && cpu->gpr[X86_RCX]) {
					rep_yield(cpu);
					return;
				}
				continue;
			}
			if (n > cpu->gpr[X86_RCX])
				n = cpu->gpr[X86_RCX];
			fill(p, cpu->gpr[X86_RAX], sz, n);
			bool stop = watched && emu_event_page_write(cpu, gpa, (unsigned)(n * sz));
			cpu->gpr[X86_RDI] += n * sz;
			cpu->gpr[X86_RCX] -= n;
			done += n * sz;
			if ((stop || done >= REP_FAST_BUDGET) && cpu->gpr[X86_RCX]) {
				rep_yield(cpu);
				return;
			}
		}
		return;
	}
	rep_slow(cpu, in, stos_one);
}

void op_movs(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = in->addrsize;
	if (!(in->prefix & (PFX_REP | PFX_REPNE))) {
		movs_one(cpu, in, sz, as);
		return;
	}
	if (rep_fast_ok(cpu, in)) {
		uint64_t done = 0;
		unsigned slow = 0;
		while (cpu->gpr[X86_RCX]) {
			uint64_t sla = emu_linear(cpu, in->seg, cpu->gpr[X86_RSI], sz, false);
			uint64_t dla = emu_linear(cpu, SEG_ES, cpu->gpr[X86_RDI], sz, true);
			uint64_t ns = (0x1000 - (sla & 0xfff)) / sz, nd = (0x1000 - (dla & 0xfff)) / sz;
			uint64_t n = ns < nd ? ns : nd;
			uint8_t *s = n ? tlb_host(cpu, sla, false) : NULL;
			uint8_t *d = s ? tlb_host(cpu, dla, true) : NULL;
			uint64_t gpa = 0;
			bool watched = false;
			if (s && !d && (d = emu_watched_host(cpu, dla, &gpa)))
				watched = true; /* a watched page: the chunk at once, one event */
			if (!d) {
				if (s)
					unprotect_chunk(cpu, dla, (n < cpu->gpr[X86_RCX] ? n : cpu->gpr[X86_RCX]) * sz);
				movs_one(cpu, in, sz, as);
				cpu->gpr[X86_RCX]--;
				/* A data breakpoint traps between iterations; and elements
				 * that take the slow path (MMIO, say) count against a budget
				 * of their own, so a huge count cannot hold the vCPU */
				if ((unlikely(cpu->dr_hit) || ++slow == REP_BUDGET) && cpu->gpr[X86_RCX]) {
					rep_yield(cpu);
					return;
				}
				continue;
			}
			if (n > cpu->gpr[X86_RCX])
				n = cpu->gpr[X86_RCX];
			if (d > s && d < s + n * sz) {
				/* Forward overlap: element by element, as the hardware
				 * copies (replicating the pattern). */
				for (uint64_t i = 0; i < n * sz; i++)
					d[i] = s[i];
			} else {
				memmove(d, s, n * sz);
			}
			bool stop = watched && emu_event_page_write(cpu, gpa, (unsigned)(n * sz));
			cpu->gpr[X86_RSI] += n * sz;
			cpu->gpr[X86_RDI] += n * sz;
			cpu->gpr[X86_RCX] -= n;
			done += n * sz;
			if ((stop || done >= REP_FAST_BUDGET) && cpu->gpr[X86_RCX]) {
				rep_yield(cpu);
				return;
			}
		}
		return;
	}
	rep_slow(cpu, in, movs_one);
}

void op_lods(struct emu_cpu *cpu, const struct emu_insn *in)
{
	unsigned sz = in->opsize, as = in->addrsize;
	bool rep = in->prefix & (PFX_REP | PFX_REPNE);
	for (unsigned i = 0; !rep || reg_read_a(cpu, X86_RCX, as); i++) {
		if (i == REP_BUDGET || unlikely(cpu->dr_hit)) { /* a data breakpoint traps between iterations */
			rep_yield(cpu);
			return;
		}
		uint64_t v = emu_read(cpu, in->seg, reg_read_a(cpu, X86_RSI, as), sz);
		reg_write(cpu, in, X86_RAX, v, sz);
		adv(cpu, X86_RSI, str_step(cpu, sz), as);
		if (!rep)
			return;
		reg_write_a(cpu, X86_RCX, reg_read_a(cpu, X86_RCX, as) - 1, as);
	}
}

/* CMPS and SCAS: REPE (F3) stops when ZF=0, REPNE (F2) when ZF=1. */
static void cmp_loop(struct emu_cpu *cpu, const struct emu_insn *in, bool cmps)
{
	unsigned sz = in->opsize, as = in->addrsize;
	bool rep = in->prefix & (PFX_REP | PFX_REPNE), repe = in->prefix & PFX_REP;
	uint64_t m = sz_mask(sz);
	for (unsigned i = 0; !rep || reg_read_a(cpu, X86_RCX, as); i++) {
		uint64_t a, b;
		if (i == REP_BUDGET || unlikely(cpu->dr_hit)) { /* a data breakpoint traps between iterations */
			rep_yield(cpu);
			return;
		}
		if (cmps) {
			a = emu_read(cpu, in->seg, reg_read_a(cpu, X86_RSI, as), sz);
			b = emu_read(cpu, SEG_ES, reg_read_a(cpu, X86_RDI, as), sz);
			adv(cpu, X86_RSI, str_step(cpu, sz), as);
		} else {
			a = cpu->gpr[X86_RAX] & m;
			b = emu_read(cpu, SEG_ES, reg_read_a(cpu, X86_RDI, as), sz);
		}
		adv(cpu, X86_RDI, str_step(cpu, sz), as);
		cc_set(cpu, EMU_CC_SUB, sz, (a - b) & m, a, b);
		if (!rep)
			return;
		reg_write_a(cpu, X86_RCX, reg_read_a(cpu, X86_RCX, as) - 1, as);
		if ((a == b) != repe)
			return;
	}
}

void op_cmps(struct emu_cpu *cpu, const struct emu_insn *in)
{
	cmp_loop(cpu, in, true);
}
void op_scas(struct emu_cpu *cpu, const struct emu_insn *in)
{
	cmp_loop(cpu, in, false);
}
