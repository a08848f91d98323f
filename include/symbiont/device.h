/* Device lifecycle: every device (board and virtio) has one small ops
 * table (name, reset, save, load, stats) and registers itself with its VM,
 * so snapshots, migration, record/replay and metrics can walk the devices
 * instead of naming each one (kvmtool's device__register, Firecracker's
 * per-device persist.rs and metrics.rs).
 *
 * Saved state is a self-describing blob (device_save/device_load wrap the
 * device's payload):
 *   "SYMD"  u8 name length, name  u16 payload version  u32 payload length
 *   payload  u32 CRC-32 of everything before it
 * little endian.  Loading checks all of it and the device then checks its
 * payload field by field (ranges, sizes, that it is the same device
 * configuration) before changing anything: a truncated or garbage blob is
 * an error message, never a crash and never a half-loaded device.
 *
 * Save and load run with the vCPUs stopped and vm->io_lock held, like every
 * device access.  Time-based state (PIT counts, timers) is saved in VM-clock
 * nanoseconds (symbiont/clock.h) and re-armed on load.  Host resources (an
 * open disk image, a TAP fd, a live vsock connection's socket) are not
 * guest state: the device built from the same configuration brings its own,
 * and a device that holds transient host work it cannot save (requests in
 * flight, open connections) refuses to save rather than lose it. */
#ifndef SYMBIONT_DEVICE_H
#define SYMBIONT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* A growing output buffer; after a failed allocation every put is a no-op
 * and failed stays set. */
struct state_buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

/* A bounds-checked reader; reading past the end sets bad and returns 0. */
struct state_reader {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

void st_put8(struct state_buf *b, uint8_t v);
void st_put16(struct state_buf *b, uint16_t v);
void st_put32(struct state_buf *b, uint32_t v);
void st_put64(struct state_buf *b, uint64_t v);
void st_put_bytes(struct state_buf *b, const void *p, size_t n);
static inline void st_put_bool(struct state_buf *b, bool v)
{
	st_put8(b, v ? 1 : 0);
}

uint8_t st_get8(struct state_reader *r);
uint16_t st_get16(struct state_reader *r);
uint32_t st_get32(struct state_reader *r);
uint64_t st_get64(struct state_reader *r);
void st_get_bytes(struct state_reader *r, void *p, size_t n);
/* A bool must be saved as 0 or 1: anything else marks the reader bad. */
bool st_get_bool(struct state_reader *r);
/* Marks the reader bad unless cond holds (range checks on loaded fields). */
static inline void st_check(struct state_reader *r, bool cond)
{
	if (!cond)
		r->bad = true;
}
/* True when the payload was read exactly: no overrun, nothing left over,
 * every check passed. */
static inline bool st_ok(const struct state_reader *r)
{
	return !r->bad && r->off == r->len;
}

typedef void (*device_stat_fn)(void *ctx, const char *key, uint64_t val);

struct device_ops {
	const char *name; /* the kind: "pic", "virtio-blk", ... */
	uint16_t version; /* of the payload save writes */
	/* Power-on state, as after a machine reset; wiring (buses, IRQ lines,
	 * host backends) stays. */
	void (*reset)(void *dev);
	/* Appends the payload; -1 with a reason when the device cannot be saved
	 * now (host work in flight). */
	int (*save)(void *dev, struct state_buf *b, char *err, size_t errlen);
	/* Reads a payload of this version: all of it is checked before the
	 * device changes; -1 with a reason otherwise. */
	int (*load)(void *dev, struct state_reader *r, char *err, size_t errlen);
	/* Counters and levels worth watching, one emit per value. */
	void (*stats)(void *dev, device_stat_fn emit, void *ctx);
	/* Optional, with the VM paused and the device saved: give up (release)
	 * or take back the host resources another process needs to run this
	 * machine, such as a disk image's writer lock, when the machine
	 * migrates to another process on this host (and back when that
	 * fails).  0, or -1 with a reason. */
	int (*handover)(void *dev, bool release, char *err, size_t errlen);
	/* Optional, disks: a service's word that the guest's own cache no
	 * longer holds [sector, sector + bytes/512) (vm_device_block_evicted). */
	void (*block_evicted)(void *dev, uint64_t sector, uint64_t bytes);
};

struct vm_device {
	const struct device_ops *ops;
	void *dev;
	char id[32]; /* name, or name.N for the N-th of a kind (from 0) */
};

/* Called by a device's create/destroy.  -1 when the table is full. */
int vm_device_add(struct vm *vm, const struct device_ops *ops, void *dev);
void vm_device_remove(struct vm *vm, void *dev);
/* Enumeration, in creation order. */
int vm_device_count(const struct vm *vm);
const struct vm_device *vm_device_at(const struct vm *vm, int i);
const struct vm_device *vm_device_find(const struct vm *vm, const char *id);
/* The id a device registered as ("?" if it did not). */
const char *vm_device_id(const struct vm *vm, const void *dev);
/* Passes the hint on to the device with this id, if it takes it. */
void vm_device_block_evicted(const struct vm *vm, const char *id, uint64_t sector, uint64_t bytes);

/* The blob around a device's payload (see the top of this file).  save:
 * *blob is malloc'd, the caller frees it. */
int device_save(const struct device_ops *ops, void *dev, uint8_t **blob, size_t *len, char *err, size_t errlen);
int device_load(const struct device_ops *ops, void *dev, const void *blob, size_t len, char *err, size_t errlen);

#endif
