/* The live migration stream (docs/snapshot.md, "Migration stream"):
 * records that carry guest RAM in rounds, then the machine's state as a
 * snapshot state file, checked like one.  Writing and checked reading, with
 * no VM involved, so the reader can be unit tested and fuzzed alone. */
#ifndef SYMBIONT_MACHINE_MIGRATE_STREAM_H
#define SYMBIONT_MACHINE_MIGRATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC     "SYMBMIGR"
#define MIG_VERSION   1
#define MIG_PAGE_SIZE 4096
#define MIG_MAX_RUN   256        /* pages in one PAGS record (1 MiB) */
#define MIG_MAX_ZERO  (1u << 20) /* pages in one ZERO record */

/* Record tags, as the four ASCII bytes read in order. */
#define MIG_TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define MIG_MEMS            MIG_TAG('M', 'E', 'M', 'S')
#define MIG_PAGS            MIG_TAG('P', 'A', 'G', 'S')
#define MIG_ZERO            MIG_TAG('Z', 'E', 'R', 'O')
#define MIG_STAT            MIG_TAG('S', 'T', 'A', 'T')
#define MIG_VRFY            MIG_TAG('V', 'R', 'F', 'Y')
#define MIG_END             MIG_TAG('E', 'N', 'D', ' ')

/* ---- writing (to a connected stream socket) ---- */

/* 0, or -1 with errno.  Each writes one whole record. */
int mig_write_header(int fd);
int mig_write_mems(int fd, uint64_t mem_size);
/* n (1..MIG_MAX_RUN) pages from data (the caller's stable copy). */
int mig_write_pages(int fd, uint64_t first, uint32_t n, const uint8_t *data);
int mig_write_zero(int fd, uint64_t first, uint32_t n);
int mig_write_state(int fd, const uint8_t *state, size_t len);
int mig_write_verify(int fd, uint32_t ram_crc);
int mig_write_end(int fd);

/* CRC-32 (zlib) of a RAM image as the VRFY record carries it. */
uint32_t mig_ram_crc(const uint8_t *ram, uint64_t size);

/* ---- reading ---- */

struct mig_reader {
	/* In: where the bytes come from (0 when all n were read, -1 at end of
	 * stream or on error) and the largest RAM accepted. */
	int (*read)(void *ctx, void *buf, size_t n);
	void *ctx;
	uint64_t max_mem;
	/* Out, after mig_read_stream: guest RAM as a memfd of mem_size bytes
	 * (the caller closes it), the snapshot state file (malloc'd, the
	 * caller frees it; not yet decoded), and what was seen. */
	int mem_fd;
	uint64_t mem_size;
	uint8_t *state;
	size_t state_len;
	uint64_t pages, zero_pages, records;
	bool verified; /* a VRFY record's CRC matched the RAM received */
};

/* Reads one whole stream: header, MEMS, any PAGS/ZERO, STAT, an optional
 * VRFY, END.  Every length, page range, tag, order and CRC is checked; a
 * bad stream is refused with one line in err and nothing kept (mem_fd -1,
 * state NULL).  0 or -1. */
int mig_read_stream(struct mig_reader *r, char *err, size_t errlen);
void mig_reader_release(struct mig_reader *r);

#endif
