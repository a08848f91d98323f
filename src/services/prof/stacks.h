/* Folded stacks: how many samples fell in each distinct stack, the input
 * flamegraph.pl and speedscope read ("frame;frame;... COUNT" per line).
 *
 * The table is bounded: past max_stacks distinct stacks, further new
 * stacks count in one "[other]" line, so a guest whose samples land on
 * ever new addresses costs bounded memory and the counts still sum to the
 * samples taken. */
#ifndef PROF_STACKS_H
#define PROF_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STACKS_OTHER     "[other]"
#define STACK_TEXT_MAX   1024 /* bytes of one stack's text, NUL included */
#define STACK_FRAMES_MAX 64   /* frames the flame graph draws per stack */

struct stack_entry {
	char *stack; /* NULL: free slot */
	uint64_t count;
};

struct stack_table {
	struct stack_entry *slots; /* open addressing, 2 * max_stacks of them */
	size_t nslots, n, max_stacks;
	uint64_t total;
};

int stack_table_init(struct stack_table *t, size_t max_stacks);
void stack_table_free(struct stack_table *t);
void stack_table_clear(struct stack_table *t);
/* Adds count samples to stack (its text is copied; at most STACK_TEXT_MAX
 * - 1 bytes are kept).  -1 only when out of memory (the samples then count
 * in "[other]" if it exists). */
int stack_table_add(struct stack_table *t, const char *stack, uint64_t count);
/* The entries, most samples first (ties by name), as a malloc'd array of
 * pointers into the table; NULL with *n 0 when empty or out of memory. */
const struct stack_entry **stack_table_sorted(const struct stack_table *t, size_t *n);

/* One frame's text from anything (a guest's comm or symbol name): ';'
 * would split it and a newline end the line, so both, and every byte that
 * is not printable ASCII, become '?'; an empty name becomes "?". */
void stack_frame_clean(char *dst, size_t len, const char *src);

#endif
