/* The replay log's writer and parser (src/vm/replay_log.c): what is
 * written comes back event for event, compactly, and a file that is cut,
 * changed or made up is refused with one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/replay_log.h"

static char path[64];

static void tmp_path(void)
{
	snprintf(path, sizeof(path), "/tmp/test_replay_log.%d", (int)getpid());
}

static uint8_t *slurp(size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A varied stream: reads in every space, interrupts, TSC values that go
 * up and (after a WRMSR) down, hashes, the end. */
static size_t make_events(struct rr_event *ev, size_t max)
{
	size_t n = 0;
	uint64_t count = 0, tsc = 1000000;
	for (int i = 0; n + 4 < max; i++) {
		count += (uint64_t)(i * 37 % 1000);
		switch (i % 5) {
		case 0:
			ev[n++] = (struct rr_event){ .type = RR_READ,
				                     .count = count,
				                     .space = (uint8_t)(i % 4),
				                     .size = (uint8_t)(1u << (i % 4)),
				                     .addr = 0x3f8 + (uint64_t)i,
				                     .value = (uint64_t)i * 0x9e3779b97f4a7c15ULL };
			break;
		case 1:
			ev[n++] = (struct rr_event){ .type = RR_IRQ,
				                     .count = count,
				                     .kind = (uint8_t)(i % 2),
				                     .vector = (uint8_t)(0x20 + i),
				                     .rip = 0xffffffff81000000ULL + i };
			break;
		case 2:
			tsc = i % 15 == 2 ? tsc - 5000 : tsc + 2000 + (uint64_t)i;
			ev[n++] = (struct rr_event){ .type = RR_TSC, .count = count, .value = tsc };
			break;
		case 3:
			ev[n++] =
			        (struct rr_event){ .type = RR_HASH, .count = count, .value = ~(uint64_t)i, .rip = 42 };
			break;
		default:
			ev[n++] =
			        (struct rr_event){ .type = RR_TSC, .count = count, .value = UINT64_MAX - (uint64_t)i };
			tsc = UINT64_MAX - (uint64_t)i;
			break;
		}
	}
	ev[n++] = (struct rr_event){ .type = RR_END, .count = count + 7, .value = 0x1234, .rip = 0x100000 };
	return n;
}

static const struct rr_header hdr = { .kernel = "/guest/vmlinuz",
	                              .initrd = "/guest/initrd",
	                              .append = "console=ttyS0 quiet",
	                              .mem_size = 512ULL << 20,
	                              .ncpus = 1,
	                              .kernel_hash = 0x1111,
	                              .initrd_hash = 0x2222 };

static void write_log(const struct rr_event *ev, size_t n)
{
	char err[256] = "";
	struct rr_writer *w = rr_writer_open(path, &hdr, err, sizeof(err));
	assert_non_null(w);
	for (size_t i = 0; i < n; i++)
		rr_writer_add(w, &ev[i]);
	assert_int_equal(rr_writer_close(w, err, sizeof(err)), 0);
}

static void test_round_trip(void **state)
{
	static struct rr_event ev[20000];
	struct rr_log log;
	char err[256] = "";
	size_t n = make_events(ev, sizeof(ev) / sizeof(ev[0])), len;
	(void)state;

	tmp_path();
	write_log(ev, n);
	assert_int_equal(rr_log_load(path, &log, err, sizeof(err)), 0);
	assert_string_equal(log.hdr.kernel, hdr.kernel);
	assert_string_equal(log.hdr.initrd, hdr.initrd);
	assert_string_equal(log.hdr.append, hdr.append);
	assert_int_equal(log.hdr.mem_size, hdr.mem_size);
	assert_int_equal(log.hdr.ncpus, 1);
	assert_int_equal(log.hdr.kernel_hash, 0x1111);
	assert_int_equal(log.hdr.initrd_hash, 0x2222);
	assert_int_equal(log.n, n);
	struct rr_cursor c;
	struct rr_event got;
	rr_cursor_init(&log, &c);
	for (size_t i = 0; i < n; i++) {
		assert_true(rr_next(&c, &got));
		assert_int_equal(got.type, ev[i].type);
		assert_int_equal(got.count, ev[i].count);
		assert_int_equal(got.value, ev[i].value);
		if (ev[i].type == RR_READ) {
			assert_int_equal(got.space, ev[i].space);
			assert_int_equal(got.size, ev[i].size);
			assert_int_equal(got.addr, ev[i].addr);
		}
		if (ev[i].type == RR_IRQ) {
			assert_int_equal(got.kind, ev[i].kind);
			assert_int_equal(got.vector, ev[i].vector);
		}
		if (ev[i].type != RR_READ && ev[i].type != RR_TSC)
			assert_int_equal(got.rip, ev[i].rip);
	}
	assert_false(rr_next(&c, &got));
	assert_int_equal(log.end.count, ev[n - 1].count);
	assert_int_equal(log.end.value, ev[n - 1].value);
	rr_log_free(&log);
	free(slurp(&len));
	/* Varied values compress poorly: a few bytes an event all the same. */
	assert_true(len < n * 12);
	unlink(path);
}

/* Device writes into guest RAM (after a register write, or at an input
 * point, RR_POLL): their bytes come back as written, a write
 * larger than the writer's buffer too, and a length past the events or
 * over RR_DMA_MAX is refused. */
static void test_dma(void **state)
{
	static uint8_t big[200000];
	uint8_t small[3] = { 0xde, 0xad, 0x01 };
	struct rr_event ev[] = {
		{ .type = RR_READ, .count = 10, .space = RR_MMIO, .size = 4, .addr = 0xfebf0000, .value = 1 },
		{ .type = RR_DMA, .count = 12, .addr = 0x7000, .len = sizeof(small), .data = small },
		{ .type = RR_DMA, .count = 12, .addr = 0x1234567, .len = sizeof(big), .data = big },
		{ .type = RR_POLL, .count = 300, .rip = 0xffffffff81234567ULL },
		{ .type = RR_DMA, .count = 300, .addr = 0x9000, .len = sizeof(small), .data = small },
		{ .type = RR_IRQ, .count = 400, .vector = 0x41, .rip = 0x1000 },
		{ .type = RR_END, .count = 500, .value = 7, .rip = 0x1002 },
	};
	size_t n = sizeof(ev) / sizeof(ev[0]);
	struct rr_log log;
	struct rr_cursor c;
	struct rr_event got;
	char err[256] = "";
	(void)state;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	tmp_path();
	write_log(ev, n);
	assert_int_equal(rr_log_load(path, &log, err, sizeof(err)), 0);
	assert_int_equal(log.n, n);
	rr_cursor_init(&log, &c);
	for (size_t i = 0; i < n; i++) {
		assert_true(rr_next(&c, &got));
		assert_int_equal(got.type, ev[i].type);
		assert_int_equal(got.count, ev[i].count);
		if (got.type == RR_POLL)
			assert_int_equal(got.rip, ev[i].rip);
		if (got.type == RR_DMA) {
			assert_int_equal(got.addr, ev[i].addr);
			assert_int_equal(got.len, ev[i].len);
			assert_memory_equal(got.data, ev[i].data, ev[i].len);
		}
	}
	rr_log_free(&log);

	/* Hand-made events: a DMA whose length runs past the events, one over
	 * the maximum, one of no bytes. */
	static const uint8_t past[] = { RR_DMA, 0, 0x10, 0x05, 1, 2, 3 };
	static const uint8_t huge[] = { RR_DMA, 0, 0x10, 0x81, 0x80, 0x40, 0 };
	static const uint8_t empty[] = { RR_DMA, 0, 0x10, 0x00 };
	const uint8_t *bad[] = { past, huge, empty };
	size_t bad_len[] = { sizeof(past), sizeof(huge), sizeof(empty) };
	for (int i = 0; i < 3; i++) {
		struct rr_log l = { .body = (uint8_t *)bad[i], .body_len = bad_len[i] };
		rr_cursor_init(&l, &c);
		assert_false(rr_next(&c, &got));
	}
	unlink(path);
}

/* Timer interrupts at a steady rate cost about a byte each. */
static void test_compact(void **state)
{
	static struct rr_event ev[10001];
	size_t len;
	(void)state;
	tmp_path();
	for (int i = 0; i < 10000; i++)
		ev[i] = (struct rr_event){
			.type = RR_IRQ, .count = 100000ULL * (uint64_t)(i + 1), .vector = 0x20, .rip = 0x100040
		};
	ev[10000] = (struct rr_event){ .type = RR_END, .count = 100000ULL * 10001 };
	write_log(ev, 10001);
	free(slurp(&len));
	assert_true(len < 2000);
	unlink(path);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *want)
{
	struct rr_log log;
	char err[256] = "";
	assert_int_equal(rr_log_parse(buf, len, &log, err, sizeof(err)), -1);
	assert_non_null(strstr(err, want));
	assert_null(strchr(err, '\n'));
}

static void test_refused(void **state)
{
	struct rr_event ev[3] = { { .type = RR_READ, .count = 5, .size = 1, .addr = 0x3fd, .value = 0x60 },
		                  { .type = RR_IRQ, .count = 9, .vector = 0x20, .rip = 7 },
		                  { .type = RR_END, .count = 12 } };
	struct rr_log log;
	char err[256] = "";
	size_t len;
	uint8_t *buf;
	(void)state;

	tmp_path();
	write_log(ev, 3);
	buf = slurp(&len);
	assert_int_equal(rr_log_parse(buf, len, &log, err, sizeof(err)), 0);
	rr_log_free(&log);

	expect_refused(buf, 7, "not a symbiont replay log");
	/* every byte of the file matters: a header byte breaks its checksum,
	 * an events byte the zstd frame (or its checksum) */
	for (size_t i = 8; i < len; i++) {
		buf[i] ^= 0x40;
		assert_int_equal(rr_log_parse(buf, len, &log, err, sizeof(err)), -1);
		buf[i] ^= 0x40;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(rr_log_parse(buf, cut, &log, err, sizeof(err)), -1);
	buf[8] = 9;
	expect_refused(buf, len, "version 9");
	free(buf);

	/* a log whose recording never finished: no end record */
	write_log(ev, 2);
	buf = slurp(&len);
	expect_refused(buf, len, "no end record");
	free(buf);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dma),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
