/* ctl verbs of the probe service (cli/ctl_probe.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl_probe.h"

static int64_t num(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_int64(x) : -1;
}

static uint64_t unum(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_uint64(x) : 0;
}

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *x;
	return json_object_object_get_ex(o, k, &x) ? json_object_get_string(x) : "";
}

/* A decimal number from lo to hi, or -1. */
static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < lo || v > hi ? -1 : v;
}

struct json_object *ctl_build_hook(char **argv, char *err, size_t errlen)
{
	struct json_object *a = json_object_new_object();
	(void)err, (void)errlen;
	json_object_object_add(a, "where", json_object_new_string(argv[0]));
	return a;
}

void ctl_print_hook(struct json_object *ret)
{
	printf("hook %" PRId64 ": %s at 0x%" PRIx64 " (guest-physical 0x%" PRIx64 ")\n", num(ret, "id"),
	       str(ret, "symbol"), unum(ret, "address"), unum(ret, "gpa"));
}

void ctl_print_hooks(struct json_object *ret)
{
	if (!json_object_array_length(ret))
		printf("no hooks (ctl NAME hook SYMBOL sets one)\n");
	for (size_t i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *h = json_object_array_get_idx(ret, i), *by;
		printf("hook %" PRId64 "  %s at 0x%" PRIx64 ": %" PRIu64 " hits\n", num(h, "id"), str(h, "where"),
		       unum(h, "address"), unum(h, "hits"));
		if (!json_object_object_get_ex(h, "by_process", &by))
			continue;
		for (size_t k = 0; k < json_object_array_length(by); k++) {
			struct json_object *b = json_object_array_get_idx(by, k);
			printf("  %8" PRIu64 "  %-16s tgid %" PRId64 "\n", unum(b, "hits"), str(b, "comm"),
			       num(b, "tgid"));
		}
		if (unum(h, "other"))
			printf("  %8" PRIu64 "  (other processes, or not known)\n", unum(h, "other"));
	}
}

struct json_object *ctl_build_unhook(char **argv, char *err, size_t errlen)
{
	long id = parse_num(argv[0], 1, INT32_MAX);
	if (id < 0) {
		snprintf(err, errlen, "unhook: '%.64s' is not a hook id", argv[0]);
		return NULL;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "id", json_object_new_int64(id));
	return a;
}

struct json_object *ctl_build_step(char **argv, char *err, size_t errlen)
{
	long cpu = parse_num(argv[0], 0, 63), count = parse_num(argv[1], 1, 10000);
	if (cpu < 0 || count < 0) {
		snprintf(err, errlen, "step: expected CPU (0-63) and COUNT (1-10000), got '%.32s %.32s'", argv[0],
		         argv[1]);
		return NULL;
	}
	struct json_object *a = json_object_new_object();
	json_object_object_add(a, "cpu", json_object_new_int64(cpu));
	json_object_object_add(a, "count", json_object_new_int64(count));
	return a;
}

void ctl_print_step(struct json_object *ret)
{
	struct json_object *steps, *t;
	if (!json_object_object_get_ex(ret, "steps", &steps))
		return;
	for (size_t i = 0; i < json_object_array_length(steps); i++) {
		struct json_object *s = json_object_array_get_idx(steps, i);
		printf("%5zu  0x%016" PRIx64 "  %s  %s\n", i + 1, unum(s, "rip"), num(s, "cpl") ? "user  " : "kernel",
		       str(s, "symbol"));
	}
	if (json_object_object_get_ex(ret, "timed_out", &t) && json_object_get_boolean(t))
		printf("(stopped waiting after %zu: the vCPU ran no more instructions, halted or paused)\n",
		       json_object_array_length(steps));
}
