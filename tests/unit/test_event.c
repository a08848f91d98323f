/* The event hub on its own: filters narrow what a callback sees, the
 * active-type mask follows subscriptions, SKIP and changed fields come
 * back to the caller, SYM_UNSUBSCRIBE drops a subscription from inside its
 * callback, engines that do not deliver a type are refused, and syscall
 * exits are matched to their entries by address space, stack and return
 * address (a call that never returns there is dropped, not matched to
 * another). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/engine.h"
#include "symbiont/event.h"
#include "symbiont/vm.h"

static struct engine_ops fake_engine = { .name = "fake", .events = SYM_EV_VCPU_MASK };
static struct engine_ops mute_engine = { .name = "mute", .events = 0 };

static struct vm *new_vm(const struct engine_ops *e)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->engine = e;
	return vm;
}

static void free_vm(struct vm *vm)
{
	vm_event_hub_free(vm);
	free(vm);
}

struct seen {
	int calls;
	uint64_t last_nr;
	enum sym_action reply;
};

static enum sym_action record(void *opaque, struct sym_event *ev)
{
	struct seen *s = opaque;
	s->calls++;
	s->last_nr = ev->syscall.nr;
	if (ev->type == SYM_EV_SYSCALL_ENTER && s->reply == SYM_SKIP)
		ev->syscall.ret = -13;
	if (ev->type == SYM_EV_SYSCALL_ENTER && s->reply == SYM_CONTINUE)
		ev->syscall.args[0] = 0xabc;
	return s->reply;
}

static struct sym_event syscall_ev(struct sym_regs *r, uint64_t nr, uint64_t cr3)
{
	memset(r, 0, sizeof(*r));
	r->cr3 = cr3;
	r->gpr[0] = nr;
	r->gpr[4] = 0x7ffc0000;
	r->cpl = 3;
	return (struct sym_event){ .type = SYM_EV_SYSCALL_ENTER, .regs = r, .syscall = { .nr = nr } };
}

static void test_filters_and_mask(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	struct seen a = { 0 }, b = { 0 };
	struct sym_filter fa = { .type = SYM_EV_SYSCALL_ENTER }, fb = { .type = SYM_EV_SYSCALL_ENTER };
	struct sym_regs r;
	char err[128];
	(void)state;

	assert_false(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER));
	sym_filter_syscall(&fa, 257);
	fb.cr3 = 0x5000 | 0x7; /* PCID bits ignored */
	struct sym_sub *sa = sym_subscribe(vm, &fa, record, &a, err, sizeof(err));
	struct sym_sub *sb = sym_subscribe(vm, &fb, record, &b, err, sizeof(err));
	assert_non_null(sa);
	assert_non_null(sb);
	assert_true(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER));
	assert_false(vm_events_wanted(vm, SYM_EV_SYSCALL_EXIT));

	struct sym_event ev = syscall_ev(&r, 257, 0x5000 | 0x1000000000000003ULL);
	assert_int_equal(sym_event_deliver(vm, &ev), SYM_CONTINUE);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(ev.syscall.args[0], 0xabc); /* a change comes back */
	ev = syscall_ev(&r, 0, 0x9000);
	sym_event_deliver(vm, &ev);
	assert_int_equal(a.calls, 1);     /* not 257 */
	assert_int_equal(b.calls, 1);     /* another address space */
	ev = syscall_ev(&r, 600, 0x5000); /* past the bitmap: only "all" filters */
	sym_event_deliver(vm, &ev);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 2);

	sym_unsubscribe(sb);
	assert_true(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER));
	sym_unsubscribe(sa);
	assert_false(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER));
	ev = syscall_ev(&r, 257, 0x5000);
	sym_event_deliver(vm, &ev);
	assert_int_equal(a.calls, 1);
	free_vm(vm);
}

static void test_skip_and_self_unsubscribe(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	struct seen s = { .reply = SYM_SKIP }, once = { .reply = SYM_UNSUBSCRIBE };
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	struct sym_regs r;
	char err[128];
	(void)state;

	struct sym_sub *ss = sym_subscribe(vm, &f, record, &s, err, sizeof(err));
	assert_non_null(sym_subscribe(vm, &f, record, &once, err, sizeof(err)));
	struct sym_event ev = syscall_ev(&r, 2, 0);
	assert_int_equal(sym_event_deliver(vm, &ev), SYM_SKIP);
	assert_int_equal(ev.syscall.ret, -13);
	sym_event_deliver(vm, &ev);
	assert_int_equal(once.calls, 1); /* dropped itself */
	assert_int_equal(s.calls, 2);
	sym_unsubscribe(ss);
	assert_false(vm_events_wanted(vm, SYM_EV_SYSCALL_ENTER));

	struct sym_event_stats st;
	sym_event_stats(vm, &st);
	assert_int_equal(st.delivered[SYM_EV_SYSCALL_ENTER], 3);
	free_vm(vm);
}

static void test_refusals(void **state)
{
	struct vm *vm = new_vm(&mute_engine);
	struct seen s = { 0 };
	struct sym_filter f = { .type = SYM_EV_SYSCALL_ENTER };
	char err[128] = "";
	(void)state;
	assert_null(sym_subscribe(vm, &f, record, &s, err, sizeof(err)));
	assert_non_null(strstr(err, "mute engine does not deliver"));
	f.type = SYM_EV_DMA; /* engine-neutral: fine anywhere */
	struct sym_sub *d = sym_subscribe(vm, &f, record, &s, err, sizeof(err));
	assert_non_null(d);
	sym_event_dma(vm, 0x1000, 512);
	assert_int_equal(s.calls, 1);
	sym_unsubscribe(d);
	f.type = SYM_EV_EXCEPTION;
	f.vector = 40;
	vm->engine = &fake_engine;
	assert_null(sym_subscribe(vm, &f, record, &s, err, sizeof(err)));
	f.type = (enum sym_event_type)99;
	assert_null(sym_subscribe(vm, &f, record, &s, err, sizeof(err)));
	free_vm(vm);
}

static void test_syscall_exit_matching(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	struct seen s = { 0 };
	struct sym_filter f = { .type = SYM_EV_SYSCALL_EXIT };
	struct sym_regs r, back;
	struct sym_event ev, exit;
	char err[128];
	(void)state;
	assert_non_null(sym_subscribe(vm, &f, record, &s, err, sizeof(err)));

	ev = syscall_ev(&r, 257, 0x5000);
	ev.syscall.args[1] = 0x1234;
	sym_syscall_entered(vm, &ev, 0x7ffc0000, 0x401002);
	back = r;
	back.rip = 0x401002;
	back.gpr[0] = (uint64_t)-2;
	back.cr3 = 0x5000 | 0x1000000000000001ULL; /* same space, other PCID */
	/* another stack, another return address: not this call */
	back.gpr[4] = 0x7ffd0000;
	assert_false(sym_syscall_returning(vm, &back, &exit));
	back.gpr[4] = 0x7ffc0000;
	back.rip = 0x401003;
	assert_false(sym_syscall_returning(vm, &back, &exit));
	back.rip = 0x401002;
	assert_true(sym_syscall_returning(vm, &back, &exit));
	assert_int_equal(exit.type, SYM_EV_SYSCALL_EXIT);
	assert_int_equal(exit.syscall.nr, 257);
	assert_int_equal(exit.syscall.args[1], 0x1234);
	assert_int_equal(exit.syscall.ret, -2);
	assert_false(sym_syscall_returning(vm, &back, &exit)); /* matched once only */

	/* A caller that re-enters before returning (execve, a signal): its
	 * first entry is dropped as unmatched. */
	sym_syscall_entered(vm, &ev, 0x7ffc0000, 0x401002);
	sym_syscall_entered(vm, &ev, 0x7ffc0000, 0x401002);
	struct sym_event_stats st;
	sym_event_stats(vm, &st);
	assert_int_equal(st.syscall_exits_unmatched, 1);
	/* Many calls that never return: bounded, and the table keeps working. */
	for (uint64_t i = 0; i < 100000; i++)
		sym_syscall_entered(vm, &ev, 0x10000 + i * 16, 0x401002);
	sym_syscall_entered(vm, &ev, 0x7ffc0000, 0x401002);
	assert_true(sym_syscall_returning(vm, &back, &exit));
	free_vm(vm);
}

/* The 32-bit entry's events reach only compat subscribers, and the 64-bit
 * entry's only the others, whatever the numbers. */
static void test_compat_entry(void **state)
{
	struct vm *vm = new_vm(&fake_engine);
	struct seen s64 = { .reply = SYM_CONTINUE }, s32 = { .reply = SYM_CONTINUE };
	struct sym_filter f64 = { .type = SYM_EV_SYSCALL_ENTER },
	                  f32 = { .type = SYM_EV_SYSCALL_ENTER, .compat = true };
	struct sym_regs r;
	char err[128];
	(void)state;

	sym_filter_syscall(&f64, 5);
	sym_filter_syscall(&f32, 5);
	struct sym_sub *a = sym_subscribe(vm, &f64, record, &s64, err, sizeof(err));
	struct sym_sub *b = sym_subscribe(vm, &f32, record, &s32, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	struct sym_event ev = syscall_ev(&r, 5, 0x1000);
	sym_event_deliver(vm, &ev);
	assert_int_equal(s64.calls, 1);
	assert_int_equal(s32.calls, 0);
	ev = syscall_ev(&r, 5, 0x1000);
	ev.syscall.compat = true;
	sym_event_deliver(vm, &ev);
	assert_int_equal(s64.calls, 1);
	assert_int_equal(s32.calls, 1);
	sym_unsubscribe(a);
	sym_unsubscribe(b);
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters_and_mask), cmocka_unit_test(test_skip_and_self_unsubscribe),
		cmocka_unit_test(test_refusals),         cmocka_unit_test(test_syscall_exit_matching),
		cmocka_unit_test(test_compat_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
