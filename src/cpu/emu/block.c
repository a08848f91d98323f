/* Decoded-block cache.
 *
 * A block is a run of decoded instructions starting at a guest-physical
 * address, decoded in one code mode.  It ends at a control transfer or a
 * state change (insn->ends_block), at the end of its page (a block never
 * spans two pages, except a lone instruction that crosses the boundary,
 * which is then registered on both pages), or after BLK_MAX_INSNS.
 *
 * Storage is preallocated: blocks and instructions come from arenas that
 * are flushed as a whole when full, so nothing is allocated per
 * instruction or per block.  Lookup is a hash on (gpa, mode); a second hash
 * on the page chains the blocks of each page for invalidation.  A bitmap
 * over guest RAM pages says which pages hold cached code; writes to those
 * pages take the MMU's slow path, which calls emu_code_written(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/emu/block.h"
#include "symbiont/event.h"

static unsigned blk_hash(uint64_t gpa, unsigned mode)
{
	uint64_t h = (gpa ^ ((uint64_t)mode << 62)) * 0x9e3779b97f4a7c15ULL;
	return (unsigned)(h >> 40) & (BLK_HASH - 1);
}

static unsigned page_hash(uint64_t page)
{
	return (unsigned)((page >> 12) * 0x9e3779b97f4a7c15ULL >> 45) & (PAGE_HASH - 1);
}

/* Bit index of a RAM page in the has-code bitmap, or -1. */
static int64_t ram_page(const struct guest_mem *m, uint64_t gpa)
{
	if (gpa < m->low_size)
		return (int64_t)(gpa >> 12);
	if (gpa >= MEM_4G && gpa - MEM_4G < m->size - m->low_size)
		return (int64_t)((m->low_size + gpa - MEM_4G) >> 12);
	return -1;
}

/* The vCPUs of a VM share one cache: the engine runs them all on one
 * thread, they mostly run the same kernel code, and a write by any of them
 * to cached code must invalidate it for all (one code bitmap). */
static struct emu_block_cache *find_shared(struct emu_cpu *cpu)
{
	struct vm *vm = cpu->vm;
	if (!vm)
		return NULL;
	for (int i = 0; i < VM_MAX_CPUS; i++) {
		struct vcpu *v = vm->vcpus[i];
		struct emu_cpu *o = v ? (struct emu_cpu *)v->priv : NULL; /* priv starts with the emu_cpu */
		if (o && o != cpu && o->blocks)
			return o->blocks;
	}
	return NULL;
}

int emu_blocks_init(struct emu_cpu *cpu)
{
	struct emu_block_cache *bc = find_shared(cpu);
	uint64_t pages = cpu->mem ? (cpu->mem->size + 4095) >> 12 : 0;

	if (bc) {
		bc->refs++;
		cpu->blocks = bc;
		return 0;
	}
	bc = calloc(1, sizeof(*bc));
	if (!bc)
		return -1;
	bc->blk = calloc(BLK_COUNT, sizeof(*bc->blk));
	bc->insns = calloc(BLK_ARENA_INSNS, sizeof(*bc->insns));
	bc->code_map = calloc((pages + 63) / 64 + 1, sizeof(uint64_t));
	bc->npages = pages;
	if (!bc->blk || !bc->insns || !bc->code_map) {
		free(bc->blk);
		free(bc->insns);
		free(bc->code_map);
		free(bc);
		return -1;
	}
	bc->nblk = 1; /* index 0 means "none" */
	bc->refs = 1;
	/* Translation is on unless the VM's configuration turns it off; a
	 * vCPU without a VM (the unit tests) turns it on itself. */
	bc->translate = cpu->vm && !(cpu->vm->cfg.emu_translate && !strcmp(cpu->vm->cfg.emu_translate, "off"));
	bc->translate_heat = EMU_TRANSLATE_HEAT;
	if (bc->translate && emu_code_buf_init(&bc->code, EMU_CODE_BUF_SIZE) < 0) {
		fprintf(stderr, "emu: no buffer for translated code (%m): interpreting only\n");
		bc->translate = false;
	}
	cpu->blocks = bc;
	return 0;
}

int emu_blocks_translate(struct emu_cpu *cpu, bool on, unsigned heat)
{
	struct emu_block_cache *bc;
	if (!cpu->blocks && emu_blocks_init(cpu))
		return -1;
	bc = cpu->blocks;
	emu_blocks_flush(cpu);
	bc->translate = false;
	bc->translate_heat = (uint8_t)(heat ? heat : 1);
	if (!on)
		return 0;
	if (!bc->code.rw && emu_code_buf_init(&bc->code, EMU_CODE_BUF_SIZE) < 0)
		return -1;
	bc->translate = true;
	return 0;
}

void emu_blocks_free(struct emu_cpu *cpu)
{
	struct emu_block_cache *bc = cpu->blocks;
	if (!bc)
		return;
	cpu->blocks = NULL;
	if (--bc->refs)
		return;
	emu_code_buf_free(&bc->code);
	free(bc->blk);
	free(bc->insns);
	free(bc->code_map);
	free(bc);
}

void emu_blocks_flush(struct emu_cpu *cpu)
{
	struct emu_block_cache *bc = cpu->blocks;
	if (!bc)
		return;
	memset(bc->head, 0, sizeof(bc->head));
	memset(bc->page_head, 0, sizeof(bc->page_head));
	memset(bc->jc, 0, sizeof(bc->jc));
	memset(bc->code_map, 0, ((bc->npages + 63) / 64 + 1) * sizeof(uint64_t));
	bc->nblk = 1;
	bc->ninsns = 0;
	bc->code.used = 0;
	bc->code.full = false;
	bc->cur = 0;
	bc->flushes++;
	cpu->exit_block = true;
	if (bc->cur_cpu)
		bc->cur_cpu->exit_block = true;
	/* Write-protection of the old code pages lapses by itself: the MMU
	 * drops it when a write finds emu_page_has_code() false. */
}

bool emu_page_has_code(struct emu_cpu *cpu, uint64_t gpa_page)
{
	struct emu_block_cache *bc = cpu->blocks;
	int64_t i;
	if (!bc || !cpu->mem || (i = ram_page(cpu->mem, gpa_page)) < 0)
		return false;
	return (bc->code_map[i >> 6] >> (i & 63)) & 1;
}

static void mark_code(struct emu_cpu *cpu, uint64_t page)
{
	struct emu_block_cache *bc = cpu->blocks;
	int64_t i = ram_page(cpu->mem, page);
	if (i < 0 || ((bc->code_map[i >> 6] >> (i & 63)) & 1))
		return;
	bc->code_map[i >> 6] |= 1ULL << (i & 63);
	emu_tlb_protect_code(cpu, page);
}

static void unmark_code(struct emu_cpu *cpu, uint64_t page)
{
	struct emu_block_cache *bc = cpu->blocks;
	int64_t i = ram_page(cpu->mem, page);
	if (i >= 0)
		bc->code_map[i >> 6] &= ~(1ULL << (i & 63));
}

/* Page-chain links encode (block index << 1 | part). */
static void page_link(struct emu_block_cache *bc, uint32_t bi, unsigned part, uint64_t page)
{
	unsigned h = page_hash(page);
	bc->blk[bi].pnext[part] = bc->page_head[h];
	bc->page_head[h] = bi << 1 | part;
}

static void hash_unlink(struct emu_block_cache *bc, uint32_t bi)
{
	struct emu_block *b = &bc->blk[bi];
	uint32_t *pp = &bc->head[blk_hash(b->gpa, b->mode)];
	while (*pp) {
		if (*pp == bi) {
			*pp = b->hnext;
			return;
		}
		pp = &bc->blk[*pp].hnext;
	}
}

/* Drops the blocks with bytes in [gpa, gpa+len) (all within one page). */
static void invalidate_range(struct emu_cpu *cpu, uint64_t gpa, uint64_t len)
{
	struct emu_block_cache *bc = cpu->blocks;
	uint64_t page = gpa & ~0xfffULL, end = gpa + len;
	uint32_t *pp = &bc->page_head[page_hash(page)];
	bool left = false;

	while (*pp) {
		uint32_t link = *pp, bi = link >> 1, part = link & 1;
		struct emu_block *b = &bc->blk[bi];
		uint64_t s = part ? b->gpa2 : b->gpa, e = part ? b->end2 : b->end;
		if ((s & ~0xfffULL) != page) {
			pp = &b->pnext[part];
			continue;
		}
		if (s < end && gpa < e) {
			*pp = b->pnext[part]; /* unlink from this page's chain */
			if (b->valid) {
				b->valid = 0;
				hash_unlink(bc, bi);
				if (bi == bc->cur && bc->cur_cpu)
					bc->cur_cpu->exit_block = true;
				bc->invalidations++;
			}
			continue;
		}
		if (b->valid)
			left = true;
		pp = &b->pnext[part];
	}
	if (!left)
		unmark_code(cpu, page);
}

void emu_code_written(struct emu_cpu *cpu, uint64_t gpa, unsigned len)
{
	uint64_t first;
	if (!cpu->blocks || !len)
		return;
	first = 0x1000 - (gpa & 0xfff);
	if (first >= len) {
		invalidate_range(cpu, gpa, len);
	} else {
		invalidate_range(cpu, gpa, first);
		invalidate_range(cpu, gpa + first, len - first);
	}
}

/* Decodes a new block at linear la / guest-physical gpa. */
static struct emu_block *build(struct emu_cpu *cpu, uint64_t la, uint64_t gpa)
{
	struct emu_block_cache *bc = cpu->blocks;
	uint64_t page = gpa & ~0xfffULL;
	const uint8_t *p = gpa_to_host(cpu->mem, page, 4096);
	unsigned off = gpa & 0xfff, n = 0;
	enum emu_code_mode mode = cpu->code_mode;
	struct emu_insn *insns;
	struct emu_block *b;
	uint32_t bi;
	uint64_t gpa2 = 0, end2 = 0;

	if (!p)
		emu_raise_err(cpu, EXC_GP, 0); /* executing outside RAM: nothing sane to do */
	if (bc->nblk >= BLK_COUNT || bc->ninsns + BLK_MAX_INSNS > BLK_ARENA_INSNS) {
		emu_blocks_flush(cpu);
		cpu->exit_block = false;
	}
	insns = &bc->insns[bc->ninsns];
	bool hooks = cpu->vm && vm_events_wanted(cpu->vm, SYM_EV_CODE_HOOK), hooked = false;
	while (n < BLK_MAX_INSNS) {
		struct emu_insn *in = &insns[n];
		/* A hooked instruction is a block of its own, whose event the
		 * loop delivers before running it. */
		if (hooks && sym_hooked(cpu->vm, page + off)) {
			if (n)
				break;
			hooked = true;
		}
		int len = emu_decode_bytes(p + off, 4096 - off, mode, in);
		if (!len) {
			/* The instruction crosses into the next page. */
			if (n)
				break;
			len = emu_decode(cpu, la, in);
			gpa2 = emu_fetch_gpa(cpu, (la | 0xfff) + 1);
			end2 = gpa2 + (len - (4096 - off));
			off = 4096;
			n = 1;
			break;
		}
		n++;
		off += len;
		if (in->ends_block || off >= 4096 || hooked)
			break;
	}

	bi = bc->nblk++;
	bc->ninsns += n;
	b = &bc->blk[bi];
	b->run = emu_run_interp;
	b->code = NULL;
	b->heat = 0;
	b->gpa = gpa;
	b->end = page + off;
	b->crosses = end2 != 0;
	b->gpa2 = gpa2;
	b->end2 = end2;
	b->first = (uint32_t)(insns - bc->insns);
	b->n = n;
	b->mode = mode;
	b->valid = 1;
	/* A block ending in a system instruction may have changed paging,
	 * the mode or the interrupt state: the loop looks again after it. */
	b->chain = !(n && insns[n - 1].ends_block == 2);
	b->hook = hooked;
	b->next_off[0] = b->next_off[1] = 0xffff;
	b->pnext[0] = b->pnext[1] = 0;
	unsigned h = blk_hash(gpa, mode);
	b->hnext = bc->head[h];
	bc->head[h] = bi;
	page_link(bc, bi, 0, page);
	mark_code(cpu, page);
	if (b->crosses) {
		page_link(bc, bi, 1, gpa2 & ~0xfffULL);
		mark_code(cpu, gpa2 & ~0xfffULL);
	}
	bc->built++;
	return b;
}

struct emu_block *emu_block_find(struct emu_cpu *cpu, uint64_t la, uint64_t gpa)
{
	struct emu_block_cache *bc = cpu->blocks;
	unsigned mode = cpu->code_mode;
	uint32_t bi = bc->head[blk_hash(gpa, mode)];

	while (bi) {
		struct emu_block *b = &bc->blk[bi];
		if (b->gpa == gpa && b->mode == mode) {
			/* A page-crossing instruction also depends on where the next
			 * linear page maps now. */
			if (unlikely(b->crosses) && emu_fetch_gpa(cpu, (la | 0xfff) + 1) != b->gpa2) {
				b->valid = 0;
				hash_unlink(bc, bi);
				break;
			}
			return b;
		}
		bi = b->hnext;
	}
	return build(cpu, la, gpa);
}
