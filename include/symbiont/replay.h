/* Deterministic record and replay (docs/replay.md).  While recording, every
 * value the guest sees that is not a function of its own state (device
 * register reads, interrupts, the TSC, what devices write into guest RAM)
 * goes into a log, stamped with the vCPU's retired-instruction count; while
 * replaying, those values come from the log and no device is asked (nor
 * does a virtio device run a queue notify: no disk or network is needed).  One vCPU, an engine that counts
 * instructions exactly (emu).
 *
 * The hooks below run on the vCPU's thread; each is reached only when
 * vm->replay is set, so a VM that neither records nor replays pays one
 * load and a branch. */
#ifndef SYMBIONT_REPLAY_H
#define SYMBIONT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct replay;

enum rr_space { RR_PIO = 0, RR_MMIO = 1, RR_LAPIC = 2, RR_MSR = 3 };
enum rr_irq_kind { RR_IRQ_EXT = 0, RR_IRQ_NMI = 1 };

/* FNV-1a 64 continued over len bytes from h (start: RR_HASH_INIT): the
 * engines' state hash and the log's file and header checks. */
#define RR_HASH_INIT 0xcbf29ce484222325ULL
uint64_t rr_hash(uint64_t h, const void *p, size_t len);

/* Refuses (one line) a machine that cannot be recorded or replayed: an
 * engine without an exact instruction count, more than one vCPU. */
int replay_machine_check(const struct vm_config *cfg, const char *engine_name, char *err, size_t errlen);

/* Recording: the log at path names the machine vm->cfg describes. */
int replay_record_start(struct vm *vm, const char *path, char *err, size_t errlen);

/* Replaying: reads and checks the log at path (the kernel and initrd must
 * still be the recorded files) and fills *cfg with the recorded machine;
 * its strings live as long as the returned session. */
struct replay *replay_load(const char *path, struct vm_config *cfg, char *err, size_t errlen);
void replay_attach(struct vm *vm, struct replay *r);

/* At the end of vm_run, the vCPUs stopped: recording writes the end
 * record; replaying compares the end with the log's.  Prints one report
 * line; returns the exit status (status, or 1 when the replay diverged). */
int replay_finish(struct vm *vm, int status);
void replay_free(struct replay *r);

bool replay_playing(const struct vm *vm);
bool replay_recording(const struct vm *vm);

/* A device register read.  Replaying: true and *val from the log (the
 * device is not asked).  Recording: false, and replay_note_read() then
 * logs the device's answer. */
bool replay_take_read(struct vm *vm, enum rr_space space, uint64_t addr, unsigned size, uint64_t *val);
void replay_note_read(struct vm *vm, enum rr_space space, uint64_t addr, unsigned size, uint64_t val);
/* A value computed from host state (the TSC): logs it, or returns the
 * logged one. */
uint64_t replay_tsc(struct vm *vm, uint64_t live);

/* Interrupts.  Recording: the vCPU takes vector before the instruction at
 * rip.  Replaying: the vector due here (rip and the current count), or -1;
 * replay_next_stop() is the count at which the vCPU must next look. */
void replay_note_irq(struct vm *vm, enum rr_irq_kind kind, int vector, uint64_t rip);
int replay_take_irq(struct vm *vm, uint64_t rip, enum rr_irq_kind *kind);
uint64_t replay_next_stop(struct vm *vm);
/* Replaying: the vCPU halted with nothing due at this count. */
void replay_halted(struct vm *vm, uint64_t rip);

/* Device writes to guest RAM (DMA), docs/replay.md.  Around every device
 * register write the vCPU makes (vm_pio_write, vm_mmio_write; io_lock
 * held): recording, the RAM the device writes meanwhile (reported by
 * replay_dma_note from vm_mem_dirty while vm->dma_capture) is logged at
 * end with its contents; replaying, end puts back the logged writes due
 * at this count. */
void replay_device_write_begin(struct vm *vm);
void replay_device_write_end(struct vm *vm);
void replay_dma_note(struct vm *vm, uint64_t gpa, uint64_t len);

/* Device input that arrives on another thread (a network packet).
 * replay_defer (io_lock held): recording, fn(opaque) is to run on the vCPU
 * instead, at its next interrupt check, where what it writes into guest
 * RAM is logged with the count and RIP; true then (the caller must not do
 * the work now).  False when not recording: do it now.
 * replay_run_deferred: that check (the vCPU's thread, recording). */
bool replay_defer(struct vm *vm, void (*fn)(void *), void *opaque);
bool replay_defer_pending(const struct vm *vm);
void replay_run_deferred(struct vm *vm, uint64_t rip);

/* ---- checkpoints and reverse execution (docs/replay.md) ----
 *
 * A replay can keep checkpoints: every `every` instructions the vCPU's
 * state, the devices' and the guest pages written since the one before,
 * in memory, at most budget bytes (older ones are thinned out; the first,
 * the start of the history, stays).  Set before the replay runs. */
void replay_set_checkpoints(struct replay *r, uint64_t every, uint64_t budget);
#define REPLAY_DEFAULT_EVERY  10000000ULL
#define REPLAY_DEFAULT_BUDGET (256ULL << 20)

/* At every interrupt check of the replaying vCPU (its thread), before
 * replay_take_irq: takes a checkpoint that is due, and ends a seek that
 * arrived here.  True: the vCPU must park now (the seek's callback asked
 * for a pause). */
bool replay_boundary(struct vm *vm, uint64_t rip);

/* True when this VM replays with checkpoints: a debugger can go back. */
bool replay_can_reverse(const struct vm *vm);
/* The replaying vCPU's retired-instruction count (its thread, or parked). */
uint64_t replay_count(const struct vm *vm);
/* The count of the first checkpoint: no seek goes before it. */
uint64_t replay_history_start(const struct vm *vm);

/* With the VM paused by the caller.  rewind: brings the whole VM back to
 * the newest checkpoint at or before count (guest RAM, vCPU, devices, the
 * log's position); *at is that checkpoint's count.  0, or -1 with err (no
 * checkpoints; the replay diverged or ended). */
int replay_rewind(struct vm *vm, uint64_t count, uint64_t *at, char *err, size_t errlen);
/* Arms one stop: at the first interrupt check at count (and at rip, when
 * rip is not NULL) or at the first check past it, reached(opaque) is
 * called on the vCPU's thread; it returns true after taking a pause
 * (vm_pause_request), and the vCPU parks right there. */
typedef bool (*replay_reached_fn)(void *opaque);
void replay_stop_at(struct vm *vm, uint64_t count, const uint64_t *rip, replay_reached_fn reached, void *opaque);
void replay_stop_cancel(struct vm *vm);
/* True while a replay runs again instructions it ran before a rewind: what
 * they send out (the serial port's bytes) went out the first time. */
bool replay_repeating(const struct vm *vm);

struct replay_ckpt_stats {
	uint64_t kept, taken, thinned, bytes, budget, every, first, newest, restores;
	uint64_t before; /* the newest at or before the vCPU's count now (a rewind's start) */
};
/* True once checkpoints are taken: the dirty page log is theirs (a live
 * migration's vm_dirty_log_start is refused). */
bool replay_owns_dirty_log(const struct vm *vm);
/* -1 when the VM keeps no checkpoints. */
int replay_checkpoint_stats(const struct vm *vm, struct replay_ckpt_stats *st);

#endif
