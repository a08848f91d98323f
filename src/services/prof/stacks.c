/* The folded-stack table (stacks.h): a string-keyed counter with a fixed
 * bound, an open-addressed hash so that a sample costs one hash of a short
 * string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/stacks.h"

static uint64_t hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

int stack_table_init(struct stack_table *t, size_t max_stacks)
{
	memset(t, 0, sizeof(*t));
	if (max_stacks < 1)
		max_stacks = 1;
	/* Twice as many slots as entries (plus "[other]") keeps probes short. */
	t->nslots = 2 * (max_stacks + 1);
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	t->max_stacks = max_stacks;
	return t->slots ? 0 : -1;
}

void stack_table_clear(struct stack_table *t)
{
	for (size_t i = 0; i < t->nslots; i++) {
		free(t->slots[i].stack);
		t->slots[i] = (struct stack_entry){ 0 };
	}
	t->n = 0;
	t->total = 0;
}

void stack_table_free(struct stack_table *t)
{
	if (!t->slots)
		return;
	stack_table_clear(t);
	free(t->slots);
	t->slots = NULL;
}

static struct stack_entry *find_slot(struct stack_table *t, const char *stack)
{
	size_t i = hash_text(stack) % t->nslots;
	while (t->slots[i].stack && strcmp(t->slots[i].stack, stack))
		i = (i + 1) % t->nslots;
	return &t->slots[i];
}

int stack_table_add(struct stack_table *t, const char *stack, uint64_t count)
{
	char text[STACK_TEXT_MAX];
	struct stack_entry *e;
	bool is_other = !strcmp(stack, STACKS_OTHER);

	if (!t->slots || count == 0)
		return 0;
	snprintf(text, sizeof(text), "%s", stack);
	e = find_slot(t, text);
	/* A new stack past the bound goes to "[other]", which always has a
	 * slot of its own (nslots > max_stacks + 1). */
	if (!e->stack && !is_other && t->n >= t->max_stacks)
		e = find_slot(t, STACKS_OTHER), snprintf(text, sizeof(text), "%s", STACKS_OTHER), is_other = true;
	if (!e->stack) {
		e->stack = strdup(text);
		if (!e->stack)
			return -1;
		if (!is_other)
			t->n++;
	}
	e->count += count;
	t->total += count;
	return 0;
}

static int by_count(const void *a, const void *b)
{
	const struct stack_entry *x = *(const struct stack_entry *const *)a, *y = *(const struct stack_entry *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->stack, y->stack);
}

const struct stack_entry **stack_table_sorted(const struct stack_table *t, size_t *n)
{
	const struct stack_entry **v;
	size_t k = 0;

	*n = 0;
	if (!t->slots)
		return NULL;
	v = malloc((t->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < t->nslots; i++)
		if (t->slots[i].stack)
			v[k++] = &t->slots[i];
	if (k == 0) {
		free(v);
		return NULL;
	}
	qsort(v, k, sizeof(*v), by_count);
	*n = k;
	return v;
}

void stack_frame_clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	if (len == 0)
		return;
	for (; src[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c >= 0x20 && c < 0x7f && c != ';' ? (char)c : '?';
	}
	if (i == 0 && len > 1)
		dst[i++] = '?';
	dst[i] = 0;
}
