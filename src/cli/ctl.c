/* symbiont ctl NAME|SOCKET VERB [ARGS] [--json]: the command-line client
 * of a running VM's control socket.  Each verb is one QMP command; the
 * reply is printed for people (a line or a table) or, with --json, as the
 * command's JSON "return" value.  Errors are one line and a non-zero exit:
 * 2 for a usage error, 1 when the VM cannot be reached or refuses. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/ctl_sampling.h"
#include "cli/ctl_probe.h"
#include "cli/ctl_symbiotic.h"
#include "cli/ctl_wss.h"
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

/* Verbs whose trailing arguments are optional (the builder sees a NULL
 * after the last given): symcall CALL [PID [ADDR]]. */
static int max_args(const struct verb *v)
{
	return v->build == ctl_build_symcall ? 3 : v->nargs;
}

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

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_string(x) : "";
}

static void print_ps(struct json_object *ret)
{
	printf("%7s %7s %6s %s  %-16s %s\n", "PID", "PPID", "UID", "S", "COMM", "COMMAND");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *p = json_object_array_get_idx(ret, i), *kt;
		bool kernel = json_object_object_get_ex(p, "kernel_thread", &kt) && json_object_get_boolean(kt);
		const char *cmd = jstr(p, "cmdline");
		printf("%7s %7s %6s %s  %-16s ", jstr(p, "pid"), jstr(p, "ppid"), jstr(p, "uid"), jstr(p, "state"),
		       jstr(p, "comm"));
		if (kernel || !*cmd)
			printf("[%s]\n", jstr(p, "comm")); /* as ps shows what has no command line */
		else
			printf("%s\n", cmd);
	}
}

static void print_current(struct json_object *ret)
{
	printf("%-4s %7s %-16s %-6s %s\n", "CPU", "PID", "COMM", "MODE", "SOURCE");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *c = json_object_array_get_idx(ret, i), *um;
		if (*jstr(c, "error")) {
			printf("%-4s %s\n", jstr(c, "cpu"), jstr(c, "error"));
			continue;
		}
		bool known = json_object_object_get_ex(c, "user_mode", &um);
		printf("%-4s %7s %-16s %-6s %s\n", jstr(c, "cpu"), jstr(c, "tid"), jstr(c, "comm"),
		       !known                        ? "-"
		       : json_object_get_boolean(um) ? "user"
		                                     : "kernel",
		       jstr(c, "source"));
	}
}

static void print_lsmod(struct json_object *ret)
{
	printf("%-24s %-20s %s\n", "MODULE", "BASE", "SIZE");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *m = json_object_array_get_idx(ret, i);
		printf("%-24s %-20s %s\n", jstr(m, "name"), jstr(m, "base"), jstr(m, "size"));
	}
}

static void print_vsock_map(struct json_object *ret)
{
	struct json_object *lines;

	printf("# for the guest's socket accelerator (guest/tools/v2v_accel.c; docs/vsock.md)\n");
	if (json_object_object_get_ex(ret, "lines", &lines))
		for (size_t i = 0; i < json_object_array_length(lines); i++)
			printf("%s\n", json_object_get_string(json_object_array_get_idx(lines, i)));
}

static void print_files(struct json_object *ret)
{
	printf("%4s %s\n", "FD", "PATH");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *f = json_object_array_get_idx(ret, i);
		printf("%4s %s\n", jstr(f, "fd"), jstr(f, "path"));
	}
}

static void print_sym(struct json_object *ret)
{
	const char *mod = jstr(ret, "module"), *off = jstr(ret, "offset");
	printf("%s %s", jstr(ret, "address"), jstr(ret, "name"));
	if (strcmp(off, "0"))
		printf("+%s", off);
	if (*mod)
		printf(" [%s]", mod);
	printf("\n");
	if (*jstr(ret, "source"))
		printf("(symbols from %s)\n", jstr(ret, "source"));
}

static void print_read(struct json_object *ret)
{
	const char *hex = jstr(ret, "data");
	unsigned long long base = strtoull(jstr(ret, "address"), NULL, 0);
	size_t n = strlen(hex) / 2;
	for (size_t off = 0; off < n; off += 16) {
		char ascii[17] = "";
		printf("%016llx ", base + off);
		for (size_t i = 0; i < 16; i++) {
			if (off + i < n) {
				unsigned b;
				sscanf(hex + 2 * (off + i), "%2x", &b);
				printf(" %02x", b);
				ascii[i] = b >= 0x20 && b < 0x7f ? (char)b : '.';
				ascii[i + 1] = 0;
			} else {
				printf("   ");
			}
		}
		printf("  %s\n", ascii);
	}
}

static void print_metrics(struct json_object *ret)
{
	struct json_object *g;
	if (json_object_object_get_ex(ret, "vm", &g)) {
		json_object_object_foreach(g, k, v) printf("%-24s %-32s %s\n", "vm", k, json_object_get_string(v));
	}
	static const char *const groups[] = { "vcpus", "devices" };
	for (int i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(ret, groups[i], &g))
			continue;
		json_object_object_foreach(g, id, item)
		{
			char who[40];
			snprintf(who, sizeof(who), i == 0 ? "vcpu%s" : "%s", id);
			json_object_object_foreach(item, k, v)
			        printf("%-24s %-32s %s\n", who, k, json_object_get_string(v));
		}
	}
	if (json_object_object_get_ex(ret, "guest", &g)) { /* the guest's own figures, with their source */
		char who[40];
		snprintf(who, sizeof(who), "guest (%s)", jstr(g, "source"));
		json_object_object_foreach(g, k, v) if (strcmp(k, "source"))
		        printf("%-24s %-32s %s\n", who, k, json_object_get_string(v));
	}
}

static void print_sched(struct json_object *ret)
{
	struct json_object *m, *p, *s, *io, *nio;
	if (!json_object_object_get_ex(ret, "mode", &m) || !json_object_object_get_ex(ret, "period_ns", &p) ||
	    !json_object_object_get_ex(ret, "slice_ns", &s))
		return;
	if (!json_object_get_int64(p))
		printf("%s\n", json_object_get_string(m));
	else
		printf("%s: slice %.3f ms every %.3f ms\n", json_object_get_string(m), json_object_get_int64(s) / 1e6,
		       json_object_get_int64(p) / 1e6);
	if (json_object_object_get_ex(ret, "io_ns", &io) && json_object_get_int64(io) &&
	    json_object_object_get_ex(ret, "io_threads", &nio))
		printf("I/O threads: %d, each %.3f ms every period\n", json_object_get_int(nio),
		       json_object_get_int64(io) / 1e6);
	struct json_object *threads;
	if (!json_object_object_get_ex(ret, "threads", &threads) || !json_object_is_type(threads, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(threads); i++) {
		struct json_object *t = json_object_array_get_idx(threads, i);
		long long v[8] = { 0 };
		static const char *const k[8] = { "vcpu",        "periods",     "wanted",      "misses",
			                          "received_ns", "entitled_ns", "lateness_ns", "lateness_max_ns" };
		for (int j = 0; j < 8; j++) {
			struct json_object *x;
			if (json_object_object_get_ex(t, k[j], &x))
				v[j] = (long long)json_object_get_int64(x);
		}
		printf("vcpu%lld thread: received %.3f s of %.3f s entitled; %lld periods, %lld wanted, %lld missed"
		       " (lateness mean %.3f ms, max %.3f ms)\n",
		       v[0], v[4] / 1e9, v[5] / 1e9, v[1], v[2], v[3], v[3] ? v[6] / 1e6 / (double)v[3] : 0.0,
		       v[7] / 1e6);
	}
}

static int pid_arg = -1; /* --pid, for read */

static struct json_object *build_files(char **argv, char *err, size_t errlen)
{
	char *end;
	long pid = strtol(argv[0], &end, 10);
	if (*end || end == argv[0] || pid < 0 || pid > INT32_MAX) {
		snprintf(err, errlen, "files: '%s' is not a pid", argv[0]);
		return NULL;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "pid", json_object_new_int((int)pid));
	return a;
}

static struct json_object *build_sym(char **argv, char *err, size_t errlen)
{
	struct json_object *a = json_object_new_object();
	(void)err, (void)errlen;
	/* an address is a number in C notation; anything else is a name */
	char *end;
	strtoull(argv[0], &end, 0);
	bool number = *argv[0] >= '0' && *argv[0] <= '9' && !*end;
	json_object_object_add(a, number ? "address" : "name", json_object_new_string(argv[0]));
	return a;
}

static struct json_object *build_read(char **argv, char *err, size_t errlen)
{
	char *end;
	strtoull(argv[0], &end, 0);
	if (*end || !*argv[0]) {
		snprintf(err, errlen, "read: '%s' is not an address", argv[0]);
		return NULL;
	}
	unsigned long long len = strtoull(argv[1], &end, 0);
	if (*end || !*argv[1] || len == 0 || len > (1u << 20)) {
		snprintf(err, errlen, "read: length '%s' must be 1 to 1048576", argv[1]);
		return NULL;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "address", json_object_new_string(argv[0]));
	json_object_object_add(a, "length", json_object_new_int64((int64_t)len));
	if (pid_arg >= 0)
		json_object_object_add(a, "pid", json_object_new_int(pid_arg));
	return a;
}

static bool stop_arg;            /* --stop, for snapshot */
static const char *compress_arg; /* --compress zstd, for snapshot */

/* The VM resolves the directory in its own working directory: send it
 * absolute. */
static struct json_object *build_snapshot(char **argv, char *err, size_t errlen)
{
	char dir[4096], cwd[4096];
	if (!*argv[0]) {
		snprintf(err, errlen, "snapshot: the directory name is empty");
		return NULL;
	}
	if (argv[0][0] == '/') {
		snprintf(dir, sizeof(dir), "%s", argv[0]);
	} else if (!getcwd(cwd, sizeof(cwd)) ||
	           (size_t)snprintf(dir, sizeof(dir), "%s/%s", cwd, argv[0]) >= sizeof(dir)) {
		snprintf(err, errlen, "snapshot: cannot make '%s' an absolute path", argv[0]);
		return NULL;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "dir", json_object_new_string(dir));
	json_object_object_add(a, "stop", json_object_new_boolean(stop_arg));
	if (compress_arg)
		json_object_object_add(a, "compress", json_object_new_string(compress_arg));
	return a;
}

static void print_snapshot(struct json_object *ret)
{
	struct json_object *d, *ram, *data, *st, *ms;
	if (!json_object_object_get_ex(ret, "dir", &d) || !json_object_object_get_ex(ret, "ram-bytes", &ram) ||
	    !json_object_object_get_ex(ret, "ram-data-bytes", &data) ||
	    !json_object_object_get_ex(ret, "state-bytes", &st) || !json_object_object_get_ex(ret, "write-ms", &ms))
		return;
	struct json_object *cz, *fb;
	char zinfo[64] = "";
	if (json_object_object_get_ex(ret, "compressed", &cz) && json_object_get_boolean(cz) &&
	    json_object_object_get_ex(ret, "memory-file-bytes", &fb))
		snprintf(zinfo, sizeof(zinfo), ", zstd %.1f MiB", (double)json_object_get_int64(fb) / 1048576);
	printf("%s: %lld MiB of RAM (%lld MiB written%s), %lld KiB of state, guest paused %.1f ms\n",
	       json_object_get_string(d), (long long)(json_object_get_int64(ram) >> 20),
	       (long long)(json_object_get_int64(data) >> 20), zinfo, (long long)(json_object_get_int64(st) >> 10),
	       json_object_get_double(ms));
}

long long ctl_jint(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? (long long)json_object_get_int64(x) : 0;
}

static void print_geiger(struct json_object *ret)
{
	struct json_object *x, *t;
	bool tracking = json_object_object_get_ex(ret, "tracking", &t) && json_object_get_boolean(t);
	printf("tracking     %s%s\n", tracking ? "yes" : "no",
	       json_object_object_get_ex(ret, "writes_seen", &t) && !json_object_get_boolean(t)
	               ? " (block requests only: this engine does not report writes to guest pages)"
	               : "");
	printf("cache        %lld pages (%lld MiB), %lld written by the CPU and not yet decided\n",
	       ctl_jint(ret, "cache_pages"), ctl_jint(ret, "cache_bytes") >> 20, ctl_jint(ret, "suspect_pages"));
	printf("inserted     %lld", ctl_jint(ret, "inserted"));
	if (json_object_object_get_ex(ret, "inserted_by", &x))
		printf("  (read %lld, write %lld)", ctl_jint(x, "read"), ctl_jint(x, "write"));
	printf("\nevicted      %lld", ctl_jint(ret, "evicted"));
	if (json_object_object_get_ex(ret, "evicted_by", &x))
		printf("  (read %lld, write %lld, cleared %lld, timeout %lld, dma %lld, freed %lld)",
		       ctl_jint(x, "read"), ctl_jint(x, "write"), ctl_jint(x, "cleared"), ctl_jint(x, "timeout"),
		       ctl_jint(x, "dma"), ctl_jint(x, "freed"));
	printf("\nwrites       %lld back to their block, %lld copies elsewhere, %lld to the journal\n",
	       ctl_jint(ret, "writebacks"), ctl_jint(ret, "copies"), ctl_jint(ret, "journal_writes"));
	if (json_object_object_get_ex(ret, "file_systems", &x))
		for (size_t i = 0; i < json_object_array_length(x); i++) {
			struct json_object *d = json_object_array_get_idx(x, i), *v;
			const char *dev = json_object_object_get_ex(d, "device", &v) ? json_object_get_string(v) : "?";
			if (json_object_object_get_ex(d, "known", &v) && json_object_get_boolean(v))
				printf("disk         %s: ext2/3/4, %lld blocks of %lld bytes, journal %lld blocks, "
				       "bitmap re-read %lld times\n",
				       dev, ctl_jint(d, "blocks"), ctl_jint(d, "block_size"),
				       ctl_jint(d, "journal_blocks"), ctl_jint(d, "bitmap_rereads"));
			else
				printf("disk         %s: file system not known (%s)\n", dev,
				       json_object_object_get_ex(d, "error", &v) ? json_object_get_string(v) : "?");
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
	{ "metrics", "", "counters of the VM, its vCPUs and devices", "query-metrics", 0, NULL, print_metrics },
	{ "sched", "", "the VSched reservation in force (sched SPEC: a new one)", "query-sched", 0, NULL, print_sched },
	{ "ps", "", "the guest's processes (no agent in the guest)", "query-processes", 0, NULL, print_ps },
	{ "current", "", "the task each vCPU runs", "query-current", 0, NULL, print_current },
	{ "lsmod", "", "the guest kernel's modules", "query-modules", 0, NULL, print_lsmod },
	{ "vsock-map", "", "the co-located TCP ports of the vsock group, for the guest's socket accelerator",
	  "query-vsock-map", 0, NULL, print_vsock_map },
	{ "files", "PID", "a process's open files", "query-files", 1, build_files, print_files },
	{ "sym", "NAME|ADDR", "a kernel or module symbol, or the one at ADDR", "query-symbol", 1, build_sym,
	  print_sym },
	{ "snapshot", "DIR", "save the machine to DIR (a new directory); --stop: stay paused", "snapshot", 1,
	  build_snapshot, print_snapshot },
	{ "read", "ADDR LEN", "guest memory (kernel, or --pid PID's), as a hex dump", "read-memory", 2, build_read,
	  print_read },
	{ "symspy", "", "what the guest's symbiotic module shares (SymSpy pages, no exit)", "query-symspy", 0, NULL,
	  ctl_print_symspy },
	{ "symcall", "CALL [ARGS]",
	  "call into the guest kernel: null (round trip), processes, vmas PID, translate PID ADDR,\n"
	  "                          pagecache PATH [SAVEFILE] (a file's cached pages), drop PATH (drop them)",
	  "symcall", 1, ctl_build_symcall, ctl_print_symcall },
	{ "geiger", "", "the guest's buffer cache as inferred from the VMM (Geiger)", "geiger", 0, NULL, print_geiger },
	{ "wss", "", "the guest's working-set size and miss curve, from Geiger's evictions", "geiger-wss", 0, NULL,
	  ctl_print_wss },
	{ "hook", "SYMBOL|ADDR", "count the runs of a guest kernel instruction, by process", "probe-hook", 1,
	  ctl_build_hook, ctl_print_hook },
	{ "hooks", "", "the hooks and their hits", "query-probes", 0, NULL, ctl_print_hooks },
	{ "unhook", "ID", "remove a hook", "probe-unhook", 1, ctl_build_unhook, NULL },
	{ "step", "CPU COUNT", "run COUNT instructions of vCPU CPU one at a time and list them", "probe-step", 2,
	  ctl_build_step, ctl_print_step },
};

void usage_ctl(void)
{
	printf("\nusage: symbiont ctl NAME|SOCKET VERB [ARGS] [--json]\n"
	       "  NAME is a VM started with --name; SOCKET a path given to --api.\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		printf("  %-10s %-12s %s\n", verbs[i].name, verbs[i].args, verbs[i].help);
	printf("  %-10s %-12s %s\n", "events", "", "print the VM's events as they happen");
	printf("  %-10s %-12s %s\n", "migrate", "URI",
	       "send the machine to run --incoming URI (unix:PATH, tcp:HOST:PORT); --max-downtime MS");
	printf("  %-10s %-12s %s\n", "", "",
	       "(300), --bandwidth MIB/S, --verify (CRC of all RAM), --keep (do not quit the source)");
	printf("  %-10s %-12s %s\n", "symmod", "load FILE.ko", "load a module into the running guest (SymMod)");
	printf("  %-10s %-12s %s\n", "", "unload NAME", "and remove one");
	printf("  %-10s %-12s %s\n", "", "bootstrap [FILE.ko]",
	       "make a guest without the symbiotic module symbiotic: push it and insmod it through GEARS");
	printf("  %-10s %-12s %s\n", "", "", "(default: the default guest's symbiotic.ko; see push/exec below)");
	usage_ctl_gears();
	printf("  %-10s %-12s %s\n", "prof", "",
	       "profile the guest for --seconds N (default 10) at --freq HZ (default 99):");
	printf("  %-10s %-12s %s\n", "", "",
	       "folded stacks to --out FILE (default stdout) and a flame graph to FILE.svg;");
	printf("  %-10s %-12s %s\n", "", "",
	       "--guest-root DIR: user samples named from DIR/<the executable's guest path>'s symbols");
	printf("  %-10s %-12s %s\n", "top", "",
	       "the guest's processes by the CPU they use, every --seconds S (default 1)");
	printf("  --json     print the reply as JSON (top: one snapshot)\n"
	       "  --pid PID  for read: that process's memory (default: the kernel's)\n"
	       "  --once     for top: one snapshot, then exit\n"
	       "  --stop     for snapshot: leave the VM paused (resume, or quit it)\n"
	       "  --out FILE for wss: the miss curve as data in FILE and plotted in FILE.svg (gnuplot)\n"
	       "  --compress zstd  for snapshot: RAM as one zstd stream (memory.zst), for archiving\n");
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
			printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN |
			                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
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

int ctl_connect(const char *target, struct qmp_client *q)
{
	char path[512], err[512];

	if (strchr(target, '/')) {
		snprintf(path, sizeof(path), "%s", target);
	} else if (!vm_name_valid(target)) {
		return ctl_error(EXIT_USAGE, "'%s' is neither a VM name nor a socket path", target);
	} else if (vm_socket_path(target, false, path, sizeof(path), err, sizeof(err)) < 0) {
		if (errno == ENOENT)
			return ctl_error(1, "no running VM is named '%s' (symbiont ls lists them)", target);
		return ctl_error(1, "%s", err);
	}
	if (qmp_open(q, path, REPLY_TIMEOUT_MS, err, sizeof(err)) < 0) {
		if (!strchr(target, '/') && strstr(err, "No such file"))
			return ctl_error(1, "no running VM is named '%s' (symbiont ls lists them)", target);
		return ctl_error(1, "%s", err);
	}
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, 0, 'j' },
		                              { "help", no_argument, 0, 'h' },
		                              { "pid", required_argument, 0, 'p' },
		                              { "seconds", required_argument, 0, 's' },
		                              { "freq", required_argument, 0, 'f' },
		                              { "out", required_argument, 0, 'o' },
		                              { "once", no_argument, 0, '1' },
		                              { "stop", no_argument, 0, 'S' },
		                              { "compress", required_argument, 0, 'z' },
		                              { "guest-root", required_argument, 0, 'g' },
		                              { 0 } };
	struct ctl_sampling_opts sampling = { 0 };
	bool json = false;
	char err[512];
	const struct verb *v = NULL;
	struct qmp_client q;
	struct json_object *args = NULL, *ret = NULL;
	int c, status;

	/* verbs with options of their own come right after the VM */
	if (argc >= 3 && ctl_gears_verb(argv[2]))
		return ctl_gears(argv[1], argv[2], argc - 3, argv + 3);
	if (argc >= 3 && !strcmp(argv[2], "migrate"))
		return ctl_migrate(argv[1], argc - 2, argv + 2);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > INT32_MAX)
				return ctl_error(EXIT_USAGE, "--pid '%s' is not a pid", optarg);
			pid_arg = (int)v;
			break;
		}
		case 'S': stop_arg = true; break;
		case 'z':
			if (strcmp(optarg, "zstd"))
				return ctl_error(EXIT_USAGE, "--compress '%s': only zstd", optarg);
			compress_arg = optarg;
			break;
		case 's':
			if (ctl_parse_seconds(optarg, CTL_PROF_MAX_SECONDS, &sampling.seconds))
				return ctl_error(EXIT_USAGE, "--seconds '%s' must be a number of seconds above 0",
				                 optarg);
			break;
		case 'f': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 1 || v > 1000)
				return ctl_error(EXIT_USAGE, "--freq '%s' must be 1 to 1000 Hz", optarg);
			sampling.freq = (int)v;
			break;
		}
		case 'o': sampling.out = optarg; break;
		case 'g': {
			static char root[4096];
			if (!realpath(optarg, root))
				return ctl_error(EXIT_USAGE, "--guest-root: %s", strerror(errno));
			sampling.guest_root = root;
			break;
		}
		case '1': sampling.once = true; break;
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

	bool sampling_verb = !strcmp(verb, "prof") || !strcmp(verb, "top");
	if (sampling.out && strcmp(verb, "prof") && strcmp(verb, "wss"))
		return ctl_error(EXIT_USAGE, "--out is for prof and wss, not %s", verb);
	if (sampling_verb && nrest) {
		fprintf(stderr, "symbiont ctl: %s takes options only (try symbiont ctl --help)\n", verb);
		return EXIT_USAGE;
	}
	if (!strcmp(verb, "prof") && !sampling.seconds)
		sampling.seconds = 10;
	static const struct verb sched_set = { "sched", "SPEC", "", "sched-set", 1, NULL, NULL };
	if (sampling_verb) {
		/* prof and top: several commands over time (ctl_prof.c, ctl_top.c) */
	} else if (!strcmp(verb, "symmod") && nrest >= 1 && nrest <= 2 && !strcmp(rest[0], "bootstrap")) {
		return ctl_symmod_bootstrap(target, nrest == 2 ? rest[1] : NULL, json);
	} else if (!strcmp(verb, "symmod")) { /* symmod load FILE.ko | symmod unload NAME */
		static const struct verb load = { "symmod", "", "", "symmod-load", 2, NULL, NULL };
		static const struct verb unload = { "symmod", "", "", "symmod-unload", 2, NULL, NULL };
		char abs[PATH_MAX];
		if (nrest != 2 || (strcmp(rest[0], "load") && strcmp(rest[0], "unload")))
			return ctl_error(EXIT_USAGE, "%s",
			                 "symmod takes load FILE.ko, unload NAME or bootstrap [FILE.ko]");
		args = json_object_new_object();
		if (!strcmp(rest[0], "load")) {
			if (!realpath(rest[1], abs)) { /* the VMM opens it from its own directory */
				json_object_put(args);
				fprintf(stderr, "symbiont ctl: symmod load: %s: %s\n", rest[1], strerror(errno));
				return EXIT_USAGE;
			}
			v = &load;
			json_object_object_add(args, "path", json_object_new_string(abs));
		} else {
			v = &unload;
			json_object_object_add(args, "name", json_object_new_string(rest[1]));
		}
	} else if (!strcmp(verb, "sched") && nrest == 1) { /* sched period=P,slice=S: a new reservation */
		v = &sched_set;
		args = json_object_new_object();
		json_object_object_add(args, "spec", json_object_new_string(rest[0]));
	} else if (strcmp(verb, "events")) {
		for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			if (!strcmp(verbs[i].name, verb))
				v = &verbs[i];
		if (!v)
			return ctl_error(EXIT_USAGE, "unknown verb '%s' (try symbiont ctl --help)", verb);
		if (nrest < v->nargs || nrest > max_args(v)) {
			fprintf(stderr, "symbiont ctl: %s takes %s\n", verb, v->nargs ? v->args : "no arguments");
			return EXIT_USAGE;
		}
		if (v->build && !(args = v->build(rest, err, sizeof(err))))
			return ctl_error(EXIT_USAGE, "%s", err);
	} else if (nrest) {
		return ctl_error(EXIT_USAGE, "%s", "events takes no arguments");
	}

	if ((status = ctl_connect(target, &q))) {
		json_object_put(args);
		return status;
	}
	if (sampling_verb) {
		status = !strcmp(verb, "prof") ? ctl_prof(&q, &sampling, json) : ctl_top(&q, target, &sampling, json);
		qmp_close(&q);
		return status;
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
		printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (v->print)
		v->print(ret);
	status = 0;
	if (v->print == ctl_print_wss && sampling.out && ctl_wss_plot(ret, sampling.out, err, sizeof(err)))
		status = ctl_error(1, "%s", err);
	json_object_put(ret);
	qmp_close(&q);
	return status;
}
