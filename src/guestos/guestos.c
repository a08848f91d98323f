/* Attaching to a VM: the KASLR slide and the kernel's own page tables.
 *
 * The slide is MSR_LSTAR (the kernel writes entry_SYSCALL_64 there at boot)
 * minus entry_SYSCALL_64's link-time address, cross-checked by finding the
 * "Linux version " banner at linux_banner plus the same slide.  A vCPU in
 * user mode under KPTI has the user copy of the page tables loaded, which
 * maps almost nothing of the kernel; the kernel copy is the page below it
 * (Linux allocates the pair 8 KiB aligned), so CR3 with bit 12 cleared is
 * tried first and the banner decides.  From then on walks start from
 * init_top_pgt, the kernel's own top-level table, which lives as long as the
 * kernel does, rather than from some process's tables that may be freed. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define CR4_LA57      (1ULL << 12)
#define KPTI_USER_BIT 0x1000ULL
#define BANNER        "Linux version "
#define BANNER_LEN    (sizeof(BANNER) - 1)
#define KERNEL_VA_MIN 0xffff800000000000ULL

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
	free(g);
}

static bool banner_at(const struct guestos *g, uint64_t root, bool la57, int64_t slide)
{
	char b[BANNER_LEN];
	return !gos_vread(g->t.mem, root, la57, g->k->sym_banner + (uint64_t)slide, b, sizeof(b)) &&
	       !memcmp(b, BANNER, BANNER_LEN);
}

/* Tries one vCPU's registers; 0 when they give a slide and root. */
static int try_cpu(struct guestos *g, const struct guestos_regs *r)
{
	const struct guestos_kernel *k = g->k;
	bool la57 = r->cr4 & CR4_LA57;
	int64_t slide = (int64_t)(r->lstar - k->sym_entry_syscall);
	uint64_t cr3 = gos_cr3_root(r->cr3);
	uint64_t roots[2] = { cr3 & ~KPTI_USER_BIT, cr3 };
	uint64_t pgt;

	if (r->lstar < KERNEL_VA_MIN || slide % 4096)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (!banner_at(g, roots[i], la57, slide))
			continue;
		if (gos_translate(g->t.mem, roots[i], la57, k->sym_init_top_pgt + (uint64_t)slide, &pgt) ||
		    !banner_at(g, pgt, la57, slide))
			continue;
		g->slide = slide;
		g->root = pgt;
		g->la57 = la57;
		g->ready = true;
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
	for (int cpu = 0; cpu < g->t.ncpus; cpu++) {
		memset(&r, 0, sizeof(r));
		if (g->t.get_regs(g->t.opaque, cpu, &r))
			continue;
		if (r.lstar)
			lstar = r.lstar;
		if (!try_cpu(g, &r))
			return 0;
	}
	if (!lstar)
		return gos_err(err, errlen, "guestos: the guest kernel has not started yet (MSR_LSTAR is 0)");
	return gos_err(err, errlen,
	               "guestos: MSR_LSTAR 0x%" PRIx64 " is not this kernel's entry_SYSCALL_64 "
	               "(no linux_banner at the slid address)",
	               lstar);
}

int guestos_kaslr_slide(struct guestos *g, int64_t *slide, char *err, size_t errlen)
{
	if (gos_ready(g, err, errlen))
		return -1;
	*slide = g->slide;
	return 0;
}

int gos_kread(struct guestos *g, uint64_t va, void *buf, size_t len)
{
	return gos_vread(g->t.mem, g->root, g->la57, va, buf, len);
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
