/* The kallsyms decoder (src/guestos/kallsyms.c): a synthetic 6.1 table is
 * found anywhere in a range and decoded to the symbols it holds; corrupted
 * tables are refused, not misread; and the default guest's real vmlinux
 * (build/guest, whose kallsyms the build compressed) decodes to the same
 * addresses its System.map gives, which skips when the guest is absent. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "guestos/guestos_int.h"
#include "kallsyms_synth.h"

#define BASE 0xffffffff9a000000ULL
#define VA   0xffffffff9b000000ULL

static bool has_line(const struct gos_kallsyms *ks, const char *line)
{
	char *copy = strndup(ks->map, ks->map_len);
	bool r = strstr(copy, line) != NULL;
	free(copy);
	return r;
}

static void test_synthetic(void **state)
{
	struct ksynth k;
	struct gos_kallsyms ks;
	char err[256];

	(void)state;
	assert_int_equal(ksynth_build(&k, VA, 1000, BASE), 0);
	/* Running addresses, then moved to a link-time _text. */
	assert_int_equal(gos_kallsyms_find(ksynth_read, &k, VA - 0x10000, VA + 0x100000, 0, &ks, err, sizeof(err)), 0);
	assert_int_equal(ks.count, 1000);
	assert_int_equal(ks.relative_base, BASE);
	assert_true(has_line(&ks, "ffffffff9a000000 T _text\n"));
	assert_true(has_line(&ks, "0000000000001000 D current_task\n"));
	assert_true(has_line(&ks, "ffffffff9a200000 T entry_SYSCALL_64\n"));
	assert_true(has_line(&ks, "ffffffff9a003e70 t sym_999\n"));
	gos_kallsyms_free(&ks);
	assert_int_equal(
	        gos_kallsyms_find(ksynth_read, &k, VA, VA + k.len, 0xffffffff81000000ULL, &ks, err, sizeof(err)), 0);
	assert_true(has_line(&ks, "ffffffff81200000 T entry_SYSCALL_64\n"));
	assert_true(has_line(&ks, "0000000000001000 D current_task\n"));
	/* The decoded text is what the System.map parser takes. */
	struct gos_symtab s;
	uint64_t a;
	assert_int_equal(gos_symtab_parse(&s, ks.map, ks.map_len, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1000);
	assert_int_equal(gos_symtab_find(&s, "sym_5", &a), 0);
	assert_int_equal(a, 0xffffffff81000050ULL);
	gos_symtab_free(&s);
	gos_kallsyms_free(&ks);
	free(k.buf);
}

/* Any single byte changed in the tables' structure: found and right, or
 * refused; never a crash (ASan) or a wrong count. */
static void test_corrupted(void **state)
{
	struct ksynth k;
	struct gos_kallsyms ks;
	char err[256];
	int refused = 0;

	(void)state;
	assert_int_equal(ksynth_build(&k, VA, 600, BASE), 0);
	for (size_t at = 64; at < k.len; at += 7) {
		uint8_t old = k.buf[at];
		k.buf[at] ^= 0x5a;
		if (gos_kallsyms_find(ksynth_read, &k, VA, VA + k.len, 0, &ks, err, sizeof(err)))
			refused++;
		else
			assert_int_equal(ks.count, 600);
		gos_kallsyms_free(&ks);
		k.buf[at] = old;
	}
	assert_true(refused > 0);
	/* Without the signature there is nothing to find. */
	memset(k.buf + k.token_table_off, 'x', 256);
	assert_int_equal(gos_kallsyms_find(ksynth_read, &k, VA, VA + k.len, 0, &ks, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no kallsyms"));
	free(k.buf);
}

struct image {
	uint8_t *elf;
	size_t len;
};

/* Reads the vmlinux's loaded segments by virtual address. */
static int image_read(void *ctx, uint64_t va, void *buf, size_t len)
{
	const struct image *im = ctx;
	Elf64_Ehdr eh;

	memcpy(&eh, im->elf, sizeof(eh));
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, im->elf + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || va < ph.p_vaddr || va - ph.p_vaddr >= ph.p_filesz ||
		    len > ph.p_filesz - (va - ph.p_vaddr))
			continue;
		memcpy(buf, im->elf + ph.p_offset + (va - ph.p_vaddr), len);
		return 0;
	}
	return -1;
}

static void test_real_image(void **state)
{
	const char *dir = getenv("GUEST_DIR") ? getenv("GUEST_DIR") : "build/guest";
	char kernel[512], map[512], err[256];
	struct image im;
	struct gos_kallsyms ks;
	struct gos_symtab want, got;
	static const char *const names[] = { "_text",        "entry_SYSCALL_64", "linux_banner",
		                             "init_task",    "init_top_pgt",     "__per_cpu_offset",
		                             "current_task", "modules",          "schedule",
		                             "_end" };

	(void)state;
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(map, sizeof(map), "%s/System.map", dir);
	if (access(kernel, R_OK) || access(map, R_OK)) {
		printf("not tested: kallsyms of the real kernel: %s/vmlinuz or System.map is absent\n", dir);
		skip();
	}
	assert_int_equal(boot_vmlinux_file(kernel, &im.elf, &im.len, err, sizeof(err)), 0);
	assert_int_equal(gos_kallsyms_find(image_read, &im, 0xffffffff80000000ULL, 0xffffffffc0000000ULL, 0, &ks, err,
	                                   sizeof(err)),
	                 0);
	FILE *f = fopen(map, "r");
	assert_non_null(f);
	char *text = malloc(64 << 20);
	size_t n = fread(text, 1, 64 << 20, f);
	fclose(f);
	assert_int_equal(gos_symtab_parse(&want, text, n, err, sizeof(err)), 0);
	free(text);
	if (gos_symtab_parse(&got, ks.map, ks.map_len, err, sizeof(err)))
		fail_msg("decoded kallsyms do not parse: %s", err);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t a, b;
		if (gos_symtab_find(&want, names[i], &a))
			continue;
		if (gos_symtab_find(&got, names[i], &b))
			fail_msg("kallsyms has no %s", names[i]);
		if (a != b)
			fail_msg("%s: System.map %lx, kallsyms %lx", names[i], (unsigned long)a, (unsigned long)b);
	}
	assert_true(got.n > 50000);
	gos_symtab_free(&want);
	gos_symtab_free(&got);
	gos_kallsyms_free(&ks);
	free(im.elf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_real_image),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
