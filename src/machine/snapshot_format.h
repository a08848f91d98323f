/* The snapshot file format (docs/snapshot.md): encoding and checked
 * decoding of a snapshot's state file, with no VM involved, so the format
 * can be unit tested and fuzzed alone.  A snapshot directory holds two
 * files: "state" (this format: configuration, vCPUs, devices, disk
 * references, the RAM's description) and "memory" (guest RAM as a flat,
 * sparse image, mapped at restore). */
#ifndef SYMBIONT_MACHINE_SNAPSHOT_FORMAT_H
#define SYMBIONT_MACHINE_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/device.h"
#include "symbiont/vm.h"
#include "symbiont/x86.h"

#define SNAP_MAGIC          "SYMBSNAP"
#define SNAP_VERSION        4 /* 2: the host wall clock in the configuration; 3: XCR0, PKRU; 4: YMM */
#define SNAP_VERSION_OLDEST 3 /* read too: a version-3 file's vCPUs get zero YMM upper halves */
#define SNAP_STATE_FILE     "state"
#define SNAP_MEMORY_FILE    "memory"
#define SNAP_PAGE_SIZE      4096
#define SNAP_MAX_STATE      (64u << 20) /* a state file larger than this is not ours */
#define SNAP_MAX_STRING     4096
#define SNAP_MAX_DEV_BLOB   (16u << 20)

/* What a disk was when the snapshot was taken: restore refuses a disk that
 * changed since (unless forced), as the guest's page cache in RAM must
 * match it. */
struct snap_disk_ref {
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/* A CPUID leaf the guest saw where the snapshot was taken: the CPU model. */
#define SNAP_MAX_CPUID 16
struct snap_cpuid {
	uint32_t leaf, sub;
	uint32_t r[4]; /* EAX EBX ECX EDX */
};

struct snap_device {
	char id[32];
	const uint8_t *blob; /* the device_save() envelope */
	uint32_t len;
};

/* One snapshot's state file, decoded.  Strings and blobs point into the
 * decoded buffer's copies (snapshot_decode) or the caller's data
 * (snapshot_encode): see snapshot_free. */
struct snapshot {
	/* The configuration the machine is rebuilt from (engine-neutral: the
	 * engine it ran on is recorded, not required). */
	char *engine, *kernel, *initrd, *append, *system_map, *vsock;
	char *cpu_model;      /* "host" or "portable"  */
	char *label, *policy; /* the vsock group's MAC label and policy file (version 2) */
	char *disks[VM_MAX_DISKS];
	int ndisks;
	struct snap_disk_ref disk_ref[VM_MAX_DISKS];
	char *nets[VM_MAX_NICS];
	int nnets;
	uint64_t mem_size;
	int ncpus;
	uint64_t clock_ns; /* the VM's time (vm_now) when it was taken */
	uint64_t wall_ns;  /* the host's CLOCK_REALTIME at that instant (0: not known) */
	struct snap_cpuid cpuid[SNAP_MAX_CPUID];
	int ncpuid;
	struct x86_state cpu[VM_MAX_CPUS];
	struct snap_device dev[VM_MAX_DEVICES];
	int ndevices;
	uint64_t ram_data_pages; /* non-zero pages written to the memory file */
	bool owns_strings;
};

/* The CPUID leaves a snapshot records (the feature leaves a guest probes)
 * and, per register, the bits that are features (not state the CPU
 * reflects, like OSXSAVE or the APIC bit). */
struct snap_cpuid_leaf {
	uint32_t leaf, sub;
	uint32_t feature_mask[4];
};
extern const struct snap_cpuid_leaf snap_cpuid_leaves[];
extern const int snap_cpuid_nleaves;

/* Appends the state file for s to b (b->failed on allocation failure). */
void snapshot_encode(const struct snapshot *s, struct state_buf *b);
/* Decodes a whole state file: every length, range, count and checksum is
 * checked.  On success the strings are owned by s (snapshot_free); blobs
 * point into data, which must outlive s.  -1 with one line in err. */
int snapshot_decode(const uint8_t *data, size_t len, struct snapshot *s, char *err, size_t errlen);
void snapshot_free(struct snapshot *s);

/* One vCPU's whole state, field by field (no struct padding on disk). */
void snap_put_x86_state(struct state_buf *b, const struct x86_state *s);
void snap_get_x86_state(struct state_reader *r, struct x86_state *s);

#endif
