/* The machine builder: a runnable VM from a vm_config.
 *
 * Order matters and is the one place it is written down: the VM's core
 * (memory, buses), the engine (KVM creates its VM and in-kernel irqchip
 * here), the board (its PIC/IOAPIC models only when the engine has no
 * irqchip), the virtio devices on the board's PCI bus (virtio-rng and
 * virtio-console always: they cost a PCI slot each and nothing until the
 * guest uses them; one virtio-blk
 * per --disk, virtio-net per --net,
 * virtio-vsock for --vsock), the loader (it needs the ACPI tables'
 * address), then the vCPUs with the loader's entry state on the boot one.
 * machine_destroy undoes it in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "cpu/engine.h"
#include "hw/board.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/vsock.h"
#include "machine/builder.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "machine/snapshot_format.h"
#include "symbiont/abi/cpuid.h"
#include "machine/snapshot_zstd.h"
#include "host/net.h"
#include "symbiont/memory.h"

struct virtio_set {
	struct virtio_rng *rng;
	struct virtio_console *console;
	struct virtio_blk *blk[VM_MAX_DISKS];
	void *net[VM_MAX_NICS];
	void *vsock;
};

struct machine {
	struct vm *vm;
	struct board *board;
	struct virtio_set virtio;
	/* Restored machines: the decoded snapshot (vm->cfg's strings point
	 * into it), its state file's bytes (device blobs point there) and the
	 * memory file guest RAM is mapped from. */
	struct snapshot *snap;
	uint8_t *snap_data;
	int mem_fd;
	uint64_t clock_step_ns; /* how far restore moves the VM's clock on (restore_clock_step) */
	struct migration *mig;  /* the migrate commands' state (with a control socket) */
};

bool machine_engine_known(const char *name)
{
	return engine_known(name);
}

const char *machine_engine_names(void)
{
	return engine_names;
}

/* The configuration's own mistakes, found before any device, thread or
 * mapping exists, with the same parsers the devices use. */
static int config_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t host = host_ram_size();

	if (cfg->cpu_model && strcmp(cfg->cpu_model, "host") && strcmp(cfg->cpu_model, "portable")) {
		snprintf(err, errlen, "--cpu-model must be host or portable, not '%s'", cfg->cpu_model);
		return -1;
	}
	if (cfg->mem_size < MEM_MIN_SIZE || cfg->mem_size > MEM_MAX_SIZE || (cfg->mem_size & 0xfff)) {
		snprintf(err, errlen, "--mem: %llu KiB is not a multiple of 4K between 16M and 1T",
		         (unsigned long long)(cfg->mem_size >> 10));
		return -1;
	}
	if (host && cfg->mem_size > host) {
		snprintf(err, errlen, "--mem: %llu MiB is more than this host's %llu MiB of physical memory",
		         (unsigned long long)(cfg->mem_size >> 20), (unsigned long long)(host >> 20));
		return -1;
	}
	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "--cpus %d: must be 1..%d", cfg->ncpus, VM_MAX_CPUS);
		return -1;
	}
	struct vsched_spec sched;
	if (cfg->sched && vsched_parse(cfg->sched, &sched, err, errlen) < 0)
		return -1;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	if (cfg->sched && online > 0 && online < 64 && sched.cpus >> online) {
		snprintf(err, errlen, "--sched %s: cpus= names a CPU this host does not have (it has %ld online)",
		         cfg->sched, online);
		return -1;
	}
	for (int i = 0; i < cfg->ndisks; i++)
		if (virtio_blk_spec_check(cfg->disks[i], err, errlen) < 0)
			return -1;
	for (int i = 0; i < cfg->nnets; i++)
		if (net_spec_check(cfg->nets[i], err, errlen) < 0)
			return -1;
	if (virtio_vsock_spec_check(cfg->vsock, cfg->label, cfg->policy, err, errlen) < 0)
		return -1;
	return 0;
}

int machine_host_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (virtio_vsock_host_check(cfg->vsock, cfg->label, cfg->policy, err, errlen) == 0)
		return 0;
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

int machine_config_check(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (config_check(cfg, err, errlen) == 0)
		return 0;
	/* Messages quote the user's value: keep them on one line whatever it holds. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

static int virtio_init(struct machine *m, char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	const struct vm_config *c = &vm->cfg;
	struct virtio_set *s = &m->virtio;
	struct pci_host *pci = m->board->pci;

	for (int i = 0; i < c->ndisks; i++)
		if (!(s->blk[i] = virtio_blk_create(vm, pci, c->disks[i], err, errlen)))
			return -1;
	for (int i = 0; i < c->nnets; i++)
		if (!(s->net[i] = virtio_net_create(vm, pci, c->nets[i], err, errlen)))
			return -1;
	if (c->vsock && !(s->vsock = virtio_vsock_create(vm, pci, c->vsock, c->label, c->policy, err, errlen)))
		return -1;
	if (s->vsock) {
		/* For the guest's socket accelerator: a user network's guest reaches
		 * the host (so the other members' forwarded ports) at its gateway. */
		uint16_t fwd[64][2];
		int n = 0;
		bool user = false;
		for (int i = 0; i < c->nnets; i++) {
			if (!strcmp(c->nets[i], "user"))
				user = true;
			else if (!strncmp(c->nets[i], "user,", 5))
				user = true, n += net_slirp_tcp_forwards(c->nets[i] + 5, fwd + n, 64 - n);
		}
		virtio_vsock_publish_tcp(s->vsock, fwd, n, user ? "10.0.2.2" : NULL);
	}
	if (!(s->console = virtio_console_create(vm, pci, m->board->console, err, errlen)))
		return -1;
	if (!(s->rng = virtio_rng_create(vm, pci, err, errlen)))
		return -1;
	return 0;
}

/* Called with the vCPUs stopped and without io_lock (disk workers may be
 * waiting for it to complete a request). */
static void virtio_fini(struct virtio_set *s)
{
	virtio_rng_destroy(s->rng);
	virtio_console_destroy(s->console);
	if (s->vsock)
		virtio_vsock_destroy(s->vsock);
	for (int i = 0; i < VM_MAX_NICS; i++)
		if (s->net[i])
			virtio_net_destroy(s->net[i]);
	for (int i = 0; i < VM_MAX_DISKS; i++)
		virtio_blk_destroy(s->blk[i]);
	*s = (struct virtio_set){ 0 };
}

static int load_kernel(struct machine *m, struct x86_state *bsp, char *err, size_t errlen)
{
	const struct vm_config *c = &m->vm->cfg;
	struct boot_info bi = { .cmdline = c->append, .acpi_rsdp = m->board->acpi_rsdp, .ncpus = m->vm->ncpus };

	if (!c->kernel) {
		snprintf(err, errlen, "no kernel to boot");
		return -1;
	}
	return boot_load_files(&m->vm->mem, c->kernel, c->initrd, &bi, bsp, err, errlen);
}

/* Everything but the guest's contents: the core, engine, board, devices and
 * vCPUs at power-on.  restore_map (or NULL) is called between the core and
 * the engine, so an engine that maps guest RAM (KVM) maps the final
 * mapping. */
static int build_hardware(struct machine *m, const struct vm_config *cfg,
                          int (*restore_map)(struct machine *m, char *err, size_t errlen), char *err, size_t errlen)
{
	struct vm *vm;

	if (!(vm = m->vm = vm_new(cfg, err, errlen)))
		return -1;
	if (restore_map && restore_map(m, err, errlen) < 0)
		return -1;
	vm->engine = engine_select(cfg->engine, err, errlen);
	if (!vm->engine)
		return -1;
	if (vm->engine->init(vm, err, errlen) < 0) {
		vm->engine = NULL; /* init cleaned up after itself */
		return -1;
	}
	if (!(m->board = board_init(vm, !vm->engine->has_irqchip, err, errlen)))
		return -1;
	if (virtio_init(m, err, errlen) < 0)
		return -1;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = calloc(1, sizeof(*c));
		if (!c) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->vm = vm;
		c->id = i;
		vm->vcpus[i] = c;
		if (vm->engine->vcpu_init(c, err, errlen) < 0) {
			free(c);
			vm->vcpus[i] = NULL;
			return -1;
		}
	}
	return 0;
}

struct machine *machine_build(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	struct x86_state bsp;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->mem_fd = -1;
	if (build_hardware(m, cfg, NULL, err, errlen) < 0)
		goto fail;
	if (load_kernel(m, &bsp, err, errlen) < 0)
		goto fail;
	if (m->vm->engine->vcpu_set_state(m->vm->vcpus[0], &bsp) < 0) {
		snprintf(err, errlen, "%s: cannot set the boot vCPU's state", m->vm->engine->name);
		goto fail;
	}
	return m;
fail:
	machine_destroy(m);
	return NULL;
}

/* ---- restore ------------------------------------------------------------ */

/* The whole state file, bounded: a file larger than any snapshot we write is
 * refused before it is read. */
static uint8_t *read_state_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > SNAP_MAX_STATE) {
		snprintf(err, errlen, "%s: not a snapshot state file (size %lld)", path, (long long)st.st_size);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "shorter than it was");
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)r;
	}
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Disks are referenced, not copied: the guest's page cache in the snapshot
 * matches the disk as it was, so a disk changed since is refused. */
static int check_disks(const struct snapshot *s, bool force, char *err, size_t errlen)
{
	for (int i = 0; i < s->ndisks; i++) {
		char path[4200];
		struct stat st;
		const struct snap_disk_ref *d = &s->disk_ref[i];
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(s->disks[i], ","), s->disks[i]);
		if (stat(path, &st) < 0) {
			snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
			return -1;
		}
		if (force)
			continue;
		if ((uint64_t)st.st_size != d->size || st.st_mtim.tv_sec != d->mtime_sec ||
		    (uint32_t)st.st_mtim.tv_nsec != d->mtime_nsec) {
			snprintf(err, errlen,
			         "disk %s changed since the snapshot (size or mtime); --force uses it anyway", path);
			return -1;
		}
	}
	return 0;
}

/* How far the VM's clock moves forward at restore: the host wall-clock time
 * that passed since the snapshot (or the migration's stop), so that the
 * guest's own wall clock (boot time + its monotonic clock) is right again.
 * Every guest time source (TSC, LAPIC and PIT timers, PM timer, RTC) reads
 * the VM clock, so they all move together, as after a long host suspend.
 * Bounded: a Linux clocksource converts deltas of at most 600 s exactly
 * (clocksource core, 6.1: larger ones may overflow into a wrong time), so a
 * snapshot older than that comes back that much behind, with a note. */
#define RESTORE_MAX_CLOCK_STEP_NS (600ull * 1000000000ull)

static uint64_t restore_clock_step(const struct snapshot *snap, uint64_t *age)
{
	struct timespec t;
	*age = 0;
	if (!snap->wall_ns)
		return 0; /* the moment is not known (a test's snapshot) */
	clock_gettime(CLOCK_REALTIME, &t);
	uint64_t now = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
	if (now <= snap->wall_ns)
		return 0; /* the host's clock went back: never move the guest's back */
	*age = now - snap->wall_ns;
	return *age < RESTORE_MAX_CLOCK_STEP_NS ? *age : RESTORE_MAX_CLOCK_STEP_NS;
}

/* The same step in the guest's TSC ticks, at the frequency the guest was
 * told where the snapshot was taken (symbiont's timing leaf, 0x40000010):
 * the guest's clocksource is the TSC, so this is what moves its clock. */
static uint64_t restore_tsc_step(const struct snapshot *snap, uint64_t step_ns)
{
	for (int i = 0; i < snap->ncpuid; i++)
		if (snap->cpuid[i].leaf == SYM_CPUID_LEAF_TIMING)
			return (uint64_t)((unsigned __int128)step_ns * snap->cpuid[i].r[0] / 1000000u);
	return 0;
}

/* Between the VM's core and its engine: guest RAM becomes a private mapping
 * of the memory file (pages load when first touched, writes stay in this
 * process), and the VM's clock continues from the snapshot's time plus the
 * wall-clock time since (restore_clock_step). */
static int restore_map(struct machine *m, char *err, size_t errlen)
{
	struct vm *vm = m->vm;
	void *p = mmap(vm->mem.host, vm->mem.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
	               m->mem_fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mapping the snapshot's memory: %s", strerror(errno));
		return -1;
	}
	atomic_store(&vm->time_stopped, vm_clock_read(&vm->clock) - m->snap->clock_ns - m->clock_step_ns);
	return 0;
}

/* The interrupt controller models exist only where the engine has no
 * irqchip of its own (emu): their state is skipped across engines. */
static bool irqchip_model(const char *id)
{
	size_t n = strcspn(id, ".");
	return (n == 3 && !strncmp(id, "pic", 3)) || (n == 6 && !strncmp(id, "ioapic", 6));
}

/* The features the snapshot's CPU offered that this engine's does not, as
 * one line in note ("" when none or when the engine cannot tell): a guest
 * that probed them before the snapshot may use them and fault.  Not a
 * refusal: the engines' models differ (kvm offers the host's features, emu
 * its own), and most guests that move do not use the difference. */
static void cpu_model_note(struct vm *vm, const struct snapshot *s, char *note, size_t notelen)
{
	size_t at = 0;
	static const char reg[] = "abcd";

	if (!note || !notelen)
		return;
	note[0] = 0;
	for (int i = 0; i < s->ncpuid && vm->engine->vcpu_cpuid; i++) {
		const struct snap_cpuid *c = &s->cpuid[i];
		uint32_t here[4];
		for (int l = 0; l < snap_cpuid_nleaves; l++) {
			const struct snap_cpuid_leaf *f = &snap_cpuid_leaves[l];
			if (f->leaf != c->leaf || f->sub != c->sub ||
			    vm->engine->vcpu_cpuid(vm->vcpus[0], c->leaf, c->sub, here) < 0)
				continue;
			for (int r = 0; r < 4; r++) {
				uint32_t missing = c->r[r] & ~here[r] & f->feature_mask[r];
				if (missing && at < notelen)
					at += (size_t)snprintf(note + at, notelen - at, " %#x.%u e%cx %#x", c->leaf,
					                       c->sub, reg[r], missing);
			}
		}
	}
	if (note[0]) {
		char list[200];
		snprintf(list, sizeof(list), "%s", note);
		snprintf(
		        note, notelen,
		        "the snapshot's CPU (%s) offered features the %s engine lacks (leaf.sub register bits:%s); a guest "
		        "that uses them would fault",
		        s->engine, vm->engine->name, list);
	}
}

static int load_devices(struct vm *vm, const struct snapshot *s, char *err, size_t errlen)
{
	int rc = 0;
	char why[256];

	pthread_mutex_lock(&vm->io_lock);
	for (int i = 0; i < s->ndevices && rc == 0; i++) {
		const struct vm_device *d = vm_device_find(vm, s->dev[i].id);
		if (!d) {
			if (irqchip_model(s->dev[i].id))
				continue;
			snprintf(err, errlen, "snapshot has device %s, which this machine lacks", s->dev[i].id);
			rc = -1;
		} else if (device_load(d->ops, d->dev, s->dev[i].blob, s->dev[i].len, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "snapshot device %s: %s", s->dev[i].id, why);
			rc = -1;
		}
	}
	for (int i = 0; i < vm_device_count(vm) && rc == 0; i++) {
		const struct vm_device *d = vm_device_at(vm, i);
		bool found = false;
		for (int j = 0; j < s->ndevices; j++)
			found |= !strcmp(s->dev[j].id, d->id);
		if (!found && !irqchip_model(d->id)) {
			snprintf(err, errlen, "snapshot lacks the state of device %s", d->id);
			rc = -1;
		}
	}
	pthread_mutex_unlock(&vm->io_lock);
	return rc;
}

/* Reads and checks the snapshot, the memory file and the disks: every
 * failure here is the input's (*bad_input). */
static int restore_inputs(struct machine *m, const struct machine_restore_opts *o, struct vm_config *cfg, char *err,
                          size_t errlen)
{
	char path[4200], why[256];
	size_t len = 0;
	struct stat st;
	struct snapshot *s;

	if (o->state) { /* an incoming migration: the state and RAM came over the stream */
		snprintf(path, sizeof(path), "the incoming machine");
		m->snap_data = o->state;
		len = o->state_len;
		m->mem_fd = o->mem_fd;
	} else {
		snprintf(path, sizeof(path), "%s/%s", o->dir, SNAP_STATE_FILE);
		if (!(m->snap_data = read_state_file(path, &len, err, errlen)))
			return -1;
	}
	if (!(s = m->snap = calloc(1, sizeof(*m->snap)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (snapshot_decode(m->snap_data, len, s, why, sizeof(why)) < 0) {
		free(m->snap);
		m->snap = NULL;
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	*cfg = (struct vm_config){ .engine = o->engine ? o->engine : s->engine,
		                   .kernel = s->kernel,
		                   .initrd = s->initrd,
		                   .append = s->append,
		                   .mem_size = s->mem_size,
		                   .ncpus = s->ncpus,
		                   .serial = o->serial ? o->serial : "stdio",
		                   .ndisks = s->ndisks,
		                   .nnets = s->nnets,
		                   .vsock = s->vsock,
		                   .system_map = s->system_map,
		                   .cpu_model = s->cpu_model,
		                   .label = s->label,
		                   .policy = s->policy };
	memcpy(cfg->disks, s->disks, sizeof(cfg->disks));
	memcpy(cfg->nets, s->nets, sizeof(cfg->nets));
	if (!engine_known(cfg->engine)) {
		snprintf(err, errlen, "%s: engine '%.32s' is not one of %s", path, s->engine, engine_names);
		return -1;
	}
	if (machine_config_check(cfg, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if (check_disks(s, o->force, err, errlen) < 0)
		return -1;
	if (!o->state) {
		snprintf(path, sizeof(path), "%s/%s", o->dir, SNAP_MEMORY_FILE);
		m->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (m->mem_fd < 0 && errno == ENOENT) { /* a compressed snapshot (--compress zstd) */
			char zpath[4200];
			snprintf(zpath, sizeof(zpath), "%s/%s", o->dir, SNAP_MEMORY_ZST_FILE);
			int zfd = open(zpath, O_RDONLY | O_CLOEXEC);
			if (zfd >= 0) {
				m->mem_fd = snap_zstd_read(zfd, s->mem_size, why, sizeof(why));
				close(zfd);
				if (m->mem_fd < 0) {
					snprintf(err, errlen, "%s: %s", o->dir, why);
					return -1;
				}
			} else {
				errno = ENOENT; /* name the uncompressed file */
			}
		}
	}
	if (m->mem_fd < 0 || fstat(m->mem_fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* A shorter file would fault the VMM (SIGBUS) when the guest reaches its end. */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != s->mem_size) {
		snprintf(err, errlen, "%s: %lld bytes, the snapshot's RAM is %llu", path, (long long)st.st_size,
		         (unsigned long long)s->mem_size);
		return -1;
	}
	return 0;
}

struct machine *machine_restore(const struct machine_restore_opts *o, bool *bad_input, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	struct vm_config cfg;
	struct vm *vm;

	*bad_input = false;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		if (o->state) {
			free(o->state);
			close(o->mem_fd);
		}
		return NULL;
	}
	m->mem_fd = -1;
	if (restore_inputs(m, o, &cfg, err, errlen) < 0) {
		*bad_input = true;
		goto fail;
	}
	uint64_t age;
	m->clock_step_ns = restore_clock_step(m->snap, &age);
	if (m->clock_step_ns < age)
		fprintf(stderr,
		        "symbiont: note: the snapshot is %.0f s old; the guest's clock moves forward %.0f s "
		        "and stays behind by the rest\n",
		        age / 1e9, m->clock_step_ns / 1e9);
	if (build_hardware(m, &cfg, restore_map, err, errlen) < 0)
		goto fail;
	vm = m->vm;
	/* The board wrote its tables into RAM as at power-on: map the file
	 * again over them (the guest may have reused that memory since). */
	if (restore_map(m, err, errlen) < 0)
		goto fail;
	if (vm->mem.low_size)
		vm_mem_written(vm, 0, vm->mem.low_size);
	if (vm->mem.size > vm->mem.low_size)
		vm_mem_written(vm, MEM_4G, vm->mem.size - vm->mem.low_size);
	/* A guest that probed a feature before the snapshot uses it without
	 * asking again: on an engine without it, it faults.  Refused unless
	 * forced (then a note), as QEMU refuses a CPU model that cannot be
	 * honoured; --cpu-model portable avoids it. */
	char cpu_note[400];
	cpu_model_note(vm, m->snap, cpu_note, sizeof(cpu_note));
	if (cpu_note[0] && !o->force_cpu) {
		snprintf(err, errlen, "%s (--force restores it anyway)", cpu_note);
		*bad_input = true;
		goto fail;
	}
	if (o->note && o->notelen)
		snprintf(o->note, o->notelen, "%s", cpu_note);
	if (load_devices(vm, m->snap, err, errlen) < 0) {
		*bad_input = true;
		goto fail;
	}
	uint64_t tsc_step = restore_tsc_step(m->snap, m->clock_step_ns);
	for (int i = 0; i < vm->ncpus; i++) {
		m->snap->cpu[i].msr.tsc += tsc_step;
		if (vm->engine->vcpu_set_state(vm->vcpus[i], &m->snap->cpu[i]) < 0) {
			snprintf(err, errlen, "snapshot vCPU %d: the %s engine refused its state", i, vm->engine->name);
			*bad_input = true;
			goto fail;
		}
	}
	return m;
fail:
	machine_destroy(m);
	return NULL;
}

void machine_control_register(struct machine *m)
{
	snapshot_control_register(m->vm);
	m->mig = migrate_control_register(m->vm);
	virtio_vsock_control_register(m->virtio.vsock);
}

void machine_control_stop(struct machine *m)
{
	if (m)
		migrate_stop(m->mig);
}

struct vm *machine_vm(struct machine *m)
{
	return m->vm;
}

void machine_destroy(struct machine *m)
{
	struct vm *vm;

	if (!m)
		return;
	vm = m->vm;
	if (vm) {
		for (int i = 0; i < vm->ncpus; i++) {
			if (vm->vcpus[i]) {
				if (vm->engine && vm->engine->vcpu_destroy)
					vm->engine->vcpu_destroy(vm->vcpus[i]);
				free(vm->vcpus[i]);
				vm->vcpus[i] = NULL;
			}
		}
	}
	migrate_free(m->mig);
	virtio_fini(&m->virtio);
	board_destroy(m->board);
	if (vm && vm->engine && vm->engine->destroy)
		vm->engine->destroy(vm);
	vm_free(vm);
	if (m->snap)
		snapshot_free(m->snap);
	free(m->snap);
	free(m->snap_data);
	if (m->mem_fd >= 0)
		close(m->mem_fd);
	free(m);
}
