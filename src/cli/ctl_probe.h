/* ctl verbs of the probe service (src/services/probe): hooks on guest
 * kernel code and single-stepping a vCPU. */
#ifndef SYMBIONT_CLI_CTL_PROBE_H
#define SYMBIONT_CLI_CTL_PROBE_H

#include <stddef.h>

#include <json-c/json.h>

/* hook SYMBOL|0xADDR */
struct json_object *ctl_build_hook(char **argv, char *err, size_t errlen);
void ctl_print_hook(struct json_object *ret);
/* hooks: each hook and its hits by process */
void ctl_print_hooks(struct json_object *ret);
/* unhook ID */
struct json_object *ctl_build_unhook(char **argv, char *err, size_t errlen);
/* step CPU COUNT */
struct json_object *ctl_build_step(char **argv, char *err, size_t errlen);
void ctl_print_step(struct json_object *ret);

#endif
