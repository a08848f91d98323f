/* VSched's accounting arithmetic (vm/vsched_account.h).
 *
 * Under the user-level scheduler our windows are the periods: a window in
 * which the thread was runnable for its slice but got less than 95% of it
 * is a miss, and what it lacked is its lateness.
 *
 * Under SCHED_DEADLINE the kernel's periods have their own phase (set anew
 * each time the vCPU sleeps), so one window can hold the tail of one slice
 * and the head of the next: a per-window test would cry wolf.  What holds
 * at any phase: a stretch of windows in which the thread was runnable
 * throughout, lasting T, wholly contains at least T/period - 1 of the
 * kernel's periods, and each of those delivered its slice if the promise
 * was kept.  A window that ends with the stretch short of that (by more
 * than 5% of a slice) is a miss; the shortfall is its lateness.  No false
 * alarms; a miss that the partial periods at the stretch's ends make up
 * for goes unseen. */
#include "vm/vsched_account.h"

void vsched_account_window(struct vsched_acct *a, bool user, uint64_t runtime, uint64_t period_ns, uint64_t elapsed,
                           uint64_t cpu_ns, uint64_t wait_ns)
{
	uint64_t entitled = period_ns ? (uint64_t)((double)runtime * (double)elapsed / (double)period_ns) : 0;
	uint64_t late = 0;
	bool wanted, missed = false;

	if (!a->base || cpu_ns < a->cpu_ns || wait_ns < a->wait_ns)
		goto rebase;
	uint64_t got = cpu_ns - a->cpu_ns, runnable = got + (wait_ns - a->wait_ns);
	a->st.periods++;
	a->st.elapsed_ns += elapsed;
	a->st.received_ns += got;
	if (user) {
		wanted = runnable * 20 >= entitled * 19;
		if (wanted && got * 20 < entitled * 19) {
			missed = true;
			late = (runnable < entitled ? runnable : entitled) - got;
		}
	} else {
		wanted = runnable * 20 >= elapsed * 19;
		if (!wanted) {
			a->stretch_got = a->stretch_entitled = 0;
		} else {
			a->stretch_got += got;
			a->stretch_entitled += entitled;
			uint64_t owed = a->stretch_entitled > runtime ? a->stretch_entitled - runtime : 0;
			if (owed > a->stretch_got + runtime / 20) {
				missed = true;
				late = owed - a->stretch_got;
				a->stretch_got = owed; /* one shortfall, counted once */
			}
		}
	}
	if (wanted) {
		a->st.wanted++;
		a->st.entitled_ns += entitled;
	}
	if (missed) {
		a->st.misses++;
		a->st.lateness_ns += late;
		if (late > a->st.lateness_max_ns)
			a->st.lateness_max_ns = late;
	}
rebase:
	a->cpu_ns = cpu_ns, a->wait_ns = wait_ns, a->base = true;
}
