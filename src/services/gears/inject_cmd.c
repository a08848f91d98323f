/* The inject command (inject.h does the work):
 *
 *   gears-inject {pid, file, timeout_ms?}
 *       -> {"ret", "pid", "tid", "comm", "addr", "ns"}
 *
 * file is a path on the host, read by the VMM (the control socket is the
 * VMM owner's alone), holding a position-independent x86-64 ELF: a
 * static-pie or shared object that needs no dynamic linker.  Its entry
 * point is called with no arguments (RDI holds the address of an empty
 * argument block).  timeout_ms (default 10 s) bounds the whole: waiting for
 * the process to make a system call, and the code's run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/gears/gears.h"
#include "services/gears/inject.h"
#include "symbiont/control.h"
#include "symbiont/vm.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS     600000
#define MAX_FILE           (GEARS_ELF_MAX_IMAGE + (1u << 20))

int gears_arg_timeout(struct json_object *args, int *ms, char *err, size_t errlen)
{
	struct json_object *v;
	*ms = DEFAULT_TIMEOUT_MS;
	if (!json_object_object_get_ex(args, "timeout_ms", &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
	    json_object_get_int64(v) > MAX_TIMEOUT_MS) {
		snprintf(err, errlen, "'timeout_ms' must be a number from 1 to %d", MAX_TIMEOUT_MS);
		return -1;
	}
	*ms = (int)json_object_get_int64(v);
	return 0;
}

int gears_load_elf_file(const char *path, struct gears_elf_image *im, char *err, size_t errlen)
{
	FILE *f;
	uint8_t *buf;
	size_t n;
	char why[200];

	if (!path || path[0] != '/') {
		snprintf(err, errlen, "'file' (an absolute path on the host) is required");
		return -1;
	}
	if (!(f = fopen(path, "rb"))) {
		snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
		return -1;
	}
	if (!(buf = malloc(MAX_FILE + 1))) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = fread(buf, 1, MAX_FILE + 1, f);
	fclose(f);
	if (n > MAX_FILE) {
		free(buf);
		snprintf(err, errlen, "%.200s: larger than %u bytes", path, MAX_FILE);
		return -1;
	}
	int r = gears_elf_load(buf, n, im, why, sizeof(why));
	free(buf);
	if (r)
		snprintf(err, errlen, "%.200s: %s", path, why);
	return r;
}

static int cmd_inject(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct gears *g = opaque;
	struct gears_elf_image im;
	struct gears_inject_result res;
	struct json_object *v;
	int timeout, r;
	int64_t pid;

	if (!json_object_object_get_ex(args, "pid", &v) || !json_object_is_type(v, json_type_int) ||
	    (pid = json_object_get_int64(v)) < 1 || pid > INT32_MAX) {
		snprintf(err, errlen, "'pid' (a guest process id) is required");
		return -1;
	}
	if (gears_arg_timeout(args, &timeout, err, errlen) ||
	    gears_load_elf_file(gears_arg_str(args, "file"), &im, err, errlen))
		return -1;
	r = gears_inject_run(g, (int32_t)pid, &im, NULL, 0, timeout, &res, err, errlen);
	gears_elf_free(&im);
	if (r)
		return -1;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "ret", json_object_new_int64(res.ret));
	json_object_object_add(*ret, "pid", json_object_new_int(res.pid));
	json_object_object_add(*ret, "tid", json_object_new_int(res.tid));
	json_object_object_add(*ret, "comm", json_object_new_string(res.comm));
	json_object_object_add(*ret, "addr", json_object_new_int64((int64_t)res.addr));
	json_object_object_add(*ret, "ns", json_object_new_int64((int64_t)res.total_ns));
	return 0;
}

int gears_inject_init(struct gears *g, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return control_register_changing(g->vm->control, "gears-inject", cmd_inject, g);
}
