/* The page-cache ring: a symbiotic guest module's report of its kernel's own
 * page-cache insertions and deletions (docs/abi.md), the ground truth that
 * Geiger's passive inference is scored against.
 *
 * The guest allocates a physically contiguous ring (a power-of-two number
 * of pages), fills its header and writes its guest-physical address, with
 * bit 0 set, to SYM_MSR_PCACHE_RING (0 takes it back).  Then, for every
 * page-cache insertion and deletion, it claims the next record by an atomic
 * increment of head and writes it: seq 0, the fields, a write barrier, seq
 * = its index + 1.  The VMM reads the ring whenever it likes, with no exit:
 * a record whose seq is not its index + 1 is still being written or was
 * overwritten (the ring wraps; the reader that falls behind by more than
 * nrec records counts the difference as lost).
 *
 * Present when the VMM offers SymSpy (SYM_FEAT_SYMSPY): the MSR is one of
 * SymSpy's.  Included by the guest module and by symbiont: numbers and
 * layouts only (fixed-width, naturally aligned, little-endian). */
#ifndef SYMBIONT_ABI_PCACHE_H
#define SYMBIONT_ABI_PCACHE_H

#include <linux/types.h>

#define SYM_MSR_PCACHE_RING 0x53594d02u /* GPA of the ring's header | SYM_PCACHE_ENABLE */
#define SYM_PCACHE_ENABLE   1ull

#define SYM_PCACHE_MAGIC     0x43505953u /* "SYPC" */
#define SYM_PCACHE_LAYOUT    1u
#define SYM_PCACHE_MAX_BYTES (64u << 20) /* the largest ring the VMM takes */

enum sym_pcache_op {
	SYM_PCACHE_ADD = 1,    /* mm_filemap_add_to_page_cache */
	SYM_PCACHE_DELETE = 2, /* mm_filemap_delete_from_page_cache */
};

struct sym_pcache_ring {
	__u32 magic;    /* SYM_PCACHE_MAGIC */
	__u32 layout;   /* SYM_PCACHE_LAYOUT */
	__u32 rec_size; /* sizeof(struct sym_pcache_rec) */
	__u32 nrec;     /* records in the ring, after this header */
	__u64 head;     /* records claimed so far (the next one's index) */
	__u64 reserved[5];
};

struct sym_pcache_rec {
	__u64 seq;   /* index + 1 once written; anything else: not (yet) this record */
	__u64 tsc;   /* the guest's TSC when it happened */
	__u64 pfn;   /* the page frame (the folio's first) */
	__u64 index; /* its index in the file, in pages */
	__u64 ino;   /* the file's inode number */
	__u32 dev;   /* its file system's device, the kernel's dev_t (major << 20 | minor) */
	__u16 op;    /* enum sym_pcache_op */
	__u16 order; /* the folio's order: 1 << order pages */
};

#endif
