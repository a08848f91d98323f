/* symbiont ctl NAME migrate URI [--max-downtime MS] [--bandwidth MIB/S]
 * [--verify] [--keep] [--json]: sends the machine to a `symbiont run
 * --incoming URI` waiting there, printing the migration's progress (round,
 * dirty rate, what remains, the downtime expected) as it goes.  Once the
 * destination runs the machine the source is quit (with --keep it stays,
 * paused for good); on failure the guest runs on at the source and the exit
 * status is 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/qmp_client.h"

#define POLL_MS 200

static double jdbl(json_object *o, const char *k)
{
	json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_double(x) : 0;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_string(x) : "";
}

static int parse_num(const char *s, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || end == s || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int ctl_migrate(const char *target, int argc, char **argv)
{
	static const struct option opts[] = { { "max-downtime", required_argument, 0, 'd' },
		                              { "bandwidth", required_argument, 0, 'b' },
		                              { "verify", no_argument, 0, 'v' },
		                              { "keep", no_argument, 0, 'k' },
		                              { "json", no_argument, 0, 'j' },
		                              { 0 } };
	long downtime = -1, bw = 0;
	bool verify = false, keep = false, json = false;
	int c;
	char err[512];

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_num(optarg, 600000, &downtime) < 0) {
				fprintf(stderr, "symbiont ctl: --max-downtime '%s' is not 0..600000 ms\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'b':
			if (parse_num(optarg, 1 << 20, &bw) < 0 || !bw) {
				fprintf(stderr, "symbiont ctl: --bandwidth '%s' is not 1..1048576 MiB/s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v': verify = true; break;
		case 'k': keep = true; break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "symbiont ctl: migrate: unknown option '%s'\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "symbiont ctl: usage: migrate unix:PATH|tcp:HOST:PORT [--max-downtime MS] "
		                "[--bandwidth MIB/S] [--verify] [--keep]\n");
		return EXIT_USAGE;
	}
	const char *uri = argv[optind];
	if (strncmp(uri, "unix:", 5) && strncmp(uri, "tcp:", 4)) {
		fprintf(stderr, "symbiont ctl: '%s' is not unix:PATH or tcp:HOST:PORT\n", uri);
		return EXIT_USAGE;
	}

	struct qmp_client q;
	int status = ctl_connect(target, &q);
	if (status)
		return status;
	json_object *a = json_object_new_object(), *ret = NULL;
	json_object_object_add(a, "uri", json_object_new_string(uri));
	if (downtime >= 0)
		json_object_object_add(a, "max-downtime", json_object_new_int64(downtime));
	if (bw)
		json_object_object_add(a, "bandwidth", json_object_new_int64(bw));
	if (verify)
		json_object_object_add(a, "verify", json_object_new_boolean(true));
	if (qmp_call(&q, "migrate", a, &ret, err, sizeof(err)) < 0) {
		fprintf(stderr, "symbiont ctl: %s\n", err);
		qmp_close(&q);
		return 1;
	}
	json_object_put(ret);

	bool tty = isatty(2);
	int last_round = -1;
	for (;;) {
		struct timespec ts = { 0, POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		ret = NULL;
		if (qmp_call(&q, "query-migrate", NULL, &ret, err, sizeof(err)) < 0) {
			fprintf(stderr, "%ssymbiont ctl: %s\n", tty ? "\n" : "", err);
			qmp_close(&q);
			return 1;
		}
		const char *st = jstr(ret, "status");
		int round = (int)ctl_jint(ret, "round");
		if (!strcmp(st, "active") || !strcmp(st, "device") || !strcmp(st, "setup")) {
			if (tty || round != last_round)
				fprintf(stderr,
				        "%sround %d: %lld MiB sent, %lld MiB remaining, dirty %lld MiB/s, link %lld "
				        "MiB/s, downtime expected %lld ms%s",
				        tty ? "\r" : "", round, ctl_jint(ret, "transferred-bytes") >> 20,
				        ctl_jint(ret, "remaining-bytes") >> 20, ctl_jint(ret, "dirty-rate-bytes") >> 20,
				        ctl_jint(ret, "bandwidth-bytes") >> 20, ctl_jint(ret, "expected-downtime-ms"),
				        tty ? "   " : "\n");
			last_round = round;
			json_object_put(ret);
			continue;
		}
		if (tty && last_round >= 0)
			fprintf(stderr, "\n");
		if (json)
			printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
		if (!strcmp(st, "completed")) {
			if (!json)
				printf("migrated to %s: %lld MiB in %d rounds, %.1f ms in all, guest stopped %.1f ms\n",
				       uri, ctl_jint(ret, "transferred-bytes") >> 20, round, jdbl(ret, "total-time-ms"),
				       jdbl(ret, "downtime-ms"));
			json_object_put(ret);
			if (!keep) {
				json_object *r2 = NULL;
				if (qmp_call(&q, "quit", NULL, &r2, err, sizeof(err)) == 0)
					json_object_put(r2);
			}
			qmp_close(&q);
			return 0;
		}
		const char *why = jstr(ret, "error-desc");
		if (!strcmp(why, st))
			why = ""; /* "cancelled: cancelled" says nothing more */
		fprintf(stderr, "symbiont ctl: migration %s%s%s; the guest runs on at the source\n", st,
		        *why ? ": " : "", why);
		json_object_put(ret);
		qmp_close(&q);
		return 1;
	}
}
