/* VM timers: a sorted singly linked list.  Devices arm a handful of timers,
 * so insertion cost is irrelevant next to keeping the code obvious. */
#include <stddef.h>

#include "symbiont/timer.h"

void timer_init(struct vm_timer *t, struct timer_list *list, void (*fire)(void *), void *opaque)
{
	*t = (struct vm_timer){ .fire = fire, .opaque = opaque, .list = list };
}

static void unlink_timer(struct vm_timer *t)
{
	struct vm_timer **pp;

	for (pp = &t->list->head; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

void timer_arm(struct vm_timer *t, uint64_t deadline_ns)
{
	struct timer_list *l = t->list;
	struct vm_timer **pp;

	if (t->armed)
		unlink_timer(t);
	t->deadline = deadline_ns;
	t->armed = true;
	for (pp = &l->head; *pp && (*pp)->deadline <= deadline_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (l->head == t && l->changed)
		l->changed(l->ctx);
}

void timer_cancel(struct vm_timer *t)
{
	if (t->armed)
		unlink_timer(t);
}

uint64_t timers_run(struct timer_list *l, uint64_t now)
{
	while (l->head && l->head->deadline <= now) {
		struct vm_timer *t = l->head;

		l->head = t->next;
		t->next = NULL;
		t->armed = false;
		t->fire(t->opaque); /* may re-arm itself */
	}
	return l->head ? l->head->deadline : UINT64_MAX;
}
