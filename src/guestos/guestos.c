/* Attaching to a VM: the KASLR slide and the kernel's own page tables.
 *
 * The slide is MSR_LSTAR (the kernel writes entry_SYSCALL_64 there at boot)
 * minus entry_SYSCALL_64's link-time address, cross-checked by finding this
 * kernel's own banner (the linux_banner bytes of its vmlinux) at
 * linux_banner plus the same slide.  Where no vCPU's LSTAR gives it (an
 * engine that cannot read MSRs, or a guest that moved LSTAR), every slide
 * KASLR can choose (2 MiB steps over the 1 GiB kernel image area) is tried
 * against the banner instead.  A vCPU in user mode under KPTI has the user
 * copy of the page tables loaded, which maps almost nothing of the kernel;
 * the kernel copy is the page below it (Linux allocates the pair 8 KiB
 * aligned), so CR3 with bit 12 cleared is tried first and the banner
 * decides.  From then on walks start from init_top_pgt, the kernel's own
 * top-level table, which lives as long as the kernel does, rather than from
 * some process's tables that may be freed.
 *
 * Without System.map the symbols come first, from the kallsyms tables in
 * the running kernel's memory (symbols_from_guest()). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"
#include "symbiont/event.h"

#define KPTI_USER_BIT 0x1000ULL
#define BANNER        "Linux version "
#define BANNER_LEN    (sizeof(BANNER) - 1)
#define KERNEL_VA_MIN 0xffff800000000000ULL
#define KASLR_ALIGN   (2ULL << 20)          /* CONFIG_PHYSICAL_ALIGN's smallest */
#define KASLR_START   0xffffffff80000000ULL /* __START_KERNEL_map */
#define KASLR_END     0xffffffffc0000000ULL /* __START_KERNEL_map + KERNEL_IMAGE_SIZE */

struct guestos *guestos_attach(const struct guestos_kernel *k, const struct guestos_target *t, char *err, size_t errlen)
{
	struct guestos *g;

	if (!k || !t || !t->mem || !t->get_regs || t->ncpus < 1) {
		gos_err(err, errlen, "guestos: attach needs a kernel, guest memory, a register reader and a vCPU");
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		gos_err(err, errlen, "guestos: out of memory");
		return NULL;
	}
	g->k = k;
	g->t = *t;
	return g;
}

void guestos_detach(struct guestos *g)
{
	if (g)
		guestos_kernel_free(g->own);
	free(g);
}

struct kread {
	const struct guest_mem *mem;
	uint64_t root;
	bool la57;
};

static int read_under(void *ctx, uint64_t va, void *buf, size_t len)
{
	const struct kread *kr = ctx;
	return gva_read(kr->mem, kr->root, kr->la57, va, buf, len);
}

/* The running kernel's linux_banner (kallsyms names it) must be one of the
 * image's banners: then this is that kernel, and the banner is what later
 * checks compare. */
static int image_banner(struct guestos_kernel *own, const struct kread *kr, uint64_t running_text, char *err,
                        size_t errlen)
{
	char b[sizeof(own->banner)];
	uint64_t va = own->sym_banner - own->link_text + running_text;

	for (size_t got = 0; got < sizeof(b); got++) {
		if (gva_read(kr->mem, kr->root, kr->la57, va + got, b + got, 1))
			return gos_err(err, errlen, "guestos: the running kernel's linux_banner is unreadable");
		if (!b[got])
			break;
	}
	for (int i = 0; i < own->nimage_banners; i++) {
		if (strncmp(b, own->image_banners[i], sizeof(b)))
			continue;
		own->banner_len = strnlen(b, sizeof(b));
		memcpy(own->banner, b, own->banner_len);
		return 0;
	}
	return gos_err(err, errlen, "guestos: the running kernel's linux_banner is none of the image's");
}

/* Without System.map: the kernel's own kallsyms, found in the kernel image
 * area as a vCPU's page tables map it, moved to link-time addresses (the
 * image's _text) so that the rest works as with System.map; gos_ready()
 * then checks them as it checks System.map's: the banner must be at
 * linux_banner plus the slide LSTAR gives.  A guest that scribbles on its
 * tables gets no symbols, or symbols that fail that check. */
static int symbols_from_guest(struct guestos *g, char *err, size_t errlen)
{
	const struct guestos_kernel *k = g->k;
	struct guestos_regs r;
	struct gos_kallsyms ks;
	char why[256] = "guestos: no vCPU is in a kernel that has set up SYSCALL yet";

	for (int cpu = 0; cpu < g->t.ncpus; cpu++) {
		memset(&r, 0, sizeof(r));
		if (g->t.get_regs(g->t.opaque, cpu, &r) || r.lstar < KERNEL_VA_MIN)
			continue;
		uint64_t cr3 = gva_cr3_root(r.cr3);
		uint64_t roots[2] = { cr3 & ~KPTI_USER_BIT, cr3 };
		for (int i = 0; i < (cr3 & KPTI_USER_BIT ? 2 : 1); i++) {
			struct kread kr = { g->t.mem, roots[i], r.cr4 & CR4_LA57 };
			if (gos_kallsyms_find(read_under, &kr, KASLR_START, KASLR_END, k->link_text, &ks, why,
			                      sizeof(why)))
				continue;
			struct guestos_kernel *own = malloc(sizeof(*own));
			if (!own) {
				gos_kallsyms_free(&ks);
				return gos_err(err, errlen, "guestos: out of memory");
			}
			*own = *k;
			memset(&own->syms, 0, sizeof(own->syms));
			snprintf(own->sym_source, sizeof(own->sym_source),
			         "kallsyms in guest memory (%u symbols at 0x%" PRIx64 ")", ks.count, ks.table_va);
			int rc = gos_kernel_symbols(own, ks.map, ks.map_len, why, sizeof(why));
			uint64_t running_base = ks.relative_base;
			gos_kallsyms_free(&ks);
			if (!rc)
				rc = image_banner(own, &kr, running_base, why, sizeof(why));
			if (rc) {
				guestos_kernel_free(own);
				continue;
			}
			g->own = own;
			g->k = own;
			return 0;
		}
	}
	return gos_err(err, errlen, "%s", why);
}

static bool banner_at(const struct guestos *g, uint64_t root, bool la57, int64_t slide)
{
	const struct guestos_kernel *k = g->k;
	char b[sizeof(k->banner)];
	size_t len = k->banner_len ? k->banner_len : BANNER_LEN;

	return !gva_read(g->t.mem, root, la57, k->sym_banner + (uint64_t)slide, b, len) &&
	       !memcmp(b, k->banner_len ? k->banner : BANNER, len);
}

/* 0 if the kernel runs at this slide under root: its banner is there, and
 * so is init_top_pgt, which maps the banner too. */
static int try_slide(struct guestos *g, uint64_t root, bool la57, int64_t slide)
{
	uint64_t pgt;

	if (!banner_at(g, root, la57, slide) ||
	    gva_translate(g->t.mem, root, la57, g->k->sym_init_top_pgt + (uint64_t)slide, &pgt) ||
	    !banner_at(g, pgt, la57, slide))
		return -1;
	g->slide = slide;
	g->root = pgt;
	g->la57 = la57;
	g->ready = true;
	return 0;
}

/* Tries one vCPU: the slide its LSTAR gives, or (scan) every slide KASLR
 * could have chosen. */
static int try_cpu(struct guestos *g, const struct guestos_regs *r, bool scan)
{
	const struct guestos_kernel *k = g->k;
	bool la57 = r->cr4 & CR4_LA57;
	uint64_t cr3 = gva_cr3_root(r->cr3);
	uint64_t roots[2] = { cr3 & ~KPTI_USER_BIT, cr3 };
	int64_t slide = (int64_t)(r->lstar - k->sym_entry_syscall);

	for (int i = 0; i < (cr3 & KPTI_USER_BIT ? 2 : 1); i++) {
		if (!scan) {
			if (r->lstar >= KERNEL_VA_MIN && slide % 4096 == 0 && !try_slide(g, roots[i], la57, slide))
				return 0;
			continue;
		}
		for (uint64_t s = 0; k->syms.text_end <= KASLR_END && s <= KASLR_END - k->syms.text_end;
		     s += KASLR_ALIGN)
			if (!try_slide(g, roots[i], la57, (int64_t)s))
				return 0;
	}
	return -1;
}

int gos_ready(struct guestos *g, char *err, size_t errlen)
{
	struct guestos_regs r;
	uint64_t lstar = 0;

	/* Still the same kernel (not rebooted into a new slide)? */
	if (g->ready && banner_at(g, g->root, g->la57, g->slide))
		return 0;
	g->ready = false;
	if (!g->k->syms.n && symbols_from_guest(g, err, errlen))
		return -1;
	for (int scan = 0; scan < 2; scan++) {
		for (int cpu = 0; cpu < g->t.ncpus; cpu++) {
			memset(&r, 0, sizeof(r));
			if (g->t.get_regs(g->t.opaque, cpu, &r))
				continue;
			if (r.lstar)
				lstar = r.lstar;
			if (!try_cpu(g, &r, scan))
				return 0;
		}
	}
	if (!lstar)
		return gos_err(err, errlen,
		               "guestos: the guest kernel has not started yet (MSR_LSTAR is 0 and no KASLR slide "
		               "shows its linux_banner)");
	return gos_err(err, errlen,
	               "guestos: MSR_LSTAR 0x%" PRIx64 " is not this kernel's entry_SYSCALL_64, and no KASLR slide "
	               "shows its linux_banner",
	               lstar);
}

const char *guestos_symbol_source(const struct guestos *g)
{
	return g->k->syms.n ? g->k->sym_source : "kallsyms in guest memory (not read yet)";
}

int guestos_kaslr_slide(struct guestos *g, int64_t *slide, char *err, size_t errlen)
{
	if (gos_ready(g, err, errlen))
		return -1;
	*slide = g->slide;
	return 0;
}

int guestos_kernel_gpa(struct guestos *g, uint64_t va, uint64_t *gpa, char *err, size_t errlen)
{
	if (gos_ready(g, err, errlen))
		return -1;
	if (gva_translate(g->t.mem, g->root, g->la57, va, gpa))
		return gos_err(err, errlen, "guestos: 0x%" PRIx64 " is not mapped in the kernel's address space", va);
	return 0;
}

int gos_kread(struct guestos *g, uint64_t va, void *buf, size_t len)
{
	return gva_read(g->t.mem, g->root, g->la57, va, buf, len);
}

int gos_kread_u64(struct guestos *g, uint64_t va, uint64_t *v)
{
	return gos_kread(g, va, v, sizeof(*v));
}

int gos_kread_field(struct guestos *g, uint64_t va, const struct gos_field *f, uint64_t *v)
{
	uint8_t b[8];

	if (!f->present || f->size > sizeof(b) || gos_kread(g, va + f->off, b, f->size))
		return -1;
	*v = gos_field_get(f, b);
	return 0;
}

int gos_kread_str(struct guestos *g, uint64_t va, char *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		size_t chunk = 4096 - ((va + got) & 0xfff);
		if (chunk > max - got)
			chunk = max - got;
		if (gos_kread(g, va + got, buf + got, chunk))
			return -1;
		if (memchr(buf + got, 0, chunk))
			return 0;
		got += chunk;
	}
	buf[max - 1] = 0; /* longer than max: truncated */
	return 0;
}

int guestos_read_kernel(struct guestos *g, uint64_t va, void *buf, size_t len, char *err, size_t errlen)
{
	if (gos_ready(g, err, errlen))
		return -1;
	if (gos_kread(g, va, buf, len))
		return gos_err(err, errlen, "guestos: kernel address 0x%" PRIx64 "+%zu is not mapped", va, len);
	return 0;
}

void guestos_regs_from_event(const struct sym_regs *r, struct guestos_regs *out)
{
	*out = (struct guestos_regs){ .cr3 = r->cr3,
		                      .cr4 = r->cr4,
		                      .gs_base = r->gs_base,
		                      .kernel_gs_base = r->kernel_gs_base,
		                      .lstar = r->lstar,
		                      .rip = r->rip,
		                      .rsp = r->gpr[X86_RSP],
		                      .cpl = r->cpl };
}

void guestos_regs_from_x86(const struct x86_state *s, struct guestos_regs *out)
{
	*out = (struct guestos_regs){ .cr3 = s->cr3,
		                      .cr4 = s->cr4,
		                      .efer = s->efer,
		                      .gs_base = s->seg[SEG_GS].base,
		                      .kernel_gs_base = s->msr.kernel_gs_base,
		                      .lstar = s->msr.lstar,
		                      .rip = s->rip,
		                      .rsp = s->gpr[X86_RSP],
		                      .cpl = s->seg[SEG_CS].dpl };
}
