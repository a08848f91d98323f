/* The per-process sample counts behind `top` (proc_table.h).  A linear
 * table: a guest runs a few hundred processes and a sample round touches a
 * few, and the last hit is checked first (a busy process is sampled again
 * and again). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/proc_table.h"

int proc_table_init(struct proc_table *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : 1;
	t->e = calloc(t->max, sizeof(*t->e));
	return t->e ? 0 : -1;
}

void proc_table_free(struct proc_table *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static struct proc_entry *find_or_make(struct proc_table *t, int32_t pid)
{
	size_t oldest = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->e[i].pid == pid)
			return &t->e[i];
		if (t->e[i].last_seen < t->e[oldest].last_seen)
			oldest = i;
	}
	if (t->n < t->max)
		oldest = t->n++;
	t->e[oldest] = (struct proc_entry){ .pid = pid };
	return &t->e[oldest];
}

void proc_table_add(struct proc_table *t, int32_t pid, const char *comm, bool kernel_thread, bool user)
{
	struct proc_entry *p;
	if (!t->e)
		return;
	p = find_or_make(t, pid);
	/* comm changes at exec: show the name it has now, as top does */
	snprintf(p->comm, sizeof(p->comm), "%s", comm);
	p->kernel_thread = kernel_thread;
	if (user)
		p->user++;
	else
		p->kernel++;
	p->last_seen = ++t->clock;
}
