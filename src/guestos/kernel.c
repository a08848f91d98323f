/* A guest kernel described by its own files: the structure layouts from the
 * .BTF section of its vmlinux (the bzImage payload, inflated by the boot
 * loader's code) and the symbols from its System.map, or, without one,
 * from the running kernel's kallsyms once a VM is attached (guestos.c).
 * Anything that is not a Linux with BTF is refused here, in one line,
 * before any VM is touched. */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/boot.h"
#include "guestos/guestos_int.h"

#define SYSTEM_MAP_FILE_MAX (256 << 20)

int gos_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool in_buf(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off;
}

/* The bytes of the ELF64 section called name, or -1. */
static int elf_section(const uint8_t *elf, size_t len, const char *name, const uint8_t **data, size_t *size)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strtab;

	if (len < sizeof(eh))
		return -1;
	memcpy(&eh, elf, sizeof(eh));
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum ||
	    !in_buf(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), len))
		return -1;
	memcpy(&strtab, elf + eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof(strtab));
	if (!in_buf(strtab.sh_offset, strtab.sh_size, len))
		return -1;
	for (uint16_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		size_t nlen = strlen(name);

		memcpy(&sh, elf + eh.e_shoff + (uint64_t)i * sizeof(Elf64_Shdr), sizeof(sh));
		if (sh.sh_type == SHT_NOBITS || !in_buf(sh.sh_name, nlen + 1, strtab.sh_size) ||
		    memcmp(elf + strtab.sh_offset + sh.sh_name, name, nlen + 1))
			continue;
		if (!in_buf(sh.sh_offset, sh.sh_size, len) || sh.sh_size > UINT32_MAX)
			return -1;
		*data = elf + sh.sh_offset;
		*size = sh.sh_size;
		return 0;
	}
	return -1;
}

/* libbpf reports BTF problems on stderr; the caller gets one line instead. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

static int layout_from_vmlinux(struct guestos_kernel *k, const uint8_t *elf, size_t len, char *err, size_t errlen)
{
	const uint8_t *data;
	size_t size;
	struct btf *btf;
	int r;

	if (elf_section(elf, len, ".BTF", &data, &size))
		return gos_err(err, errlen, "guestos: the kernel has no BTF (.BTF section; CONFIG_DEBUG_INFO_BTF)");
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	btf = btf__new(data, (uint32_t)size);
	libbpf_set_print(old);
	if (!btf)
		return gos_err(err, errlen, "guestos: the kernel's .BTF section is not valid BTF (%s)",
		               strerror(errno));
	r = gos_layout_from_btf(btf, &k->layout, err, errlen);
	btf__free(btf);
	return r;
}

static int need(const struct guestos_kernel *k, const char *name, uint64_t *addr, char *err, size_t errlen)
{
	if (gos_symtab_find(&k->syms, name, addr))
		return gos_err(err, errlen, "guestos: %s has no %s", k->sym_source, name);
	return 0;
}

int gos_kernel_symbols(struct guestos_kernel *k, const char *map, size_t len, char *err, size_t errlen)
{
	struct gos_symtab *s = &k->syms;

	if (gos_symtab_parse(s, map, len, err, errlen))
		return -1;
	if (need(k, "entry_SYSCALL_64", &k->sym_entry_syscall, err, errlen) ||
	    need(k, "linux_banner", &k->sym_banner, err, errlen) ||
	    need(k, "init_task", &k->sym_init_task, err, errlen) ||
	    need(k, "init_top_pgt", &k->sym_init_top_pgt, err, errlen) ||
	    need(k, "__per_cpu_offset", &k->sym_per_cpu_offset, err, errlen))
		return -1;
	if (gos_symtab_find(s, "modules", &k->sym_modules))
		k->sym_modules = 0;
	/* current is a per-CPU variable of its own before 6.2, a member of
	 * pcpu_hot after. */
	uint64_t hot;
	if (!gos_symtab_find(s, "current_task", &k->sym_current_task))
		return 0;
	if (k->layout.pcpu_hot_current.present && !gos_symtab_find(s, "pcpu_hot", &hot)) {
		k->sym_current_task = hot + k->layout.pcpu_hot_current.off;
		return 0;
	}
	return gos_err(err, errlen, "guestos: %s has neither current_task nor pcpu_hot", k->sym_source);
}

/* The kernel's banner as built ("Linux version 6.1.0-... #1 SMP ..."), from
 * the vmlinux's loaded segments: finding exactly these bytes in the guest
 * says it runs this very kernel, not merely some Linux.  Without it (a
 * banner outside the file's segments) the prefix alone is checked. */
static void banner_from_vmlinux(struct guestos_kernel *k, const uint8_t *elf, size_t len)
{
	static const char prefix[] = "Linux version ";
	Elf64_Ehdr eh;

	memcpy(&eh, elf, sizeof(eh)); /* boot_vmlinux checked it is an ELF64 */
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !in_buf(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len))
		return;
	for (uint16_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		/* _text: where the image starts (the per-CPU segment is
		 * linked at 0). */
		if (ph.p_type == PT_LOAD && ph.p_vaddr >= 0xffffffff80000000ULL &&
		    (!k->link_text || ph.p_vaddr < k->link_text))
			k->link_text = ph.p_vaddr;
	}
	for (uint16_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (!k->sym_banner && ph.p_type == PT_LOAD && in_buf(ph.p_offset, ph.p_filesz, len)) {
			/* No symbols yet: every banner the image holds (the
			 * running kernel's linux_banner, once kallsyms names
			 * it, must be one of them). */
			const uint8_t *at = elf + ph.p_offset, *end = at + ph.p_filesz;
			while (k->nimage_banners < GOS_IMAGE_BANNERS &&
			       (at = memmem(at, (size_t)(end - at), prefix, sizeof(prefix) - 1))) {
				size_t avail = (size_t)(end - at);
				const uint8_t *nul =
				        memchr(at, 0, avail < sizeof(k->banner) ? avail : sizeof(k->banner));
				if (nul) {
					memcpy(k->image_banners[k->nimage_banners], at, (size_t)(nul - at));
					k->image_banners[k->nimage_banners++][nul - at] = 0;
				}
				at++;
			}
			continue;
		}
		if (ph.p_type != PT_LOAD || k->sym_banner < ph.p_vaddr || k->sym_banner - ph.p_vaddr >= ph.p_filesz ||
		    !in_buf(ph.p_offset, ph.p_filesz, len))
			continue;
		uint64_t off = ph.p_offset + (k->sym_banner - ph.p_vaddr);
		uint64_t avail = ph.p_filesz - (k->sym_banner - ph.p_vaddr);
		size_t n = avail < sizeof(k->banner) ? (size_t)avail : sizeof(k->banner);
		const uint8_t *nul = memchr(elf + off, 0, n);
		if (!nul || nul == elf + off)
			return;
		k->banner_len = (size_t)(nul - (elf + off));
		memcpy(k->banner, elf + off, k->banner_len);
		return;
	}
}

/* Everything a guestos_kernel holds, from the vmlinux and the System.map
 * (map NULL: the symbols come from the guest's kallsyms later). */
static struct guestos_kernel *describe(const uint8_t *elf, size_t elflen, const char *map, size_t maplen, char *err,
                                       size_t errlen)
{
	struct guestos_kernel *k = calloc(1, sizeof(*k));

	if (!k) {
		gos_err(err, errlen, "guestos: out of memory");
		return NULL;
	}
	snprintf(k->sym_source, sizeof(k->sym_source), "System.map");
	if (layout_from_vmlinux(k, elf, elflen, err, errlen) ||
	    (map && gos_kernel_symbols(k, map, maplen, err, errlen))) {
		guestos_kernel_free(k);
		return NULL;
	}
	banner_from_vmlinux(k, elf, elflen);
	return k;
}

/* The loader's message says what the image is; say why it matters. */
static void not_linux(const char *what, char *err, size_t errlen)
{
	char why[200];
	snprintf(why, sizeof(why), "%s", err && errlen ? err : "");
	gos_err(err, errlen, "guestos: %s is not a Linux kernel this layer understands (%s)", what, why);
}

struct guestos_kernel *guestos_kernel_from_image(const uint8_t *image, size_t image_len, const char *system_map,
                                                 size_t map_len, char *err, size_t errlen)
{
	struct guestos_kernel *k;
	uint8_t *elf;
	size_t elflen;

	if (boot_vmlinux(image, image_len, &elf, &elflen, err, errlen)) {
		not_linux("the image", err, errlen);
		return NULL;
	}
	k = describe(elf, elflen, system_map, map_len, err, errlen);
	free(elf);
	return k;
}

/* Reads a whole file of at most max bytes into a malloc'd buffer. */
static char *slurp(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;

	if (!f) {
		gos_err(err, errlen, "guestos: %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		gos_err(err, errlen, "guestos: %s: not a regular file of at most %zu MiB", path, max >> 20);
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		gos_err(err, errlen, "guestos: %s: %s", path, buf ? "short read" : "out of memory");
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

struct guestos_kernel *guestos_kernel_load(const char *kernel_path, const char *system_map_path, char *err,
                                           size_t errlen)
{
	struct guestos_kernel *k;
	char *map;
	size_t maplen;
	uint8_t *elf;
	size_t elflen;

	if (!kernel_path) {
		gos_err(err, errlen, "guestos: a kernel image is needed");
		return NULL;
	}
	if (boot_vmlinux_file(kernel_path, &elf, &elflen, err, errlen)) {
		not_linux(kernel_path, err, errlen);
		return NULL;
	}
	if (!system_map_path || !*system_map_path) {
		k = describe(elf, elflen, NULL, 0, err, errlen);
		free(elf);
		return k;
	}
	map = slurp(system_map_path, SYSTEM_MAP_FILE_MAX, &maplen, err, errlen);
	k = map ? describe(elf, elflen, map, maplen, err, errlen) : NULL;
	free(map);
	free(elf);
	return k;
}

void guestos_kernel_free(struct guestos_kernel *k)
{
	if (!k)
		return;
	gos_symtab_free(&k->syms);
	free(k);
}

void guestos_system_map_path(const char *kernel_path, const char *configured, char *out, size_t len)
{
	const char *slash = kernel_path ? strrchr(kernel_path, '/') : NULL;
	if (configured)
		snprintf(out, len, "%s", strcmp(configured, "none") ? configured : "");
	else if (slash)
		snprintf(out, len, "%.*s/System.map", (int)(slash - kernel_path), kernel_path);
	else
		snprintf(out, len, "System.map");
	if (!configured && access(out, F_OK))
		out[0] = 0; /* none beside the kernel: kallsyms */
}
