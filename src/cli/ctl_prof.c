/* symbiont ctl NAME prof [--seconds N] [--freq HZ] [--out FILE]: starts the
 * VM's profiler (prof-start), waits N seconds (Ctrl-C ends the wait early,
 * keeping what was sampled), stops it (prof-stop) and writes the folded
 * stacks, "frame;frame;... COUNT" per line, to FILE and a flame graph to
 * FILE.svg; without --out the folded stacks go to stdout and no graph is
 * drawn.  The summary goes to stderr then, stdout otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/ctl_sampling.h"
#include "cli/qmp_client.h"

static int write_folded(FILE *f, struct json_object *stacks)
{
	for (size_t i = 0; i < json_object_array_length(stacks); i++) {
		struct json_object *s = json_object_array_get_idx(stacks, i), *stack, *count;
		if (!json_object_object_get_ex(s, "stack", &stack) || !json_object_object_get_ex(s, "count", &count))
			continue;
		fprintf(f, "%s %lld\n", json_object_get_string(stack), (long long)json_object_get_int64(count));
	}
	return ferror(f) ? -1 : 0;
}

static int write_file(const char *path, struct json_object *stacks, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "symbiont ctl: prof: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	int r = text ? (fputs(text, f) < 0 ? -1 : 0) : write_folded(f, stacks);
	if (fclose(f) || r) {
		fprintf(stderr, "symbiont ctl: prof: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static long long num(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? (long long)json_object_get_int64(x) : 0;
}

static void print_summary(FILE *f, struct json_object *r, const char *out)
{
	struct json_object *x;
	long long n = num(r, "samples");
	double d = n ? (double)n : 1;
	double secs = json_object_object_get_ex(r, "seconds", &x) ? json_object_get_double(x) : 0;
	fprintf(f, "prof: %lld samples over %.1f s at %lld Hz on %lld vCPU(s): user %.1f%%, kernel %.1f%%, idle %.1f%%",
	        n, secs, num(r, "frequency"), num(r, "cpus"), 100.0 * (double)num(r, "user") / d,
	        100.0 * (double)num(r, "kernel") / d, 100.0 * (double)num(r, "idle") / d);
	if (num(r, "unknown"))
		fprintf(f, ", unattributed %.1f%%", 100.0 * (double)num(r, "unknown") / d);
	if (json_object_object_get_ex(r, "pause_us_mean", &x))
		fprintf(f, "; the VM stood still %.0f us a sample", json_object_get_double(x));
	fprintf(f, "\n");
	if (json_object_object_get_ex(r, "reason", &x))
		fprintf(f, "prof: samples by raw address: %s\n", json_object_get_string(x));
	if (out)
		fprintf(f, "prof: wrote %s and %s.svg\n", out, out);
}

int ctl_prof(struct qmp_client *q, const struct ctl_sampling_opts *o, bool json)
{
	struct json_object *args = json_object_new_object(), *ret = NULL, *stacks, *svg;
	char err[512];
	int status = 0;

	if (o->freq)
		json_object_object_add(args, "frequency", json_object_new_int(o->freq));
	if (o->guest_root)
		json_object_object_add(args, "guest_root", json_object_new_string(o->guest_root));
	ctl_sampling_catch_interrupt();
	if (qmp_call(q, "prof-start", args, &ret, err, sizeof(err)) < 0) {
		fprintf(stderr, "symbiont ctl: prof: %s\n", err);
		return 1;
	}
	json_object_put(ret);
	ctl_sampling_sleep(o->seconds); /* Ctrl-C: stop now, keep what was sampled */

	args = json_object_new_object();
	json_object_object_add(args, "svg", json_object_new_boolean(o->out != NULL));
	if (qmp_call(q, "prof-stop", args, &ret, err, sizeof(err)) < 0) {
		fprintf(stderr, "symbiont ctl: prof: %s\n", err);
		return 1;
	}
	if (!json_object_object_get_ex(ret, "stacks", &stacks) || !json_object_is_type(stacks, json_type_array)) {
		json_object_put(ret);
		fprintf(stderr, "symbiont ctl: prof: the VM's reply has no stacks\n");
		return 1;
	}
	if (o->out) {
		char svg_path[4096];
		snprintf(svg_path, sizeof(svg_path), "%s.svg", o->out);
		if (write_file(o->out, stacks, NULL) || (json_object_object_get_ex(ret, "svg", &svg) &&
		                                         write_file(svg_path, NULL, json_object_get_string(svg))))
			status = 1;
	} else if (!json) {
		write_folded(stdout, stacks);
	}
	json_object_object_del(ret, "svg");
	if (json)
		printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (!status)
		print_summary(o->out ? stdout : stderr, ret, o->out);
	json_object_put(ret);
	return status;
}
