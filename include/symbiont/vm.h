/* The machine.  One VM is one process and owns everything: memory, buses,
 * IRQ routing, clock, devices, engine and services.  There are no globals. */
#ifndef SYMBIONT_VM_H
#define SYMBIONT_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "symbiont/bus.h"
#include "symbiont/clock.h"
#include "symbiont/device.h"
#include "symbiont/irq.h"
#include "symbiont/memory.h"
#include "symbiont/timer.h"
#include "symbiont/vsched.h"
#include "symbiont/x86.h"

#define VM_MAX_CPUS     64
#define VM_MAX_FDS      32
#define VM_MAX_DISKS    8
#define VM_MAX_NICS     4
#define VM_MAX_DEVICES  64
#define VM_MAX_SERVICES 32

struct engine_ops;
struct vcpu;
struct sym_service;

struct vm_config {
	const char *engine; /* "auto", "emu" or "kvm" */
	const char *kernel; /* required: the command line fills in the default guest */
	const char *initrd;
	const char *append;
	uint64_t mem_size;
	int ncpus;
	const char *serial; /* "stdio" or "file:PATH" */
	/* Virtio devices, as given on the command line (parsed by the devices:
	 * "PATH[,ro][,serial=ID]", "user[,hostfwd=...]" / "tap:IFNAME",
	 * "CID[,uds=PATH][,group=G]"). */
	const char *disks[VM_MAX_DISKS];
	int ndisks;
	const char *nets[VM_MAX_NICS];
	int nnets;
	const char *vsock; /* NULL: none; "CID[,uds=PATH][,group=NAME|DIR]" */
	/* The VM's MAC label and policy file between the VMs of its vsock
	 * group (docs/vsock.md); NULL: none. */
	const char *label;
	const char *policy;
	/* The kernel's System.map, for guest OS awareness (NULL: System.map
	 * beside the kernel image, if there is one). */
	const char *system_map;
	/* "tcp:HOST:PORT": serve Prometheus metrics there (NULL: no). */
	const char *metrics;
	/* "period=P,slice=S": a VSched reservation (symbiont/vsched.h). */
	const char *sched;
	/* The CPU the guest is shown: NULL or "host" the engine's own (kvm:
	 * the host's features), "portable" the model both engines offer, so
	 * that a snapshot or migration may move between them (docs/snapshot.md).
	 * emu has only the portable model. */
	const char *cpu_model;
	/* The emu engine's block translation: "on" (NULL: the default) or
	 * "off" (every block interpreted, for debugging). */
	const char *emu_translate;
	/* "tcp:HOST:PORT" or "unix:PATH": serve gdb's remote protocol there
	 * (NULL: no); gdb_wait: the guest waits, stopped before its first
	 * instruction, for a client to continue it. */
	const char *gdb;
	bool gdb_wait;
	/* Recorded or replayed (symbiont/replay.h): devices write guest RAM
	 * only inside a register write (virtio-blk without its worker). */
	bool record_replay;
};

/* A file descriptor the event loop watches; the callback runs with
 * vm->io_lock held. */
struct vm_fd {
	int fd;
	void (*ready)(void *opaque);
	void *opaque;
};

struct vm {
	struct vm_config cfg;
	struct guest_mem mem;

	/* Device accesses, timers and fd callbacks all run under io_lock. */
	pthread_mutex_t io_lock;
	struct io_bus pio, mmio;
	struct timer_list timers;
	/* Time as this VM sees it (all devices, engines, timers); host
	 * CLOCK_MONOTONIC unless the engine's init or a test sets a source. */
	struct vm_clock clock;

	/* Where device interrupt lines go: set by the engine at init (KVM's
	 * in-kernel chip, or the board's PIC/IOAPIC models for emu). */
	const struct irqchip_ops *irqchip;
	void *irqchip_ctx;

	const struct engine_ops *engine;
	void *engine_priv;
	/* Recording or replaying (symbiont/replay.h); NULL otherwise. */
	struct replay *replay;
	/* Recording, inside a device register write: the device's writes to
	 * guest RAM are gathered for the log (replay_dma_note). */
	bool dma_capture;
	struct vcpu *vcpus[VM_MAX_CPUS];
	int ncpus;

	/* Every device, board and virtio, in creation order (symbiont/device.h). */
	struct vm_device devices[VM_MAX_DEVICES];
	int ndevices;

	struct vm_fd fds[VM_MAX_FDS];
	int nfds;
	int wake_fd; /* eventfd: wakes the loop when timers or fds change */

	atomic_bool exit_requested;
	atomic_bool stopping;
	int exit_status; /* valid once stopping */

	/* Pausing (pause.c): every vCPU thread parks at a point where its
	 * state is whole; pause_depth > 0 while anyone holds the VM paused. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_int pause_depth;
	int vcpu_threads; /* inside vcpu_run */
	int parked;       /* of those, parked */
	bool time_frozen; /* under pause_lock */
	int time_holds;   /* pauses that stop guest time (under pause_lock) */
	/* Guest time while paused (vm_now): the clock source's reading when it
	 * stopped (0: running) and the total spent stopped. */
	atomic_uint time_seq;
	_Atomic uint64_t time_frozen_at, time_stopped;

	/* The board's power button (ACPI), for the control API; NULL: none. */
	void (*power_button)(void *ctx);
	void *power_button_ctx;

	/* Event hub (event.c): a bit per event type someone subscribed to, the
	 * one thing engines test when nobody listens. */
	atomic_uint events_active;
	struct event_hub *hub;
	atomic_uint hooks_gen; /* changes with the set of CODE_HOOK addresses */
	atomic_uint msrs_gen;  /* changes with the MSR_WRITE subscriptions (sym_msrs) */

	/* A vm_vcpu_work() item (symbiont/vcpu.h), under work_lock (work_fn
	 * is also read without it, as a hint); in_work while it runs, on
	 * work_thread. */
	pthread_mutex_t work_lock;
	_Atomic(void (*)(struct vm *, void *)) work_fn;
	void *work_arg;
	atomic_bool in_work;
	pthread_t work_thread;

	/* Where the guest's SymSpy pages are (guest-physical, 0: none), as the
	 * service taking its SymSpy MSR writes records them; read by anyone
	 * through symbiont/symspy.h. */
	struct {
		_Atomic uint64_t global_gpa;
		_Atomic uint64_t cpu_gpa[VM_MAX_CPUS];
	} symspy;

	/* VSched (vsched.c). */
	struct vsched_spec sched;
	bool sched_on;
	enum { VSCHED_NONE, VSCHED_DEADLINE, VSCHED_USER } sched_mode;
	pthread_mutex_t sched_lock;
	pthread_t sched_thread;
	bool sched_thread_started;
	atomic_bool sched_stop;
	struct vsched_acct *sched_acct; /* per vCPU, under sched_lock */
	bool sched_cap_only;            /* user-level without real-time priority */
	bool sched_io_refused;          /* io= asked, SCHED_DEADLINE refused for the I/O threads */
	int loop_tid;                   /* the event loop's thread (vm_run) */

	/* Services running on this VM (services.c), in start order. */
	struct {
		const struct sym_service *svc;
		void *state;
	} services[VM_MAX_SERVICES];
	int nservices;

	/* Control socket (vm_control.c); NULL without --api/--name. */
	struct control *control;
	char name[72];
	bool user_paused;        /* by the control API's stop (control thread only) */
	const char *exit_reason; /* for the SHUTDOWN event */
	/* --restore: host time from reading the snapshot to starting the vCPUs
	 * (0: booted), for query-metrics. */
	uint64_t restore_ns;

	/* Dirty page log for live migration (dirty.c): while dirty_on, a bit
	 * per 4 KiB page of the flat RAM image (guest_mem's layout) set by
	 * every write that does not come from a vCPU (devices, the VMM); the
	 * engine logs its vCPUs' writes its own way (engine_ops.dirty_log).
	 * Once allocated the bitmap stays until vm_free (a device thread may
	 * be marking it as logging stops). */
	atomic_bool dirty_on;
	_Atomic(uint64_t *) dirty_bits;
	uint64_t dirty_npages;
	/* Set once the machine has migrated away: it must never run here again. */
	atomic_bool migrated;
};

/* The VM's core: memory, buses, timers, clock, the event loop's fds; no
 * engine, devices or vCPUs (src/machine/builder.c adds those, and takes
 * them down before vm_free).  NULL with a one-line reason in err. */
struct vm *vm_new(const struct vm_config *cfg, char *err, size_t errlen);
void vm_free(struct vm *vm);
/* Runs the VM until it powers off, resets or fails; returns the process
 * exit status (see README: power-off 0, debug-exit (v<<1)|1, failure 1). */
int vm_run(struct vm *vm);

/* Ends the VM with this exit status.  Safe from any thread; the first call
 * wins.  The _reason form names why, for the control API's SHUTDOWN event
 * (QEMU's reasons: "guest-shutdown", "host-qmp-quit", "host-signal"...). */
void vm_request_exit(struct vm *vm, int status);
void vm_request_exit_reason(struct vm *vm, int status, const char *reason);

/* Is anyone subscribed to this event type (symbiont/event.h)? */
static inline bool vm_events_wanted(const struct vm *vm, unsigned type)
{
	return atomic_load_explicit(&vm->events_active, memory_order_relaxed) & (1u << type);
}
void vm_event_hub_free(struct vm *vm);

/* Presses the board's power button (the guest decides what to do with it,
 * as on real hardware).  -1 if the board has none. */
int vm_power_button(struct vm *vm);

/* The control socket (vm_control.c): opens it at path and registers the
 * VM's commands; name is what `symbiont ls` shows (may be NULL). */
int vm_control_open(struct vm *vm, const char *path, const char *name, char *err, size_t errlen);
void vm_control_close(struct vm *vm);
static inline bool vm_stopping(const struct vm *vm)
{
	return atomic_load_explicit(&vm->stopping, memory_order_relaxed);
}

/* Now on the VM's clock, less the time the VM spent paused: guest time
 * stands still while it is paused, as in QEMU (pause.c freezes and thaws it
 * under a sequence count, so readers on any thread never see it go back).
 * vm may be NULL (units tested without a VM): the host clock. */
/* Whether the guest is shown the portable CPU model (vm_config.cpu_model). */
static inline bool vm_cpu_model_portable(const struct vm *vm)
{
	return vm->cfg.cpu_model && !strcmp(vm->cfg.cpu_model, "portable");
}

static inline uint64_t vm_now(const struct vm *vm)
{
	if (!vm)
		return host_clock_ns();
	for (;;) {
		unsigned s = atomic_load_explicit(&vm->time_seq, memory_order_acquire);
		if (s & 1)
			continue; /* being frozen or thawed: a few stores */
		uint64_t f = atomic_load_explicit(&vm->time_frozen_at, memory_order_relaxed);
		uint64_t st = atomic_load_explicit(&vm->time_stopped, memory_order_relaxed);
		uint64_t t = f ? f : vm_clock_read(&vm->clock);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&vm->time_seq, memory_order_relaxed) == s)
			return t - st;
	}
}

/* Device access from an engine: takes io_lock and dispatches.  Unclaimed
 * reads return all ones. */
uint64_t vm_pio_read(struct vm *vm, uint16_t port, unsigned size);
void vm_pio_write(struct vm *vm, uint16_t port, uint64_t val, unsigned size);
uint64_t vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size);
void vm_mmio_write(struct vm *vm, uint64_t gpa, uint64_t val, unsigned size);

/* A device wrote guest RAM behind the CPU's back (DMA): the engine drops
 * anything it derived from those bytes (the emu engine's decoded code). */
void vm_mem_written(struct vm *vm, uint64_t gpa, uint64_t len);

/* Dirty page logging for live migration (dirty.c).  start: from now on
 * every write to guest RAM (vCPUs through the engine, devices through
 * vm_mem_written / vm_mem_dirty) is logged; collect ORs into bits (one
 * bit per 4 KiB page of the flat RAM image, vm_dirty_words() words) the
 * pages written since the last collect or the start, and begins a new
 * interval; stop ends logging.  0, or -1 with one line in err (an engine
 * that cannot log).  Not thread-safe between themselves: one migration at
 * a time. */
int vm_dirty_log_start(struct vm *vm, char *err, size_t errlen);
int vm_dirty_log_collect(struct vm *vm, uint64_t *bits, char *err, size_t errlen);
void vm_dirty_log_stop(struct vm *vm);
/* For engines' dirty_collect: ORs vm->dirty_bits into out and clears it. */
void vm_dirty_take(struct vm *vm, uint64_t *out);
static inline uint64_t vm_dirty_words(const struct vm *vm)
{
	return (vm->mem.size / 4096 + 63) / 64;
}
/* Marks [gpa, gpa+len) written (no-op unless logging; bytes outside RAM
 * are ignored).  For writes to guest RAM that are neither a vCPU's nor
 * reported through vm_mem_written (a virtqueue's used ring). */
void vm_dirty_mark(struct vm *vm, uint64_t gpa, uint64_t len);
void replay_dma_note(struct vm *vm, uint64_t gpa, uint64_t len);
static inline void vm_mem_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (atomic_load_explicit(&vm->dirty_on, memory_order_relaxed))
		vm_dirty_mark(vm, gpa, len);
	if (vm->dma_capture)
		replay_dma_note(vm, gpa, len);
}
/* For an engine's write tracking: true while logging and the page at gpa
 * (page aligned, RAM) has not been marked in this interval. */
static inline bool vm_dirty_page_clean(const struct vm *vm, uint64_t gpa_page)
{
	if (!atomic_load_explicit(&vm->dirty_on, memory_order_relaxed))
		return false;
	uint64_t *bits = atomic_load_explicit(&vm->dirty_bits, memory_order_acquire);
	uint64_t off = gpa_page < vm->mem.low_size ? gpa_page : vm->mem.low_size + (gpa_page - MEM_4G);
	uint64_t pg = off / 4096;
	if (!bits || pg >= vm->dirty_npages)
		return false;
	return !(atomic_load_explicit((_Atomic uint64_t *)&bits[pg / 64], memory_order_relaxed) & (1ull << (pg % 64)));
}

/* IRQ lines for devices. */
struct irq_line vm_irq_line(struct vm *vm, unsigned gsi);
void vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);

/* Pausing the guest, for the control API and services.  vm_pause()
 * returns once every vCPU is parked (its state whole, readable and
 * writable through the engine); pauses nest, and the guest runs again when
 * the last holder calls vm_resume().  Never call with io_lock held (a vCPU
 * may need it to reach its parking point).  -1 when the VM is stopping. */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* The same, choosing whether guest time stands still meanwhile (a
 * scheduler that takes the CPU away, as VSched's user-level one does, must
 * not stop the guest's clock: a real CPU's time goes on). */
int vm_pause_hold(struct vm *vm, bool stop_time);
void vm_resume_hold(struct vm *vm, bool stop_time);
bool vm_is_paused(struct vm *vm);
/* A pause hold taken without waiting for the vCPUs to park (they are
 * kicked and park at their next check), released by vm_resume(); callable
 * from a vCPU thread, where vm_pause() would wait for itself.  Guest time
 * stops at once.  -1 when the VM is stopping (no hold taken). */
int vm_pause_request(struct vm *vm);

/* For engines with runs_work: a vm_vcpu_work() item waits; run it with
 * vm_run_work() at a point where every vCPU's state is whole. */
static inline bool vm_work_pending(const struct vm *vm)
{
	return atomic_load_explicit(&vm->work_fn, memory_order_acquire) != NULL;
}
void vm_run_work(struct vm *vm);

/* For engines: true while a pause is wanted; the vCPU thread then calls
 * vm_vcpu_park() at a point where its state is whole (between
 * instructions, outside KVM_RUN), which returns when the VM resumes or is
 * stopping. */
static inline bool vm_pause_pending(const struct vm *vm)
{
	return atomic_load_explicit(&vm->pause_depth, memory_order_relaxed) > 0;
}
void vm_vcpu_park(struct vm *vm);
/* The same for one vCPU, which also waits while it is throttled; and the
 * throttle itself (set: the vCPU is kicked and holds at its next check;
 * cleared: it goes on).  For a scheduler that budgets each vCPU thread. */
void vm_vcpu_hold(struct vcpu *c);
void vm_vcpu_throttle(struct vcpu *c, bool on);
/* Bracket an engine's vcpu_run (vm_run does it). */
void vm_vcpu_thread_enter(struct vm *vm);
void vm_vcpu_thread_leave(struct vm *vm);

/* The irqchip seam, both directions, all with io_lock held.  Towards the
 * CPUs (called by an irqchip model): the level of the ExtINT line (the
 * PIC's INTR, on the BSP's LINT0) and a message for the local APICs
 * (address 0xFEExxxxx, IOAPIC entries and PCI MSIs alike); dropped when the
 * engine delivers interrupts by itself.  From the CPUs (called by an
 * engine): the INTA cycle after ExtINT (vector, or -1) and the EOI of a
 * level-triggered vector. */
void vm_cpu_extint(struct vm *vm, int level);
void vm_cpu_msi(struct vm *vm, uint64_t addr, uint32_t data);
int vm_irqchip_ack(struct vm *vm);
void vm_irqchip_eoi(struct vm *vm, uint8_t vector);

/* Event loop: watch an fd for readability (callback under io_lock). */
int vm_add_fd(struct vm *vm, int fd, void (*ready)(void *), void *opaque);
void vm_remove_fd(struct vm *vm, int fd);
/* Wakes the event loop so it re-reads timers and fds. */
void vm_wake(struct vm *vm);

#endif
