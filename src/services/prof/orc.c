/* The ORC unwinder (orc.h): the kernel's own unwind_orc.c, reduced to what
 * a sample needs and made to distrust every byte. */
#include <stdlib.h>
#include <string.h>

#include "services/prof/orc.h"

enum { REG_UNDEFINED, REG_PREV_SP, REG_DX, REG_DI, REG_BP, REG_SP, REG_R10, REG_R13, REG_BP_INDIRECT, REG_SP_INDIRECT };
enum frame_type { FRAME_CALL, FRAME_REGS, FRAME_REGS_PARTIAL, FRAME_END, FRAME_BAD };

/* struct pt_regs: ip, cs and sp, and bp, as offsets from its start. */
#define PT_BP 32
#define PT_IP 128
#define PT_CS 136
#define PT_SP 152

struct orc_entry {
	int16_t sp_offset, bp_offset;
	unsigned sp_reg, bp_reg;
	enum frame_type type;
};

int orc_table_init(struct orc_table *t, uint64_t ip_start, const int32_t *ip_rel, const uint8_t *entries, size_t n,
                   enum orc_layout layout)
{
	memset(t, 0, sizeof(*t));
	if (n == 0 || n > ORC_MAX_ENTRIES)
		return -1;
	t->ip = malloc(n * sizeof(*t->ip));
	t->entries = malloc(n * 6);
	if (!t->ip || !t->entries) {
		orc_table_free(t);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		t->ip[i] = ip_start + 4 * i + (uint64_t)(int64_t)ip_rel[i];
		/* a binary search needs order; the build sorts the table */
		if (i && t->ip[i] < t->ip[i - 1]) {
			orc_table_free(t);
			return -1;
		}
	}
	memcpy(t->entries, entries, n * 6);
	t->n = n;
	t->layout = layout;
	return 0;
}

void orc_table_free(struct orc_table *t)
{
	free(t->ip);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

/* The entry that covers ip: the last one at or below it. */
static bool lookup(const struct orc_table *t, uint64_t ip, struct orc_entry *e)
{
	size_t lo = 0, hi = t->n;
	const uint8_t *b;
	/* past the last entry is not kernel text (module code has tables of its own) */
	if (!t->n || ip < t->ip[0] || ip > t->ip[t->n - 1])
		return false;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ip[mid] <= ip)
			lo = mid;
		else
			hi = mid;
	}
	b = t->entries + 6 * lo;
	e->sp_offset = (int16_t)(b[0] | b[1] << 8);
	e->bp_offset = (int16_t)(b[2] | b[3] << 8);
	e->sp_reg = b[4] & 15;
	e->bp_reg = b[4] >> 4;
	if (t->layout == ORC_LAYOUT_V1) {
		unsigned type = b[5] & 3;
		e->type = type == 0 ? FRAME_CALL : type == 1 ? FRAME_REGS : type == 2 ? FRAME_REGS_PARTIAL : FRAME_BAD;
	} else {
		unsigned type = b[5] & 7;
		e->type = type == 1   ? FRAME_END
		          : type == 2 ? FRAME_CALL
		          : type == 3 ? FRAME_REGS
		          : type == 4 ? FRAME_REGS_PARTIAL
		                      : FRAME_BAD;
	}
	return true;
}

/* Eight bytes of the stack copy, if all of them are in it. */
static bool stack_u64(const struct orc_stack *st, uint64_t addr, uint64_t *v)
{
	if (addr < st->base || addr - st->base > st->len || st->len - (addr - st->base) < 8)
		return false;
	memcpy(v, st->bytes + (addr - st->base), 8);
	return true;
}

int orc_unwind(const struct orc_table *t, const struct orc_stack *st, const struct orc_regs *r, uint64_t *frames,
               int max)
{
	uint64_t ip = r->ip, sp = r->sp, bp = r->bp;
	const struct orc_regs *first = r; /* the vCPU's registers: for the first frame only */
	bool after_call = false;          /* ip is a return address: look up ip - 1 */
	int n = 0;

	if (max < 1)
		return 0;
	frames[n++] = ip;
	while (n < max) {
		struct orc_entry e;
		uint64_t prev_sp, v;
		bool indirect = false;

		if (!lookup(t, after_call ? ip - 1 : ip, &e) || e.type == FRAME_END || e.type == FRAME_BAD)
			break;
		switch (e.sp_reg) {
		case REG_SP: prev_sp = sp + (uint64_t)(int64_t)e.sp_offset; break;
		case REG_BP: prev_sp = bp + (uint64_t)(int64_t)e.sp_offset; break;
		case REG_SP_INDIRECT: prev_sp = sp, indirect = true; break;
		case REG_BP_INDIRECT: prev_sp = bp + (uint64_t)(int64_t)e.sp_offset, indirect = true; break;
		case REG_DX: prev_sp = first ? first->dx : 0; break;
		case REG_DI: prev_sp = first ? first->di : 0; break;
		case REG_R10: prev_sp = first ? first->r10 : 0; break;
		case REG_R13: prev_sp = first ? first->r13 : 0; break;
		default: prev_sp = 0; /* UNDEFINED: the bottom of a kernel thread's stack */
		}
		if (!prev_sp)
			break;
		if (indirect) {
			if (!stack_u64(st, prev_sp, &prev_sp))
				break;
			if (e.sp_reg == REG_SP_INDIRECT)
				prev_sp += (uint64_t)(int64_t)e.sp_offset;
		}
		uint64_t old_bp = bp;
		switch (e.type) {
		case FRAME_CALL:
			if (!stack_u64(st, prev_sp - 8, &ip))
				return n;
			sp = prev_sp;
			after_call = true;
			break;
		case FRAME_REGS:
		case FRAME_REGS_PARTIAL: {
			/* an interrupt or exception frame: pt_regs at prev_sp (only
			 * its iret part, ending with ip, for a partial one) */
			uint64_t regs = e.type == FRAME_REGS ? prev_sp : prev_sp - PT_IP, cs;
			if (!stack_u64(st, regs + PT_IP, &ip) || !stack_u64(st, regs + PT_SP, &sp) ||
			    !stack_u64(st, regs + PT_CS, &cs) || (cs & 3))
				return n; /* entered from user mode: the chain is whole */
			if (e.type == FRAME_REGS && stack_u64(st, regs + PT_BP, &v))
				bp = v;
			after_call = false;
			break;
		}
		default: return n;
		}
		if (e.bp_reg == REG_PREV_SP) {
			if (!stack_u64(st, prev_sp + (uint64_t)(int64_t)e.bp_offset, &bp))
				break;
		} else if (e.bp_reg == REG_BP) {
			if (!stack_u64(st, old_bp + (uint64_t)(int64_t)e.bp_offset, &bp))
				break;
		}
		first = NULL;
		if (ip < 0xffff800000000000ull)
			break; /* not kernel text: garbage, or the end */
		frames[n++] = ip;
	}
	return n;
}
