/* The sampling thread.  While a profile is being taken or `top` has asked
 * within TOP_LEASE_NS, it wakes HZ times a second, pauses the VM (every vCPU
 * parks where its state is whole), reads each vCPU's registers and current
 * task, lets the VM run again, and only then resolves symbols and counts:
 * the guest stands still for the reads alone.  Otherwise it sleeps on its
 * condition variable and costs nothing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "symbiont/vcpu.h"
#include "services/prof/prof.h"
#include "services/prof/sample.h"

uint64_t prof_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool wanted(const struct prof *p, uint64_t now)
{
	return p->profiling || now < p->top_lease_until_ns;
}

/* A kernel RIP's symbol, remembered: a module's symbols are read from guest
 * memory, a walk too slow to repeat for every sample. */
static void symbolize(struct prof *p, struct sample *s)
{
	struct symcache_entry *c = &p->symcache[(s->rip >> 2) % PROF_SYMCACHE];
	if (!c->valid || c->rip != s->rip) {
		struct guestos_symbol sym;
		char e[160];
		c->valid = true;
		c->rip = s->rip;
		c->found = guestos_symbol_at(p->os, s->rip, &sym, e, sizeof(e)) == 0;
		if (c->found) {
			snprintf(c->name, sizeof(c->name), "%s", sym.name);
			snprintf(c->module, sizeof(c->module), "%s", sym.module);
		}
	}
	s->symbol_known = c->found;
	if (c->found) {
		snprintf(s->symbol, sizeof(s->symbol), "%s", c->name);
		snprintf(s->module, sizeof(s->module), "%s", c->module);
	}
}

/* Reads every vCPU while the VM is paused. */
static void read_vcpus(struct prof *p, struct sample *s, int n)
{
	for (int i = 0; i < n; i++) {
		struct x86_state st;
		char e[160];
		memset(&s[i], 0, sizeof(s[i]));
		p->regs_ok[i] = vm_vcpu_get_state(p->vm, i, &st, e, sizeof(e)) == 0;
		if (!p->regs_ok[i])
			continue;
		p->regs[i] = (struct guestos_regs){ .cr3 = st.cr3,
			                            .cr4 = st.cr4,
			                            .efer = st.efer,
			                            .gs_base = st.seg[SEG_GS].base,
			                            .kernel_gs_base = st.msr.kernel_gs_base,
			                            .lstar = st.msr.lstar,
			                            .rip = st.rip,
			                            .rsp = st.gpr[X86_RSP],
			                            .cpl = st.seg[SEG_CS].dpl };
		s[i].readable = true;
		s[i].rip = st.rip;
		s[i].cpl = st.seg[SEG_CS].dpl;
		s[i].halted = st.ev.mp_state == X86_MP_HALTED;
	}
	for (int i = 0; p->os && i < n; i++) {
		struct guestos_process t;
		char e[160];
		if (!s[i].readable || guestos_current(p->os, i, &t, e, sizeof(e)))
			continue;
		s[i].task_known = true;
		s[i].tid = t.pid;
		s[i].pid = t.tgid;
		s[i].kernel_thread = t.kernel_thread;
		snprintf(s[i].comm, sizeof(s[i].comm), "%s", t.comm);
	}
}

static void account(struct prof *p, const struct sample *s, int n, uint64_t pause_ns)
{
	char stack[STACK_TEXT_MAX];
	p->rounds++;
	if (p->profiling) {
		p->prof_rounds++;
		p->prof_pause_ns += pause_ns;
	}
	for (int i = 0; i < n; i++) {
		enum sample_mode m = sample_mode(&s[i]);
		if (p->profiling) {
			sample_stack(&s[i], stack, sizeof(stack));
			stack_table_add(&p->stacks, stack, 1);
			p->by_mode[m]++;
		}
		if (m == SAMPLE_IDLE)
			p->idle++;
		else if (m != SAMPLE_UNKNOWN)
			proc_table_add(&p->procs, s[i].pid, s[i].comm, s[i].kernel_thread, m == SAMPLE_USER);
	}
}

static void sample_round(struct prof *p)
{
	struct sample s[VM_MAX_CPUS];
	int n = p->vm->ncpus;
	uint64_t t0 = prof_now_ns(), pause_ns;

	/* Held paused by someone else (the user's stop): guest time stands
	 * still and nothing ran, so there is nothing to count. */
	if (vm_is_paused(p->vm) || vm_pause(p->vm) < 0) {
		pthread_mutex_lock(&p->lock);
		p->paused_rounds++;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	read_vcpus(p, s, n);
	vm_resume(p->vm);
	pause_ns = prof_now_ns() - t0;
	for (int i = 0; p->os && i < n; i++)
		if (s[i].readable && s[i].cpl != 3)
			symbolize(p, &s[i]);
	pthread_mutex_lock(&p->lock);
	account(p, s, n, pause_ns);
	pthread_mutex_unlock(&p->lock);
}

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
}

static void *sampler_main(void *arg)
{
	struct prof *p = arg;
	uint64_t next = prof_now_ns();

	pthread_mutex_lock(&p->lock);
	while (!p->quit) {
		uint64_t now = prof_now_ns();
		if (!wanted(p, now)) {
			pthread_cond_wait(&p->wake, &p->lock);
			next = prof_now_ns();
			continue;
		}
		if (now < next) {
			struct timespec ts = to_timespec(next);
			pthread_cond_timedwait(&p->wake, &p->lock, &ts);
			continue;
		}
		uint64_t period = 1000000000ull / (p->profiling ? p->hz : PROF_DEFAULT_HZ);
		pthread_mutex_unlock(&p->lock);
		sample_round(p);
		pthread_mutex_lock(&p->lock);
		/* On schedule, not drifting; after a stall, one sample, not a burst. */
		next += period;
		if (next < prof_now_ns())
			next = prof_now_ns() + period;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int sampler_kick(struct prof *p, char *err, size_t errlen)
{
	pthread_mutex_lock(&p->lock);
	if (!p->thread_running) {
		int r = pthread_create(&p->thread, NULL, sampler_main, p);
		if (r) {
			pthread_mutex_unlock(&p->lock);
			snprintf(err, errlen, "cannot start the sampling thread: %s", strerror(r));
			return -1;
		}
		p->thread_running = true;
	}
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void sampler_quit(struct prof *p)
{
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->wake);
	bool running = p->thread_running;
	pthread_mutex_unlock(&p->lock);
	if (running)
		pthread_join(p->thread, NULL);
}
