/* VSched: reservations of vCPU time (symbiont/vsched.h). */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu/engine.h"
#include "symbiont/iothreads.h"
#include "symbiont/userdir.h"
#include "symbiont/vm.h"
#include "symbiont/vsched.h"
#include "vm/vsched_account.h"

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

/* glibc has no wrapper for sched_setattr. */
struct sched_attr_v0 {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

#define SCHED_FLAG_RESET_ON_FORK 0x01
#define SCHED_FLAG_RECLAIM       0x02

/* RESET_ON_FORK: a thread this one creates starts best-effort, which is
 * what lets a reserved thread create threads at all (the kernel refuses
 * clone to a SCHED_DEADLINE thread otherwise). */
static int set_deadline(pid_t tid, uint64_t runtime, uint64_t period, uint64_t flags)
{
	struct sched_attr_v0 a = { .size = sizeof(a),
		                   .sched_policy = SCHED_DEADLINE,
		                   .sched_flags = SCHED_FLAG_RESET_ON_FORK | flags,
		                   .sched_runtime = runtime,
		                   .sched_deadline = period,
		                   .sched_period = period };
	return (int)syscall(SYS_sched_setattr, tid, &a, 0);
}

static int parse_time(const char *s, size_t n, uint64_t *ns)
{
	char buf[32], *end;
	uint64_t mul;
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	double v = strtod(buf, &end);
	if (errno || end == buf || v <= 0)
		return -1;
	if (!strcmp(end, "us"))
		mul = 1000;
	else if (!strcmp(end, "ms"))
		mul = 1000000;
	else if (!strcmp(end, "s"))
		mul = 1000000000;
	else
		return -1;
	if (v * (double)mul > 10e9 || v * (double)mul < 1) /* at most 10 s */
		return -1;
	*ns = (uint64_t)(v * (double)mul);
	return 0;
}

/* "0,2", "1-3", "0-1,4": a mask of CPUs 0..63. */
static int parse_cpus(const char *s, size_t n, uint64_t *mask)
{
	uint64_t m = 0;
	size_t i = 0;
	while (i < n) {
		unsigned long lo = 0, hi;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9' && lo < 64)
			lo = lo * 10 + (unsigned long)(s[i++] - '0');
		if (i == d || lo > 63)
			return -1;
		hi = lo;
		if (i < n && s[i] == '-') {
			d = ++i;
			hi = 0;
			while (i < n && s[i] >= '0' && s[i] <= '9' && hi < 64)
				hi = hi * 10 + (unsigned long)(s[i++] - '0');
			if (i == d || hi > 63 || hi < lo)
				return -1;
		}
		for (unsigned long c = lo; c <= hi; c++)
			m |= 1ULL << c;
		if (i < n && s[i] != ',')
			return -1;
		if (i < n && ++i == n)
			return -1; /* a trailing separator */
	}
	*mask = m;
	return m ? 0 : -1;
}

/* The value as an error message may quote it: on one line, so not with
 * control characters. */
static const char *quotable(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "(a value with control characters)";
	return s;
}

int vsched_parse(const char *s, struct vsched_spec *out, char *err, size_t errlen)
{
	struct vsched_spec r = { 0 };
	const char *q = quotable(s);
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");
		if (n > 7 && !strncmp(p, "period=", 7)) {
			if (parse_time(p + 7, n - 7, &r.period_ns))
				goto bad;
		} else if (n > 6 && !strncmp(p, "slice=", 6)) {
			if (parse_time(p + 6, n - 6, &r.slice_ns))
				goto bad;
		} else if (n > 3 && !strncmp(p, "io=", 3)) {
			if (parse_time(p + 3, n - 3, &r.io_ns))
				goto bad;
		} else if (n > 5 && !strncmp(p, "cpus=", 5)) {
			/* the list has commas of its own: it runs on while tokens are numbers */
			while (p[n] == ',' && p[n + 1] >= '0' && p[n + 1] <= '9')
				n += 1 + strcspn(p + n + 1, ",");
			if (parse_cpus(p + 5, n - 5, &r.cpus) < 0) {
				snprintf(err, errlen, "--sched %s: cpus= wants CPU numbers 0-63 and ranges (0,2-3)", q);
				return -1;
			}
		} else {
			goto bad;
		}
		p += n;
		if (*p == ',' && !*++p)
			goto bad; /* a trailing comma */
	}
	if (!r.period_ns || !r.slice_ns)
		goto bad;
	/* SCHED_DEADLINE's own limits: runtime >= 1024 ns, runtime <= period. */
	if (r.slice_ns > r.period_ns || r.slice_ns < 10000) {
		snprintf(err, errlen, "--sched %s: the slice must be 10us or more and at most the period", q);
		return -1;
	}
	if (r.io_ns && (r.io_ns > r.period_ns || r.io_ns < 10000)) {
		snprintf(err, errlen, "--sched %s: io= must be 10us or more and at most the period", q);
		return -1;
	}
	*out = r;
	return 0;
bad:
	snprintf(err, errlen,
	         "--sched %s: expected period=TIME,slice=TIME[,io=TIME][,cpus=LIST] (units us, ms, s; at most 10 s)",
	         q);
	return -1;
}

/* The scheduler thread's SCHED_FIFO priority: above every vCPU thread's
 * (rm_priority), so that it can park them on time. */
#define SCHED_THREAD_PRIORITY 90

/* ---- what a VM reserves -------------------------------------------------- */

static void io_policy(pid_t tid, void *ctx);

/* Threads reserved and the runtime each gets (emu: one thread for all). */
static int reserved(const struct vm *vm, const struct vsched_spec *s, uint64_t *runtime)
{
	bool one_thread = vm->engine && !strcmp(vm->engine->name, "emu");
	*runtime = one_thread ? s->slice_ns * (uint64_t)vm->ncpus : s->slice_ns;
	return one_thread ? 1 : vm->ncpus;
}

/* The VM's I/O threads: those entered so far, and the event loop, which
 * enters when the VM starts running. */
static int io_threads(const struct vm *vm)
{
	return io_threads_count() + (vm->loop_tid ? 0 : 1);
}

static double utilization(const struct vm *vm, const struct vsched_spec *s)
{
	uint64_t runtime;
	int n = reserved(vm, s, &runtime);
	return ((double)n * (double)runtime + (double)io_threads(vm) * (double)s->io_ns) / (double)s->period_ns;
}

/* ---- the registry: one file per reserving VM -------------------------------
 * "name util period_ns cpus" (cpus: the pinned mask in hex, 0 for any). */

#define MAX_HOLDERS 256

struct holder {
	char name[80];
	long pid;
	double util;
	unsigned long long period, cpus;
};

static int registry(char *dir, size_t len, char *err, size_t errlen)
{
	return symbiont_user_dir("sched", true, dir, len, err, errlen);
}

static int lock_registry(const char *dir)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/.lock", dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	return fd;
}

/* The other VMs' reservations (at most MAX_HOLDERS), cleaning out those of
 * VMs that died. */
static int others(const char *dir, struct holder *h)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < MAX_HOLDERS) {
		char p[4400];
		long pid = strtol(de->d_name, NULL, 10);
		if (pid <= 0 || pid == getpid() || !strstr(de->d_name, ".res"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			unlink(p); /* its VM died without cleaning up */
			continue;
		}
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		struct holder x = { .name = "?", .pid = pid };
		int got = fscanf(f, "%79s %lf %llu %llx", x.name, &x.util, &x.period, &x.cpus);
		fclose(f);
		if (got < 2 || !(x.util >= 0 && x.util <= 1024))
			continue;
		if (got < 4)
			x.period = 0, x.cpus = 0;
		h[n++] = x;
	}
	closedir(d);
	return n;
}

/* "name (pid N) U, ..." of the holders that match (all with any = true). */
static void name_holders(char *out, size_t len, const struct holder *h, int n, bool any, uint64_t cpus)
{
	size_t used = 0;
	out[0] = 0;
	for (int i = 0; i < n && used < len; i++)
		if (any || (h[i].cpus & cpus) || !h[i].cpus)
			used += (size_t)snprintf(out + used, len - used, "%s%s (pid %ld) %.2f", used ? ", " : "",
			                         h[i].name, h[i].pid, h[i].util);
	if (!out[0])
		snprintf(out, len, "nobody");
}

static int popcount64(uint64_t m)
{
	return __builtin_popcountll(m);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Rate monotonic's bound for these periods: VSCHED_BOUND when they are
 * harmonic, else Liu and Layland's n(2^(1/n) - 1) (0.83 for 2, 0.69 as n
 * grows), never above VSCHED_BOUND. */
static double rm_bound(uint64_t *periods, int n)
{
	qsort(periods, (size_t)n, sizeof(periods[0]), cmp_u64);
	for (int i = 1; i < n; i++)
		if (!periods[i - 1] || periods[i] % periods[i - 1])
			return fmin(VSCHED_BOUND, (double)n * (pow(2.0, 1.0 / n) - 1.0));
	return VSCHED_BOUND;
}

/* CPU c's load from reservations pinned to it (each spread over its own
 * list) and from unpinned ones (spread over every CPU), and the periods of
 * the pinned ones, mine included. */
static double cpu_load(int c, long ncpu, const struct holder *h, int n, double mine, const struct vsched_spec *s,
                       uint64_t *periods, int *np)
{
	double load = mine / popcount64(s->cpus);
	*np = 0;
	periods[(*np)++] = s->period_ns;
	for (int i = 0; i < n; i++) {
		if (!h[i].cpus) {
			load += h[i].util / (double)ncpu;
		} else if (h[i].cpus >> c & 1) {
			load += h[i].util / popcount64(h[i].cpus);
			periods[(*np)++] = h[i].period;
		}
	}
	return load;
}

static int admit(struct vm *vm, const struct vsched_spec *s, char *err, size_t errlen)
{
	char dir[4096], names[1024], p[4200];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double bound = VSCHED_BOUND * (double)(ncpu > 0 ? ncpu : 1), mine = utilization(vm, s);
	struct holder h[MAX_HOLDERS];
	uint64_t periods[MAX_HOLDERS + 1];
	uint64_t runtime;
	int lock, n, r = -1;

	reserved(vm, s, &runtime);
	if (runtime > s->period_ns) {
		snprintf(err, errlen, "vsched: emu runs all %d vCPUs on one thread: %d x slice must fit in the period",
		         vm->ncpus, vm->ncpus);
		return -1;
	}
	if (ncpu < 1)
		ncpu = 1;
	if (s->cpus && (ncpu >= 64 ? 0 : s->cpus >> ncpu)) {
		snprintf(err, errlen, "vsched: cpus= names a CPU this host does not have (it has %ld online)", ncpu);
		return -1;
	}
	if (registry(dir, sizeof(dir), err, errlen) < 0)
		return -1;
	lock = lock_registry(dir);
	n = others(dir, h);
	double taken = 0;
	for (int i = 0; i < n; i++)
		taken += h[i].util;
	if (taken + mine > bound + 1e-9) {
		name_holders(names, sizeof(names), h, n, true, 0);
		snprintf(
		        err, errlen,
		        "vsched: %.2f CPUs more would take this host to %.2f of its %.2f (%.0f%% of %ld CPUs): held by %.300s",
		        mine, taken + mine, bound, VSCHED_BOUND * 100, ncpu, names);
		goto out;
	}
	for (int c = 0; s->cpus && c < 64; c++) {
		int np;
		if (!(s->cpus >> c & 1))
			continue;
		double load = cpu_load(c, ncpu, h, n, mine, s, periods, &np);
		double cb = rm_bound(periods, np);
		if (load > cb + 1e-9) {
			name_holders(names, sizeof(names), h, n, false, 1ULL << c);
			snprintf(err, errlen,
			         "vsched: CPU %d would carry %.2f of the %.2f rate monotonic allows for %d pinned "
			         "reservation(s) (%s periods): held by %.300s",
			         c, load, cb, np, cb < VSCHED_BOUND ? "non-harmonic" : "harmonic", names);
			goto out;
		}
	}
	snprintf(p, sizeof(p), "%s/%ld.res", dir, (long)getpid());
	FILE *f = fopen(p, "w");
	if (!f) {
		snprintf(err, errlen, "vsched: %.200s: %s", p, strerror(errno));
		goto out;
	}
	fprintf(f, "%s %.6f %llu %llx\n", vm->name[0] ? vm->name : "vm", mine, (unsigned long long)s->period_ns,
	        (unsigned long long)s->cpus);
	fclose(f);
	r = 0;
out:
	if (lock >= 0)
		close(lock);
	return r;
}

int vsched_admit(struct vm *vm, char *err, size_t errlen)
{
	if (!vm->cfg.sched)
		return 0;
	if (vsched_parse(vm->cfg.sched, &vm->sched, err, errlen) < 0)
		return -1;
	if (!(vm->sched_acct = calloc((size_t)vm->ncpus, sizeof(*vm->sched_acct)))) {
		snprintf(err, errlen, "vsched: out of memory");
		return -1;
	}
	if (admit(vm, &vm->sched, err, errlen) < 0) {
		free(vm->sched_acct);
		vm->sched_acct = NULL;
		return -1;
	}
	vm->sched_on = true;
	io_threads_set_policy(io_policy, vm);
	return 0;
}

void vsched_release(struct vm *vm)
{
	char dir[4096], p[4200], err[256];
	if (!vm->sched_on || registry(dir, sizeof(dir), err, sizeof(err)) < 0)
		return;
	snprintf(p, sizeof(p), "%s/%ld.res", dir, (long)getpid());
	unlink(p);
}

/* ---- the VM's scheduler thread: user-level scheduling and accounting ------ */

/* Another thread's CPU time, to the nanosecond: the kernel's per-thread
 * CPU clock (the clockid encoding of clock_getcpuclockid, for a thread),
 * which brings a running thread's time up to date, where schedstat lags
 * by up to a scheduler tick (that lag overran user-level slices by 13%). */
static int thread_cpu_ns(pid_t tid, uint64_t *ns)
{
	struct timespec ts;
	clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD */
	if (clock_gettime(id, &ts) < 0)
		return -1;
	*ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	return 0;
}

/* The kernel's per-thread figures: CPU time and time runnable but waiting. */
static int read_schedstat(pid_t tid, uint64_t *cpu, uint64_t *wait)
{
	char p[64], buf[128];
	unsigned long long c, w;
	snprintf(p, sizeof(p), "/proc/self/task/%d/schedstat", (int)tid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &c, &w) != 2)
		return -1;
	*cpu = c, *wait = w;
	thread_cpu_ns(tid, cpu); /* the up-to-date figure where there is one */
	return 0;
}

/* One window of elapsed ns ended: what each reserved thread received. */
static void account(struct vm *vm, uint64_t elapsed)
{
	uint64_t runtime;

	pthread_mutex_lock(&vm->sched_lock);
	reserved(vm, &vm->sched, &runtime);
	bool user = vm->sched_mode == VSCHED_USER;
	for (int i = 0; vm->sched_acct && i < vm->ncpus; i++) {
		struct vsched_acct *a = &vm->sched_acct[i];
		uint64_t cpu, wait;
		if (a->tid && read_schedstat(a->tid, &cpu, &wait) == 0)
			vsched_account_window(a, user, runtime, vm->sched.period_ns, elapsed, cpu, wait);
	}
	pthread_mutex_unlock(&vm->sched_lock);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* CPU time of the VM's reserved threads so far. */
static uint64_t reserved_cpu(struct vm *vm)
{
	uint64_t sum = 0;
	pthread_mutex_lock(&vm->sched_lock);
	for (int i = 0; vm->sched_acct && i < vm->ncpus; i++) {
		uint64_t cpu;
		if (vm->sched_acct[i].tid && thread_cpu_ns(vm->sched_acct[i].tid, &cpu) == 0)
			sum += cpu;
	}
	pthread_mutex_unlock(&vm->sched_lock);
	return sum;
}

/* The same with a budget per vCPU thread (kvm, a thread per vCPU): each
 * runs until it has had its own slice, then holds (vm_vcpu_throttle) to
 * the period's end, so one busy vCPU cannot use another's share. */
static void user_level_period_per_vcpu(struct vm *vm, uint64_t t, uint64_t period, uint64_t runtime)
{
	uint64_t start[VM_MAX_CPUS] = { 0 };
	bool held[VM_MAX_CPUS] = { false };
	int n = vm->ncpus;

	for (int i = 0; i < n; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->tid)
			thread_cpu_ns(vm->vcpus[i]->tid, &start[i]);
	for (;;) {
		uint64_t now = host_clock_ns(), wake = t + period;
		if (now >= t + period || atomic_load(&vm->sched_stop) || vm_stopping(vm))
			break;
		for (int i = 0; i < n; i++) {
			uint64_t cpu;
			struct vcpu *c = vm->vcpus[i];
			if (held[i] || !c || !c->tid || thread_cpu_ns(c->tid, &cpu) < 0)
				continue;
			uint64_t used = cpu - start[i];
			if (used + 50000 >= runtime) {
				vm_vcpu_throttle(c, true);
				held[i] = true;
			} else if (now + (runtime - used) < wake) {
				wake = now + (runtime - used);
			}
		}
		sleep_until(wake);
	}
	for (int i = 0; i < n; i++)
		if (held[i])
			vm_vcpu_throttle(vm->vcpus[i], false);
}

/* The user-level scheduler's part of one period from t: the VM runs until
 * its reserved threads have had their slices of CPU (n x runtime; a vCPU
 * kept off the CPU by a higher priority gets its slice later in the
 * period, as under a deadline server), then is parked to the period's end.
 * Sleeping for the budget still to use never overshoots it: CPU time does
 * not pass faster than wall time. */
static void user_level_period(struct vm *vm, uint64_t t, uint64_t period)
{
	uint64_t runtime;
	int n = reserved(vm, &vm->sched, &runtime);
	if (n > 1) {
		user_level_period_per_vcpu(vm, t, period, runtime);
		return;
	}
	uint64_t budget = runtime * (uint64_t)n, start = reserved_cpu(vm);
	for (;;) {
		uint64_t used = reserved_cpu(vm) - start, now = host_clock_ns();
		if (now >= t + period || atomic_load(&vm->sched_stop) || vm_stopping(vm))
			return;
		if (used + 50000 >= budget)
			break;
		uint64_t wake = now + (budget - used);
		sleep_until(wake < t + period ? wake : t + period);
	}
	if (vm_pause_hold(vm, false) == 0) {
		sleep_until(t + period);
		vm_resume_hold(vm, false);
	}
}

/* Ends every period with the accounting; under the user-level scheduler
 * it also runs and parks the VM, VSched's way.  At SCHED_FIFO above every
 * vCPU thread where permitted, so that its own timing is kept. */
static void *sched_thread(void *arg)
{
	struct vm *vm = arg;
	struct sched_param sp = { .sched_priority = SCHED_THREAD_PRIORITY };
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp); /* best effort */
	uint64_t t = host_clock_ns(), last = t;
	while (!atomic_load(&vm->sched_stop) && !vm_stopping(vm)) {
		uint64_t period = vm->sched.period_ns;
		if (vm->sched_mode == VSCHED_USER)
			user_level_period(vm, t, period);
		sleep_until(t + period);
		uint64_t now = host_clock_ns();
		account(vm, now - last);
		last = now;
		t += period;
		if (now > t + period)
			t = now; /* fell behind (a stopped process): start afresh */
	}
	return NULL;
}

static void start_sched_thread(struct vm *vm)
{
	sigset_t all, old;
	if (vm->sched_thread_started)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	vm->sched_thread_started = pthread_create(&vm->sched_thread, NULL, sched_thread, vm) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int vsched_stats(struct vm *vm, int vcpu, struct vsched_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!vm->sched_on || vcpu < 0 || vcpu >= vm->ncpus)
		return -1;
	pthread_mutex_lock(&vm->sched_lock);
	if (vm->sched_acct && vm->sched_acct[vcpu].tid) {
		*out = vm->sched_acct[vcpu].st;
		out->valid = true;
	}
	pthread_mutex_unlock(&vm->sched_lock);
	return 0;
}

/* Under the user-level scheduler a vCPU thread runs its slice at
 * SCHED_FIFO, as VSched's did, so best-effort load cannot take the slice
 * away; the shorter the period the higher the priority (rate monotonic,
 * which is what lets pinned reservations share a CPU).  Without the
 * privilege the reservation is only a cap. */
static int rm_priority(uint64_t period_ns)
{
	int p = 80 - 4 * (int)log2((double)period_ns / 1000.0); /* 1 us: 80, 1 ms: 40, 10 s: 0 */
	return p < 2 ? 2 : p > 80 ? 80 : p;
}

static void user_level_priority(struct vm *vm)
{
	struct sched_param sp = { .sched_priority = rm_priority(vm->sched.period_ns) };
	int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (e && !vm->sched_cap_only) {
		vm->sched_cap_only = true;
		fprintf(stderr,
		        "symbiont: vsched: no real-time priority either (%s): the reservation caps the VM but "
		        "cannot guarantee it against other load\n",
		        strerror(e));
	}
}

/* cpus=: this thread runs on the list only. */
static void pin(struct vm *vm)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int c = 0; c < 64; c++)
		if (vm->sched.cpus >> c & 1)
			CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "symbiont: vsched: cannot pin to cpus=: %s\n", strerror(errno));
}

void vsched_thread_start(struct vm *vm, struct vcpu *c)
{
	uint64_t runtime;
	bool emu = !strcmp(vm->engine->name, "emu");

	if (!vm->sched_on || (emu && c->id != 0))
		return;
	reserved(vm, &vm->sched, &runtime);
	pthread_mutex_lock(&vm->sched_lock);
	if (vm->sched_acct)
		vm->sched_acct[c->id].tid = (pid_t)c->tid;
	/* Started first: a SCHED_DEADLINE thread may not create threads. */
	start_sched_thread(vm);
	if (vm->sched.cpus)
		pin(vm);
	if (vm->sched_mode == VSCHED_USER) { /* an earlier thread fell back: all do */
		user_level_priority(vm);
		pthread_mutex_unlock(&vm->sched_lock);
		return;
	}
	if (vm->sched.cpus) {
		fprintf(stderr, "symbiont: vsched: cpus= pins the reserved threads, which SCHED_DEADLINE refuses: the "
		                "user-level scheduler runs them at rate-monotonic SCHED_FIFO priority\n");
		vm->sched_mode = VSCHED_USER;
		user_level_priority(vm);
	} else if (set_deadline(0, runtime, vm->sched.period_ns, 0) == 0) {
		if (vm->sched_mode == VSCHED_NONE)
			fprintf(stderr,
			        "symbiont: vsched: SCHED_DEADLINE, %.3f ms every %.3f ms per reserved thread (%s)\n",
			        (double)runtime / 1e6, (double)vm->sched.period_ns / 1e6,
			        emu ? "emu: vCPU 0's thread runs every vCPU" : "each vCPU thread");
		vm->sched_mode = VSCHED_DEADLINE;
	} else {
		int e = errno;
		fprintf(stderr,
		        "symbiont: vsched: SCHED_DEADLINE refused (%s%s); the user-level scheduler runs instead\n",
		        strerror(e), e == EBUSY ? ": the kernel's own admission control" : "");
		vm->sched_mode = VSCHED_USER;
		user_level_priority(vm);
	}
	pthread_mutex_unlock(&vm->sched_lock);
}

/* The policy of a reserving VM's I/O threads (symbiont/iothreads.h).
 * With io=: SCHED_DEADLINE, io every period each, reclaiming bandwidth
 * no reservation is using (SCHED_FLAG_RECLAIM), so that a burst of I/O is
 * not held to its guaranteed share while the CPU has room.  Without, or
 * where refused, or pinned (cpus=): the lowest SCHED_FIFO priority, ahead
 * of best-effort load and behind every reservation. */
static void io_policy(pid_t tid, void *ctx)
{
	struct vm *vm = ctx;
	struct sched_param sp = { .sched_priority = 1 };

	if (vm->sched.io_ns && !vm->sched.cpus) {
		if (set_deadline(tid, vm->sched.io_ns, vm->sched.period_ns, SCHED_FLAG_RECLAIM) == 0)
			return;
		if (!vm->sched_io_refused)
			fprintf(stderr,
			        "symbiont: vsched: SCHED_DEADLINE refused for the I/O threads (%s): they run at "
			        "SCHED_FIFO 1\n",
			        strerror(errno));
		vm->sched_io_refused = true;
	}
	if (sched_setscheduler(tid, SCHED_FIFO, &sp) < 0 && errno != EPERM)
		fprintf(stderr, "symbiont: vsched: I/O thread priority: %s\n", strerror(errno));
}

int vsched_change(struct vm *vm, const struct vsched_spec *s, char *err, size_t errlen)
{
	uint64_t runtime;
	struct vsched_spec old = vm->sched;
	bool was_on = vm->sched_on;

	vsched_release(vm);
	vm->sched_on = true;
	if (admit(vm, s, err, errlen) < 0) {
		vm->sched_on = was_on;
		if (was_on)
			admit(vm, &old, err, errlen); /* keep the old one on the books */
		return -1;
	}
	pthread_mutex_lock(&vm->sched_lock);
	vm->sched = *s;
	reserved(vm, s, &runtime);
	if (!vm->sched_acct) /* the VM had no reservation: the accounting starts now */
		vm->sched_acct = calloc((size_t)vm->ncpus, sizeof(*vm->sched_acct));
	if (vm->sched_mode != VSCHED_USER) {
		for (int i = 0; i < vm->ncpus; i++) {
			struct vcpu *c = vm->vcpus[i];
			if (!c || !c->tid || (strcmp(vm->engine->name, "emu") == 0 && i != 0))
				continue;
			if (vm->sched_acct)
				vm->sched_acct[i].tid = (pid_t)c->tid;
			if (set_deadline(c->tid, runtime, s->period_ns, 0) < 0) {
				snprintf(err, errlen, "vsched: the kernel refused the new reservation for vCPU %d: %s",
				         i, strerror(errno));
				pthread_mutex_unlock(&vm->sched_lock);
				return -1;
			}
		}
		if (vm->sched_mode == VSCHED_NONE && vm->vcpus[0] && vm->vcpus[0]->tid)
			vm->sched_mode = VSCHED_DEADLINE;
	}
	if (vm->sched_mode != VSCHED_NONE)
		start_sched_thread(vm);
	pthread_mutex_unlock(&vm->sched_lock);
	io_threads_set_policy(io_policy, vm);
	return 0;
}

const char *vsched_mode(const struct vm *vm, struct vsched_spec *out)
{
	*out = vm->sched;
	switch (vm->sched_mode) {
	case VSCHED_DEADLINE: return "deadline";
	case VSCHED_USER: return "user-level";
	default: return vm->sched_on ? "pending" : "none";
	}
}

void vsched_stop(struct vm *vm)
{
	io_threads_set_policy(NULL, NULL);
	if (vm->sched_thread_started) {
		atomic_store(&vm->sched_stop, true);
		pthread_join(vm->sched_thread, NULL);
		vm->sched_thread_started = false;
	}
	vsched_release(vm);
	free(vm->sched_acct);
	vm->sched_acct = NULL;
}
