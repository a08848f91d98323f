/* A process's open files: its fd table, and each file's path rebuilt the way
 * the kernel's d_path does it, from the dentry up through d_parent to the
 * mount's root, then across to the mount point in the parent mount, up to
 * the root mount.  Every step is bounded, so a dentry that is its own
 * grandparent or a mount loop ends the path (marked cut), not the VMM.
 * Files of pseudo filesystems (pipes, sockets) are named as the kernel names
 * them, and an unlinked file gets " (deleted)", as in /proc/PID/fd. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define FDS_PER_READ 512

bool gos_path_prepend(char *buf, size_t *pos, const char *name)
{
	size_t len = strlen(name);
	if (len + 1 > *pos)
		return false;
	*pos -= len;
	memcpy(buf + *pos, name, len);
	buf[--*pos] = '/';
	return true;
}

static int dentry_name(struct guestos *g, uint64_t dentry, char *out, size_t outlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t len, name;
	uint8_t raw[GOS_NAME_MAX];

	if (gos_kread_field(g, dentry, &l->dentry_name_len, &len) || gos_kread_field(g, dentry, &l->dentry_name, &name))
		return -1;
	if (len > sizeof(raw))
		len = sizeof(raw);
	if (gos_kread(g, name, raw, len))
		return -1;
	gos_text(out, outlen, raw, len);
	return 0;
}

/* Files of pseudo filesystems have no path: the kernel makes their name up
 * with the dentry's d_dname method.  The method is recognised by its symbol
 * and the name rebuilt from the same fields; an unknown method gives
 * "FSTYPE:[INODE]".  False if the dentry has no such method. */
static bool pseudo_name(struct guestos *g, uint64_t dentry, uint64_t vfsmnt, char *out, size_t outlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t ops, dname, root, parent, inode, ino = 0, sb, type, fsname;
	char name[GOS_NAME_MAX + 1] = "", fs[32] = "?", raw[32];
	const struct gos_sym *y;
	const char *method = "";

	if (gos_kread_field(g, dentry, &l->dentry_op, &ops) || !ops ||
	    gos_kread_field(g, ops, &l->dops_dname, &dname) || !dname)
		return false;
	/* d_path asks d_dname only below a mount's root or off any tree. */
	if (!gos_kread_field(g, vfsmnt, &l->vfsmount_root, &root) &&
	    !gos_kread_field(g, dentry, &l->dentry_parent, &parent) && dentry == root && dentry == parent)
		return false;
	y = gos_symtab_at(&g->k->syms, dname - (uint64_t)g->slide);
	if (y && y->addr == dname - (uint64_t)g->slide)
		method = gos_sym_name(&g->k->syms, y);
	if (!gos_kread_field(g, dentry, &l->dentry_inode, &inode) && inode)
		gos_kread_field(g, inode, &l->inode_ino, &ino);
	dentry_name(g, dentry, name, sizeof(name));
	if (!strcmp(method, "pipefs_dname"))
		snprintf(out, outlen, "pipe:[%" PRIu64 "]", ino);
	else if (!strcmp(method, "sockfs_dname"))
		snprintf(out, outlen, "socket:[%" PRIu64 "]", ino);
	else if (!strcmp(method, "anon_inodefs_dname"))
		snprintf(out, outlen, "anon_inode:%s", name);
	else if (!strcmp(method, "simple_dname")) /* memfd and other internal shmem files */
		snprintf(out, outlen, "/%s (deleted)", name);
	else {
		if (!gos_kread_field(g, dentry, &l->dentry_sb, &sb) && !gos_kread_field(g, sb, &l->sb_type, &type) &&
		    !gos_kread_field(g, type, &l->fstype_name, &fsname) && !gos_kread_str(g, fsname, raw, sizeof(raw)))
			gos_text(fs, sizeof(fs), (const uint8_t *)raw, strlen(raw));
		snprintf(out, outlen, "%s:[%" PRIu64 "]", fs, ino);
	}
	return true;
}

/* d_unlinked(): a dentry taken out of the hash that is not a root. */
static bool unlinked(struct guestos *g, uint64_t dentry)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t pprev, parent;

	return !gos_kread_field(g, dentry, &l->dentry_hash_pprev, &pprev) && pprev == 0 &&
	       !gos_kread_field(g, dentry, &l->dentry_parent, &parent) && parent != dentry;
}

static void file_path(struct guestos *g, uint64_t file, struct guestos_file *f, size_t *budget)
{
	const struct gos_layout *l = &g->k->layout;
	char buf[GUESTOS_PATH_LEN], name[GOS_NAME_MAX + 1];
	size_t pos = sizeof(buf) - 1;
	uint64_t dentry, vfsmnt, mount, leaf = 0;
	int depth;

	buf[pos] = 0;
	f->path_cut = true; /* until the walk reaches the root */
	if (gos_kread_field(g, file, &l->file_dentry, &dentry) || gos_kread_field(g, file, &l->file_mnt, &vfsmnt))
		goto out;
	if (pseudo_name(g, dentry, vfsmnt, f->path, sizeof(f->path))) {
		f->path_cut = false;
		return;
	}
	leaf = dentry;
	mount = vfsmnt - l->mount_mnt.off;
	for (depth = 0; depth < GOS_MAX_PATH_DEPTH && *budget; depth++, (*budget)--) {
		uint64_t root, parent;

		if (gos_kread_field(g, vfsmnt, &l->vfsmount_root, &root) ||
		    gos_kread_field(g, dentry, &l->dentry_parent, &parent))
			goto out;
		if (dentry == root || dentry == parent) {
			uint64_t up;
			if (gos_kread_field(g, mount, &l->mount_parent, &up))
				goto out;
			if (dentry != root || up == mount) { /* the top (or a detached tree) */
				if (dentry != root && !dentry_name(g, dentry, name, sizeof(name)) && name[0] &&
				    strcmp(name, "/") && !gos_path_prepend(buf, &pos, name))
					goto out;
				f->path_cut = false;
				goto out;
			}
			if (gos_kread_field(g, mount, &l->mount_mountpoint, &dentry))
				goto out;
			mount = up;
			vfsmnt = mount + l->mount_mnt.off;
			continue;
		}
		if (dentry_name(g, dentry, name, sizeof(name)) || !gos_path_prepend(buf, &pos, name))
			goto out;
		dentry = parent;
	}
out:
	snprintf(f->path, sizeof(f->path), "%s%s", buf[pos] ? buf + pos : "/",
	         leaf && unlinked(g, leaf) ? " (deleted)" : "");
}

int guestos_files(struct guestos *g, int32_t pid, struct guestos_file **out, size_t *n, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t task, files, fdt, max_fds, fd_array, ptrs[FDS_PER_READ];
	struct guestos_file *f = NULL;
	size_t count = 0, cap = 0, budget = GOS_MAX_PATH_STEPS; /* once spent, paths come out cut */

	*out = NULL;
	*n = 0;
	if (gos_ready(g, err, errlen) || gos_task_by_pid(g, pid, &task, err, errlen))
		return -1;
	if (gos_kread_field(g, task, &l->task_files, &files))
		return gos_err(err, errlen, "guestos: process %" PRId32 " is not readable", pid);
	if (files == 0) { /* exiting, or a kernel thread without files */
		*out = calloc(1, sizeof(**out));
		return *out ? 0 : gos_err(err, errlen, "guestos: out of memory");
	}
	if (gos_kread_field(g, files, &l->files_fdt, &fdt) || gos_kread_field(g, fdt, &l->fdt_max_fds, &max_fds) ||
	    gos_kread_field(g, fdt, &l->fdt_fd, &fd_array))
		return gos_err(err, errlen, "guestos: process %" PRId32 "'s file table is not readable", pid);
	if (max_fds > GOS_MAX_FDS)
		max_fds = GOS_MAX_FDS;
	for (uint64_t i = 0; i < max_fds; i += FDS_PER_READ) {
		uint64_t chunk = max_fds - i < FDS_PER_READ ? max_fds - i : FDS_PER_READ;
		if (gos_kread(g, fd_array + i * 8, ptrs, chunk * 8)) {
			free(f);
			return gos_err(err, errlen, "guestos: process %" PRId32 "'s descriptor array is not readable",
			               pid);
		}
		for (uint64_t j = 0; j < chunk; j++) {
			if (!ptrs[j])
				continue;
			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				struct guestos_file *nf = realloc(f, cap * sizeof(*nf));
				if (!nf) {
					free(f);
					return gos_err(err, errlen, "guestos: out of memory");
				}
				f = nf;
			}
			memset(&f[count], 0, sizeof(f[count]));
			f[count].fd = (int)(i + j);
			file_path(g, ptrs[j], &f[count], &budget);
			count++;
		}
	}
	if (!f && !(f = calloc(1, sizeof(*f))))
		return gos_err(err, errlen, "guestos: out of memory");
	*out = f;
	*n = count;
	return 0;
}

int guestos_exe_path(struct guestos *g, int32_t pid, char *out, size_t len, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	struct guestos_file f = { 0 };
	size_t budget = GOS_MAX_PATH_DEPTH;
	uint64_t task, mm, file;

	if (gos_ready(g, err, errlen) || gos_task_by_pid(g, pid, &task, err, errlen))
		return -1;
	if (!l->mm_exe_file.present)
		return gos_err(err, errlen, "guestos: kernel BTF has no mm_struct.exe_file");
	if (gos_kread_field(g, task, &l->task_mm, &mm) || !mm || gos_kread_field(g, mm, &l->mm_exe_file, &file) ||
	    !file)
		return gos_err(err, errlen, "guestos: process %" PRId32 " has no executable", pid);
	file_path(g, file, &f, &budget);
	if (f.path_cut)
		return gos_err(err, errlen, "guestos: process %" PRId32 "'s executable path is unreadable", pid);
	snprintf(out, len, "%s", f.path);
	return 0;
}
