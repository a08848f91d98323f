/* The running VM: its core (memory, buses, loop fds), exit, device access
 * from the engines, the irqchip seam, and the event loop.  Building a VM
 * (engine, board, devices, loader, vCPUs) is src/machine/builder.c's.
 *
 * Threads: one per vCPU, running the engine; the main thread runs the event
 * loop (timers, host file descriptors, signals).  Device state is guarded by
 * vm->io_lock, taken around every register access, timer and fd callback. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cpu/engine.h"
#include "symbiont/control.h"
#include "symbiont/event.h"
#include "symbiont/iothreads.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

static void wake_loop(void *ctx)
{
	vm_wake(ctx);
}

void vm_wake(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->wake_fd >= 0 && write(vm->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("symbiont: eventfd");
}

struct vm *vm_new(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->cfg = *cfg;
	vm->wake_fd = -1;
	pthread_mutex_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->work_lock, NULL);
	pthread_mutex_init(&vm->sched_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	vm->timers.changed = wake_loop;
	vm->timers.ctx = vm;

	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "--cpus must be between 1 and %d", VM_MAX_CPUS);
		goto fail;
	}
	vm->ncpus = cfg->ncpus;
	if (guest_mem_init(&vm->mem, cfg->mem_size) < 0) {
		snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
		         (unsigned long long)(cfg->mem_size >> 20), strerror(errno));
		goto fail;
	}
	vm->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	return vm;
fail:
	vm_free(vm);
	return NULL;
}

void vm_request_exit(struct vm *vm, int status)
{
	vm_request_exit_reason(vm, status, NULL);
}

void vm_request_exit_reason(struct vm *vm, int status, const char *reason)
{
	bool expected = false;

	if (!atomic_compare_exchange_strong(&vm->exit_requested, &expected, true))
		return;
	vm->exit_status = status;
	vm->exit_reason = reason ? reason : status == 0 ? "guest-shutdown" : "guest-panic";
	if (vm->control) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "guest", json_object_new_boolean(!strncmp(vm->exit_reason, "guest", 5)));
		json_object_object_add(d, "reason", json_object_new_string(vm->exit_reason));
		json_object_object_add(d, "status", json_object_new_int(status));
		control_event(vm->control, "SHUTDOWN", d);
	}
	atomic_store(&vm->stopping, true);
	vm_wake(vm);
	/* parked vCPUs and anyone waiting in vm_pause() must see it */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->running && vm->engine->vcpu_kick)
			vm->engine->vcpu_kick(vm->vcpus[i]);
}

uint64_t vm_pio_read(struct vm *vm, uint16_t port, unsigned size)
{
	uint64_t v;

	if (vm->replay && replay_take_read(vm, RR_PIO, port, size, &v))
		return v; /* replaying: the device is not asked */
	pthread_mutex_lock(&vm->io_lock);
	io_bus_read(&vm->pio, port, size, &v);
	pthread_mutex_unlock(&vm->io_lock);
	if (vm->replay)
		replay_note_read(vm, RR_PIO, port, size, v);
	return v;
}

void vm_pio_write(struct vm *vm, uint16_t port, uint64_t val, unsigned size)
{
	pthread_mutex_lock(&vm->io_lock);
	if (vm->replay)
		replay_device_write_begin(vm);
	io_bus_write(&vm->pio, port, val, size);
	if (vm->replay)
		replay_device_write_end(vm);
	pthread_mutex_unlock(&vm->io_lock);
}

uint64_t vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size)
{
	uint64_t v;

	if (vm->replay && replay_take_read(vm, RR_MMIO, gpa, size, &v))
		return v;
	pthread_mutex_lock(&vm->io_lock);
	io_bus_read(&vm->mmio, gpa, size, &v);
	pthread_mutex_unlock(&vm->io_lock);
	if (vm->replay)
		replay_note_read(vm, RR_MMIO, gpa, size, v);
	return v;
}

void vm_mmio_write(struct vm *vm, uint64_t gpa, uint64_t val, unsigned size)
{
	pthread_mutex_lock(&vm->io_lock);
	if (vm->replay)
		replay_device_write_begin(vm);
	io_bus_write(&vm->mmio, gpa, val, size);
	if (vm->replay)
		replay_device_write_end(vm);
	pthread_mutex_unlock(&vm->io_lock);
}

void vm_mem_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->engine && vm->engine->mem_written)
		vm->engine->mem_written(vm, gpa, len);
	vm_mem_dirty(vm, gpa, len);
	if (vm_events_wanted(vm, SYM_EV_DMA))
		sym_event_dma(vm, gpa, len);
	if (vm_events_wanted(vm, SYM_EV_PAGE_WRITE))
		sym_event_page_dma(vm, gpa, len);
}

struct irq_line vm_irq_line(struct vm *vm, unsigned gsi)
{
	return (struct irq_line){ .ops = vm->irqchip, .chip = vm->irqchip_ctx, .gsi = gsi };
}

void vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if (vm->irqchip && vm->irqchip->msi)
		vm->irqchip->msi(vm->irqchip_ctx, addr, data);
}

void vm_cpu_extint(struct vm *vm, int level)
{
	if (vm->engine && vm->engine->extint)
		vm->engine->extint(vm, level);
}

void vm_cpu_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	if (vm->engine && vm->engine->msi)
		vm->engine->msi(vm, addr, data);
}

int vm_irqchip_ack(struct vm *vm)
{
	if (vm->irqchip && vm->irqchip->ack)
		return vm->irqchip->ack(vm->irqchip_ctx);
	return -1;
}

void vm_irqchip_eoi(struct vm *vm, uint8_t vector)
{
	if (vm->irqchip && vm->irqchip->eoi)
		vm->irqchip->eoi(vm->irqchip_ctx, vector);
}

int vm_add_fd(struct vm *vm, int fd, void (*ready)(void *), void *opaque)
{
	for (int i = 0; i < vm->nfds; i++)
		if (vm->fds[i].fd == fd)
			return -1;
	if (vm->nfds == VM_MAX_FDS)
		return -1;
	vm->fds[vm->nfds++] = (struct vm_fd){ .fd = fd, .ready = ready, .opaque = opaque };
	vm_wake(vm);
	return 0;
}

void vm_remove_fd(struct vm *vm, int fd)
{
	for (int i = 0; i < vm->nfds; i++) {
		if (vm->fds[i].fd == fd) {
			vm->fds[i] = vm->fds[--vm->nfds];
			return;
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;

	c->tid = (int)gettid();
	vsched_thread_start(c->vm, c);
	vm_vcpu_thread_enter(c->vm);
	c->vm->engine->vcpu_run(c);
	vm_vcpu_thread_leave(c->vm);
	return NULL;
}

/* Waits for timers, fds, the wake eventfd and SIGINT/SIGTERM/SIGHUP until
 * the VM stops. */
static void event_loop(struct vm *vm, int sigfd)
{
	struct pollfd pfd[VM_MAX_FDS + 2];
	struct vm_fd snap[VM_MAX_FDS];

	while (!vm_stopping(vm)) {
		uint64_t now, next;
		struct timespec ts, *tsp = NULL;
		int n, nsnap;

		pthread_mutex_lock(&vm->io_lock);
		now = vm_now(vm);
		next = timers_run(&vm->timers, now);
		nsnap = vm->nfds;
		memcpy(snap, vm->fds, nsnap * sizeof(snap[0]));
		pthread_mutex_unlock(&vm->io_lock);

		pfd[0] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		for (int i = 0; i < nsnap; i++)
			pfd[i + 2] = (struct pollfd){ .fd = snap[i].fd, .events = POLLIN };
		if (next != UINT64_MAX) {
			uint64_t d = next > now ? next - now : 0;
			ts.tv_sec = d / 1000000000ULL;
			ts.tv_nsec = d % 1000000000ULL;
			tsp = &ts;
		}
		n = ppoll(pfd, nsnap + 2, tsp, NULL);
		if (n < 0 && errno != EINTR) {
			perror("symbiont: ppoll");
			vm_request_exit(vm, 1);
			break;
		}
		if (n <= 0)
			continue;
		if (pfd[0].revents) {
			uint64_t v;
			if (read(vm->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				perror("symbiont: eventfd");
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				fprintf(stderr, "symbiont: terminated by signal %u\n", si.ssi_signo);
				vm_request_exit_reason(vm, 128 + (int)si.ssi_signo, "host-signal");
			}
		}
		pthread_mutex_lock(&vm->io_lock);
		for (int i = 0; i < nsnap; i++) {
			if (!(pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* A callback may have removed a later fd: call only live ones. */
			for (int j = 0; j < vm->nfds; j++) {
				if (vm->fds[j].fd == snap[i].fd && vm->fds[j].ready == snap[i].ready) {
					snap[i].ready(snap[i].opaque);
					break;
				}
			}
		}
		pthread_mutex_unlock(&vm->io_lock);
	}
}

int vm_run(struct vm *vm)
{
	sigset_t set;
	int sigfd, i;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before the vCPU threads start so they inherit the mask and the
	 * signals arrive only through the signalfd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		perror("symbiont: signalfd");
		return 1;
	}
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = vm->vcpus[i];
		if (pthread_create(&c->thread, NULL, vcpu_thread, c) != 0) {
			fprintf(stderr, "symbiont: cannot start vCPU %d\n", i);
			vm_request_exit(vm, 1);
			break;
		}
		c->running = true;
	}
	/* A vCPU may have requested exit before running was set: kick again. */
	if (vm_stopping(vm))
		for (int j = 0; j < i; j++)
			vm->engine->vcpu_kick(vm->vcpus[j]);
	vm->loop_tid = (int)gettid();
	io_thread_enter(); /* after the vCPU threads: they must not inherit its policy */
	event_loop(vm, sigfd);
	io_thread_leave();
	for (int j = 0; j < i; j++) {
		vm->engine->vcpu_kick(vm->vcpus[j]);
		pthread_join(vm->vcpus[j]->thread, NULL);
		vm->vcpus[j]->running = false;
	}
	close(sigfd);
	/* The log's end record before the signals come back: a second SIGTERM
	 * (timeout(1) sends one to the process group too) waits meanwhile. */
	if (vm->replay)
		vm->exit_status = replay_finish(vm, vm->exit_status);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return vm->exit_status;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	vm_event_hub_free(vm);
	io_bus_free(&vm->pio);
	io_bus_free(&vm->mmio);
	guest_mem_free(&vm->mem);
	free(atomic_load(&vm->dirty_bits));
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	pthread_mutex_destroy(&vm->io_lock);
	free(vm);
}

int vm_power_button(struct vm *vm)
{
	if (!vm->power_button)
		return -1;
	pthread_mutex_lock(&vm->io_lock);
	vm->power_button(vm->power_button_ctx);
	pthread_mutex_unlock(&vm->io_lock);
	return 0;
}
