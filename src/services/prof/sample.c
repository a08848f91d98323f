/* Attribution of a sample to a folded stack (sample.h). */
#include <inttypes.h>
#include <stdio.h>

#include "services/prof/sample.h"
#include "services/prof/stacks.h"

enum sample_mode sample_mode(const struct sample *s)
{
	if (!s->readable)
		return SAMPLE_UNKNOWN;
	/* The idle task (pid 0) counts as idle even between its HLTs, so a
	 * vCPU with nothing to run never shows as kernel work. */
	if (s->halted || (s->task_known && s->tid == 0))
		return SAMPLE_IDLE;
	if (!s->task_known)
		return SAMPLE_UNKNOWN;
	return s->cpl == 3 ? SAMPLE_USER : SAMPLE_KERNEL;
}

/* The leaf frame for a kernel RIP: its symbol (with its module), else the
 * raw address. */
static void kernel_frame(const struct sample *s, char *out, size_t len)
{
	char sym[160], mod[64];
	if (!s->symbol_known) {
		snprintf(out, len, "0x%" PRIx64, s->rip);
		return;
	}
	stack_frame_clean(sym, sizeof(sym), s->symbol);
	if (s->module[0]) {
		stack_frame_clean(mod, sizeof(mod), s->module);
		snprintf(out, len, "%s [%s]", sym, mod);
	} else {
		snprintf(out, len, "%s", sym);
	}
}

void sample_stack(const struct sample *s, char *out, size_t len)
{
	char comm[32], leaf[240];

	if (!s->readable) {
		snprintf(out, len, "[unknown];[unreadable]");
		return;
	}
	if (s->cpl == 3)
		snprintf(leaf, sizeof(leaf), "0x%" PRIx64, s->rip);
	else
		kernel_frame(s, leaf, sizeof(leaf));
	switch (sample_mode(s)) {
	case SAMPLE_IDLE:
		if (s->cpl != 3 && (s->symbol_known || s->task_known))
			snprintf(out, len, "[idle];%s", leaf);
		else
			snprintf(out, len, "[idle]");
		return;
	case SAMPLE_UNKNOWN: snprintf(out, len, "[unknown];%s;%s", s->cpl == 3 ? "[user]" : "[kernel]", leaf); return;
	default: break;
	}
	stack_frame_clean(comm, sizeof(comm), s->comm);
	if (sample_mode(s) == SAMPLE_USER && s->symbol_known) {
		char sym[160];
		stack_frame_clean(sym, sizeof(sym), s->symbol);
		snprintf(out, len, "%s;[user];%s", comm, sym);
	} else if (sample_mode(s) == SAMPLE_USER) {
		snprintf(out, len, "%s;[user]", comm);
	} else if (s->callers[0])
		snprintf(out, len, "%s;[kernel];%s;%s", comm, s->callers, leaf);
	else
		snprintf(out, len, "%s;[kernel];%s", comm, leaf);
}
