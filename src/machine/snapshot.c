/* Taking a snapshot: pause, save every device and vCPU, write the state
 * file and the sparse memory image into DIR.tmp, rename it to DIR, resume.
 * A reader never sees half a snapshot: DIR exists only once both files are
 * whole and synced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cpu/engine.h"
#include "machine/snapshot.h"
#include "machine/snapshot_format.h"
#include "machine/snapshot_zstd.h"
#include "symbiont/control.h"
#include "symbiont/vcpu.h"
#include "symbiont/vm.h"

/* A device with host work in flight (a disk request, an open vsock
 * connection) refuses to save: let the guest run a little and try again,
 * this many times, this far apart, before giving up. */
#define SAVE_ATTEMPTS 100
#define SAVE_RETRY_US 20000

void snapshot_free_blobs(struct snapshot *s)
{
	for (int i = 0; i < s->ndevices; i++)
		free((void *)s->dev[i].blob);
	s->ndevices = 0;
}

/* With the VM paused: every device's blob, or -1 with the refusal in err. */
static int save_devices(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < vm_device_count(vm) && rc == 0; i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		uint8_t *blob;
		size_t len;
		if (device_save(d->ops, d->dev, &blob, &len, err, errlen) < 0) {
			rc = -1;
			break;
		}
		snprintf(s->dev[s->ndevices].id, sizeof(s->dev[0].id), "%s", d->id);
		s->dev[s->ndevices].blob = blob;
		s->dev[s->ndevices].len = (uint32_t)len;
		s->ndevices++;
	}
	pthread_mutex_unlock(&vm->io_lock);
	if (rc < 0)
		snapshot_free_blobs(s);
	return rc;
}

/* Pauses the VM with every device saved: 0 (paused), or -1 (running). */
int snapshot_pause_and_save(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		if (vm_pause(vm) < 0) {
			snprintf(err, errlen, "the VM is shutting down");
			return -1;
		}
		if (save_devices(vm, s, err, errlen) == 0)
			return 0;
		vm_resume(vm);
		if (attempt + 1 == SAVE_ATTEMPTS)
			return -1;
		usleep(SAVE_RETRY_US);
	}
}

static int disk_refs(const struct vm_config *c, struct snapshot *s, char *err, size_t errlen)
{
	for (int i = 0; i < c->ndisks; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(c->disks[i], ","), c->disks[i]);
		if (stat(path, &st) < 0) {
			snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
			return -1;
		}
		s->disk_ref[i] =
		        (struct snap_disk_ref){ (uint64_t)st.st_size, st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec };
	}
	return 0;
}

static int write_all(int fd, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w, n -= (size_t)w, off += (uint64_t)w;
	}
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	return p[0] == 0 && !memcmp(p, p + 1, SNAP_PAGE_SIZE - 1);
}

/* Guest RAM as a flat image the size of RAM: runs of non-zero pages are
 * written, zero pages stay holes (read back as zeros, cost no disk). */
static int write_memory(const struct guest_mem *mem, const char *path, uint64_t *data_pages, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	uint64_t pages = mem->size / SNAP_PAGE_SIZE, n = 0;

	if (fd < 0 || ftruncate(fd, (off_t)mem->size) < 0)
		goto fail;
	for (uint64_t i = 0; i < pages;) {
		if (page_is_zero(mem->host + i * SNAP_PAGE_SIZE)) {
			i++;
			continue;
		}
		uint64_t j = i + 1;
		while (j < pages && j - i < 4096 && !page_is_zero(mem->host + j * SNAP_PAGE_SIZE))
			j++;
		if (write_all(fd, mem->host + i * SNAP_PAGE_SIZE, (j - i) * SNAP_PAGE_SIZE, i * SNAP_PAGE_SIZE) < 0)
			goto fail;
		n += j - i;
		i = j;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(fd);
	*data_pages = n;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int write_state(const struct snapshot *s, const char *path, uint64_t *bytes, char *err, size_t errlen)
{
	struct state_buf b = { 0 };
	int fd = -1;

	snapshot_encode(s, &b);
	if (b.failed) {
		snprintf(err, errlen, "out of memory encoding the snapshot");
		free(b.data);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, b.data, b.len, 0) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(b.data);
		return -1;
	}
	close(fd);
	*bytes = b.len;
	free(b.data);
	return 0;
}

static void sync_dir_of(const char *path)
{
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(parent, sizeof(parent), ".");
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int snapshot_fill(struct vm *vm, struct snapshot *s, char *err, size_t errlen)
{
	const struct vm_config *c = &vm->cfg;

	s->engine = (char *)(vm->engine ? vm->engine->name : "auto");
	s->kernel = (char *)c->kernel;
	s->initrd = (char *)c->initrd;
	s->append = (char *)c->append;
	s->system_map = (char *)c->system_map;
	s->vsock = (char *)c->vsock;
	s->label = (char *)c->label;
	s->policy = (char *)c->policy;
	s->cpu_model = (char *)(vm_cpu_model_portable(vm) ? "portable" : "host");
	s->ndisks = c->ndisks;
	memcpy(s->disks, c->disks, sizeof(c->disks));
	s->nnets = c->nnets;
	memcpy(s->nets, c->nets, sizeof(c->nets));
	s->mem_size = vm->mem.size;
	s->ncpus = vm->ncpus;
	s->clock_ns = vm_now(vm);
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	s->wall_ns = (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm_vcpu_get_state(vm, i, &s->cpu[i], err, errlen) < 0)
			return -1;
	/* The CPU model: what the guest may have probed and now uses. */
	for (int i = 0; i < snap_cpuid_nleaves && vm->engine->vcpu_cpuid; i++) {
		struct snap_cpuid *c = &s->cpuid[s->ncpuid];
		c->leaf = snap_cpuid_leaves[i].leaf;
		c->sub = snap_cpuid_leaves[i].sub;
		if (vm->engine->vcpu_cpuid(vm->vcpus[0], c->leaf, c->sub, c->r) == 0)
			s->ncpuid++;
	}
	return disk_refs(c, s, err, errlen);
}

/* Writes the files of a paused VM into tmp. */
static int write_snapshot(struct vm *vm, struct snapshot *s, const char *tmp, bool compress,
                          struct snapshot_result *res, char *err, size_t errlen)
{
	char path[4200];

	if (snapshot_fill(vm, s, err, errlen) < 0)
		return -1;
	if (mkdir(tmp, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (compress) {
		for (uint64_t i = 0; i < vm->mem.size / SNAP_PAGE_SIZE; i++)
			s->ram_data_pages += !page_is_zero(vm->mem.host + i * SNAP_PAGE_SIZE);
		snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_MEMORY_ZST_FILE);
		if (snap_zstd_write(vm->mem.host, vm->mem.size, path, err, errlen) < 0)
			return -1;
		struct stat st;
		res->memory_file_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	} else {
		snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_MEMORY_FILE);
		if (write_memory(&vm->mem, path, &s->ram_data_pages, err, errlen) < 0)
			return -1;
		res->memory_file_bytes = s->ram_data_pages * SNAP_PAGE_SIZE;
	}
	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_STATE_FILE);
	if (write_state(s, path, &res->state_bytes, err, errlen) < 0)
		return -1;
	res->ram_data_pages = s->ram_data_pages;
	res->ram_bytes = vm->mem.size;
	return 0;
}

static void remove_tmp(const char *tmp)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_STATE_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_MEMORY_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_MEMORY_ZST_FILE);
	unlink(path);
	rmdir(tmp);
}

int snapshot_take(struct vm *vm, const char *dir, bool stop, bool compress, bool *stopped, struct snapshot_result *res,
                  char *err, size_t errlen)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	char tmp[4100];
	struct stat st;
	int rc = -1;

	*stopped = false;
	memset(res, 0, sizeof(*res));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!*dir || strlen(dir) > 4000) {
		snprintf(err, errlen, "snapshot: the directory name is empty or too long");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", dir);
	if (lstat(dir, &st) == 0 || lstat(tmp, &st) == 0) {
		snprintf(err, errlen, "%s exists: a snapshot goes to a new directory",
		         lstat(dir, &st) == 0 ? dir : tmp);
		goto out;
	}
	uint64_t t0 = mono_ns();
	if (snapshot_pause_and_save(vm, s, err, errlen) < 0)
		goto out;
	if (write_snapshot(vm, s, tmp, compress, res, err, errlen) < 0) {
		remove_tmp(tmp);
		vm_resume(vm);
		goto out;
	}
	if (rename(tmp, dir) < 0) {
		snprintf(err, errlen, "rename %s to %s: %s", tmp, dir, strerror(errno));
		remove_tmp(tmp);
		vm_resume(vm);
		goto out;
	}
	sync_dir_of(dir);
	res->paused_ns = mono_ns() - t0;
	if (stop)
		*stopped = true; /* the pause stays, handed to the caller */
	else
		vm_resume(vm);
	rc = 0;
out:
	snapshot_free_blobs(s);
	free(s);
	return rc;
}

/* ---- the control command ------------------------------------------------ */

static int cmd_snapshot(void *opaque, struct json_object *args, struct json_object **ret, char *err, size_t errlen)
{
	struct vm *vm = opaque;
	struct json_object *d, *st;
	struct snapshot_result res;
	bool stopped;

	if (!json_object_object_get_ex(args, "dir", &d) || !json_object_is_type(d, json_type_string)) {
		snprintf(err, errlen, "snapshot: 'dir' (a string) is required");
		return -1;
	}
	bool stop = json_object_object_get_ex(args, "stop", &st) && json_object_get_boolean(st);
	bool compress = false;
	struct json_object *cz;
	if (json_object_object_get_ex(args, "compress", &cz)) {
		if (!json_object_is_type(cz, json_type_string) || strcmp(json_object_get_string(cz), "zstd")) {
			snprintf(err, errlen, "snapshot: 'compress' is \"zstd\" or absent");
			return -1;
		}
		compress = true;
	}
	err[0] = 0;
	if (snapshot_take(vm, json_object_get_string(d), stop, compress, &stopped, &res, err, errlen) < 0)
		return -1;
	if (stopped) {
		if (vm->user_paused) {
			vm_resume(vm); /* the user's own pause holds it already */
		} else {
			vm->user_paused = true; /* ours becomes the user's: `cont` lifts it */
			control_event(vm->control, "STOP", NULL);
		}
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "dir", json_object_new_string(json_object_get_string(d)));
	json_object_object_add(o, "state-bytes", json_object_new_int64((int64_t)res.state_bytes));
	json_object_object_add(o, "ram-bytes", json_object_new_int64((int64_t)res.ram_bytes));
	json_object_object_add(o, "ram-data-bytes",
	                       json_object_new_int64((int64_t)(res.ram_data_pages * SNAP_PAGE_SIZE)));
	json_object_object_add(o, "memory-file-bytes", json_object_new_int64((int64_t)res.memory_file_bytes));
	json_object_object_add(o, "compressed", json_object_new_boolean(compress));
	json_object_object_add(o, "write-ms", json_object_new_double((double)res.paused_ns / 1e6));
	json_object_object_add(o, "stopped", json_object_new_boolean(stop));
	*ret = o;
	return 0;
}

void snapshot_control_register(struct vm *vm)
{
	if (vm->control)
		control_register(vm->control, "snapshot", cmd_snapshot, vm);
}
