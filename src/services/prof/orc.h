/* Kernel call chains from the guest kernel's own ORC unwind tables (the
 * Debian kernel is built without frame pointers; objtool writes, for every
 * kernel text address, where the caller's stack pointer and frame pointer
 * are).  The tables are read once from guest memory (__start_orc_unwind_ip
 * ...); a chain is unwound after the VM runs again, from a copy of the
 * vCPU's kernel stack taken while it was paused, so it is the chain of that
 * instant.  Everything comes from the guest: every read is checked against
 * the copy and every loop bounded; a chain that does not make sense just
 * ends. */
#ifndef PROF_ORC_H
#define PROF_ORC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORC_MAX_ENTRIES (4u << 20) /* a kernel has a few hundred thousand */
#define ORC_MAX_FRAMES  24
#define ORC_STACK_SIZE  16384 /* THREAD_SIZE: kernel stacks are this size and aligned to it */

/* The two layouts of struct orc_entry (6 bytes: s16 sp_offset, s16
 * bp_offset, then bitfields): before Linux 6.4 "sp_reg:4 bp_reg:4 type:2
 * end:1" with CALL 0, REGS 1, REGS_PARTIAL 2; from 6.4 "sp_reg:4 bp_reg:4
 * type:3 signal:1" with UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3,
 * REGS_PARTIAL 4. */
enum orc_layout { ORC_LAYOUT_V1, ORC_LAYOUT_V2 };

struct orc_table {
	uint64_t *ip;     /* absolute addresses, ascending */
	uint8_t *entries; /* 6 bytes each */
	size_t n;
	enum orc_layout layout;
};

/* Builds the table from the kernel's raw sections: ip_rel[i] is relative to
 * the address of entry i (ip_start + 4 i).  -1 if n is out of bounds or the
 * addresses are not in order (a table that is not the kernel's). */
int orc_table_init(struct orc_table *t, uint64_t ip_start, const int32_t *ip_rel, const uint8_t *entries, size_t n,
                   enum orc_layout layout);
void orc_table_free(struct orc_table *t);

/* The vCPU at the sample: registers the first frame may use. */
struct orc_regs {
	uint64_t ip, sp, bp;
	uint64_t dx, di, r10, r13;
};

/* A copy of stack memory: bytes[0..len) are the guest's at base. */
struct orc_stack {
	uint64_t base;
	const uint8_t *bytes;
	size_t len;
};

/* Unwinds from r; frames[0] is r->ip, then each caller's return address.
 * Returns the number of frames (at least 1, at most max). */
int orc_unwind(const struct orc_table *t, const struct orc_stack *st, const struct orc_regs *r, uint64_t *frames,
               int max);

#endif
