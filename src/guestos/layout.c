/* Structure layouts from the guest kernel's BTF, through libbpf.
 *
 * Each member the queries read is named by structure and member path
 * ("f_path.dentry"); a path component may sit inside anonymous structs and
 * unions (mm_struct keeps everything in one, qstr's len is in a union), may
 * be a bitfield, and may cross an array (its first element).  Alternatives
 * cover members renamed between kernel versions, so one table serves every
 * kernel that has BTF instead of one offset table per kernel. */
#include <bpf/btf.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define MAX_TYPE_CHAIN 32 /* typedef/const/volatile links followed */
#define MAX_ANON_DEPTH 8  /* anonymous struct/union nesting searched */

struct member_spec {
	size_t field;        /* offsetof(struct gos_layout, ...) */
	const char *type;    /* struct name */
	const char *path[3]; /* alternatives, tried in order */
	bool required;
};

#define F(x) offsetof(struct gos_layout, x)
static const struct member_spec specs[] = {
	{ F(list_next), "list_head", { "next" }, true },
	{ F(list_prev), "list_head", { "prev" }, true },
	{ F(task_tasks), "task_struct", { "tasks" }, true },
	{ F(task_pid), "task_struct", { "pid" }, true },
	{ F(task_tgid), "task_struct", { "tgid" }, true },
	{ F(task_real_parent), "task_struct", { "real_parent" }, true },
	{ F(task_cred), "task_struct", { "cred" }, true },
	{ F(task_state), "task_struct", { "__state", "state" }, true },
	{ F(task_exit_state), "task_struct", { "exit_state" }, true },
	{ F(task_flags), "task_struct", { "flags" }, true },
	{ F(task_comm), "task_struct", { "comm" }, true },
	{ F(task_mm), "task_struct", { "mm" }, true },
	{ F(task_files), "task_struct", { "files" }, true },
	{ F(cred_uid), "cred", { "uid.val" }, true },
	{ F(cred_euid), "cred", { "euid.val" }, true },
	{ F(mm_pgd), "mm_struct", { "pgd" }, true },
	{ F(mm_arg_start), "mm_struct", { "arg_start" }, true },
	{ F(mm_arg_end), "mm_struct", { "arg_end" }, true },
	{ F(mm_exe_file), "mm_struct", { "exe_file" }, false }, /* the executable's path, for prof */
	{ F(files_fdt), "files_struct", { "fdt" }, true },
	{ F(fdt_max_fds), "fdtable", { "max_fds" }, true },
	{ F(fdt_fd), "fdtable", { "fd" }, true },
	{ F(file_dentry), "file", { "f_path.dentry" }, true },
	{ F(file_mnt), "file", { "f_path.mnt" }, true },
	{ F(dentry_name_len), "dentry", { "d_name.len" }, true },
	{ F(dentry_name), "dentry", { "d_name.name" }, true },
	{ F(dentry_parent), "dentry", { "d_parent" }, true },
	/* Names the kernel makes up for pipes, sockets and the like (d_dname),
	 * and the mark of an unlinked file; without them such paths show less. */
	{ F(dentry_op), "dentry", { "d_op" }, false },
	{ F(dops_dname), "dentry_operations", { "d_dname" }, false },
	{ F(dentry_inode), "dentry", { "d_inode" }, false },
	{ F(inode_ino), "inode", { "i_ino" }, false },
	{ F(dentry_sb), "dentry", { "d_sb" }, false },
	{ F(sb_type), "super_block", { "s_type" }, false },
	{ F(fstype_name), "file_system_type", { "name" }, false },
	{ F(dentry_hash_pprev), "dentry", { "d_hash.pprev" }, false },
	{ F(mount_mnt), "mount", { "mnt" }, true },
	{ F(mount_parent), "mount", { "mnt_parent" }, true },
	{ F(mount_mountpoint), "mount", { "mnt_mountpoint" }, true },
	{ F(vfsmount_root), "vfsmount", { "mnt_root" }, true },
	/* Modules are optional: a kernel without CONFIG_MODULES still has
	 * processes and files. */
	{ F(module_list), "module", { "list" }, false },
	{ F(module_name), "module", { "name" }, false },
	{ F(module_state), "module", { "state" }, false },
	{ F(module_base), "module", { "core_layout.base", "mem.base" }, false },
	{ F(module_size), "module", { "core_layout.size", "mem.size" }, false },
	{ F(module_kallsyms), "module", { "kallsyms" }, false },
	{ F(kallsyms_symtab), "mod_kallsyms", { "symtab" }, false },
	{ F(kallsyms_num_symtab), "mod_kallsyms", { "num_symtab" }, false },
	{ F(kallsyms_strtab), "mod_kallsyms", { "strtab" }, false },
	{ F(pcpu_hot_current), "pcpu_hot", { "current_task" }, false },
	/* cgroups: filtering by cgroup, nothing else, needs them */
	{ F(task_cgroups), "task_struct", { "cgroups" }, false },
	{ F(cset_dfl_cgrp), "css_set", { "dfl_cgrp" }, false },
	{ F(cgroup_kn), "cgroup", { "kn" }, false },
	{ F(kn_parent), "kernfs_node", { "parent" }, false },
	{ F(kn_name), "kernfs_node", { "name" }, false },
};
#undef F

/* The type behind typedefs and qualifiers. */
static const struct btf_type *strip(const struct btf *btf, uint32_t id, uint32_t *out_id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);

	for (int i = 0; t && i < MAX_TYPE_CHAIN; i++) {
		if (!btf_is_typedef(t) && !btf_is_const(t) && !btf_is_volatile(t) && !btf_is_restrict(t) &&
		    !btf_is_type_tag(t))
			break;
		id = t->type;
		t = btf__type_by_id(btf, id);
	}
	if (out_id)
		*out_id = id;
	return t;
}

/* Searches composite type t for a member called name, descending into
 * anonymous members.  On success *bit_off has the member's offset added,
 * *type_id is its type and *bit_size its bitfield width (0 if none). */
static int find_member(const struct btf *btf, const struct btf_type *t, const char *name, int depth, uint64_t *bit_off,
                       uint32_t *type_id, uint32_t *bit_size)
{
	const struct btf_member *m = btf_members(t);
	int vlen = btf_vlen(t);

	for (int i = 0; i < vlen; i++) {
		const char *mname = btf__name_by_offset(btf, m[i].name_off);
		uint64_t off = *bit_off + btf_member_bit_offset(t, i);

		if (mname && *mname) {
			if (strcmp(mname, name))
				continue;
			*bit_off = off;
			*type_id = m[i].type;
			*bit_size = btf_member_bitfield_size(t, i);
			return 0;
		}
		const struct btf_type *mt = strip(btf, m[i].type, NULL);
		if (depth < MAX_ANON_DEPTH && mt && btf_is_composite(mt) &&
		    !find_member(btf, mt, name, depth + 1, &off, type_id, bit_size)) {
			*bit_off = off;
			return 0;
		}
	}
	return -1;
}

int gos_btf_member(const struct btf *btf, const char *type_name, const char *path, struct gos_field *f)
{
	int32_t id = btf__find_by_name_kind(btf, type_name, BTF_KIND_STRUCT);
	uint32_t cur, bit_size = 0;
	uint64_t bit_off = 0;
	const struct btf_type *t;
	char comp[64];

	if (id < 0)
		return -1;
	cur = (uint32_t)id;
	t = strip(btf, cur, &cur);
	while (*path) {
		size_t len = strcspn(path, ".");
		if (len == 0 || len >= sizeof(comp) || !t)
			return -1;
		memcpy(comp, path, len);
		comp[len] = 0;
		path += len + (path[len] == '.');
		/* An array on the way is entered at its first element. */
		if (btf_is_array(t))
			t = strip(btf, btf_array(t)->type, &cur);
		if (!t || !btf_is_composite(t))
			return -1;
		if (find_member(btf, t, comp, 0, &bit_off, &cur, &bit_size))
			return -1;
		t = strip(btf, cur, &cur);
		if (*path && bit_size)
			return -1;
	}
	if (bit_size) {
		f->off = (uint32_t)(bit_off / 8);
		f->bit_off = bit_off % 8;
		f->bit_size = bit_size;
		f->size = (f->bit_off + bit_size + 7) / 8;
		if (f->size > 8)
			return -1;
	} else {
		int64_t size = btf__resolve_size(btf, cur);
		if (bit_off % 8 || size <= 0 || size > UINT32_MAX)
			return -1;
		f->off = (uint32_t)(bit_off / 8);
		f->size = (uint32_t)size;
		f->bit_off = f->bit_size = 0;
	}
	f->present = true;
	return 0;
}

int gos_layout_from_btf(const struct btf *btf, struct gos_layout *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const struct member_spec *s = &specs[i];
		struct gos_field *f = (struct gos_field *)((char *)l + s->field);

		for (int a = 0; a < 3 && s->path[a] && !f->present; a++)
			if (gos_btf_member(btf, s->type, s->path[a], f))
				memset(f, 0, sizeof(*f));
		if (!f->present && s->required)
			return gos_err(err, errlen, "guestos: kernel BTF has no %s.%s", s->type, s->path[0]);
	}
	/* Members read as integers must fit in one. */
	const struct gos_field *scalars[] = { &l->task_pid,      &l->task_tgid,       &l->task_real_parent,
		                              &l->task_cred,     &l->task_state,      &l->task_exit_state,
		                              &l->task_flags,    &l->task_mm,         &l->task_files,
		                              &l->cred_uid,      &l->cred_euid,       &l->mm_pgd,
		                              &l->mm_arg_start,  &l->mm_arg_end,      &l->files_fdt,
		                              &l->fdt_max_fds,   &l->fdt_fd,          &l->file_dentry,
		                              &l->file_mnt,      &l->dentry_name_len, &l->dentry_name,
		                              &l->dentry_parent, &l->mount_parent,    &l->mount_mountpoint,
		                              &l->vfsmount_root, &l->dentry_op,       &l->dops_dname,
		                              &l->dentry_inode,  &l->inode_ino,       &l->dentry_sb,
		                              &l->sb_type,       &l->fstype_name,     &l->dentry_hash_pprev,
		                              &l->mm_exe_file,   &l->task_cgroups,    &l->cset_dfl_cgrp,
		                              &l->cgroup_kn,     &l->kn_parent,       &l->kn_name };
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		if (scalars[i]->size > 8)
			return gos_err(err, errlen,
			               "guestos: kernel BTF has a %u-byte member where an integer was expected",
			               scalars[i]->size);
	if (l->task_comm.size < 2 || l->task_comm.size > 64)
		return gos_err(err, errlen, "guestos: kernel BTF has task_struct.comm of %u bytes", l->task_comm.size);
	return 0;
}

uint64_t gos_field_get(const struct gos_field *f, const uint8_t *bytes)
{
	uint64_t v = 0;
	uint32_t size = f->size > 8 ? 8 : f->size;

	for (uint32_t i = 0; i < size; i++)
		v |= (uint64_t)bytes[i] << (8 * i);
	if (f->bit_size) {
		v >>= f->bit_off;
		if (f->bit_size < 64)
			v &= (1ULL << f->bit_size) - 1;
	}
	return v;
}
