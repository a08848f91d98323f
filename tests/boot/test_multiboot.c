/* Multiboot v1: an ELF32 kernel and an a.out-kludge binary, the entry state
 * (flat 32-bit, paging off, EAX/EBX), the information structure with memory
 * sizes, command line, the initrd as module 0 and the memory map, the
 * required-flag policy, and malformed headers. */
#include "boot_test.h"

#define MB_MAGIC 0x1BADB002u
#define KADDR    0x100000ULL

static int setup(void **state)
{
	struct guest_mem *m = calloc(1, sizeof(*m));
	assert_int_equal(guest_mem_init(m, 64 * MiB), 0);
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	guest_mem_free(*state);
	free(*state);
	return 0;
}

static void mb_header(uint8_t *p, uint32_t flags)
{
	put32(p, MB_MAGIC);
	put32(p + 4, flags);
	put32(p + 8, -(MB_MAGIC + flags));
}

/* ELF32 kernel: a text segment starting with the multiboot header, and a
 * bss-only segment. */
static uint8_t *elf_kernel(uint32_t flags, size_t *len)
{
	static uint8_t t[512];
	memset(t, 0x90, sizeof(t));
	mb_header(t, flags);
	struct tseg s[2] = {
		{ KADDR, KADDR, t, sizeof(t), sizeof(t), 0 },
		{ KADDR + 0x10000, KADDR + 0x10000, NULL, 0, 0x4000, 0 },
	};
	return build_elf(32, KADDR + 0x20, s, 2, len);
}

static void elf32_kernel_with_initrd(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { .cmdline = "kernel arg=1" };
	uint8_t initrd[10000];
	char err[256];
	size_t len;
	uint8_t *k = elf_kernel(0x3, &len);

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);
	memset(gp(m, KADDR + 0x10000, 0x4000), 0xab, 0x4000);
	assert_int_equal(boot_load_image(m, k, len, initrd, sizeof(initrd), &bi, &s, err, sizeof(err)), 0);
	free(k);

	assert_int_equal(le32(gp(m, KADDR, 4)), MB_MAGIC);
	assert_int_equal(*gp(m, KADDR + 511, 1), 0x90);
	for (uint64_t a = KADDR + 0x10000; a < KADDR + 0x14000; a++)
		assert_int_equal(*gp(m, a, 1), 0);

	/* Flat 32-bit protected mode, paging off, interrupts off. */
	assert_int_equal(s.rip, KADDR + 0x20);
	assert_int_equal(s.gpr[X86_RAX], 0x2BADB002);
	assert_true(s.cr0 & CR0_PE);
	assert_false(s.cr0 & CR0_PG);
	assert_false(s.efer & EFER_LMA);
	assert_false(s.rflags & RFLAGS_IF);
	assert_false(s.rflags & (1 << 17)); /* VM */
	assert_int_equal(s.seg[SEG_CS].db, 1);
	assert_int_equal(s.seg[SEG_CS].l, 0);
	assert_int_equal(s.seg[SEG_CS].base, 0);
	assert_int_equal(s.seg[SEG_CS].limit, 0xffffffff);
	assert_int_equal(s.seg[SEG_DS].limit, 0xffffffff);
	assert_int_equal(s.seg[SEG_SS].base, 0);
	/* The GDT's descriptors match the selectors in use. */
	assert_true(s.gdt.limit >= s.seg[SEG_DS].sel + 7);
	uint64_t cs = le64(gp(m, s.gdt.base + s.seg[SEG_CS].sel, 8));
	uint64_t ds = le64(gp(m, s.gdt.base + s.seg[SEG_DS].sel, 8));
	assert_true(cs & (1ULL << 54)); /* D: 32-bit */
	assert_int_equal((cs >> 40) & 0x18, 0x18);
	assert_int_equal((ds >> 40) & 0x1a, 0x12);

	/* The information structure. */
	uint8_t *mbi = gp(m, s.gpr[X86_RBX], 116);
	uint32_t flags = le32(mbi);
	assert_true(flags & (1 << 0)); /* mem */
	assert_true(flags & (1 << 2)); /* cmdline */
	assert_true(flags & (1 << 3)); /* mods */
	assert_true(flags & (1 << 6)); /* mmap */
	assert_int_equal(le32(mbi + 4), 639);
	assert_int_equal(le32(mbi + 8), (64 * MiB - MiB) / 1024);
	assert_string_equal((char *)gp(m, le32(mbi + 16), 16), "kernel arg=1");
	if (flags & (1 << 9))
		assert_string_equal((char *)gp(m, le32(mbi + 64), 9), "symbiont");

	assert_int_equal(le32(mbi + 20), 1);
	uint8_t *mod = gp(m, le32(mbi + 24), 16);
	uint32_t ms = le32(mod), me = le32(mod + 4);
	assert_int_equal(ms & 0xfff, 0); /* page-aligned: flags bit 0 */
	assert_int_equal(me - ms, sizeof(initrd));
	assert_true(ms >= KADDR + 0x14000);
	assert_true(me <= 64 * MiB);
	assert_memory_equal(gp(m, ms, sizeof(initrd)), initrd, sizeof(initrd));
	assert_non_null(gp(m, le32(mod + 8), 1));

	/* mmap: size-prefixed entries matching the e820 layout. */
	uint32_t mlen = le32(mbi + 44), maddr = le32(mbi + 48);
	assert_int_equal(mlen, 3 * 24);
	uint8_t *e = gp(m, maddr, mlen);
	assert_int_equal(le32(e), 20);
	assert_int_equal(le64(e + 4), 0);
	assert_int_equal(le64(e + 12), 0x9fc00);
	assert_int_equal(le32(e + 20), 1);
	assert_int_equal(le64(e + 24 + 4), 0x9fc00);
	assert_int_equal(le32(e + 24 + 20), 2);
	assert_int_equal(le64(e + 48 + 4), MiB);
	assert_int_equal(le64(e + 48 + 12), 63 * MiB);
	assert_int_equal(le32(e + 48 + 20), 1);
	/* The structures stay clear of the kernel. */
	assert_true(s.gpr[X86_RBX] + 116 <= KADDR);
	assert_true(maddr + mlen <= KADDR);
}

static void no_initrd_no_cmdline(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t len;
	uint8_t *k = elf_kernel(0x2, &len);

	assert_int_equal(boot_load_image(m, k, len, NULL, 0, NULL, &s, err, sizeof(err)), 0);
	assert_int_equal(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	free(k);
	uint8_t *mbi = gp(m, s.gpr[X86_RBX], 116);
	assert_int_equal(le32(mbi + 20), 0); /* mods_count */
	assert_string_equal((char *)gp(m, le32(mbi + 16), 1), "");
}

/* A flat binary with the address fields (flags bit 16). */
static uint8_t *aout_kernel(size_t *len)
{
	size_t n = 0x300;
	uint8_t *b = malloc(n);
	memset(b, 0xf4, n);
	mb_header(b + 0x40, 0x10003);
	put32(b + 0x40 + 12, 0x200040); /* header_addr */
	put32(b + 0x40 + 16, 0x200000); /* load_addr */
	put32(b + 0x40 + 20, 0);        /* load_end_addr: whole file */
	put32(b + 0x40 + 24, 0x202000); /* bss_end_addr */
	put32(b + 0x40 + 28, 0x200100); /* entry_addr */
	*len = n;
	return b;
}

static void aout_kludge(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { .cmdline = "x" };
	char err[256];
	size_t len;
	uint8_t *k = aout_kernel(&len);

	memset(gp(m, 0x200000, 0x2000), 0x33, 0x2000);
	assert_int_equal(boot_load_image(m, k, len, (const uint8_t *)"mod", 3, &bi, &s, err, sizeof(err)), 0);
	assert_memory_equal(gp(m, 0x200000, len), k, len);
	for (uint64_t a = 0x200000 + len; a < 0x202000; a++)
		assert_int_equal(*gp(m, a, 1), 0);
	assert_int_equal(s.rip, 0x200100);
	assert_int_equal(s.gpr[X86_RAX], 0x2BADB002);
	uint8_t *mod = gp(m, le32(gp(m, s.gpr[X86_RBX] + 24, 4)), 16);
	assert_memory_equal(gp(m, le32(mod), 3), "mod", 3);
	assert_true(le32(mod) >= 0x202000 || le32(mod) + 3 <= 0x200000);

	/* load_end_addr inside the file loads only that much. */
	put32(k + 0x40 + 20, 0x200080);
	memset(gp(m, 0x200000, 0x2000), 0x33, 0x2000);
	assert_int_equal(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	assert_int_equal(*gp(m, 0x20007f, 1), 0xf4);
	assert_int_equal(*gp(m, 0x200080, 1), 0);
	free(k);
}

/* A kernel below 1 MiB (real-mode test programs), over the address where
 * the command line usually goes: it loads, and the command line moves
 * beside it. */
static void low_kernel(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { .cmdline = "low=1" };
	char err[256];
	size_t len;
	uint8_t *k = aout_kernel(&len);

	put32(k + 0x40 + 12, 0x1ff40); /* header_addr */
	put32(k + 0x40 + 16, 0x1ff00); /* load_addr: across BOOT_CMDLINE (0x20000) */
	put32(k + 0x40 + 24, 0);       /* no bss */
	put32(k + 0x40 + 28, 0x1ff80); /* entry_addr */
	assert_int_equal(boot_load_image(m, k, len, NULL, 0, &bi, &s, err, sizeof(err)), 0);
	assert_memory_equal(gp(m, 0x1ff00, len), k, len); /* not overwritten by the command line */
	assert_int_equal(s.rip, 0x1ff80);
	uint32_t mbi = (uint32_t)s.gpr[X86_RBX], cmdline;
	memcpy(&cmdline, gp(m, mbi + 16, 4), 4);
	assert_true(cmdline >= 0x1ff00 + len || cmdline + 6 <= 0x1ff00);
	assert_string_equal((const char *)gp(m, cmdline, 6), "low=1");
	free(k);
}

static void malformed(void **state)
{
	struct guest_mem *m = *state;
	struct x86_state s;
	struct boot_info bi = { 0 };
	char err[256];
	size_t glen, len;
	uint8_t *good = aout_kernel(&glen), *b = malloc(glen);

#define BAD(mutation, want)                                                                                   \
	do {                                                                                                  \
		memcpy(b, good, glen);                                                                        \
		len = glen;                                                                                   \
		mutation;                                                                                     \
		assert_boot_fails(boot_load_image(m, b, len, NULL, 0, &bi, &s, err, sizeof(err)), err, want); \
	} while (0)
#define FIELD(i, v) put32(b + 0x40 + 4 * (i), (v))

	BAD(FIELD(2, 0), "unrecognised format");          /* bad checksum */
	BAD(mb_header(b + 0x40, 0x10007), "video mode");  /* bit 2 required */
	BAD(mb_header(b + 0x40, 0x10103), "unsupported"); /* bit 8 */
	BAD(len = 0x50, "truncated");                     /* address fields cut off */
	BAD(FIELD(4, 0x200041), "load_addr");             /* load_addr > header_addr */
	BAD(FIELD(4, 0x1fff00), "load_addr");             /* before the file start */
	BAD(FIELD(5, 0x100000), "load_end_addr");         /* below load_addr */
	BAD(FIELD(5, 0x200400), "load_end_addr");         /* past the file */
	BAD(FIELD(6, 0x200100), "bss_end_addr");          /* below load_end */
	BAD(FIELD(7, 0x300000), "entry");                 /* outside the image */
	BAD(FIELD(6, 0xf0000000), "not in guest RAM");    /* bss past RAM */
	/* below 1 MiB: not over the loader's GDT and information pages, not
	 * into the reserved legacy area */
	BAD((FIELD(3, 0x1040), FIELD(4, 0x1000), FIELD(6, 0), FIELD(7, 0x1040)), "between 0x3000");
	BAD((FIELD(3, 0x9fa40), FIELD(4, 0x9fa00), FIELD(6, 0), FIELD(7, 0x9fa40)), "or above 1 MiB");
	BAD((FIELD(3, 0x3ffffff0), FIELD(4, 0x3fffffb0), FIELD(6, 0), FIELD(7, 0x3fffffb0)), "not in guest RAM");
	BAD(mb_header(b + 0x40, 0x3), "not ELF"); /* no address fields, not ELF */
	/* The header must lie within the first 8 KiB. */
	free(b);
	b = calloc(1, 9000);
	mb_header(b + 8192, 0x10003);
	assert_boot_fails(boot_load_image(m, b, 9000, NULL, 0, &bi, &s, err, sizeof(err)), err, "unrecognised");
#undef BAD
#undef FIELD
	free(b);
	free(good);

	/* ELF32 without a multiboot header is not something we boot. */
	uint8_t t[64] = { 0 };
	struct tseg seg = { KADDR, KADDR, t, sizeof(t), sizeof(t), 0 };
	uint8_t *e = build_elf(32, KADDR, &seg, 1, &len);
	assert_boot_fails(boot_load_image(m, e, len, NULL, 0, &bi, &s, err, sizeof(err)), err, "multiboot");
	free(e);

	/* A multiboot ELF whose segment is outside RAM. */
	e = elf_kernel(0x3, &len);
	put32(e + elf32_ph(1) + 12, 0x7fff0000); /* p_paddr */
	assert_boot_fails(boot_load_image(m, e, len, NULL, 0, &bi, &s, err, sizeof(err)), err, "not in guest RAM");
	free(e);

	/* An initrd module that cannot fit. */
	e = elf_kernel(0x3, &len);
	uint8_t *big = calloc(1, 64 * MiB);
	assert_boot_fails(boot_load_image(m, e, len, big, 63 * MiB, &bi, &s, err, sizeof(err)), err, "does not fit");
	free(big);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(elf32_kernel_with_initrd, setup, teardown),
		cmocka_unit_test_setup_teardown(no_initrd_no_cmdline, setup, teardown),
		cmocka_unit_test_setup_teardown(aout_kludge, setup, teardown),
		cmocka_unit_test_setup_teardown(low_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
