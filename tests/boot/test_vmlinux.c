/* Linux 64-bit boot protocol with a plain ELF64 vmlinux: segments, entry
 * state, boot_params, page tables, initrd placement, the e820 map, file
 * reading, and refusal of every kind of malformed ELF. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_test.h"

#define KBASE 0x1000000ULL /* LOAD_PHYSICAL_ADDR */
#define KVIRT 0xffffffff81000000ULL

static uint8_t text[256], data[64];

static int setup(void **state)
{
	struct guest_mem *m = calloc(1, sizeof(*m));
	assert_int_equal(guest_mem_init(m, 256 * MiB), 0);
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i * 7 + 1);
	memset(data, 0x5a, sizeof(data));
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	guest_mem_free(*state);
	free(*state);
	return 0;
}

/* Two segments like a vmlinux: text at 16 MiB (with bss) and data above. */
static uint8_t *kernel(uint64_t entry, size_t *len)
{
	struct tseg s[3] = {
		{ KVIRT, KBASE, text, sizeof(text), 0x3000, 0 },
		{ KVIRT + 0x200000, KBASE + 0x200000, data, sizeof(data), sizeof(data), 0 },
		{ 0, 0, NULL, 0, 0, PT_NOTE },
	};
	return build_elf(64, entry, s, 3, len);
}

static void entry_state_and_segments(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { .cmdline = "console=ttyS0 root=/dev/vda", .acpi_rsdp = 0xe0000, .ncpus = 1 };
	uint8_t initrd[5000];
	char err[256];
	size_t len;
	uint8_t *k = kernel(KBASE, &len);

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x3c);
	memset(gp(m, KBASE + sizeof(text), 16), 0xee, 16); /* stale bytes where bss goes */
	assert_int_equal(boot_load_image(m, k, len, initrd, sizeof(initrd), &bi, &s, err, sizeof(err)), 0);
	free(k);

	assert_memory_equal(gp(m, KBASE, sizeof(text)), text, sizeof(text));
	assert_memory_equal(gp(m, KBASE + 0x200000, sizeof(data)), data, sizeof(data));
	for (uint64_t a = KBASE + sizeof(text); a < KBASE + 0x3000; a++)
		assert_int_equal(*gp(m, a, 1), 0);

	/* 64-bit entry: long mode, paging, CS=0x10 64-bit, DS/ES/SS=0x18. */
	assert_int_equal(s.rip, KBASE);
	assert_int_equal(s.gpr[X86_RSI], 0x7000);
	assert_true((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG));
	assert_true(s.cr4 & CR4_PAE);
	assert_true((s.efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
	assert_false(s.rflags & RFLAGS_IF);
	assert_int_equal(s.seg[SEG_CS].sel, 0x10);
	assert_int_equal(s.seg[SEG_CS].l, 1);
	assert_int_equal(s.seg[SEG_CS].db, 0);
	assert_int_equal(s.seg[SEG_CS].present, 1);
	assert_int_equal(s.seg[SEG_CS].type & 0x8, 0x8);
	assert_int_equal(s.seg[SEG_DS].sel, 0x18);
	assert_int_equal(s.seg[SEG_ES].sel, 0x18);
	assert_int_equal(s.seg[SEG_SS].sel, 0x18);
	assert_int_equal(s.seg[SEG_SS].type, 3);

	/* The GDT in guest memory agrees with the segment caches. */
	assert_true(s.gdt.limit >= 0x1f);
	uint64_t cs = le64(gp(m, s.gdt.base + 0x10, 8)), ds = le64(gp(m, s.gdt.base + 0x18, 8));
	assert_true(cs & (1ULL << 53));            /* L */
	assert_true(cs & (1ULL << 47));            /* P */
	assert_int_equal((cs >> 40) & 0x18, 0x18); /* code segment */
	assert_int_equal((ds >> 40) & 0x1a, 0x12); /* writable data */

	/* boot_params */
	uint8_t *bp = gp(m, s.gpr[X86_RSI], 4096);
	assert_int_equal(le16(bp + 0x1fe), 0xaa55);
	assert_memory_equal(bp + 0x202, "HdrS", 4);
	assert_int_equal(bp[0x210], 0xff);
	uint32_t cmd = le32(bp + 0x228);
	assert_string_equal((char *)gp(m, cmd, 64), bi.cmdline);
	assert_int_equal(le64(bp + 0x070), 0xe0000);
	uint64_t iaddr = le32(bp + 0x218) | (uint64_t)le32(bp + 0x0c0) << 32;
	assert_int_equal(le32(bp + 0x21c), sizeof(initrd));
	assert_int_equal(iaddr & 0xfff, 0);
	assert_true(iaddr >= KBASE + 0x200000 + sizeof(data) || iaddr + sizeof(initrd) <= KBASE);
	assert_true(iaddr + sizeof(initrd) <= m->low_size);
	assert_true(iaddr > 200 * MiB); /* as high as possible */
	assert_memory_equal(gp(m, iaddr, sizeof(initrd)), initrd, sizeof(initrd));

	/* e820: RAM below the EBDA, legacy area reserved, RAM from 1 MiB. */
	assert_int_equal(bp[0x1e8], 3);
	uint8_t *e = bp + 0x2d0;
	assert_int_equal(le64(e), 0);
	assert_int_equal(le64(e + 8), 0x9fc00);
	assert_int_equal(le32(e + 16), 1);
	assert_int_equal(le64(e + 20), 0x9fc00);
	assert_int_equal(le64(e + 28), 0x100000 - 0x9fc00);
	assert_int_equal(le32(e + 36), 2);
	assert_int_equal(le64(e + 40), 0x100000);
	assert_int_equal(le64(e + 48), 256 * MiB - 0x100000);
	assert_int_equal(le32(e + 56), 1);
	/* The ACPI tables at 0xE0000 are in the reserved entry. */
	assert_true(0xe0000 >= le64(e + 20) && 0xe0000 < le64(e + 20) + le64(e + 28));

	/* The identity map covers kernel, boot_params, command line, initrd. */
	assert_int_equal(walk(m, s.cr3, KBASE), KBASE);
	assert_int_equal(walk(m, s.cr3, KBASE + 0x200010), KBASE + 0x200010);
	assert_int_equal(walk(m, s.cr3, 0x7000), 0x7000);
	assert_int_equal(walk(m, s.cr3, cmd), cmd);
	assert_int_equal(walk(m, s.cr3, iaddr + sizeof(initrd) - 1), iaddr + sizeof(initrd) - 1);
	assert_int_equal(walk(m, s.cr3, 0xfffff000ULL), 0xfffff000ULL);
}

static void virtual_entry_is_translated(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t len;
	uint8_t *k = kernel(KVIRT + 0x40, &len);

	assert_int_equal(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	free(k);
	assert_int_equal(s.rip, KBASE + 0x40);
	uint8_t *bp = gp(m, s.gpr[X86_RSI], 4096);
	assert_int_equal(le32(bp + 0x218), 0); /* no initrd */
	assert_int_equal(le32(bp + 0x21c), 0);
	assert_int_equal(le64(bp + 0x070), 0);                       /* no RSDP given */
	assert_string_equal((char *)gp(m, le32(bp + 0x228), 1), ""); /* empty command line */
}

static void e820_high_memory(void **state)
{
	struct guest_mem m;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t len;
	uint8_t *k = kernel(KBASE, &len);
	(void)state;

	assert_int_equal(guest_mem_init(&m, MEM_HOLE_START + 512 * MiB), 0);
	assert_int_equal(boot_load_image(&m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	free(k);
	uint8_t *bp = gp(&m, s.gpr[X86_RSI], 4096), *e = bp + 0x2d0 + 3 * 20;
	assert_int_equal(bp[0x1e8], 4);
	assert_int_equal(le64(bp + 0x2d0 + 2 * 20 + 8), MEM_HOLE_START - 0x100000);
	assert_int_equal(le64(e), MEM_4G);
	assert_int_equal(le64(e + 8), 512 * MiB);
	assert_int_equal(le32(e + 16), 1);
	guest_mem_free(&m);
}

static void initrd_too_big(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t len, ilen = 250 * MiB;
	uint8_t *k = kernel(KBASE, &len), *initrd = calloc(1, ilen);

	assert_boot_fails(boot_load_image(m, k, len, initrd, ilen, &bi, &s, err, sizeof(err)), err,
	                  "initrd (262144000 bytes) does not fit in guest memory below 0x10000000");
	free(initrd);
	free(k);
}

static void cmdline_too_long(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	char err[256], *cmd = malloc(3000);
	size_t len;
	uint8_t *k = kernel(KBASE, &len);

	memset(cmd, 'a', 2999);
	cmd[2999] = 0;
	struct boot_info bi = { .cmdline = cmd };
	assert_boot_fails(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), err, "command line");
	free(cmd);
	free(k);
}

/* Every malformed ELF is refused with a reason, and leaves memory alone. */
static void malformed_elf(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t len;
	uint8_t *good = kernel(KBASE, &len), *k = malloc(len);

#define BAD(mutation, want)                                                                                   \
	do {                                                                                                  \
		memcpy(k, good, len);                                                                         \
		memset(gp(m, KBASE, 64), 0x77, 64);                                                           \
		mutation;                                                                                     \
		assert_boot_fails(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), err, want); \
		assert_int_equal(*gp(m, KBASE, 1), 0x77);                                                     \
	} while (0)

	size_t full = len;
	BAD(len = 40, "truncated");
	len = full;
	BAD(put64(k + 32, len - 8), "program header table lies outside the file");         /* e_phoff */
	BAD(put64(k + 32, UINT64_MAX - 16), "program header table lies outside the file"); /* overflow */
	BAD(put16(k + 56, 0), "program headers");                                          /* e_phnum 0 */
	BAD(put16(k + 56, 0xffff), "program headers");                                     /* PN_XNUM */
	BAD(put16(k + 54, 8), "program header size");                                      /* e_phentsize */
	BAD(put16(k + 18, EM_AARCH64), "machine");
	BAD(put16(k + 16, ET_REL), "not an executable");
	BAD(k[EI_DATA] = ELFDATA2MSB, "little-endian");
	BAD(put64(k + elf64_ph(0) + 8, len - 10), "program header 0 lies outside the file"); /* p_offset */
	BAD(put64(k + elf64_ph(0) + 8, UINT64_MAX - 8), "program header 0 lies outside the file");
	/* p_filesz */
	BAD((put64(k + elf64_ph(1) + 32, 1ULL << 40), put64(k + elf64_ph(1) + 40, 1ULL << 40)),
	    "program header 1 lies outside the file");
	BAD(put64(k + elf64_ph(0) + 40, 16), "file size > memory size");          /* p_memsz */
	BAD(put64(k + elf64_ph(0) + 24, 0x7ff00000000ULL), "not in guest RAM");   /* p_paddr */
	BAD(put64(k + elf64_ph(0) + 24, 0x8000), "not in guest RAM above 1 MiB"); /* low memory */
	BAD(put64(k + elf64_ph(0) + 24, 0xbfffff00ULL), "not in guest RAM");      /* into the hole */
	BAD((put64(k + elf64_ph(0) + 24, UINT64_MAX - 0x1000)), "wraps around");
	BAD(put64(k + elf64_ph(1) + 24, KBASE + 0x1000), "overlaps another segment");
	BAD(put64(k + elf64_ph(1) + 40, 1ULL << 40), "not in guest RAM"); /* absurd memsz */
	BAD(put64(k + 24, 0x5000000), "entry point");                     /* e_entry */
	BAD((put32(k + elf64_ph(0), PT_NOTE), put32(k + elf64_ph(1), PT_NOTE)), "no loadable segments");
	BAD(k[EI_CLASS] = 7, "unrecognised format");
	BAD(memset(k, 0, 4), "unrecognised format");
#undef BAD
	free(k);
	free(good);
}

static void empty_and_files(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[512], dir[] = "/tmp/boot-test-XXXXXX", path[600], ipath[600];
	uint8_t b = 0;

	assert_boot_fails(boot_load_image(m, &b, 0, NULL, 0, &bi, &s, err, sizeof(err)), err, "empty");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vmlinux", dir);
	assert_boot_fails(boot_load_files(m, path, NULL, &bi, &s, err, sizeof(err)), err, path); /* missing */
	assert_boot_fails(boot_load_files(m, dir, NULL, &bi, &s, err, sizeof(err)), err, "directory");

	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_boot_fails(boot_load_files(m, path, NULL, &bi, &s, err, sizeof(err)), err, "empty"); /* empty */
	assert_non_null(strstr(err, path));

	size_t len;
	uint8_t *k = kernel(KBASE, &len);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, k, len), (ssize_t)len);
	close(fd);
	snprintf(ipath, sizeof(ipath), "%s/initrd", dir);
	assert_boot_fails(boot_load_files(m, path, ipath, &bi, &s, err, sizeof(err)), err, ipath); /* missing initrd */
	fd = open(ipath, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_int_equal(write(fd, "initrd!", 7), 7);
	close(fd);
	if (geteuid() != 0) { /* root reads anything */
		chmod(ipath, 0);
		assert_boot_fails(boot_load_files(m, path, ipath, &bi, &s, err, sizeof(err)), err, ipath);
		chmod(ipath, 0644);
	}
	assert_int_equal(boot_load_files(m, path, ipath, &bi, &s, err, sizeof(err)), 0);
	uint8_t *bp = gp(m, s.gpr[X86_RSI], 4096);
	assert_int_equal(le32(bp + 0x21c), 7);
	assert_memory_equal(gp(m, le32(bp + 0x218), 7), "initrd!", 7);
	assert_int_equal(s.rip, KBASE);
	free(k);
	unlink(ipath);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(entry_state_and_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(virtual_entry_is_translated, setup, teardown),
		cmocka_unit_test_setup_teardown(e820_high_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(initrd_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(cmdline_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_elf, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_and_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
