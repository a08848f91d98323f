/* Deterministic record and replay (docs/replay.md).  While recording, every
 * value the guest sees that is not a function of its own state (device
 * register reads, interrupts, the TSC) goes into a log, stamped with the
 * vCPU's retired-instruction count; while replaying, those values come from
 * the log and no device is asked.  One vCPU, an engine that counts
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

#endif
