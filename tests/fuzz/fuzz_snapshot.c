/* The snapshot loader: whatever the state file holds, snapshot_decode
 * returns 0 or -1 with one line, never crashes, reads nothing outside the
 * input and leaks nothing; a state it accepts re-encodes to the same bytes,
 * and each vCPU state it accepts is given to an emu vCPU, whose set_state
 * must take or refuse it without crashing (the restore path does the same
 * with a snapshot from disk).
 *
 * Input: byte 0 picks the mode; odd: the rest is a state file whose
 * section checksums are made right first (walking the sections by their
 * own lengths), so mutations reach the field checks behind the CRCs; even:
 * the rest as it is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cpu/engine.h"
#include "fix_section_crcs.h"
#include "machine/snapshot_format.h"

static struct vm *vm;

static void setup(void)
{
	char err[256] = "";
	struct vm_config cfg = { .engine = "emu", .mem_size = 16ULL << 20, .ncpus = 1, .serial = "null" };
	struct vcpu *c = calloc(1, sizeof(*c));

	if (!c || !(vm = vm_new(&cfg, err, sizeof(err))) || emu_engine_ops.init(vm, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_snapshot: %s\n", err);
		abort();
	}
	vm->engine = &emu_engine_ops;
	c->vm = vm;
	vm->vcpus[0] = c;
	if (emu_engine_ops.vcpu_init(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_snapshot: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snapshot s;
	char err[256];

	if (!vm)
		setup();
	if (size < 1)
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		fix_section_crcs(copy, size - 1);
	data = copy;
	size--;
	err[0] = 0;
	if (snapshot_decode(data, size, &s, err, sizeof(err)) < 0) {
		if (!err[0] || strchr(err, '\n'))
			abort();
		free(copy);
		return 0;
	}
	struct state_buf b = { 0 };
	bool owns = s.owns_strings;
	s.owns_strings = false;
	snapshot_encode(&s, &b);
	s.owns_strings = owns;
	if (!b.failed && (b.len != size || memcmp(b.data, data, size)))
		abort(); /* one meaning per accepted file */
	free(b.data);
	for (int i = 0; i < s.ncpus; i++)
		emu_engine_ops.vcpu_set_state(vm->vcpus[0], &s.cpu[i]);
	snapshot_free(&s);
	free(copy);
	return 0;
}
