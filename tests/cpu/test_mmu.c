/* Softmmu of the emu engine: page walks in every paging mode (translation,
 * A/D bits, fault error codes), the TLB's rules (dirty-bit first write,
 * global entries, INVLPG of large pages), accesses that cross a page, device
 * addresses and the segment checks.  Page tables are built by hand in a
 * guest_mem; the CPU is a bare struct emu_cpu without a VM, except for the
 * watched-page test, which gives it a VM with an event hub: stores to a
 * watched page (sym_watch) reach SYM_EV_PAGE_WRITE from the slow path, stores
 * to other pages do not, and a watch set after a page's TLB entry was
 * filled applies once the engine protects the TLB (its next block). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/emu/emu.h"
#include "cpu/engine.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

#define P  (1ULL << 0)
#define W  (1ULL << 1)
#define U  (1ULL << 2)
#define A  (1ULL << 5)
#define D  (1ULL << 6)
#define PS (1ULL << 7)
#define G  (1ULL << 8)
#define NX (1ULL << 63)

#define PML4 0x1000
#define PDPT 0x2000
#define PD   0x3000
#define PT   0x4000

struct fx {
	struct guest_mem mem;
	struct emu_cpu *cpu;
};

static uint64_t *ent(struct fx *f, uint64_t table, unsigned idx)
{
	return (uint64_t *)(f->mem.host + table) + idx;
}

static uint32_t *ent32(struct fx *f, uint64_t table, unsigned idx)
{
	return (uint32_t *)(f->mem.host + table) + idx;
}

/* 4-level paging; PML4[0] → PDPT, PDPT[0] → PD, PD[1] (2..4 MiB) → PT. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct emu_cpu *c;

	assert_int_equal(guest_mem_init(&f->mem, 16ULL << 20), 0);
	c = f->cpu = calloc(1, sizeof(*c));
	c->mem = &f->mem;
	c->cr0 = CR0_PE | CR0_PG | CR0_WP | CR0_ET;
	c->cr4 = CR4_PAE | CR4_PGE;
	c->efer = EFER_LME | EFER_LMA | EFER_NXE;
	c->cr3 = PML4;
	c->seg[SEG_CS].l = 1;
	c->seg[SEG_CS].present = 1;
	c->seg[SEG_CS].type = 0xb;
	c->seg[SEG_CS].s = 1;
	emu_update_mode(c);
	emu_tlb_flush(c, true);
	*ent(f, PML4, 0) = PDPT | P | W | U;
	*ent(f, PDPT, 0) = PD | P | W | U;
	*ent(f, PD, 1) = PT | P | W | U;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->cpu);
	guest_mem_free(&f->mem);
	free(f);
	return 0;
}

static void map4k(struct fx *f, uint64_t la, uint64_t gpa, uint64_t flags)
{
	assert_true(la >= 0x200000 && la < 0x400000);
	*ent(f, PT, (la >> 12) & 511) = gpa | flags;
}

/* Runs expr expecting a fault; checks its vector and error code. */
#define EXPECT_FAULT(cpu, expr, vec, err)                    \
	do {                                                 \
		if (setjmp((cpu)->exc_jmp) == 0) {           \
			expr;                                \
			fail_msg("no fault from %s", #expr); \
		}                                            \
		assert_int_equal((cpu)->exc_vector, (vec));  \
		assert_int_equal((cpu)->exc_error, (err));   \
	} while (0)

static void test_walk_4k_sets_accessed_then_dirty(void **state)
{
	struct fx *f = *state;
	struct emu_walk w;

	map4k(f, 0x201000, 0x500000, P | W | U);
	assert_int_equal(emu_walk(f->cpu, 0x201abc, ACC_READ, true, &w), 0);
	assert_int_equal(w.gpa, 0x500abc);
	assert_int_equal(w.page_size, 4096);
	assert_true(*ent(f, PML4, 0) & A);
	assert_true(*ent(f, PDPT, 0) & A);
	assert_true(*ent(f, PD, 1) & A);
	assert_true(*ent(f, PT, 1) & A);
	assert_false(*ent(f, PT, 1) & D);
	assert_false(*ent(f, PD, 1) & D);
	assert_int_equal(emu_walk(f->cpu, 0x201abc, ACC_WRITE, true, &w), 0);
	assert_true(*ent(f, PT, 1) & D);
	assert_false(*ent(f, PD, 1) & D); /* D only on the leaf */
}

static void test_walk_error_codes(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;
	struct emu_walk w;

	/* not present */
	assert_int_equal(emu_walk(c, 0x202000, ACC_READ, false, &w), EMU_WALK_FAULT);
	assert_int_equal(emu_walk(c, 0x202000, ACC_WRITE, true, &w), EMU_WALK_FAULT | PFERR_W | PFERR_U);
	assert_int_equal(emu_walk(c, 0x202000, ACC_EXEC, false, &w), EMU_WALK_FAULT | PFERR_ID);
	/* write to read-only: user always, supervisor with CR0.WP */
	map4k(f, 0x203000, 0x600000, P | U);
	assert_int_equal(emu_walk(c, 0x203000, ACC_WRITE, true, &w), EMU_WALK_FAULT | PFERR_P | PFERR_W | PFERR_U);
	assert_int_equal(emu_walk(c, 0x203000, ACC_WRITE, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_W);
	c->cr0 &= ~CR0_WP;
	assert_int_equal(emu_walk(c, 0x203000, ACC_WRITE, false, &w), 0);
	c->cr0 |= CR0_WP;
	/* user access to a supervisor page; a U=0 upper level is enough */
	map4k(f, 0x204000, 0x601000, P | W);
	assert_int_equal(emu_walk(c, 0x204000, ACC_READ, true, &w), EMU_WALK_FAULT | PFERR_P | PFERR_U);
	assert_int_equal(emu_walk(c, 0x204000, ACC_READ, false, &w), 0);
	*ent(f, PD, 1) &= ~U;
	assert_int_equal(emu_walk(c, 0x203000, ACC_READ, true, &w), EMU_WALK_FAULT | PFERR_P | PFERR_U);
	*ent(f, PD, 1) |= U;
	/* NX fetch; with EFER.NXE=0 the bit is reserved */
	map4k(f, 0x205000, 0x602000, P | W | U | NX);
	assert_int_equal(emu_walk(c, 0x205000, ACC_READ, true, &w), 0);
	assert_int_equal(emu_walk(c, 0x205000, ACC_EXEC, true, &w), EMU_WALK_FAULT | PFERR_P | PFERR_U | PFERR_ID);
	c->efer &= ~EFER_NXE;
	assert_int_equal(emu_walk(c, 0x205000, ACC_READ, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_RSVD);
	c->efer |= EFER_NXE;
	/* physical-address bits above MAXPHYADDR are reserved */
	map4k(f, 0x206000, 0x603000 | (1ULL << 45), P | W);
	assert_int_equal(emu_walk(c, 0x206000, ACC_READ, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_RSVD);
}

static void test_walk_large_pages(void **state)
{
	struct fx *f = *state;
	struct emu_walk w;

	*ent(f, PD, 3) = 0xa00000 | P | W | PS; /* 6..8 MiB → 10 MiB */
	assert_int_equal(emu_walk(f->cpu, 0x6abcde, ACC_WRITE, false, &w), 0);
	assert_int_equal(w.gpa, 0xaabcde);
	assert_int_equal(w.page_size, 2ULL << 20);
	assert_true(*ent(f, PD, 3) & D);
	*ent(f, PD, 4) = 0xa00000 | (1ULL << 13) | P | PS; /* reserved bit in a 2 MiB PDE */
	assert_int_equal(emu_walk(f->cpu, 0x800000, ACC_READ, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_RSVD);
	*ent(f, PDPT, 1) = 0x40000000ULL | P | W | PS; /* 1 GiB page at 1 GiB, identity */
	assert_int_equal(emu_walk(f->cpu, 0x40123456, ACC_READ, false, &w), 0);
	assert_int_equal(w.gpa, 0x40123456);
	assert_int_equal(w.page_size, 1ULL << 30);
	*ent(f, PML4, 1) = PDPT | P | W | PS; /* PS is reserved in a PML4E */
	assert_int_equal(emu_walk(f->cpu, 1ULL << 39, ACC_READ, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_RSVD);
}

static void test_walk_legacy_modes(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;
	struct emu_walk w;

	/* 32-bit two-level paging with a 4 MiB page and a 4 KiB one. */
	c->efer = 0;
	c->cr4 = CR4_PSE;
	c->cr3 = 0x8000;
	emu_update_mode(c);
	*ent32(f, 0x8000, 1) = 0x800000 | P | W | PS; /* 4..8 MiB → 8 MiB */
	*ent32(f, 0x8000, 2) = 0x9000 | P | W | U;    /* 8..12 MiB → PT */
	*ent32(f, 0x9000, 5) = 0x700000 | P | U;
	assert_int_equal(emu_walk(c, 0x412345, ACC_READ, false, &w), 0);
	assert_int_equal(w.gpa, 0x812345);
	assert_int_equal(w.page_size, 4ULL << 20);
	assert_int_equal(emu_walk(c, 0x805678, ACC_READ, true, &w), 0);
	assert_int_equal(w.gpa, 0x700678);
	assert_true(*ent32(f, 0x9000, 5) & A);
	assert_int_equal(emu_walk(c, 0x805678, ACC_WRITE, true, &w), EMU_WALK_FAULT | PFERR_P | PFERR_W | PFERR_U);
	/* Without CR4.PSE the PS bit is ignored: the PDE points at a table. */
	c->cr4 = 0;
	*ent32(f, 0x800000, 0x12) = 0x123000 | P;
	assert_int_equal(emu_walk(c, 0x412345, ACC_READ, false, &w), 0);
	assert_int_equal(w.gpa, 0x123345);

	/* PAE three-level paging. */
	c->cr4 = CR4_PAE;
	c->cr3 = 0xa000;
	*ent(f, 0xa000, 0) = 0xb000 | P;
	*ent(f, 0xb000, 2) = 0xc000 | P | W;
	*ent(f, 0xc000, 3) = 0x345000 | P | W;
	assert_int_equal(emu_walk(c, 0x403abc, ACC_WRITE, false, &w), 0);
	assert_int_equal(w.gpa, 0x345abc);
	*ent(f, 0xa000, 0) |= W; /* R/W is reserved in a PAE PDPTE */
	assert_int_equal(emu_walk(c, 0x403abc, ACC_READ, false, &w), EMU_WALK_FAULT | PFERR_P | PFERR_RSVD);
}

static void test_access_faults_set_cr2(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	map4k(f, 0x207000, 0x604000, P | U);
	c->cpl = 3;
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x207010, 1, 4), EXC_PF, PFERR_P | PFERR_W | PFERR_U);
	assert_int_equal(c->cr2, 0x207010);
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0x208000, 8), EXC_PF, PFERR_U);
	assert_int_equal(c->cr2, 0x208000);
	/* Supervisor-only pages are visible to implicit supervisor accesses. */
	map4k(f, 0x209000, 0x605000, P | W);
	*(uint32_t *)(f->mem.host + 0x605010) = 0xdeadbeef;
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0x209010, 4), EXC_PF, PFERR_P | PFERR_U);
	assert_int_equal(emu_read_linear(c, 0x209010, 4, true), 0xdeadbeef);
}

/* SMAP: supervisor data accesses to a user page fault (P, W as the
 * access), unless AC is set at CPL 0, and always for implicit accesses at
 * CPL 3; SMEP: supervisor fetches from it fault.  A TLB entry filled
 * before CR4 changed does not let them through; supervisor pages and user
 * accesses are unaffected. */
static void test_smep_smap(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	map4k(f, 0x20a000, 0x606000, P | W | U);
	map4k(f, 0x20b000, 0x607000, P | W);
	*(uint32_t *)(f->mem.host + 0x606000) = 0x12345678;
	*(uint32_t *)(f->mem.host + 0x607000) = 0x9abc;
	emu_tlb_flush(c, true);
	c->cpl = 0;
	emu_set_rflags(c, RFLAGS_FIXED);
	assert_int_equal(emu_read(c, SEG_DS, 0x20a000, 4), 0x12345678); /* no SMAP yet: fills the TLB */
	assert_int_equal(emu_fetch_gpa(c, 0x20a000), 0x606000);
	c->cr4 |= CR4_SMAP | CR4_SMEP;
	emu_mmu_update_smap(c);
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0x20a000, 4), EXC_PF, PFERR_P);
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x20a000, 1, 4), EXC_PF, PFERR_P | PFERR_W);
	EXPECT_FAULT(c, emu_fetch_gpa(c, 0x20a000), EXC_PF, PFERR_P | PFERR_ID);
	assert_int_equal(emu_read(c, SEG_DS, 0x20b000, 4), 0x9abc); /* a supervisor page */
	/* AC lifts SMAP at CPL 0 (not SMEP) */
	emu_set_rflags(c, RFLAGS_FIXED | RFLAGS_AC);
	assert_int_equal(emu_read(c, SEG_DS, 0x20a000, 4), 0x12345678);
	emu_write(c, SEG_DS, 0x20a004, 7, 4);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x606004), 7);
	EXPECT_FAULT(c, emu_fetch_gpa(c, 0x20a000), EXC_PF, PFERR_P | PFERR_ID);
	/* CPL 3: the user's own accesses work; an implicit supervisor access
	 * (a descriptor table, say) faults even with AC */
	c->cpl = 3;
	emu_mmu_update_smap(c);
	assert_int_equal(emu_read(c, SEG_DS, 0x20a000, 4), 0x12345678);
	assert_int_equal(emu_fetch_gpa(c, 0x20a000), 0x606000);
	EXPECT_FAULT(c, emu_read_linear(c, 0x20a000, 4, true), EXC_PF, PFERR_P);
	c->cpl = 0;
	emu_set_rflags(c, RFLAGS_FIXED);
	c->cr4 &= ~(CR4_SMAP | CR4_SMEP);
	emu_mmu_update_smap(c);
	assert_int_equal(emu_read(c, SEG_DS, 0x20a000, 4), 0x12345678);
	assert_int_equal(emu_fetch_gpa(c, 0x20a000), 0x606000);
}

/* Protection keys (CR4.PKE, 4-level paging): a user page with key 5
 * under PKRU's AD faults on any data access (PK set in the error code),
 * under WD on writes only; fetches and key-0 pages are unaffected, and a
 * PKRU change reaches entries the TLB already holds. */
static void test_protection_keys(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	map4k(f, 0x20c000, 0x608000, P | W | U | (5ULL << 59));
	map4k(f, 0x20d000, 0x609000, P | W | U);
	*(uint32_t *)(f->mem.host + 0x608000) = 0x5555;
	emu_tlb_flush(c, true);
	c->cpl = 3;
	emu_mmu_update_smap(c);
	c->cr4 |= CR4_PKE;
	emu_set_pkru(c, 0);
	assert_int_equal(emu_read(c, SEG_DS, 0x20c000, 4), 0x5555); /* fills the TLB */
	emu_set_pkru(c, 1u << 10);                                  /* AD for key 5 */
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0x20c000, 4), EXC_PF, PFERR_P | PFERR_U | PFERR_PK);
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x20c000, 1, 4), EXC_PF, PFERR_P | PFERR_W | PFERR_U | PFERR_PK);
	assert_int_equal(emu_fetch_gpa(c, 0x20c000), 0x608000);
	emu_write(c, SEG_DS, 0x20d000, 9, 4); /* key 0 */
	emu_set_pkru(c, 2u << 10);            /* WD for key 5 */
	assert_int_equal(emu_read(c, SEG_DS, 0x20c000, 4), 0x5555);
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x20c000, 1, 4), EXC_PF, PFERR_P | PFERR_W | PFERR_U | PFERR_PK);
	c->cpl = 0; /* supervisor writes too, under CR0.WP */
	emu_mmu_update_smap(c);
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x20c000, 1, 4), EXC_PF, PFERR_P | PFERR_W | PFERR_PK);
	c->cr4 &= ~CR4_PKE;
	emu_tlb_flush(c, true);
	emu_write(c, SEG_DS, 0x20c000, 3, 4);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x608000), 3);
	emu_set_pkru(c, 0);
}

static void test_first_write_after_read_sets_dirty(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	map4k(f, 0x20a000, 0x606000, P | W);
	*(uint64_t *)(f->mem.host + 0x606008) = 42;
	assert_int_equal(emu_read(c, SEG_DS, 0x20a008, 8), 42);
	assert_true(*ent(f, PT, 0xa) & A);
	assert_false(*ent(f, PT, 0xa) & D);
	emu_write(c, SEG_DS, 0x20a008, 43, 8);
	assert_true(*ent(f, PT, 0xa) & D);
	assert_int_equal(*(uint64_t *)(f->mem.host + 0x606008), 43);
	/* Now cached for writing: a later write does not need the walk. */
	*ent(f, PT, 0xa) &= ~D;
	emu_write(c, SEG_DS, 0x20a010, 44, 2);
	assert_int_equal(*(uint16_t *)(f->mem.host + 0x606010), 44);
}

static void test_global_entries_survive_cr3_flush(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	*(uint32_t *)(f->mem.host + 0x607000) = 1;
	*(uint32_t *)(f->mem.host + 0x608000) = 2;
	*(uint32_t *)(f->mem.host + 0x609000) = 3;
	map4k(f, 0x20b000, 0x607000, P | W | G);
	map4k(f, 0x20c000, 0x607000, P | W);
	assert_int_equal(emu_read(c, SEG_DS, 0x20b000, 4), 1);
	assert_int_equal(emu_read(c, SEG_DS, 0x20c000, 4), 1);
	/* Remap both without telling the TLB. */
	map4k(f, 0x20b000, 0x608000, P | W | G);
	map4k(f, 0x20c000, 0x608000, P | W);
	emu_tlb_flush(c, false);
	assert_int_equal(emu_read(c, SEG_DS, 0x20b000, 4), 1); /* global: still cached */
	assert_int_equal(emu_read(c, SEG_DS, 0x20c000, 4), 2);
	emu_tlb_flush_page(c, 0x20b000);
	assert_int_equal(emu_read(c, SEG_DS, 0x20b000, 4), 2);
	map4k(f, 0x20b000, 0x609000, P | W | G);
	emu_tlb_flush(c, true);
	assert_int_equal(emu_read(c, SEG_DS, 0x20b000, 4), 3);
}

static void test_invlpg_drops_whole_large_page(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	*(uint32_t *)(f->mem.host + 0xa00000) = 5;
	*(uint32_t *)(f->mem.host + 0xa05000) = 6;
	*(uint32_t *)(f->mem.host + 0xc05000) = 7;
	*ent(f, PD, 3) = 0xa00000 | P | W | PS;
	assert_int_equal(emu_read(c, SEG_DS, 0x600000, 4), 5);
	assert_int_equal(emu_read(c, SEG_DS, 0x605000, 4), 6);
	*ent(f, PD, 3) = 0xc00000 | P | W | PS;
	emu_tlb_flush_page(c, 0x600000); /* another 4 KiB piece of the same 2 MiB page */
	assert_int_equal(emu_read(c, SEG_DS, 0x605000, 4), 7);
}

static void test_cross_page_access(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;
	uint8_t buf[16];

	map4k(f, 0x20d000, 0x60a000, P | W);
	map4k(f, 0x20e000, 0x60c000, P | W); /* not contiguous in guest-physical memory */
	emu_write(c, SEG_DS, 0x20dffc, 0x1122334455667788ULL, 8);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x60affc), 0x55667788);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x60c000), 0x11223344);
	assert_int_equal(emu_read(c, SEG_DS, 0x20dffe, 4), 0x33445566);
	emu_read_bytes(c, SEG_DS, 0x20dff8, buf, 16);
	assert_int_equal(buf[4], 0x88);
	assert_int_equal(buf[11], 0x11);
	/* A fault on the second page leaves the first one unwritten. */
	map4k(f, 0x20f000, 0x60d000, P | W);
	*(uint32_t *)(f->mem.host + 0x60dffc) = 0xaaaaaaaa;
	EXPECT_FAULT(c, emu_write(c, SEG_DS, 0x20fffe, 0, 4), EXC_PF, PFERR_W);
	assert_int_equal(c->cr2, 0x210000);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x60dffc), 0xaaaaaaaa);
}

static void test_device_addresses_are_not_ram(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	/* Beyond RAM (no VM attached: reads float high, writes vanish). */
	map4k(f, 0x210000, 0xfeb00000ULL, P | W);
	assert_int_equal(emu_read(c, SEG_DS, 0x210000, 4), 0xffffffffu);
	emu_write(c, SEG_DS, 0x210000, 0, 4);
	assert_int_equal(emu_read(c, SEG_DS, 0x210000, 2), 0xffff);
	/* A page-table entry outside RAM reads as not present. */
	*ent(f, PD, 5) = 0xfff00000ULL | P | W;
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0xa00000, 4), EXC_PF, 0);
}

static void test_segment_checks(void **state)
{
	struct fx *f = *state;
	struct emu_cpu *c = f->cpu;

	/* 64-bit: non-canonical → #GP, or #SS on the stack; FS has a base. */
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0x0000800000000000ULL, 4), EXC_GP, 0);
	EXPECT_FAULT(c, emu_read(c, SEG_SS, 0xffff7fffffffffffULL, 4), EXC_SS, 0);
	map4k(f, 0x211000, 0x60e000, P | W);
	*(uint32_t *)(f->mem.host + 0x60e004) = 99;
	c->seg[SEG_FS].base = 0x211000;
	assert_int_equal(emu_read(c, SEG_FS, 4, 4), 99);

	/* 32-bit protected mode without paging: limits, expand-down, types. */
	c->cr0 = CR0_PE | CR0_ET;
	c->efer = 0;
	c->seg[SEG_CS].l = 0;
	c->seg[SEG_CS].db = 1;
	emu_update_mode(c);
	emu_tlb_flush(c, true);
	c->seg[SEG_DS] = (struct x86_seg){ .base = 0x100000, .limit = 0xfff, .type = 3, .s = 1, .present = 1, .db = 1 };
	*(uint32_t *)(f->mem.host + 0x100ffc) = 77;
	assert_int_equal(emu_read(c, SEG_DS, 0xffc, 4), 77);
	EXPECT_FAULT(c, emu_read(c, SEG_DS, 0xffd, 4), EXC_GP, 0);
	c->seg[SEG_SS] = (struct x86_seg){ .base = 0, .limit = 0xffff, .type = 7, .s = 1, .present = 1, .db = 1 };
	EXPECT_FAULT(c, emu_read(c, SEG_SS, 0x8000, 4), EXC_SS, 0); /* expand-down: at or below limit */
	emu_write(c, SEG_SS, 0x10000, 5, 4);
	assert_int_equal(*(uint32_t *)(f->mem.host + 0x10000), 5);
	c->seg[SEG_ES] = (struct x86_seg){ .base = 0, .limit = 0xffffffff, .type = 1, .s = 1, .present = 1, .db = 1 };
	EXPECT_FAULT(c, emu_write(c, SEG_ES, 0x1000, 1, 1), EXC_GP, 0); /* read-only data */
	c->seg[SEG_GS].unusable = 1;
	EXPECT_FAULT(c, emu_read(c, SEG_GS, 0, 1), EXC_GP, 0); /* null selector */
}

struct page_writes {
	int n;
	uint64_t gpa;
	uint32_t len;
	bool dma;
};

static enum sym_action on_page_write(void *opaque, struct sym_event *ev)
{
	struct page_writes *w = opaque;
	w->n++;
	w->gpa = ev->write.gpa;
	w->len = ev->write.len;
	w->dma = ev->write.dma;
	return SYM_CONTINUE;
}

static void test_watched_page_writes(void **state)
{
	static const struct engine_ops engine = { .name = "test", .events = SYM_EV_VCPU_MASK };
	struct fx *f = *state;
	struct vm *vm = calloc(1, sizeof(*vm));
	struct sym_filter flt = { .type = SYM_EV_PAGE_WRITE };
	struct page_writes w = { 0 };
	char err[128];
	struct sym_sub *sub;

	vm->mem = f->mem;
	vm->engine = &engine;
	f->cpu->vm = vm;
	map4k(f, 0x200000, 0x600000, P | W | A | D);
	map4k(f, 0x201000, 0x601000, P | W | A | D);
	sub = sym_subscribe(vm, &flt, on_page_write, &w, err, sizeof(err));
	assert_non_null(sub);

	/* Watched before the TLB entry is filled: the first store is reported. */
	assert_int_equal(sym_watch(vm, 0x600000, 4096, err, sizeof(err)), 0);
	emu_write_linear(f->cpu, 0x200010, 0x1122334455667788ULL, 8, true);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.gpa, 0x600010);
	assert_int_equal(w.len, 8);
	assert_false(w.dma);
	assert_int_equal(*(uint64_t *)(f->mem.host + 0x600010), 0x1122334455667788ULL);
	emu_write_linear(f->cpu, 0x200ffe, 0xabcd, 4, true); /* crosses into the unwatched page */
	assert_int_equal(w.n, 2);
	assert_int_equal(w.gpa, 0x600ffe);
	assert_int_equal(w.len, 2);

	/* Unwatched: a fast-path store, nothing reported. */
	emu_write_linear(f->cpu, 0x201100, 1, 1, true);
	assert_int_equal(w.n, 2);
	/* Watched after its TLB entry was filled: the engine protects the
	 * TLB at its next block boundary, and from then on stores are seen. */
	assert_int_equal(sym_watch(vm, 0x601000, 4096, err, sizeof(err)), 0);
	emu_tlb_protect_watched(f->cpu);
	emu_write_linear(f->cpu, 0x201100, 2, 1, true);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.gpa, 0x601100);
	/* Unwatched again: the next store drops the slow path, then none is seen. */
	sym_unwatch(vm, 0x601000, 4096);
	emu_write_linear(f->cpu, 0x201100, 3, 1, true);
	emu_write_linear(f->cpu, 0x201101, 4, 1, true);
	assert_int_equal(w.n, 3);
	assert_int_equal(f->mem.host[0x601101], 4);

	sym_unsubscribe(sub);
	f->cpu->vm = NULL;
	vm_event_hub_free(vm);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_walk_4k_sets_accessed_then_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_error_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watched_page_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_large_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_legacy_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_faults_set_cr2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smep_smap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protection_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_write_after_read_sets_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_global_entries_survive_cr3_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invlpg_drops_whole_large_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_page_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_addresses_are_not_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_checks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
