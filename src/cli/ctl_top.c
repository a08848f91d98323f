/* symbiont ctl NAME top [--once] [--json] [--seconds S]: the guest's
 * processes ranked by the CPU the VMM saw each use over the last interval
 * (1 s by default), refreshed like top until Ctrl-C or the VM's end.  The
 * VM counts samples per process (query-top, cumulative); the view is the
 * difference between two readings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/ctl_sampling.h"
#include "cli/qmp_client.h"

#define TOP_ROWS_SHOWN 25

static uint64_t u64_of(struct json_object *o, const char *k)
{
	struct json_object *x;
	int64_t v = json_object_object_get_ex(o, k, &x) ? json_object_get_int64(x) : 0;
	return v > 0 ? (uint64_t)v : 0;
}

/* The process pid in a previous reply, or NULL. */
static struct json_object *find_pid(struct json_object *procs, int32_t pid)
{
	for (size_t i = 0; procs && i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i), *x;
		if (json_object_object_get_ex(p, "pid", &x) && json_object_get_int(x) == pid)
			return p;
	}
	return NULL;
}

static int by_cpu(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return x->pid - y->pid;
}

int top_view_build(struct json_object *prev, struct json_object *cur, struct top_view *v)
{
	struct json_object *procs, *prev_procs = NULL, *x;
	uint64_t rounds, idle;
	size_t n;

	memset(v, 0, sizeof(*v));
	if (!cur || !json_object_object_get_ex(cur, "processes", &procs) ||
	    !json_object_is_type(procs, json_type_array))
		return -1;
	if (prev && json_object_object_get_ex(prev, "processes", &x) && json_object_is_type(x, json_type_array))
		prev_procs = x;
	v->cpus = (int)u64_of(cur, "cpus");
	rounds = u64_of(cur, "rounds");
	idle = u64_of(cur, "idle");
	if (prev && u64_of(prev, "rounds") <= rounds && u64_of(prev, "idle") <= idle)
		rounds -= u64_of(prev, "rounds"), idle -= u64_of(prev, "idle");
	v->rounds = rounds;
	v->idle = rounds && v->cpus ? 100.0 * (double)idle / (double)(rounds * (uint64_t)v->cpus) : 0;
	n = json_object_array_length(procs);
	v->rows = calloc(n ? n : 1, sizeof(*v->rows));
	if (!v->rows)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(procs, i), *old;
		struct top_row *r = &v->rows[v->n];
		uint64_t user = u64_of(p, "user"), kernel = u64_of(p, "kernel");
		r->pid = json_object_object_get_ex(p, "pid", &x) ? json_object_get_int(x) : -1;
		old = find_pid(prev_procs, r->pid);
		/* Counts that went down belong to a new process that reused the
		 * entry: everything counts as new. */
		if (old && u64_of(old, "user") <= user && u64_of(old, "kernel") <= kernel)
			user -= u64_of(old, "user"), kernel -= u64_of(old, "kernel");
		if (user + kernel == 0)
			continue;
		snprintf(r->comm, sizeof(r->comm), "%s",
		         json_object_object_get_ex(p, "comm", &x) ? json_object_get_string(x) : "?");
		r->kernel_thread = json_object_object_get_ex(p, "kernel_thread", &x) && json_object_get_boolean(x);
		r->samples = user + kernel;
		if (rounds) {
			r->user = 100.0 * (double)user / (double)rounds;
			r->kernel = 100.0 * (double)kernel / (double)rounds;
			r->cpu = r->user + r->kernel;
		}
		v->n++;
	}
	qsort(v->rows, v->n, sizeof(*v->rows), by_cpu);
	return 0;
}

void top_view_free(struct top_view *v)
{
	free(v->rows);
	memset(v, 0, sizeof(*v));
}

static void print_json(const struct top_view *v, double interval)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	json_object_object_add(o, "interval", json_object_new_double(interval));
	json_object_object_add(o, "cpus", json_object_new_int(v->cpus));
	json_object_object_add(o, "rounds", json_object_new_int64((int64_t)v->rounds));
	json_object_object_add(o, "idle", json_object_new_double(v->idle));
	for (size_t i = 0; i < v->n; i++) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "pid", json_object_new_int(v->rows[i].pid));
		json_object_object_add(p, "comm", json_object_new_string(v->rows[i].comm));
		json_object_object_add(p, "kernel_thread", json_object_new_boolean(v->rows[i].kernel_thread));
		json_object_object_add(p, "cpu", json_object_new_double(v->rows[i].cpu));
		json_object_object_add(p, "user", json_object_new_double(v->rows[i].user));
		json_object_object_add(p, "kernel", json_object_new_double(v->rows[i].kernel));
		json_object_object_add(p, "samples", json_object_new_int64((int64_t)v->rows[i].samples));
		json_object_array_add(a, p);
	}
	json_object_object_add(o, "processes", a);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void print_table(const struct top_view *v, const char *target, bool clear)
{
	if (clear)
		printf("\033[H\033[2J");
	printf("symbiont top: %s, %d vCPU(s), %llu samples each, idle %.1f%%\n", target, v->cpus,
	       (unsigned long long)v->rounds, v->idle);
	printf("%7s %-16s %6s %6s %6s\n", "PID", "COMM", "%CPU", "%USR", "%SYS");
	for (size_t i = 0; i < v->n && i < TOP_ROWS_SHOWN; i++) {
		const struct top_row *r = &v->rows[i];
		char comm[24];
		snprintf(comm, sizeof(comm), r->kernel_thread ? "[%s]" : "%s", r->comm);
		printf("%7d %-16s %6.1f %6.1f %6.1f\n", r->pid, comm, r->cpu, r->user, r->kernel);
	}
	fflush(stdout);
}

int ctl_top(struct qmp_client *q, const char *target, const struct ctl_sampling_opts *o, bool json)
{
	struct json_object *prev = NULL, *cur = NULL;
	double interval = o->seconds > 0 ? o->seconds : 1.0;
	bool clear = isatty(STDOUT_FILENO) && !o->once && !json;
	char err[512];

	ctl_sampling_catch_interrupt();
	/* The first reading starts the VM's sampler; the view is from the next. */
	if (qmp_call(q, "query-top", NULL, &prev, err, sizeof(err)) < 0) {
		fprintf(stderr, "symbiont ctl: top: %s\n", err);
		return 1;
	}
	while (ctl_sampling_sleep(interval)) {
		struct top_view v;
		if (qmp_call(q, "query-top", NULL, &cur, err, sizeof(err)) < 0) {
			json_object_put(prev);
			if (ctl_sampling_interrupted())
				return 0;
			/* The VM ending is the end of the view, not a failure. */
			fprintf(stderr, "symbiont ctl: top: %s\n", err);
			return strstr(err, "closed") || strstr(err, "reset") || strstr(err, "Broken pipe") ? 0 : 1;
		}
		if (top_view_build(prev, cur, &v) < 0) {
			json_object_put(prev);
			json_object_put(cur);
			fprintf(stderr, "symbiont ctl: top: the VM's reply is not a query-top reply\n");
			return 1;
		}
		if (json)
			print_json(&v, interval);
		else
			print_table(&v, target, clear);
		top_view_free(&v);
		json_object_put(prev);
		prev = cur;
		if (o->once || json)
			break;
	}
	json_object_put(prev);
	return 0;
}
