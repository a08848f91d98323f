/* A task's cgroup, as the path /proc/PID/cgroup shows for the default (v2)
 * hierarchy: task->cgroups (its css_set), the set's dfl_cgrp, and that
 * cgroup's kernfs node, whose names up through kn->parent make the path.
 * The root node has no parent and its name is not part of the path.  The
 * walk is bounded, so a node that is its own ancestor cuts the path rather
 * than looping. */
#include <stdio.h>
#include <string.h>

#include "guestos/guestos_int.h"

int guestos_task_cgroup(struct guestos *g, uint64_t task, char *out, size_t len, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	char buf[GUESTOS_PATH_LEN], raw[GOS_NAME_MAX + 1], name[GOS_NAME_MAX + 1];
	size_t pos = sizeof(buf) - 1;
	uint64_t cset, cgrp, kn, parent, name_va;

	if (len == 0)
		return gos_err(err, errlen, "guestos: no room for a cgroup path");
	if (!l->task_cgroups.present || !l->cset_dfl_cgrp.present || !l->cgroup_kn.present || !l->kn_parent.present ||
	    !l->kn_name.present)
		return gos_err(err, errlen, "guestos: this kernel's BTF has no cgroup v2 layout");
	if (gos_ready(g, err, errlen))
		return -1;
	if (gos_kread_field(g, task, &l->task_cgroups, &cset) || gos_kread_field(g, cset, &l->cset_dfl_cgrp, &cgrp) ||
	    gos_kread_field(g, cgrp, &l->cgroup_kn, &kn))
		return gos_err(err, errlen, "guestos: the task's cgroup is not readable");
	buf[pos] = 0;
	for (int depth = 0;; depth++) {
		if (depth == GOS_MAX_PATH_DEPTH)
			return gos_err(err, errlen, "guestos: the task's cgroup is more than %d levels deep",
			               GOS_MAX_PATH_DEPTH);
		if (gos_kread_field(g, kn, &l->kn_parent, &parent))
			return gos_err(err, errlen, "guestos: the task's cgroup is not readable");
		if (!parent)
			break; /* the hierarchy's root: "/" */
		if (gos_kread_field(g, kn, &l->kn_name, &name_va) || gos_kread_str(g, name_va, raw, sizeof(raw)))
			return gos_err(err, errlen, "guestos: a cgroup name is not readable");
		gos_text(name, sizeof(name), (const uint8_t *)raw, strlen(raw));
		if (!gos_path_prepend(buf, &pos, name))
			return gos_err(err, errlen, "guestos: the task's cgroup path is longer than %zu bytes",
			               sizeof(buf) - 1);
		kn = parent;
	}
	if (!buf[pos])
		buf[--pos] = '/';
	if (strlen(buf + pos) >= len)
		return gos_err(err, errlen, "guestos: the task's cgroup path is longer than %zu bytes", len - 1);
	memcpy(out, buf + pos, strlen(buf + pos) + 1);
	return 0;
}
