/* The sampling thread.  While a profile is being taken or `top` has asked
 * within TOP_LEASE_NS, it wakes HZ times a second, pauses the VM (every vCPU
 * parks where its state is whole), reads each vCPU's registers and current
 * task, lets the VM run again, and only then resolves symbols and counts:
 * the guest stands still for the reads alone.  Otherwise it sleeps on its
 * condition variable and costs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "symbiont/vcpu.h"
#include "services/prof/elfsyms.h"
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

/* A user RIP's function: the executable's path in the guest (its mm's
 * exe_file), looked for under the guest root on the host, its ELF symbols
 * read once per process.  Only programs linked at fixed addresses
 * (ET_EXEC): a position-independent one's load address is not known here.
 * Shared libraries are not looked at. */
static void user_symbolize(struct prof *p, struct sample *s)
{
	struct usercache_entry *c = &p->usercache[(uint32_t)s->pid % PROF_USERCACHE];
	const char *name;

	if (!p->user_root[0] || !s->task_known || s->kernel_thread)
		return;
	if (!c->valid || c->pid != s->pid || strcmp(c->comm, s->comm)) {
		char path[GUESTOS_PATH_LEN], host[sizeof(p->user_root) + GUESTOS_PATH_LEN], e[256];
		elfsyms_free(c->syms);
		*c = (struct usercache_entry){ .pid = s->pid, .valid = true };
		snprintf(c->comm, sizeof(c->comm), "%s", s->comm);
		if (guestos_exe_path(p->os, s->pid, path, sizeof(path), e, sizeof(e)) || strstr(path, "/../") ||
		    path[0] != '/')
			return;
		snprintf(host, sizeof(host), "%s%s", p->user_root, path);
		c->syms = elfsyms_load(host, e, sizeof(e));
		if (c->syms && !elfsyms_fixed(c->syms)) {
			elfsyms_free(c->syms);
			c->syms = NULL;
		}
	}
	if (c->syms && (name = elfsyms_at(c->syms, s->rip))) {
		s->symbol_known = true;
		snprintf(s->symbol, sizeof(s->symbol), "%s", name);
	}
}

static void user_root_refresh(struct prof *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->user_root_gen != p->guest_root_gen) {
		p->user_root_gen = p->guest_root_gen;
		snprintf(p->user_root, sizeof(p->user_root), "%s", p->guest_root);
		for (int i = 0; i < PROF_USERCACHE; i++) {
			elfsyms_free(p->usercache[i].syms);
			p->usercache[i] = (struct usercache_entry){ 0 };
		}
	}
	pthread_mutex_unlock(&p->lock);
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

/* The guest kernel's ORC tables, once: their bounds from System.map, the
 * entry layout from the kernel's version (linux_banner).  Without them
 * (another kernel, unreadable) samples keep their leaf frame only. */
static void load_orc(struct prof *p)
{
	struct guestos_symbol ip_start, ip_stop, entries, banner;
	char e[160], text[64] = "";
	int32_t *rel = NULL;
	uint8_t *raw = NULL;
	int major = 0, minor = 0;

	p->orc_tried = true;
	if (guestos_symbol_lookup(p->os, "__start_orc_unwind_ip", &ip_start, e, sizeof(e)) ||
	    guestos_symbol_lookup(p->os, "__stop_orc_unwind_ip", &ip_stop, e, sizeof(e)) ||
	    guestos_symbol_lookup(p->os, "__start_orc_unwind", &entries, e, sizeof(e)) ||
	    guestos_symbol_lookup(p->os, "linux_banner", &banner, e, sizeof(e)) ||
	    guestos_read_kernel(p->os, banner.addr, text, sizeof(text) - 1, e, sizeof(e)) ||
	    sscanf(text, "Linux version %d.%d", &major, &minor) != 2 || ip_stop.addr <= ip_start.addr)
		return;
	size_t n = (ip_stop.addr - ip_start.addr) / 4;
	if (n > ORC_MAX_ENTRIES || !(rel = malloc(n * 4)) || !(raw = malloc(n * 6)) ||
	    !(p->stack_copy = malloc((size_t)p->vm->ncpus * ORC_STACK_SIZE)) ||
	    guestos_read_kernel(p->os, ip_start.addr, rel, n * 4, e, sizeof(e)) ||
	    guestos_read_kernel(p->os, entries.addr, raw, n * 6, e, sizeof(e)) ||
	    orc_table_init(&p->orc, ip_start.addr, rel, raw, n,
	                   major > 6 || (major == 6 && minor >= 4) ? ORC_LAYOUT_V2 : ORC_LAYOUT_V1)) {
		free(p->stack_copy);
		p->stack_copy = NULL;
	}
	free(rel);
	free(raw);
}

/* While paused: the vCPU's kernel stack from RSP to the top of its
 * THREAD_SIZE block, for unwinding once the VM runs again. */
static void copy_stack(struct prof *p, int cpu, const struct x86_state *st)
{
	uint64_t sp = st->gpr[X86_RSP], top = (sp | (ORC_STACK_SIZE - 1)) + 1;
	uint8_t *buf = p->stack_copy + (size_t)cpu * ORC_STACK_SIZE;
	char e[160];
	p->stack[cpu] = (struct orc_stack){ 0 };
	if (!top || guestos_read_kernel(p->os, sp, buf, top - sp, e, sizeof(e)))
		return;
	p->stack[cpu] = (struct orc_stack){ .base = sp, .bytes = buf, .len = top - sp };
	p->oregs[cpu] = (struct orc_regs){ .ip = st->rip,
		                           .sp = sp,
		                           .bp = st->gpr[X86_RBP],
		                           .dx = st->gpr[X86_RDX],
		                           .di = st->gpr[X86_RDI],
		                           .r10 = st->gpr[X86_R10],
		                           .r13 = st->gpr[X86_R13] };
}

/* The callers of a kernel sample, outermost first, each by its symbol. */
static void build_callers(struct prof *p, int cpu, struct sample *s)
{
	uint64_t frames[ORC_MAX_FRAMES];
	size_t used = 0;
	int n;

	if (!p->stack[cpu].len)
		return;
	n = orc_unwind(&p->orc, &p->stack[cpu], &p->oregs[cpu], frames, ORC_MAX_FRAMES);
	for (int i = n - 1; i >= 1; i--) {
		struct sample caller = { .rip = frames[i] - 1 }; /* the call, not what follows it */
		char name[200], frame[260];
		symbolize(p, &caller);
		if (caller.symbol_known) {
			stack_frame_clean(name, sizeof(name), caller.symbol);
			snprintf(frame, sizeof(frame), "%s", name);
		} else {
			snprintf(frame, sizeof(frame), "0x%llx", (unsigned long long)frames[i]);
		}
		size_t len = strlen(frame);
		if (used + len + 2 > sizeof(s->callers))
			break; /* bounded: the outermost frames are kept */
		if (used)
			s->callers[used++] = ';';
		memcpy(s->callers + used, frame, len + 1);
		used += len;
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
		guestos_regs_from_x86(&st, &p->regs[i]);
		s[i].readable = true;
		s[i].rip = st.rip;
		s[i].cpl = st.seg[SEG_CS].dpl;
		s[i].halted = st.ev.mp_state == X86_MP_HALTED;
		p->stack[i] = (struct orc_stack){ 0 };
		if (p->stack_copy && s[i].cpl == 0 && !s[i].halted)
			copy_stack(p, i, &st);
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
	if (p->os && !p->orc_tried)
		load_orc(p);
	user_root_refresh(p);
	for (int i = 0; p->os && i < n; i++) {
		if (s[i].readable && s[i].cpl == 3)
			user_symbolize(p, &s[i]);
		if (!s[i].readable || s[i].cpl == 3)
			continue;
		symbolize(p, &s[i]);
		if (sample_mode(&s[i]) == SAMPLE_KERNEL)
			build_callers(p, i, &s[i]);
	}
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
	for (int i = 0; i < PROF_USERCACHE; i++) {
		elfsyms_free(p->usercache[i].syms);
		p->usercache[i].syms = NULL;
	}
}
