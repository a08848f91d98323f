/* libFuzzer target: the guest-chosen text that reaches a profile.  A task's
 * comm and a module's symbol names come from guest memory (guestos makes
 * them printable, but a hostile guest picks every byte that is left); the
 * input is split into such names and raw addresses, turned into samples,
 * counted in a small stack table (so its bound is hit) and drawn.  The
 * counts must sum to the samples, every stack must keep its frame shape,
 * and the SVG must be a whole document; no crash, hang or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/flamegraph.h"
#include "services/prof/sample.h"
#include "services/prof/stacks.h"

/* The next NUL- or newline-ended piece of the input, at most len - 1 bytes. */
static void take(const uint8_t **p, const uint8_t *end, char *out, size_t len)
{
	size_t n = 0;
	while (*p < end && **p != '\n' && n + 1 < len)
		out[n++] = (char)*(*p)++;
	out[n] = 0;
	if (*p < end)
		(*p)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct stack_table t;
	uint64_t samples = 0;

	if (stack_table_init(&t, 32))
		return 0;
	while (p < end && samples < 4096) {
		struct sample s = { .readable = true };
		char stack[STACK_TEXT_MAX];
		uint8_t flags = *p++;
		s.cpl = flags & 1 ? 3 : 0;
		s.halted = flags & 2;
		s.task_known = flags & 4;
		s.symbol_known = flags & 8;
		s.readable = !(flags & 16);
		s.tid = s.pid = flags & 32 ? 0 : 1;
		for (int i = 0; i < 8 && p < end; i++)
			s.rip = s.rip << 8 | *p++;
		take(&p, end, s.comm, sizeof(s.comm));
		take(&p, end, s.symbol, sizeof(s.symbol));
		take(&p, end, s.module, sizeof(s.module));
		sample_stack(&s, stack, sizeof(stack));
		/* frames are never empty and never hold a newline */
		if (!stack[0] || strchr(stack, '\n') || strstr(stack, ";;") || stack[strlen(stack) - 1] == ';')
			abort();
		stack_table_add(&t, stack, 1 + (flags >> 6));
		samples += 1 + (flags >> 6);
	}
	if (t.total != samples)
		abort();
	size_t n;
	const struct stack_entry **v = stack_table_sorted(&t, &n);
	char *svg = flamegraph_svg(v, n, "fuzz", "fuzz");
	if (svg && (strncmp(svg, "<?xml", 5) || !strstr(svg, "</svg>\n")))
		abort();
	free(svg);
	free(v);
	stack_table_free(&t);
	return 0;
}
