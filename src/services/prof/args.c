/* Argument checks for prof's commands (args.h). */
#include <stdio.h>

#include <json-c/json.h>

#include "services/prof/args.h"

int prof_arg_frequency(struct json_object *args, unsigned def, unsigned max, unsigned *hz, char *err, size_t errlen)
{
	struct json_object *v;
	int64_t f;

	*hz = def;
	if (!args || !json_object_object_get_ex(args, "frequency", &v))
		return 0;
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "'frequency' must be an integer (samples per second per vCPU)");
		return -1;
	}
	f = json_object_get_int64(v);
	if (f < 1 || f > (int64_t)max) {
		snprintf(err, errlen, "'frequency' must be 1 to %u Hz", max);
		return -1;
	}
	*hz = (unsigned)f;
	return 0;
}

int prof_arg_bool(struct json_object *args, const char *key, bool *out, char *err, size_t errlen)
{
	struct json_object *v;
	*out = false;
	if (!args || !json_object_object_get_ex(args, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "'%s' must be true or false", key);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}
