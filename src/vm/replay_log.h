/* The record/replay log file (docs/replay.md): a small header naming the
 * machine, then a zstd frame of events, each stamped with the vCPU's
 * retired-instruction count.  The writer appends events as the vCPU makes
 * them; the parser takes a whole file, treats it as hostile and returns
 * every event in memory or one line of error. */
#ifndef SYMBIONT_REPLAY_LOG_H
#define SYMBIONT_REPLAY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbiont/replay.h"

#define RR_MAGIC      "SYMRPLAY"
#define RR_VERSION    2            /* 2 added RR_DMA; version 1 logs still replay */
#define RR_HEADER_MAX 65536        /* header fields, bytes */
#define RR_BODY_MAX   (1ULL << 30) /* decompressed events, bytes */
#define RR_STRING_MAX 4096         /* one header string */
#define RR_DMA_MAX    (1u << 20)   /* bytes of one DMA event (longer writes are split) */

enum rr_type {
	RR_READ = 1, /* a device register read: space, size, addr -> value */
	RR_IRQ = 2,  /* an interrupt taken before the instruction at rip */
	RR_TSC = 3,  /* RDTSC, RDTSCP or RDMSR(TSC): value */
	RR_HASH = 4, /* the register state's hash (value) at this point, rip */
	RR_END = 5,  /* where the recording stopped: hash (value), rip */
	RR_DMA = 6,  /* a device wrote guest RAM: len bytes (data) at addr */
	RR_POLL = 7, /* the DMA events after it were made at an interrupt check, before rip */
};

struct rr_event {
	uint64_t count; /* retired instructions before it */
	uint8_t type;
	uint8_t space, size;  /* RR_READ */
	uint8_t kind, vector; /* RR_IRQ */
	uint64_t addr;        /* RR_READ */
	uint64_t value;       /* RR_READ, RR_TSC; the hash of RR_HASH, RR_END */
	uint64_t rip;         /* RR_IRQ, RR_HASH, RR_END, RR_POLL */
	uint32_t len;         /* RR_DMA: bytes at data */
	const uint8_t *data;  /* RR_DMA: the writer's caller's, or inside the parsed log's body */
};

/* What rebuilds the recorded machine. */
struct rr_header {
	char *kernel, *initrd, *append; /* initrd, append: NULL when none */
	uint64_t mem_size;
	uint32_t ncpus;
	uint64_t kernel_hash, initrd_hash; /* rr_file_hash(); 0 for no initrd */
};

/* A parsed log: the header, and the events as the file holds them
 * (decompressed, every one checked to decode), read with a cursor. */
struct rr_log {
	struct rr_header hdr;
	uint8_t *body;
	size_t body_len;
	size_t n;            /* events */
	struct rr_event end; /* the last one */
};

struct rr_cursor {
	const uint8_t *p, *end;
	uint64_t count, tsc; /* the previous event's count and TSC value */
	size_t index;        /* events decoded so far */
};

struct rr_writer;

/* FNV-1a 64 of a file's bytes; -1 with err when it cannot be read. */
int rr_file_hash(const char *path, uint64_t *out, char *err, size_t errlen);

struct rr_writer *rr_writer_open(const char *path, const struct rr_header *h, char *err, size_t errlen);
/* Appends one event (counts must not go backwards).  A write error is
 * kept and reported by rr_writer_close. */
void rr_writer_add(struct rr_writer *w, const struct rr_event *e);
uint64_t rr_writer_bytes(const struct rr_writer *w); /* compressed bytes so far */
int rr_writer_close(struct rr_writer *w, char *err, size_t errlen);

/* The whole file in memory: 0 and *out filled, or -1 and one line. */
int rr_log_parse(const uint8_t *data, size_t len, struct rr_log *out, char *err, size_t errlen);
int rr_log_load(const char *path, struct rr_log *out, char *err, size_t errlen);
void rr_log_free(struct rr_log *log);
void rr_cursor_init(const struct rr_log *log, struct rr_cursor *c);
/* The next event into *out and true; false at the end of the events. */
bool rr_next(struct rr_cursor *c, struct rr_event *out);

#endif
