/* The GEARS verbs of symbiont ctl (src/services/gears/), which take
 * options of their own:
 *
 *   trace [--pid P] [--comm C] [--cgroup PATH] [--syscalls LIST|all] [--json]
 *       starts a trace, prints its lines as they come, and ends with the
 *       client: Ctrl-C (or the end of the VM) closes the connection, and
 *       the VM ends the trace of a client that is gone
 *   deny --syscall NAME [--path-prefix P] [--errno E] [--pid P] [--comm C] [--cgroup PATH]
 *   deny --list | --remove ID|all
 *   inject-env [--comm NAME | --path GUESTPATH] VAR=VALUE...
 *   inject-env --list | --clear
 *   inject --pid P [--timeout S] FILE
 *       runs FILE's entry point inside guest process P and prints what it
 *       returned
 *   exec [--env VAR=VAL]... [--cwd DIR] [--pid P] -- CMD ARGS...
 *       runs CMD in the guest with no agent there, relays its stdout and
 *       stderr, and exits with its status (128+N if signal N ended it)
 *   push [--pid P] HOSTFILE GUESTPATH / pull [--pid P] GUESTPATH HOSTFILE
 *       copy a file in or out the same way
 *
 * and SymMod's bootstrap, which is made of push and exec:
 *
 *   symmod bootstrap [FILE.ko]
 *       makes a guest that booted without the symbiotic module symbiotic:
 *       pushes the module (by default the default guest's symbiotic.ko)
 *       and runs the guest's insmod on it (finit_module), both with no
 *       agent in the guest, then checks that a SymCall answers */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/guest.h"
#include "cli/qmp_client.h"

enum {
	OPT_PID = 1000,
	OPT_COMM,
	OPT_SYSCALLS,
	OPT_JSON,
	OPT_SYSCALL,
	OPT_PREFIX,
	OPT_ERRNO,
	OPT_LIST,
	OPT_REMOVE,
	OPT_PATH,
	OPT_CLEAR,
	OPT_TIMEOUT,
	OPT_ENV,
	OPT_CWD,
	OPT_CGROUP,
};
#define MAX_ENV 63

struct gears_opts {
	long pid; /* -1: none */
	const char *comm, *cgroup, *syscalls, *syscall, *prefix, *err_name, *remove, *path;
	bool json, list, clear;
	int timeout_ms; /* 0: the VM's default */
	const char *env[MAX_ENV], *cwd;
	int nenv;
};

bool ctl_gears_verb(const char *verb)
{
	return !strcmp(verb, "trace") || !strcmp(verb, "deny") || !strcmp(verb, "inject-env") ||
	       !strcmp(verb, "inject") || !strcmp(verb, "exec") || !strcmp(verb, "push") || !strcmp(verb, "pull");
}

void usage_ctl_gears(void)
{
	printf("  %-10s %s\n", "trace",
	       "[--pid P] [--comm C] [--cgroup PATH] [--syscalls LIST|all] [--json]\n"
	       "             stream the guest's system calls, strace-style, until Ctrl-C;\n"
	       "             --cgroup: the processes of a cgroup (v2) and those below it");
	printf("  %-10s %s\n", "deny",
	       "--syscall NAME [--path-prefix P] [--errno E] [--pid P] [--comm C] [--cgroup PATH]\n"
	       "             refuse matching calls with E (default EPERM); --list, --remove ID|all");
	printf("  %-10s %s\n", "inject-env",
	       "[--comm NAME|--path GUESTPATH] VAR=VALUE...\n"
	       "             add variables to later execs; --list, --clear");
	printf("  %-10s %s\n", "inject",
	       "--pid P [--timeout S] FILE\n"
	       "             run a position-independent ELF's entry point inside guest process P");
	printf("  %-10s %s\n", "exec",
	       "[--env VAR=VAL]... [--cwd DIR] [--pid P] -- CMD ARGS...\n"
	       "             run a command in the guest with no agent; its output, its status");
	printf("  %-10s %s\n", "push", "[--pid P] HOSTFILE GUESTPATH   copy a file into the guest");
	printf("  %-10s %s\n", "pull", "[--pid P] GUESTPATH HOSTFILE   copy a file out of the guest");
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
		{ "cgroup", required_argument, 0, OPT_CGROUP },
		{ "syscalls", required_argument, 0, OPT_SYSCALLS },
		{ "json", no_argument, 0, OPT_JSON },
		{ "syscall", required_argument, 0, OPT_SYSCALL },
		{ "path-prefix", required_argument, 0, OPT_PREFIX },
		{ "errno", required_argument, 0, OPT_ERRNO },
		{ "list", no_argument, 0, OPT_LIST },
		{ "remove", required_argument, 0, OPT_REMOVE },
		{ "path", required_argument, 0, OPT_PATH },
		{ "clear", no_argument, 0, OPT_CLEAR },
		{ "timeout", required_argument, 0, OPT_TIMEOUT },
		{ "env", required_argument, 0, OPT_ENV },
		{ "cwd", required_argument, 0, OPT_CWD },
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
		case OPT_CGROUP: o->cgroup = optarg; break;
		case OPT_SYSCALLS: o->syscalls = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_SYSCALL: o->syscall = optarg; break;
		case OPT_PREFIX: o->prefix = optarg; break;
		case OPT_ERRNO: o->err_name = optarg; break;
		case OPT_LIST: o->list = true; break;
		case OPT_REMOVE: o->remove = optarg; break;
		case OPT_PATH: o->path = optarg; break;
		case OPT_CLEAR: o->clear = true; break;
		case OPT_ENV:
			if (o->nenv == MAX_ENV)
				r = usage_error(verb, "more than %s --env", "63");
			else if (!strchr(optarg, '=') || optarg[0] == '=')
				r = usage_error(verb, "--env '%s' is not VAR=VALUE", optarg);
			else
				o->env[o->nenv++] = optarg;
			break;
		case OPT_CWD: o->cwd = optarg; break;
		case OPT_TIMEOUT: {
			char *end;
			double t = strtod(optarg, &end);
			if (*end || end == optarg || !(t > 0 && t <= 600))
				r = usage_error(verb, "--timeout '%s' is not a number of seconds from 0 to 600",
				                optarg);
			else
				o->timeout_ms = t * 1000 < 1 ? 1 : (int)(t * 1000);
			break;
		}
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
	if (o->cgroup)
		json_object_object_add(a, "cgroup", json_object_new_string(o->cgroup));
}

/* One command; prints its return value as JSON with --json. */
static int call(const char *target, const char *cmd, struct json_object *args, bool json, struct json_object **out)
{
	struct qmp_client q;
	struct json_object *ret = NULL;
	char err[512];
	int status = ctl_connect(target, &q);

	if (status) {
		json_object_put(args);
		return status;
	}
	if (qmp_call(&q, cmd, args, &ret, err, sizeof(err)) < 0) {
		qmp_close(&q);
		fprintf(stderr, "symbiont ctl: %s\n", err);
		return 1;
	}
	qmp_close(&q);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	if (out)
		*out = ret;
	else
		json_object_put(ret);
	return 0;
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
			struct json_object *lost;
			if (o->json)
				printf("%s\n", json_object_to_json_string_ext(
				                       d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			else if (json_object_object_get_ex(d, "lost", &lost) && json_object_get_int64(lost) > 0)
				printf("... %s lines lost (this client did not keep up)\n%s\n",
				       json_object_get_string(lost), jstr(d, "line"));
			else
				printf("%s\n", jstr(d, "line"));
			fflush(stdout);
		}
		json_object_put(e);
	}
	qmp_close(&q);
	return 0;
}

static int deny(const char *target, const struct gears_opts *o)
{
	struct json_object *args = json_object_new_object(), *ret = NULL;
	int status;

	if (o->list) {
		json_object_put(args);
		if ((status = call(target, "query-gears-denies", NULL, o->json, &ret)))
			return status;
		if (!o->json) {
			printf("%-4s %-12s %-24s %-8s %-8s %-16s %-16s %s\n", "ID", "SYSCALL", "PATH-PREFIX", "ERRNO",
			       "PID", "COMM", "CGROUP", "HITS");
			for (size_t i = 0; i < json_object_array_length(ret); i++) {
				struct json_object *r = json_object_array_get_idx(ret, i);
				printf("%-4s %-12s %-24s %-8s %-8s %-16s %-16s %s\n", jstr(r, "rule"),
				       jstr(r, "syscall"), *jstr(r, "path_prefix") ? jstr(r, "path_prefix") : "-",
				       jstr(r, "errno"), *jstr(r, "pid") ? jstr(r, "pid") : "-",
				       *jstr(r, "comm") ? jstr(r, "comm") : "-",
				       *jstr(r, "cgroup") ? jstr(r, "cgroup") : "-", jstr(r, "hits"));
			}
		}
		json_object_put(ret);
		return 0;
	}
	if (o->remove) {
		if (strcmp(o->remove, "all")) {
			char *end;
			long id = strtol(o->remove, &end, 10);
			if (*end || id <= 0) {
				json_object_put(args);
				return usage_error("deny", "--remove '%s' is not a rule id (or all)", o->remove);
			}
			json_object_object_add(args, "rule", json_object_new_int64(id));
		}
		return call(target, "gears-deny-remove", args, o->json, NULL);
	}
	if (!o->syscall) {
		json_object_put(args);
		return usage_error("deny", "%s", "--syscall NAME is required (or --list, --remove)");
	}
	json_object_object_add(args, "syscall", json_object_new_string(o->syscall));
	if (o->prefix)
		json_object_object_add(args, "path_prefix", json_object_new_string(o->prefix));
	if (o->err_name)
		json_object_object_add(args, "errno", json_object_new_string(o->err_name));
	add_who(args, o);
	if ((status = call(target, "gears-deny", args, o->json, &ret)))
		return status;
	if (!o->json)
		printf("rule %s\n", jstr(ret, "rule"));
	json_object_put(ret);
	return 0;
}

static int inject_env(const char *target, const struct gears_opts *o, int argc, char **argv)
{
	struct json_object *args = json_object_new_object(), *ret = NULL, *vars;
	int status;

	if (o->comm && o->path) {
		json_object_put(args);
		return usage_error("inject-env", "%s", "--comm and --path exclude each other");
	}
	if (o->comm)
		json_object_object_add(args, "comm", json_object_new_string(o->comm));
	if (o->path)
		json_object_object_add(args, "path", json_object_new_string(o->path));
	if (o->list) {
		json_object_put(args);
		if ((status = call(target, "query-gears-env", NULL, o->json, &ret)))
			return status;
		if (!o->json) {
			printf("%-4s %-20s %s\n", "ID", "PROGRAM", "VARIABLES");
			for (size_t i = 0; i < json_object_array_length(ret); i++) {
				struct json_object *r = json_object_array_get_idx(ret, i), *v;
				const char *who = *jstr(r, "comm")   ? jstr(r, "comm")
				                  : *jstr(r, "path") ? jstr(r, "path")
				                                     : "*";
				printf("%-4s %-20s", jstr(r, "rule"), who);
				if (json_object_object_get_ex(r, "vars", &v))
					for (size_t k = 0; k < json_object_array_length(v); k++)
						printf(" %s", json_object_get_string(json_object_array_get_idx(v, k)));
				printf("\n");
			}
		}
		json_object_put(ret);
		return 0;
	}
	if (o->clear) {
		if (argc) {
			json_object_put(args);
			return usage_error("inject-env", "%s", "--clear takes no VAR=VALUE");
		}
		return call(target, "gears-env-clear", args, o->json, NULL);
	}
	if (!argc) {
		json_object_put(args);
		return usage_error("inject-env", "%s", "expected VAR=VALUE... (or --list, --clear)");
	}
	vars = json_object_new_array();
	for (int i = 0; i < argc; i++)
		json_object_array_add(vars, json_object_new_string(argv[i]));
	json_object_object_add(args, "vars", vars);
	if ((status = call(target, "gears-env", args, o->json, &ret)))
		return status;
	if (!o->json)
		printf("rule %s\n", jstr(ret, "rule"));
	json_object_put(ret);
	return 0;
}

static int inject(const char *target, const struct gears_opts *o, int argc, char **argv)
{
	struct json_object *args, *ret = NULL;
	struct qmp_client q;
	char path[PATH_MAX], err[512];
	int status;

	if (o->pid < 1)
		return usage_error("inject", "%s", "--pid P (a guest process id) is required");
	if (argc != 1)
		return usage_error("inject", "%s", "expected one FILE (a static-pie or shared object)");
	if (!realpath(argv[0], path)) {
		fprintf(stderr, "symbiont ctl: inject: %s: cannot be read\n", argv[0]);
		return 1;
	}
	if ((status = ctl_connect(target, &q)))
		return status;
	args = json_object_new_object();
	json_object_object_add(args, "pid", json_object_new_int((int)o->pid));
	json_object_object_add(args, "file", json_object_new_string(path));
	if (o->timeout_ms)
		json_object_object_add(args, "timeout_ms", json_object_new_int(o->timeout_ms));
	/* the VM answers within the timeout (10 s by default) */
	q.timeout_ms = (o->timeout_ms ? o->timeout_ms : 10000) + 10000;
	if (qmp_call(&q, "gears-inject", args, &ret, err, sizeof(err)) < 0) {
		qmp_close(&q);
		fprintf(stderr, "symbiont ctl: inject: %s\n", err);
		return 1;
	}
	qmp_close(&q);
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
	else
		printf("returned %s in pid %s (%s), thread %s, in %.1f ms\n", jstr(ret, "ret"), jstr(ret, "pid"),
		       jstr(ret, "comm"), jstr(ret, "tid"), atof(jstr(ret, "ns")) / 1e6);
	json_object_put(ret);
	return 0;
}

/* Writes the base64 data of a GEARS_OUTPUT event to fd; -1 on a write error. */
static int write_output(int fd, struct json_object *data)
{
	gsize n;
	guchar *b = g_base64_decode(jstr(data, "data"), &n);
	int r = 0;
	for (gsize off = 0; off < n;) {
		ssize_t w = write(fd, b + off, n - off);
		if (w <= 0) {
			r = -1;
			break;
		}
		off += (size_t)w;
	}
	g_free(b);
	return r;
}

/* Starts a session command and handles its events until its GEARS_END,
 * which is returned (NULL with a message printed if the VM or the
 * connection fails).  out_fd: where stream 1 goes (2 always to stderr). */
static struct json_object *session(const char *target, const char *verb, const char *cmd, struct json_object *args,
                                   int out_fd)
{
	struct qmp_client q;
	char err[512];
	bool started = false;

	if (ctl_connect(target, &q)) {
		json_object_put(args);
		return NULL;
	}
	if (qmp_send(&q, cmd, args, err, sizeof(err)) < 0)
		goto fail;
	/* the output may come before the command's reply: it is all this
	 * session's (events to this connection alone) */
	for (;;) {
		struct json_object *m = qmp_read(&q, started ? -1 : 30000, err, sizeof(err)), *x, *d;
		if (!m)
			goto fail;
		if (json_object_object_get_ex(m, "error", &x)) {
			snprintf(err, sizeof(err), "%s", jstr(x, "desc"));
			json_object_put(m);
			goto fail;
		}
		if (json_object_object_get_ex(m, "return", NULL))
			started = true;
		if (json_object_object_get_ex(m, "event", &x) && json_object_object_get_ex(m, "data", &d)) {
			if (!strcmp(json_object_get_string(x), "GEARS_OUTPUT") &&
			    write_output(!strcmp(jstr(d, "stream"), "2") ? 2 : out_fd, d)) {
				snprintf(err, sizeof(err), "cannot write the output: %s", strerror(errno));
				json_object_put(m);
				goto fail;
			}
			if (!strcmp(json_object_get_string(x), "GEARS_END")) {
				struct json_object *end = json_object_get(d);
				json_object_put(m);
				qmp_close(&q);
				return end;
			}
		}
		json_object_put(m);
	}
fail:
	qmp_close(&q);
	fprintf(stderr, "symbiont ctl: %s: %s\n", verb, err);
	return NULL;
}

static void add_pid(struct json_object *args, const struct gears_opts *o)
{
	if (o->pid >= 0)
		json_object_object_add(args, "pid", json_object_new_int((int)o->pid));
}

static int exec_cmd(const char *target, const struct gears_opts *o, int argc, char **argv)
{
	struct json_object *args, *a, *end;
	int status;

	if (!argc)
		return usage_error("exec", "%s", "expected -- CMD ARGS...");
	args = json_object_new_object();
	a = json_object_new_array();
	for (int i = 0; i < argc; i++)
		json_object_array_add(a, json_object_new_string(argv[i]));
	json_object_object_add(args, "argv", a);
	if (o->nenv) {
		a = json_object_new_array();
		for (int i = 0; i < o->nenv; i++)
			json_object_array_add(a, json_object_new_string(o->env[i]));
		json_object_object_add(args, "env", a);
	}
	if (o->cwd)
		json_object_object_add(args, "cwd", json_object_new_string(o->cwd));
	add_pid(args, o);
	fflush(stdout);
	if (!(end = session(target, "exec", "gears-exec", args, 1)))
		return 1;
	if (*jstr(end, "status"))
		status = atoi(jstr(end, "status"));
	else
		status = 128 + atoi(jstr(end, "signal"));
	json_object_put(end);
	return status;
}

static int copy_cmd(const char *target, const char *verb, const struct gears_opts *o, int argc, char **argv)
{
	struct json_object *args, *end;
	bool push = !strcmp(verb, "push");
	char path[PATH_MAX];
	int fd = -1, status = 0;

	if (argc != 2)
		return usage_error(verb, "%s", push ? "expected HOSTFILE GUESTPATH" : "expected GUESTPATH HOSTFILE");
	args = json_object_new_object();
	add_pid(args, o);
	if (push) {
		if (!realpath(argv[0], path)) {
			json_object_put(args);
			fprintf(stderr, "symbiont ctl: push: %s: %s\n", argv[0], strerror(errno));
			return 1;
		}
		json_object_object_add(args, "file", json_object_new_string(path));
		json_object_object_add(args, "path", json_object_new_string(argv[1]));
	} else {
		if ((fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
			json_object_put(args);
			fprintf(stderr, "symbiont ctl: pull: %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
		json_object_object_add(args, "path", json_object_new_string(argv[0]));
	}
	end = session(target, verb, push ? "gears-push" : "gears-pull", args, fd);
	if (!end) {
		status = 1;
	} else if (*jstr(end, "error")) {
		fprintf(stderr, "symbiont ctl: %s: %s: %s\n", verb, push ? argv[1] : argv[0], jstr(end, "error"));
		status = 1;
	}
	json_object_put(end);
	if (fd >= 0 && (close(fd) < 0 || status)) {
		unlink(argv[1]); /* no partial copy left behind */
		status = 1;
	}
	return status;
}

int ctl_gears(const char *target, const char *verb, int argc, char **argv)
{
	struct gears_opts o;
	int npos, r = parse(verb, argc, argv, &o, &npos);

	if (r)
		return r;
	if (!strcmp(verb, "inject"))
		return inject(target, &o, npos, argv);
	if (!strcmp(verb, "exec"))
		return exec_cmd(target, &o, npos, argv);
	if (!strcmp(verb, "push") || !strcmp(verb, "pull"))
		return copy_cmd(target, verb, &o, npos, argv);
	if (strcmp(verb, "inject-env") && npos)
		return usage_error(verb, "unexpected argument '%s'", argv[0]);
	if (!strcmp(verb, "trace"))
		return trace(target, &o);
	if (!strcmp(verb, "deny"))
		return deny(target, &o);
	return inject_env(target, &o, npos, argv);
}

/* A null SymCall: 0 when the guest answered, -1 with the reason in err. */
static int symcall_null(const char *target, double *us, char *err, size_t errlen)
{
	struct qmp_client q;
	struct json_object *args = json_object_new_object(), *ret = NULL, *x;
	int r = -1;

	if (ctl_connect(target, &q)) {
		json_object_put(args);
		snprintf(err, errlen, "cannot connect");
		return -1;
	}
	json_object_object_add(args, "call", json_object_new_string("null"));
	if (qmp_call(&q, "symcall", args, &ret, err, errlen) >= 0) {
		r = 0;
		*us = json_object_object_get_ex(ret, "round_trip_ns", &x) ? json_object_get_double(x) / 1e3 : 0;
	}
	json_object_put(ret);
	qmp_close(&q);
	return r;
}

#define BOOTSTRAP_PATH "/tmp/.symbiont-symbiotic.ko"

int ctl_symmod_bootstrap(const char *target, const char *file, bool json)
{
	char ko[PATH_MAX + 32], err[512];
	char *insmod[] = { "sh", "-c", "insmod " BOOTSTRAP_PATH "; s=$?; rm -f " BOOTSTRAP_PATH "; exit $s" };
	char *push[] = { ko, BOOTSTRAP_PATH };
	struct gears_opts o = { .pid = -1 };
	double us = 0;
	int status;

	if (!file && cli_default_guest_file("symbiotic.ko", ko, sizeof(ko))) {
		fprintf(stderr, "symbiont ctl: symmod bootstrap: no default guest's symbiotic.ko (make guest, or "
		                "name a FILE.ko)\n");
		return 1;
	}
	if (file)
		snprintf(ko, sizeof(ko), "%s", file);
	if (symcall_null(target, &us, err, sizeof(err)) == 0) {
		fprintf(stderr, "symbiont ctl: symmod bootstrap: the guest already answers SymCalls (its symbiotic "
		                "module is loaded)\n");
		return 1;
	}
	if (strstr(err, "not available on this VM")) {
		fprintf(stderr, "symbiont ctl: symmod bootstrap: %s\n", err);
		return 1;
	}
	if ((status = copy_cmd(target, "push", &o, 2, push)))
		return status;
	if ((status = exec_cmd(target, &o, 3, insmod))) {
		fprintf(stderr, "symbiont ctl: symmod bootstrap: the guest's insmod failed (exit status %d)\n", status);
		return 1;
	}
	/* the module registers its entries before its init returns */
	if (symcall_null(target, &us, err, sizeof(err))) {
		fprintf(stderr, "symbiont ctl: symmod bootstrap: loaded, but no SymCall answers: %s\n", err);
		return 1;
	}
	if (json)
		printf("{\"loaded\": true, \"via\": \"gears\", \"symcall_null_us\": %.1f}\n", us);
	else
		printf("symbiotic module loaded through GEARS (push, insmod); a null SymCall answered in %.1f us\n",
		       us);
	return 0;
}
