/* The dirty page log for live migration: which guest pages were written
 * since the migration last looked.  Writes come from two places: the vCPUs
 * (the engine logs those, engine_ops.dirty_log) and everything else that
 * writes guest RAM from the host side, devices above all (virtio buffers
 * and rings), which mark vm->dirty_bits here.  A collect merges both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/engine.h"
#include "symbiont/replay.h"
#include "symbiont/vm.h"

void vm_dirty_mark(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t *bits = atomic_load_explicit(&vm->dirty_bits, memory_order_acquire);
	if (!bits || !len)
		return;
	/* Page by page: a range may span the hole's edge (never RAM on both
	 * sides, but the bytes in RAM still count). */
	uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len;
	for (uint64_t a = gpa & ~4095ull; a < end; a += 4096) {
		const uint8_t *h = gpa_to_host(&vm->mem, a, 1);
		if (h) {
			uint64_t pg = (uint64_t)(h - vm->mem.host) / 4096;
			atomic_fetch_or_explicit((_Atomic uint64_t *)&bits[pg / 64], 1ull << (pg % 64),
			                         memory_order_relaxed);
		}
		if (a + 4096 < a)
			break;
	}
}

int vm_dirty_log_start(struct vm *vm, char *err, size_t errlen)
{
	if (replay_owns_dirty_log(vm)) {
		snprintf(err, errlen, "this replay's checkpoints use the dirty page log");
		return -1;
	}
	if (!vm->engine || !vm->engine->dirty_log || !vm->engine->dirty_collect) {
		snprintf(err, errlen, "the %s engine cannot log dirty pages", vm->engine ? vm->engine->name : "(no)");
		return -1;
	}
	uint64_t *bits = atomic_load(&vm->dirty_bits);
	if (!bits) {
		bits = calloc(vm_dirty_words(vm), sizeof(uint64_t));
		if (!bits) {
			snprintf(err, errlen, "out of memory for the dirty log");
			return -1;
		}
		vm->dirty_npages = vm->mem.size / 4096;
		atomic_store(&vm->dirty_bits, bits);
	} else {
		memset(bits, 0, vm_dirty_words(vm) * sizeof(uint64_t));
	}
	atomic_store(&vm->dirty_on, true);
	if (vm->engine->dirty_log(vm, true, err, errlen) < 0) {
		atomic_store(&vm->dirty_on, false);
		return -1;
	}
	return 0;
}

void vm_dirty_take(struct vm *vm, uint64_t *out)
{
	uint64_t *bits = atomic_load(&vm->dirty_bits);
	for (uint64_t i = 0; bits && i < vm_dirty_words(vm); i++)
		out[i] |= atomic_exchange_explicit((_Atomic uint64_t *)&bits[i], 0, memory_order_relaxed);
}

int vm_dirty_log_collect(struct vm *vm, uint64_t *out, char *err, size_t errlen)
{
	/* The engine takes vm->dirty_bits too (vm_dirty_take), at the moment
	 * its own log restarts: the emu engine must do both with the vCPUs
	 * parked, or a page marked after the take and before its TLBs are
	 * re-armed would be written unseen. */
	return vm->engine->dirty_collect(vm, out, err, errlen);
}

void vm_dirty_log_stop(struct vm *vm)
{
	char err[128];
	if (!atomic_load(&vm->dirty_on))
		return;
	atomic_store(&vm->dirty_on, false);
	vm->engine->dirty_log(vm, false, err, sizeof(err));
}
