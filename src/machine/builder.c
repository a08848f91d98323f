/* The machine builder: a runnable VM from a vm_config.
 *
 * Order matters and is the one place it is written down: the VM's core
 * (memory, buses), the engine (KVM creates its VM and in-kernel irqchip
 * here), the board (its PIC/IOAPIC models only when the engine has no
 * irqchip), the virtio devices on the board's PCI bus (virtio-rng and
 * virtio-console always: they cost a PCI slot each and nothing until the
 * guest uses them; one virtio-blk per --disk, virtio-net per --net,
 * virtio-vsock for --vsock), the loader (it needs the ACPI tables'
 * address), then the vCPUs with the loader's entry state on the boot one.
 * machine_destroy undoes it in reverse. */
#include <stdio.h>
#include <stdlib.h>

#include "boot/boot.h"
#include "cpu/engine.h"
#include "hw/board.h"
#include "hw/virtio/blk.h"
#include "hw/virtio/console.h"
#include "hw/virtio/net.h"
#include "hw/virtio/rng.h"
#include "hw/virtio/vsock.h"
#include "machine/builder.h"
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
	for (int i = 0; i < cfg->ndisks; i++)
		if (virtio_blk_spec_check(cfg->disks[i], err, errlen) < 0)
			return -1;
	for (int i = 0; i < cfg->nnets; i++)
		if (net_spec_check(cfg->nets[i], err, errlen) < 0)
			return -1;
	if (cfg->vsock && virtio_vsock_spec_check(cfg->vsock, err, errlen) < 0)
		return -1;
	return 0;
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
	if (c->vsock && !(s->vsock = virtio_vsock_create(vm, pci, c->vsock, err, errlen)))
		return -1;
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

struct machine *machine_build(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	struct x86_state bsp;
	struct vm *vm;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!(vm = m->vm = vm_new(cfg, err, errlen)))
		goto fail;
	vm->engine = engine_select(cfg->engine, err, errlen);
	if (!vm->engine)
		goto fail;
	if (vm->engine->init(vm, err, errlen) < 0) {
		vm->engine = NULL; /* init cleaned up after itself */
		goto fail;
	}
	if (!(m->board = board_init(vm, !vm->engine->has_irqchip, err, errlen)))
		goto fail;
	if (virtio_init(m, err, errlen) < 0)
		goto fail;
	if (load_kernel(m, &bsp, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = calloc(1, sizeof(*c));
		if (!c) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		c->vm = vm;
		c->id = i;
		vm->vcpus[i] = c;
		if (vm->engine->vcpu_init(c, err, errlen) < 0) {
			free(c);
			vm->vcpus[i] = NULL;
			goto fail;
		}
	}
	if (vm->engine->vcpu_set_state(vm->vcpus[0], &bsp) < 0) {
		snprintf(err, errlen, "%s: cannot set the boot vCPU's state", vm->engine->name);
		goto fail;
	}
	return m;
fail:
	machine_destroy(m);
	return NULL;
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
	virtio_fini(&m->virtio);
	board_destroy(m->board);
	if (vm && vm->engine && vm->engine->destroy)
		vm->engine->destroy(vm);
	vm_free(vm);
	free(m);
}
