/* ctl output of the symbiotic interfaces (src/services/symbiotic/). */
#ifndef SYMBIONT_CTL_SYMBIOTIC_H
#define SYMBIONT_CTL_SYMBIOTIC_H

#include <stddef.h>

struct json_object;

/* The reply of query-symspy, for people. */
void ctl_print_symspy(struct json_object *ret);
/* symcall CALL: the arguments, and the reply for people. */
struct json_object *ctl_build_symcall(char **argv, char *err, size_t errlen);
void ctl_print_symcall(struct json_object *ret);

#endif
