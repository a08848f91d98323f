/* Block cache internals shared by block.c and exec.c. */
#ifndef SYMBIONT_EMU_BLOCK_H
#define SYMBIONT_EMU_BLOCK_H

#include "cpu/emu/ops.h"

#define BLK_MAX_INSNS   64
#define BLK_COUNT       (1u << 16)
#define BLK_ARENA_INSNS (1u << 19)
#define BLK_HASH        (1u << 16)
#define PAGE_HASH       (1u << 13)
#define JC_SIZE         (1u << 12)

struct emu_block {
	uint64_t gpa, end;   /* bytes [gpa, end) on the first page */
	uint64_t gpa2, end2; /* bytes on the second page, if crosses */
	uint32_t hnext;      /* lookup hash chain */
	uint32_t pnext[2];   /* page chains of the first and second page */
	uint32_t first;      /* index of the first instruction in the arena */
	uint16_t n;
	uint8_t mode;
	uint8_t valid;
	uint8_t crosses;
	uint8_t chain; /* may be followed without the loop's checks (see exec.c) */
	uint8_t hook;  /* one instruction with a CODE_HOOK subscriber: the event first */
	/* Successors on the same page (offset in page, block index), so the
	 * loop can go from block to block without translating RIP. */
	uint16_t next_off[2];
	uint32_t next_bi[2];
};

struct emu_block_cache {
	struct emu_block *blk;  /* BLK_COUNT, index 0 unused */
	struct emu_insn *insns; /* BLK_ARENA_INSNS */
	uint32_t nblk, ninsns;
	uint32_t cur;            /* block being executed, 0 if none */
	struct emu_cpu *cur_cpu; /* the vCPU executing it */
	uint32_t head[BLK_HASH];
	uint32_t page_head[PAGE_HASH];
	uint64_t *code_map; /* one bit per guest RAM page */
	/* Jump cache: linear RIP → block, checked against the running vCPU's
	 * TLB, so a hit needs no page walk and no hash lookup. */
	struct {
		uint64_t la;
		uint32_t bi;
	} jc[JC_SIZE];
	uint64_t npages;
	uint64_t built, flushes, invalidations; /* statistics */
	int refs;                               /* vCPUs sharing this cache */
};

/* Finds or decodes the block at linear la (guest-physical gpa). */
struct emu_block *emu_block_find(struct emu_cpu *cpu, uint64_t la, uint64_t gpa);

#endif
