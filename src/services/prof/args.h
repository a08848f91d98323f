/* The arguments of prof's control commands, checked before anything runs. */
#ifndef PROF_ARGS_H
#define PROF_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* prof-start's "frequency": absent gives def; otherwise an integer from 1
 * to max.  0, or -1 with one line in err. */
int prof_arg_frequency(struct json_object *args, unsigned def, unsigned max, unsigned *hz, char *err, size_t errlen);
/* An optional boolean argument (absent: false). */
int prof_arg_bool(struct json_object *args, const char *key, bool *out, char *err, size_t errlen);

#endif
