/* symbiont ls: the running VMs of this user that have a name (--name),
 * found by their sockets in the per-user directory and asked for their
 * state.  A socket whose VM is gone is removed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/qmp_client.h"

static const char *get_str(struct json_object *o, const char *k, const char *def)
{
	struct json_object *x;
	return o && json_object_object_get_ex(o, k, &x) ? json_object_get_string(x) : def;
}

int cmd_ls(int argc, char **argv)
{
	bool json = false;
	char dir[256], err[512];
	struct dirent *de;
	struct json_object *all = json_object_new_array();
	DIR *d;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: symbiont ls [--json]   the running VMs started with --name\n");
			json_object_put(all);
			return 0;
		} else {
			fprintf(stderr, "symbiont ls: unknown argument '%s'\n", argv[i]);
			json_object_put(all);
			return EXIT_USAGE;
		}
	}
	if (vm_socket_dir(dir, sizeof(dir), false, err, sizeof(err)) == 0 && (d = opendir(dir))) {
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);
			char name[VM_NAME_MAX + 1], path[512];
			struct qmp_client q;
			struct json_object *info = NULL, *st = NULL, *row;
			if (n < 6 || strcmp(de->d_name + n - 5, ".sock") || n - 5 > VM_NAME_MAX)
				continue;
			memcpy(name, de->d_name, n - 5);
			name[n - 5] = 0;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (qmp_open(&q, path, 2000, err, sizeof(err)) < 0) {
				if (strstr(err, "has exited"))
					unlink(path); /* stale: the VM died without cleaning up */
				continue;
			}
			if (qmp_call(&q, "query-vm", NULL, &info, err, sizeof(err)) < 0 ||
			    qmp_call(&q, "query-status", NULL, &st, err, sizeof(err)) < 0) {
				qmp_close(&q);
				json_object_put(info);
				continue;
			}
			qmp_close(&q);
			row = json_object_new_object();
			json_object_object_add(row, "name", json_object_new_string(name));
			json_object_object_add(row, "pid", json_object_new_int(atoi(get_str(info, "pid", "0"))));
			json_object_object_add(row, "state", json_object_new_string(get_str(st, "status", "?")));
			json_object_object_add(row, "engine", json_object_new_string(get_str(info, "engine", "?")));
			json_object_object_add(row, "socket", json_object_new_string(path));
			json_object_array_add(all, row);
			json_object_put(info);
			json_object_put(st);
		}
		closedir(d);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		printf("%-20s %-8s %-9s %-6s %s\n", "NAME", "PID", "STATE", "ENGINE", "SOCKET");
		for (size_t i = 0; i < json_object_array_length(all); i++) {
			struct json_object *r = json_object_array_get_idx(all, i);
			printf("%-20s %-8s %-9s %-6s %s\n", get_str(r, "name", ""), get_str(r, "pid", ""),
			       get_str(r, "state", ""), get_str(r, "engine", ""), get_str(r, "socket", ""));
		}
	}
	json_object_put(all);
	return 0;
}
