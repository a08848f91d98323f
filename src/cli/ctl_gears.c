/* The GEARS verbs of symbiont ctl (src/services/gears/), which take
 * options of their own:
 *
 *   trace [--pid P] [--comm C] [--syscalls LIST|all] [--json]
 *       starts a trace, prints its lines as they come, and ends with the
 *       client: Ctrl-C (or the end of the VM) closes the connection, and
 *       the VM ends the trace of a client that is gone */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/qmp_client.h"

enum {
	OPT_PID = 1000,
	OPT_COMM,
	OPT_SYSCALLS,
	OPT_JSON,
};

struct gears_opts {
	long pid; /* -1: none */
	const char *comm, *syscalls;
	bool json;
};

bool ctl_gears_verb(const char *verb)
{
	return !strcmp(verb, "trace");
}

void usage_ctl_gears(void)
{
	printf("  %-10s %s\n", "trace",
	       "[--pid P] [--comm C] [--syscalls LIST|all] [--json]\n"
	       "             stream the guest's system calls, strace-style, until Ctrl-C");
}

static int usage_error(const char *verb, const char *msg, const char *arg)
{
	fprintf(stderr, "symbiont ctl: %s: ", verb);
	fprintf(stderr, msg, arg);
	fprintf(stderr, "\n");
	return EXIT_USAGE;
}

/* The options into o; the other arguments are moved to the front of argv
 * and counted in *npos. */
static int parse(const char *verb, int argc, char **argv, struct gears_opts *o, int *npos)
{
	static const struct option opts[] = {
		{ "pid", required_argument, 0, OPT_PID },
		{ "comm", required_argument, 0, OPT_COMM },
		{ "syscalls", required_argument, 0, OPT_SYSCALLS },
		{ "json", no_argument, 0, OPT_JSON },
		{ 0 },
	};
	/* getopt wants a program name in front */
	char **av = calloc((size_t)argc + 2, sizeof(*av));
	int c, r = 0;

	if (!av)
		return usage_error(verb, "%s", "out of memory");
	av[0] = (char *)verb;
	memcpy(av + 1, argv, (size_t)argc * sizeof(*av));
	memset(o, 0, sizeof(*o));
	o->pid = -1;
	opterr = 0;
	optind = 1;
	while (!r && (c = getopt_long(argc + 1, av, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PID: {
			char *end;
			o->pid = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->pid < 0 || o->pid > INT32_MAX)
				r = usage_error(verb, "--pid '%s' is not a pid", optarg);
			break;
		}
		case OPT_COMM: o->comm = optarg; break;
		case OPT_SYSCALLS: o->syscalls = optarg; break;
		case OPT_JSON: o->json = true; break;
		default:
			r = usage_error(verb, "unknown or incomplete option '%s' (try symbiont ctl --help)",
			                av[optind - 1]);
		}
	}
	/* getopt moved the other arguments behind the options */
	*npos = argc + 1 - optind;
	memmove(argv, av + optind, (size_t)*npos * sizeof(*argv));
	free(av);
	return r;
}

static void add_who(struct json_object *a, const struct gears_opts *o)
{
	if (o->pid >= 0)
		json_object_object_add(a, "pid", json_object_new_int((int)o->pid));
	if (o->comm)
		json_object_object_add(a, "comm", json_object_new_string(o->comm));
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) && x ? json_object_get_string(x) : "";
}

static int trace(const char *target, const struct gears_opts *o)
{
	struct qmp_client q;
	struct json_object *args = json_object_new_object(), *ret = NULL;
	char err[512];
	int status = ctl_connect(target, &q);

	if (status) {
		json_object_put(args);
		return status;
	}
	add_who(args, o);
	if (o->syscalls)
		json_object_object_add(args, "syscalls", json_object_new_string(o->syscalls));
	if (qmp_call(&q, "gears-trace-start", args, &ret, err, sizeof(err)) < 0) {
		qmp_close(&q);
		fprintf(stderr, "symbiont ctl: %s\n", err);
		return 1;
	}
	json_object_put(ret);
	/* The lines come as SYSCALL events to this client alone, until the VM
	 * ends or this process does (its trace ends with the connection). */
	for (;;) {
		struct json_object *e = qmp_read(&q, -1, err, sizeof(err)), *x, *d;
		if (!e)
			break;
		if (json_object_object_get_ex(e, "event", &x) && !strcmp(json_object_get_string(x), "SYSCALL") &&
		    json_object_object_get_ex(e, "data", &d)) {
			if (o->json)
				printf("%s\n", json_object_to_json_string_ext(
				                       d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			else
				printf("%s\n", jstr(d, "line"));
			fflush(stdout);
		}
		json_object_put(e);
	}
	qmp_close(&q);
	return 0;
}

int ctl_gears(const char *target, const char *verb, int argc, char **argv)
{
	struct gears_opts o;
	int npos, r = parse(verb, argc, argv, &o, &npos);

	if (r)
		return r;
	(void)verb;
	if (npos)
		return usage_error("trace", "unexpected argument '%s'", argv[0]);
	return trace(target, &o);
}
