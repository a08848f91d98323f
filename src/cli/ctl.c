/* symbiont ctl NAME|SOCKET VERB [ARGS] [--json]: the command-line client
 * of a running VM's control socket.  Each verb is one QMP command; the
 * reply is printed for people (a line or a table) or, with --json, as the
 * command's JSON "return" value.  Errors are one line and a non-zero exit:
 * 2 for a usage error, 1 when the VM cannot be reached or refuses. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/qmp_client.h"

#define REPLY_TIMEOUT_MS 30000

struct verb {
	const char *name, *args, *help;
	const char *command; /* QMP command */
	int nargs;           /* positional arguments it takes */
	/* builds the command's arguments from the positional ones (NULL: none) */
	struct json_object *(*build)(char **argv, char *err, size_t errlen);
	/* prints the reply for people (NULL: "ok" / nothing) */
	void (*print)(struct json_object *ret);
};

static void print_status(struct json_object *ret)
{
	struct json_object *s;
	printf("%s\n", json_object_object_get_ex(ret, "status", &s) ? json_object_get_string(s) : "unknown");
}

static void print_info(struct json_object *ret)
{
	json_object_object_foreach(ret, key, val) printf("%-10s %s\n", key, json_object_get_string(val));
}

static void print_cpus(struct json_object *ret)
{
	printf("%-4s %-10s %s\n", "CPU", "THREAD", "STATE");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *c = json_object_array_get_idx(ret, i), *x;
		printf("%-4d %-10d %s\n", json_object_object_get_ex(c, "cpu-index", &x) ? json_object_get_int(x) : -1,
		       json_object_object_get_ex(c, "thread-id", &x) ? json_object_get_int(x) : -1,
		       json_object_object_get_ex(c, "state", &x) ? json_object_get_string(x) : "?");
	}
}

static const struct verb verbs[] = {
	{ "status", "", "running, paused or shut down", "query-status", 0, NULL, print_status },
	{ "info", "", "name, pid, engine, vCPUs, memory", "query-vm", 0, NULL, print_info },
	{ "cpus", "", "the vCPUs and their host threads", "query-cpus-fast", 0, NULL, print_cpus },
	{ "pause", "", "stop every vCPU", "stop", 0, NULL, NULL },
	{ "resume", "", "let them run again", "cont", 0, NULL, NULL },
	{ "powerdown", "", "press the ACPI power button (the guest shuts down)", "system_powerdown", 0, NULL, NULL },
	{ "reset", "", "reset the machine", "system_reset", 0, NULL, NULL },
	{ "quit", "", "end the VM at once", "quit", 0, NULL, NULL },
};

void usage_ctl(void)
{
	printf("\nusage: symbiont ctl NAME|SOCKET VERB [ARGS] [--json]\n"
	       "  NAME is a VM started with --name; SOCKET a path given to --api.\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		printf("  %-10s %-12s %s\n", verbs[i].name, verbs[i].args, verbs[i].help);
	printf("  %-10s %-12s %s\n", "events", "", "print the VM's events as they happen");
	printf("  --json     print the reply as JSON\n");
}

static int ctl_error(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "symbiont ctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return status;
}

/* events: prints each event as it comes, until the VM goes away. */
static int follow_events(struct qmp_client *q, bool json)
{
	char err[256];
	for (;;) {
		struct json_object *e = qmp_read(q, -1, err, sizeof(err)), *x, *ts, *s, *us;
		if (!e) {
			fprintf(stderr, "symbiont ctl: %s\n", err);
			return 0; /* the VM ended: the stream is complete */
		}
		if (!json_object_object_get_ex(e, "event", &x)) {
			json_object_put(e);
			continue;
		}
		if (json) {
			printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
		} else {
			long long sec = 0, usec = 0;
			if (json_object_object_get_ex(e, "timestamp", &ts) &&
			    json_object_object_get_ex(ts, "seconds", &s) &&
			    json_object_object_get_ex(ts, "microseconds", &us))
				sec = json_object_get_int64(s), usec = json_object_get_int64(us);
			printf("%lld.%06lld %s", sec, usec, json_object_get_string(x));
			if (json_object_object_get_ex(e, "data", &x))
				printf(" %s", json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN));
			printf("\n");
		}
		fflush(stdout);
		json_object_put(e);
	}
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' }, { 0 } };
	bool json = false;
	char path[512], err[512];
	const struct verb *v = NULL;
	struct qmp_client q;
	struct json_object *args = NULL, *ret = NULL;
	int c, status;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': usage_ctl(); return 0;
		default:
			return ctl_error(EXIT_USAGE, "unknown option '%s' (try symbiont ctl --help)", argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		return ctl_error(EXIT_USAGE, "%s", "expected NAME|SOCKET VERB (try symbiont ctl --help)");
	const char *target = argv[optind], *verb = argv[optind + 1];
	char **rest = argv + optind + 2;
	int nrest = argc - optind - 2;

	if (strcmp(verb, "events")) {
		for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			if (!strcmp(verbs[i].name, verb))
				v = &verbs[i];
		if (!v)
			return ctl_error(EXIT_USAGE, "unknown verb '%s' (try symbiont ctl --help)", verb);
		if (nrest != v->nargs) {
			fprintf(stderr, "symbiont ctl: %s takes %s\n", verb, v->nargs ? v->args : "no arguments");
			return EXIT_USAGE;
		}
		if (v->build && !(args = v->build(rest, err, sizeof(err))))
			return ctl_error(EXIT_USAGE, "%s", err);
	} else if (nrest) {
		return ctl_error(EXIT_USAGE, "%s", "events takes no arguments");
	}

	if (strchr(target, '/')) {
		snprintf(path, sizeof(path), "%s", target);
	} else if (!vm_name_valid(target)) {
		json_object_put(args);
		return ctl_error(EXIT_USAGE, "'%s' is neither a VM name nor a socket path", target);
	} else if (vm_socket_path(target, false, path, sizeof(path), err, sizeof(err)) < 0) {
		json_object_put(args);
		if (errno == ENOENT)
			return ctl_error(1, "no running VM is named '%s' (symbiont ls lists them)", target);
		return ctl_error(1, "%s", err);
	}
	if (qmp_open(&q, path, REPLY_TIMEOUT_MS, err, sizeof(err)) < 0) {
		json_object_put(args);
		if (!strchr(target, '/') && strstr(err, "No such file"))
			return ctl_error(1, "no running VM is named '%s' (symbiont ls lists them)", target);
		return ctl_error(1, "%s", err);
	}
	if (!v) {
		status = follow_events(&q, json);
		qmp_close(&q);
		return status;
	}
	if (qmp_call(&q, v->command, args, &ret, err, sizeof(err)) < 0) {
		qmp_close(&q);
		return ctl_error(1, "%s", err);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	else if (v->print)
		v->print(ret);
	json_object_put(ret);
	qmp_close(&q);
	return 0;
}
