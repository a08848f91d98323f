/* Block cache internals shared by block.c and exec.c. */
#ifndef SYMBIONT_EMU_BLOCK_H
#define SYMBIONT_EMU_BLOCK_H

#include "cpu/emu/ops.h"
#include "cpu/emu/translate.h"

#define BLK_MAX_INSNS   64
#define BLK_COUNT       (1u << 16)
#define BLK_ARENA_INSNS (1u << 19)
#define BLK_HASH        (1u << 16)
#define PAGE_HASH       (1u << 13)
#define JC_SIZE         (1u << 12)

struct emu_block;
/* How a block runs: the interpreter's loop (emu_run_interp, the default),
 * or its translated code (emu_run_translated).  Either retires the block's
 * instructions exactly as the other. */
typedef void (*emu_block_run_fn)(struct emu_cpu *cpu, struct emu_block *b);

struct emu_block {
	emu_block_run_fn run;
	emu_code_fn code;    /* translated code, or NULL */
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
	uint8_t heat;  /* entries by the interpreter, up to the translation threshold */
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
	/* Translation (translate.c): on when the VM's --emu-translate asks
	 * for it; the code buffer is flushed with the blocks. */
	bool translate;
	uint8_t translate_heat; /* entries before translation: EMU_TRANSLATE_HEAT */
	struct emu_code_buf code;
	uint64_t translated; /* statistics */
};

/* Entries through the interpreter before a block is translated: code run
 * once (most of boot) is not worth its translation. */
#define EMU_TRANSLATE_HEAT 2

/* Turns translation on or off for cpu's cache (made if need be), blocks
 * translated at their heat-th entry (tests: 1, every block at once).  0,
 * or -1 when no code buffer could be made. */
int emu_blocks_translate(struct emu_cpu *cpu, bool on, unsigned heat);

void emu_run_interp(struct emu_cpu *cpu, struct emu_block *b);
void emu_run_translated(struct emu_cpu *cpu, struct emu_block *b);

/* Finds or decodes the block at linear la (guest-physical gpa). */
struct emu_block *emu_block_find(struct emu_cpu *cpu, uint64_t la, uint64_t gpa);

#endif
