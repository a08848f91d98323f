/* ctl output of the symbiotic interfaces (src/services/symbiotic/). */
#ifndef SYMBIONT_CTL_SYMBIOTIC_H
#define SYMBIONT_CTL_SYMBIOTIC_H

struct json_object;

/* The reply of query-symspy, for people. */
void ctl_print_symspy(struct json_object *ret);

#endif
