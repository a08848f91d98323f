/* Block translation: host code for a decoded block (translate.c). */
#ifndef SYMBIONT_EMU_TRANSLATE_H
#define SYMBIONT_EMU_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct emu_cpu;
struct emu_block;
struct emu_insn;

/* Generated code lives in one memfd mapped twice: written through rw,
 * executed through rx (never both at one address).  Bounded: when full,
 * translation stops and the block cache is flushed whole at the loop's next
 * look (emu_blocks_flush resets used). */
struct emu_code_buf {
	uint8_t *rw;
	const uint8_t *rx;
	size_t size, used;
	bool full;        /* a translation did not fit: flush at the next chance */
	bool failed;      /* no buffer could be made: translation stays off */
	uint64_t inlined; /* instructions emitted inline, not as a handler call (statistics) */
};

typedef void (*emu_code_fn)(struct emu_cpu *cpu);

#define EMU_CODE_BUF_SIZE (32u << 20)

int emu_code_buf_init(struct emu_code_buf *cb, size_t size);
void emu_code_buf_free(struct emu_code_buf *cb);

/* Emits host code running the n instructions at insns in mode (an
 * emu_code_mode) exactly as exec.c's interpreter loop runs them: per
 * instruction next_rip, the handler, rip, insn_count, and a stop when the
 * handler set exit_block.  NULL when the buffer is full (cb->full set). */
emu_code_fn emu_translate(struct emu_code_buf *cb, const struct emu_insn *insns, unsigned n, unsigned mode);

#endif
