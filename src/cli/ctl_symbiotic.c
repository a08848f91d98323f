/* ctl verbs of the symbiotic interfaces: `symspy` (what the guest's
 * symbiotic module shares, read by the VMM without any exit) and `symcall
 * CALL` (an upcall into the guest kernel). */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cli/ctl_symbiotic.h"

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_string(x) : "";
}

static int64_t num(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_int64(x) : -1;
}

void ctl_print_symspy(struct json_object *ret)
{
	struct json_object *g, *cpus, *a;

	if (json_object_object_get_ex(ret, "global", &g)) {
		printf("kernel       %s (text at %s)\n", str(g, "release"), str(g, "kaslr_base"));
		printf("memory       total %" PRId64 " KiB, free %" PRId64 ", available %" PRId64
		       ", page cache %" PRId64 ", anon %" PRId64 ", buffers %" PRId64 "\n",
		       num(g, "mem_total_kb"), num(g, "mem_free_kb"), num(g, "mem_available_kb"),
		       num(g, "page_cache_kb"), num(g, "anon_kb"), num(g, "buffers_kb"));
		printf("load         ");
		if (json_object_object_get_ex(g, "loadavg", &a))
			for (size_t i = 0; i < json_object_array_length(a); i++)
				printf("%.2f ", json_object_get_double(json_object_array_get_idx(a, i)));
		printf("(%" PRId64 " runnable of %" PRId64 " tasks)\n", num(g, "nr_running"), num(g, "nr_tasks"));
		printf("run queues  ");
		if (json_object_object_get_ex(g, "rq_len", &a))
			for (size_t i = 0; i < json_object_array_length(a); i++)
				printf(" %zu:%" PRId64, i, json_object_get_int64(json_object_array_get_idx(a, i)));
		printf("\nupdates      %" PRId64 " (page at %s)\n", num(g, "updates"), str(g, "gpa"));
	} else {
		printf("global page: %s\n", str(ret, "global_error"));
	}
	if (!json_object_object_get_ex(ret, "cpus", &cpus))
		return;
	printf("%-4s %7s %7s %-16s %s\n", "CPU", "PID", "TGID", "COMM", "SWITCHES");
	for (size_t i = 0; i < json_object_array_length(cpus); i++) {
		struct json_object *c = json_object_array_get_idx(cpus, i);
		if (*str(c, "error"))
			printf("%-4s %s\n", str(c, "cpu"), str(c, "error"));
		else
			printf("%-4s %7s %7s %-16s %s\n", str(c, "cpu"), str(c, "pid"), str(c, "tgid"), str(c, "comm"),
			       str(c, "switches"));
	}
}

/* pagecache PATH [SAVEFILE], drop PATH: a guest path and a host file,
 * absolute (the VMM opens it from its own directory). */
static struct json_object *build_file_call(char **argv, char *err, size_t errlen)
{
	struct json_object *o;
	char cwd[PATH_MAX], *save = NULL;

	if (!argv[1] || argv[1][0] != '/') {
		snprintf(err, errlen, "symcall %s: takes an absolute guest PATH", argv[0]);
		return NULL;
	}
	if (argv[2] && !strcmp(argv[0], "drop")) {
		snprintf(err, errlen, "symcall drop: takes PATH only");
		return NULL;
	}
	if (argv[2] && argv[2][0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || asprintf(&save, "%s/%s", cwd, argv[2]) < 0) {
			snprintf(err, errlen, "symcall pagecache: cannot make %.64s absolute", argv[2]);
			return NULL;
		}
	} else if (argv[2] && !(save = strdup(argv[2]))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "call", json_object_new_string(argv[0]));
	json_object_object_add(o, "path", json_object_new_string(argv[1]));
	if (save)
		json_object_object_add(o, "save", json_object_new_string(save));
	free(save);
	return o;
}

struct json_object *ctl_build_symcall(char **argv, char *err, size_t errlen)
{
	struct json_object *o;
	long long pid = 0;
	unsigned long long addr = 0;
	char *end;

	if (!strcmp(argv[0], "pagecache") || !strcmp(argv[0], "drop"))
		return build_file_call(argv, err, errlen);
	if (argv[1]) {
		errno = 0;
		pid = strtoll(argv[1], &end, 10);
		if (errno || *end || end == argv[1] || pid <= 0 || pid > INT32_MAX) {
			snprintf(err, errlen, "symcall: '%.32s' is not a pid", argv[1]);
			return NULL;
		}
	}
	if (argv[1] && argv[2]) {
		errno = 0;
		addr = strtoull(argv[2], &end, 0);
		if (errno || *end || end == argv[2]) {
			snprintf(err, errlen, "symcall: '%.32s' is not an address", argv[2]);
			return NULL;
		}
	}
	o = json_object_new_object();
	json_object_object_add(o, "call", json_object_new_string(argv[0]));
	if (argv[1])
		json_object_object_add(o, "arg", json_object_new_int64(pid));
	if (argv[1] && argv[2])
		json_object_object_add(o, "arg2", json_object_new_uint64(addr));
	return o;
}

void ctl_print_symcall(struct json_object *ret)
{
	struct json_object *procs, *vmas, *gpa, *runs;

	if (json_object_object_get_ex(ret, "runs", &runs)) {
		printf("%s: %s bytes (%s pages), %s cached pages\n", str(ret, "path"), str(ret, "size"),
		       str(ret, "size_pages"), str(ret, "listed_pages"));
		printf("%10s %8s %s\n", "INDEX", "PAGES", "GUEST-PHYSICAL");
		for (size_t i = 0; i < json_object_array_length(runs); i++) {
			struct json_object *r = json_object_array_get_idx(runs, i);
			printf("%10s %8s 0x%" PRIx64 "\n", str(r, "index"), str(r, "pages"), (uint64_t)num(r, "gpa"));
		}
		if (*str(ret, "saved_bytes"))
			printf("saved %s bytes\n", str(ret, "saved_bytes"));
		return;
	}
	if (json_object_object_get_ex(ret, "dropped_pages", &runs)) {
		printf("%s: dropped %s pages, %s still cached\n", str(ret, "path"), str(ret, "dropped_pages"),
		       str(ret, "cached_pages"));
		return;
	}

	if (json_object_object_get_ex(ret, "vmas", &vmas)) {
		for (size_t i = 0; i < json_object_array_length(vmas); i++) {
			struct json_object *m = json_object_array_get_idx(vmas, i), *x;
			uint64_t v[3] = { 0 };
			static const char *const k[3] = { "start", "end", "pgoff" };
			for (int j = 0; j < 3; j++)
				if (json_object_object_get_ex(m, k[j], &x))
					v[j] = json_object_get_uint64(x);
			printf("%012" PRIx64 "-%012" PRIx64 " %s %08" PRIx64 " %s\n", v[0], v[1], str(m, "perms"),
			       v[2] << 12, str(m, "path"));
		}
		return;
	}
	if (json_object_object_get_ex(ret, "gpa", &gpa)) {
		printf("guest-physical 0x%" PRIx64 "\n", json_object_get_uint64(gpa));
		return;
	}
	if (!json_object_object_get_ex(ret, "processes", &procs)) {
		printf("ret %s, round trip %.1f us on vCPU %s\n", str(ret, "ret"),
		       (double)num(ret, "round_trip_ns") / 1e3, str(ret, "cpu"));
		if (*str(ret, "data"))
			printf("data \"%s\"\n", str(ret, "data"));
		return;
	}
	printf("%7s %7s %6s %-16s\n", "PID", "PPID", "UID", "COMM");
	for (size_t i = 0; i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i), *kt;
		bool kernel = json_object_object_get_ex(p, "kernel_thread", &kt) && json_object_get_boolean(kt);
		printf("%7s %7s %6s %s%s%s\n", str(p, "pid"), str(p, "ppid"), str(p, "uid"), kernel ? "[" : "",
		       str(p, "comm"), kernel ? "]" : "");
	}
}
