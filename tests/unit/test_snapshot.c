/* The snapshot format (src/machine/snapshot_format.c) and the machine's
 * snapshot and restore paths: a state file round-trips field for field;
 * every truncation and every flipped byte of one is refused with a
 * message; a file that is not a snapshot is refused; and a machine
 * snapshotted to a directory comes back from it with the same RAM, device
 * states and vCPU state, zero pages left as holes in the memory file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "cpu/engine.h"
#include "machine/builder.h"
#include "machine/snapshot.h"
#include "machine/snapshot_format.h"

static const uint8_t blob_a[] = { 'S', 'Y', 'M', 'D', 1, 2, 3 };
static const uint8_t blob_b[] = { 9, 8, 7, 6, 5 };

static void sample(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->engine = "emu";
	s->kernel = "/boot/vmlinuz";
	s->append = "console=ttyS0 quiet";
	s->ndisks = 2;
	s->disks[0] = "/tmp/a.img";
	s->disks[1] = "/tmp/b.img,ro,serial=XY";
	s->disk_ref[0] = (struct snap_disk_ref){ 1 << 20, 1700000000, 123 };
	s->disk_ref[1] = (struct snap_disk_ref){ 2 << 20, 1700000001, 999999999 };
	s->nnets = 1;
	s->nets[0] = "user";
	s->mem_size = 64ULL << 20;
	s->ncpus = 2;
	s->clock_ns = 123456789012ULL;
	s->wall_ns = 1796655622000000001ULL;
	s->cpu_model = "portable";
	s->label = "red";
	s->ncpuid = 2;
	s->cpuid[0] = (struct snap_cpuid){ 1, 0, { 0x806c1, 0x800, 0xfeda3203, 0x178bfbff } };
	s->cpuid[1] = (struct snap_cpuid){ 7, 0, { 0, 0x9c2fbb, 0x4, 0 } };
	for (int i = 0; i < 2; i++) {
		x86_state_flat32(&s->cpu[i]);
		s->cpu[i].parts = X86_STATE_ALL;
		s->cpu[i].gpr[X86_RBX] = 0x1000u + (unsigned)i;
		s->cpu[i].msr.lstar = 0xffffffff81000000ULL;
		s->cpu[i].msr.mtrr_var[15] = 0xabcdef;
		s->cpu[i].fxsave[300] = 0x5a;
		s->cpu[i].ymmh[255] = (uint8_t)(0xa0 + i); /* (YMM15's top byte: format version 4) */
		s->cpu[i].lapic[0x20 + 3] = (uint8_t)i;
		s->cpu[i].ev.mp_state = i ? X86_MP_WAIT_SIPI : X86_MP_RUNNABLE;
		s->cpu[i].dr7 = 0x400;
	}
	s->ndevices = 2;
	snprintf(s->dev[0].id, sizeof(s->dev[0].id), "pic.1");
	s->dev[0].blob = blob_a, s->dev[0].len = sizeof(blob_a);
	snprintf(s->dev[1].id, sizeof(s->dev[1].id), "virtio-blk.0");
	s->dev[1].blob = blob_b, s->dev[1].len = sizeof(blob_b);
	s->ram_data_pages = 77;
}

static struct state_buf encoded_sample(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct state_buf b = { 0 };
	assert_non_null(s);
	sample(s);
	snapshot_encode(s, &b);
	assert_false(b.failed);
	free(s);
	return b;
}

static void round_trip(void **state)
{
	(void)state;
	struct snapshot *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
	struct state_buf b = { 0 };
	char err[256];

	sample(want);
	snapshot_encode(want, &b);
	assert_int_equal(snapshot_decode(b.data, b.len, got, err, sizeof(err)), 0);
	assert_string_equal(got->engine, "emu");
	assert_string_equal(got->kernel, "/boot/vmlinuz");
	assert_null(got->initrd);
	assert_string_equal(got->append, want->append);
	assert_int_equal(got->ndisks, 2);
	assert_string_equal(got->disks[1], want->disks[1]);
	assert_memory_equal(got->disk_ref, want->disk_ref, sizeof(want->disk_ref[0]) * 2);
	assert_int_equal(got->nnets, 1);
	assert_string_equal(got->nets[0], "user");
	assert_null(got->vsock);
	assert_int_equal(got->mem_size, want->mem_size);
	assert_int_equal(got->ncpus, 2);
	assert_int_equal(got->clock_ns, want->clock_ns);
	assert_int_equal(got->wall_ns, want->wall_ns);
	assert_string_equal(got->cpu_model, "portable");
	assert_string_equal(got->label, "red");
	assert_null(got->policy);
	assert_int_equal(got->ram_data_pages, 77);
	assert_int_equal(got->ncpuid, 2);
	assert_memory_equal(got->cpuid, want->cpuid, 2 * sizeof(want->cpuid[0]));
	for (int i = 0; i < 2; i++) {
		/* Field by field on disk; the structs compare whole (padding zeroed on both sides). */
		struct x86_state w;
		memset(&w, 0, sizeof(w));
		struct state_buf cb = { 0 };
		snap_put_x86_state(&cb, &want->cpu[i]);
		struct state_reader r = { .p = cb.data, .len = cb.len };
		snap_get_x86_state(&r, &w);
		assert_true(st_ok(&r));
		assert_memory_equal(&got->cpu[i], &w, sizeof(w));
		assert_int_equal(got->cpu[i].gpr[X86_RBX], 0x1000u + (unsigned)i);
		assert_int_equal(got->cpu[i].msr.mtrr_var[15], 0xabcdef);
		assert_int_equal(got->cpu[i].lapic[0x23], i);
		assert_int_equal(got->cpu[i].ymmh[255], 0xa0 + i);
		free(cb.data);
	}
	assert_int_equal(got->ndevices, 2);
	assert_string_equal(got->dev[1].id, "virtio-blk.0");
	assert_int_equal(got->dev[1].len, sizeof(blob_b));
	assert_memory_equal(got->dev[1].blob, blob_b, sizeof(blob_b));
	snapshot_free(got);
	free(b.data);
	free(want);
	free(got);
}

/* A version-3 file (before the YMM upper halves) still restores: the
 * sample re-encoded as version 3 (each vCPU section without its last 256
 * bytes, checksums redone) decodes to the same state with zero upper
 * halves. */
static void version3_read(void **state)
{
	(void)state;
	struct snapshot *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
	struct state_buf b = { 0 };
	char err[256];
	sample(want);
	snapshot_encode(want, &b);
	uint8_t *v3 = malloc(b.len);
	size_t in = 16, out = 16;
	memcpy(v3, b.data, 16);
	v3[8] = 3;
	while (in < b.len) {
		uint32_t tag, len;
		memcpy(&tag, b.data + in, 4);
		memcpy(&len, b.data + in + 4, 4);
		uint32_t keep = memcmp(b.data + in, "VCPU", 4) ? len : len - 256;
		memcpy(v3 + out, &tag, 4);
		memcpy(v3 + out + 4, &keep, 4);
		memcpy(v3 + out + 8, b.data + in + 8, keep);
		uint32_t crc = (uint32_t)crc32(0, v3 + out, keep + 8);
		memcpy(v3 + out + 8 + keep, &crc, 4);
		in += 12 + len;
		out += 12 + keep;
	}
	assert_int_equal(snapshot_decode(v3, out, got, err, sizeof(err)), 0);
	assert_int_equal(got->ncpus, 2);
	for (int i = 0; i < 2; i++) {
		static const uint8_t zero[256];
		assert_memory_equal(got->cpu[i].ymmh, zero, 256);
		assert_int_equal(got->cpu[i].gpr[X86_RBX], 0x1000u + (unsigned)i);
		assert_int_equal(got->cpu[i].lapic[0x23], i);
	}
	snapshot_free(got);
	free(v3);
	free(b.data);
	free(want);
	free(got);
}

static void truncation_refused(void **state)
{
	(void)state;
	struct state_buf b = encoded_sample();
	struct snapshot *s = calloc(1, sizeof(*s));
	char err[256];

	for (size_t n = 0; n < b.len; n++) {
		err[0] = 0;
		if (snapshot_decode(b.data, n, s, err, sizeof(err)) == 0)
			fail_msg("a snapshot cut to %zu of %zu bytes was accepted", n, b.len);
		assert_true(err[0] && !strchr(err, '\n'));
	}
	free(s);
	free(b.data);
}

static void corruption_refused(void **state)
{
	(void)state;
	struct state_buf b = encoded_sample();
	struct snapshot *s = calloc(1, sizeof(*s));
	char err[256];

	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b.data[i] ^= (uint8_t)(1u << bit);
			if (snapshot_decode(b.data, b.len, s, err, sizeof(err)) == 0)
				fail_msg("a snapshot with byte %zu changed was accepted", i);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Trailing bytes and a foreign file. */
	uint8_t *longer = calloc(1, b.len + 1);
	memcpy(longer, b.data, b.len);
	assert_int_equal(snapshot_decode(longer, b.len + 1, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "after its end"));
	static const uint8_t elf[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	assert_int_equal(snapshot_decode(elf, sizeof(elf), s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a symbiont snapshot"));
	/* Another version is named, not guessed at. */
	b.data[8] = SNAP_VERSION + 1;
	assert_int_equal(snapshot_decode(b.data, b.len, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 5"));
	b.data[8] = 2; /* before XCR0 */
	assert_int_equal(snapshot_decode(b.data, b.len, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 2"));
	b.data[8] = 0;
	assert_int_equal(snapshot_decode(b.data, b.len, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version 0"));
	free(longer);
	free(s);
	free(b.data);
}

static const char *guest_path(void)
{
	static char path[512];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/tests/guests/count.elf", build ? build : "build");
	if (access(path, R_OK))
		fail_msg("%s missing: make builds the test guests", path);
	return path;
}

/* A machine that has not run yet (no vCPU threads: pausing is immediate)
 * is written and brought back: same RAM, devices and vCPU. */
static void machine_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/symbiont-snaptest-XXXXXX", snap[600], path[700], err[256] = "";
	struct vm_config cfg = {
		.engine = "emu", .kernel = guest_path(), .mem_size = 32ULL << 20, .ncpus = 1, .serial = "null"
	};
	struct snapshot_result res;
	struct x86_state a, b;
	bool stopped, bad;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	struct machine *m = machine_build(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("machine_build: %s", err);
	struct vm *vm = machine_vm(m);
	memset(vm->mem.host + (8 << 20), 0xa5, 3 * 4096); /* three non-zero pages past the guest */
	if (snapshot_take(vm, snap, false, false, &stopped, &res, err, sizeof(err)) < 0)
		fail_msg("snapshot_take: %s", err);
	assert_false(stopped);
	assert_true(res.ram_data_pages >= 4 && res.ram_data_pages < 64); /* the guest, tables, our pages */
	/* A second snapshot to the same place is refused, the first left alone. */
	assert_int_equal(snapshot_take(vm, snap, false, false, &stopped, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exists"));
	snprintf(path, sizeof(path), "%s/memory", snap);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 32 << 20);
	assert_true(st.st_blocks * 512 < (8 << 20)); /* zero pages are holes */

	struct machine_restore_opts o = { .dir = snap, .serial = "null" };
	struct machine *r = machine_restore(&o, &bad, err, sizeof(err));
	if (!r)
		fail_msg("machine_restore: %s", err);
	struct vm *rv = machine_vm(r);
	assert_int_equal(rv->mem.size, vm->mem.size);
	assert_memory_equal(rv->mem.host, vm->mem.host, vm->mem.size);
	assert_int_equal(vm->engine->vcpu_get_state(vm->vcpus[0], &a), 0);
	assert_int_equal(rv->engine->vcpu_get_state(rv->vcpus[0], &b), 0);
	assert_memory_equal(a.gpr, b.gpr, sizeof(a.gpr));
	assert_int_equal(a.rip, b.rip);
	assert_int_equal(a.cr0, b.cr0);
	assert_int_equal(vm_device_count(rv), vm_device_count(vm));
	for (int i = 0; i < vm_device_count(vm); i++) {
		const struct vm_device *d = vm_device_at(vm, i), *e = vm_device_find(rv, d->id);
		uint8_t *x, *y;
		size_t nx, ny;
		assert_non_null(e);
		assert_int_equal(device_save(d->ops, d->dev, &x, &nx, err, sizeof(err)), 0);
		assert_int_equal(device_save(e->ops, e->dev, &y, &ny, err, sizeof(err)), 0);
		if (nx != ny || memcmp(x, y, nx))
			fail_msg("device %s restored differently", d->id);
		free(x);
		free(y);
	}
	/* Writes stay in the restored process: the file is unchanged. */
	memset(rv->mem.host + (8 << 20), 0, 4096);
	machine_destroy(r);
	FILE *f = fopen(path, "rb");
	uint8_t page[16];
	assert_non_null(f);
	fseek(f, 8 << 20, SEEK_SET);
	assert_int_equal(fread(page, 1, sizeof(page), f), sizeof(page));
	fclose(f);
	assert_int_equal(page[0], 0xa5);

	/* A memory file of the wrong size is the input's fault. */
	assert_int_equal(truncate(path, 4096), 0);
	assert_null(machine_restore(&o, &bad, err, sizeof(err)));
	assert_true(bad);
	assert_non_null(strstr(err, "bytes, the snapshot's RAM is"));

	machine_destroy(m);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state", snap);
	unlink(path);
	rmdir(snap);
	rmdir(dir);
}

/* --compress zstd: the memory goes to memory.zst, much smaller than RAM;
 * it restores to the same RAM, and a cut or corrupt stream is refused as
 * the input's fault. */
static void compressed_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/symbiont-snaptest-XXXXXX", snap[600], path[700], err[256] = "";
	struct vm_config cfg = {
		.engine = "emu", .kernel = guest_path(), .mem_size = 32ULL << 20, .ncpus = 1, .serial = "null"
	};
	struct snapshot_result res;
	bool stopped, bad;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(snap, sizeof(snap), "%s/snap", dir);
	struct machine *m = machine_build(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("machine_build: %s", err);
	struct vm *vm = machine_vm(m);
	for (int i = 0; i < 3 * 4096; i++)
		vm->mem.host[(8 << 20) + i] = (uint8_t)(i * 7 + (i >> 9));
	if (snapshot_take(vm, snap, false, true, &stopped, &res, err, sizeof(err)) < 0)
		fail_msg("snapshot_take: %s", err);
	assert_true(res.ram_data_pages >= 4 && res.ram_data_pages < 64);
	snprintf(path, sizeof(path), "%s/memory", snap);
	assert_int_equal(stat(path, &st), -1); /* no flat image beside it */
	snprintf(path, sizeof(path), "%s/memory.zst", snap);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0 && st.st_size < (1 << 20));
	assert_int_equal((uint64_t)st.st_size, res.memory_file_bytes);

	struct machine_restore_opts o = { .dir = snap, .serial = "null" };
	struct machine *r = machine_restore(&o, &bad, err, sizeof(err));
	if (!r)
		fail_msg("machine_restore: %s", err);
	assert_memory_equal(machine_vm(r)->mem.host, vm->mem.host, vm->mem.size);
	machine_destroy(r);

	/* Cut short, then corrupt: refused, the input's fault. */
	assert_int_equal(truncate(path, st.st_size / 2), 0);
	assert_null(machine_restore(&o, &bad, err, sizeof(err)));
	assert_true(bad);
	assert_non_null(strstr(err, "memory.zst"));
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fwrite("garbage!", 1, 8, f), 8);
	fclose(f);
	assert_null(machine_restore(&o, &bad, err, sizeof(err)));
	assert_true(bad);
	assert_non_null(strstr(err, "zstd"));

	machine_destroy(m);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state", snap);
	unlink(path);
	rmdir(snap);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),         cmocka_unit_test(version3_read),
		cmocka_unit_test(truncation_refused), cmocka_unit_test(corruption_refused),
		cmocka_unit_test(machine_round_trip), cmocka_unit_test(compressed_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
