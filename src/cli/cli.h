/* Subcommands of the symbiont binary.  Each returns the process exit
 * status: 0 success, 2 usage error, other non-zero failure. */
#ifndef SYMBIONT_CLI_H
#define SYMBIONT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);
void usage_run(void);
/* "512M", "2G", "1048576K", "4096" (MiB when no suffix).  0 on success. */
int parse_size(const char *s, uint64_t *out);

int cmd_ctl(int argc, char **argv);
void usage_ctl(void);
/* For verbs with options of their own: connects to NAME|SOCKET (0, or the
 * exit status after one line on stderr). */
struct qmp_client;
int ctl_connect(const char *target, struct qmp_client *q);
/* An integer member of a reply object, 0 when absent. */
struct json_object;
long long ctl_jint(struct json_object *o, const char *k);
/* The GEARS verbs (ctl_gears.c): trace, deny, inject-env. */
bool ctl_gears_verb(const char *verb);
/* ctl NAME migrate URI [options]: ctl_migrate.c. */
int ctl_migrate(const char *target, int argc, char **argv);
int ctl_gears(const char *target, const char *verb, int argc, char **argv);
void usage_ctl_gears(void);
/* ctl NAME symmod bootstrap [FILE.ko] (ctl_gears.c): the exit status. */
int ctl_symmod_bootstrap(const char *target, const char *file, bool json);
int cmd_ls(int argc, char **argv);

/* Named VMs (rundir.c): their control sockets live in one private
 * directory per user. */
#define VM_NAME_MAX 64
bool vm_name_valid(const char *name);
/* -1 with a message (errno ENOENT when the directory does not exist yet). */
int vm_socket_dir(char *out, size_t len, bool create, char *err, size_t errlen);
int vm_socket_path(const char *name, bool create, char *out, size_t len, char *err, size_t errlen);

#endif
