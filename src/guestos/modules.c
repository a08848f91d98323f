/* Loaded modules: the `modules` list, each module's name and core mapping,
 * and its symbols from the module's own in-memory ELF symbol table
 * (module->kallsyms: an Elf64_Sym array and its string table, which the
 * kernel keeps for /proc/kallsyms). */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

#define SYMS_PER_READ 128

static int read_module(struct guestos *g, uint64_t module, struct guestos_module *m)
{
	const struct gos_layout *l = &g->k->layout;
	uint8_t name[GUESTOS_MODNAME_LEN];
	size_t nlen = l->module_name.size < sizeof(name) ? l->module_name.size : sizeof(name);

	memset(m, 0, sizeof(*m));
	m->module = module;
	if (gos_kread_field(g, module, &l->module_base, &m->base) ||
	    gos_kread_field(g, module, &l->module_size, &m->size) ||
	    gos_kread(g, module + l->module_name.off, name, nlen))
		return -1;
	gos_text(m->name, sizeof(m->name), name, nlen);
	return 0;
}

int gos_module_list(struct guestos *g, struct guestos_module **out, size_t *n, char *err, size_t errlen)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t *nodes;
	size_t count, got = 0;
	struct guestos_module *m;

	*out = NULL;
	*n = 0;
	if (!g->k->sym_modules || !l->module_list.present || !l->module_name.present || !l->module_base.present ||
	    !l->module_size.present)
		return gos_err(err, errlen, "guestos: this kernel has no loadable modules");
	if (gos_list_snapshot(g, gos_slid(g, g->k->sym_modules), GOS_MAX_MODULES, &nodes, &count, err, errlen))
		return -1;
	m = calloc(count ? count : 1, sizeof(*m));
	if (!m) {
		free(nodes);
		return gos_err(err, errlen, "guestos: out of memory");
	}
	for (size_t i = 0; i < count; i++)
		if (!read_module(g, nodes[i] - l->module_list.off, &m[got]))
			got++;
	free(nodes);
	*out = m;
	*n = got;
	return 0;
}

int guestos_modules(struct guestos *g, struct guestos_module **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	if (gos_ready(g, err, errlen))
		return -1;
	return gos_module_list(g, out, n, err, errlen);
}

struct modsyms {
	uint64_t symtab, strtab, count;
};

static int module_symtab(struct guestos *g, uint64_t module, struct modsyms *s)
{
	const struct gos_layout *l = &g->k->layout;
	uint64_t ks;

	if (!l->module_kallsyms.present || !l->kallsyms_symtab.present || !l->kallsyms_num_symtab.present ||
	    !l->kallsyms_strtab.present || gos_kread_field(g, module, &l->module_kallsyms, &ks) ||
	    gos_kread_field(g, ks, &l->kallsyms_symtab, &s->symtab) ||
	    gos_kread_field(g, ks, &l->kallsyms_num_symtab, &s->count) ||
	    gos_kread_field(g, ks, &l->kallsyms_strtab, &s->strtab))
		return -1;
	if (s->count > GOS_MAX_MODSYMS)
		s->count = GOS_MAX_MODSYMS;
	return 0;
}

/* Calls visit for each defined, named symbol of the module until it returns
 * non-zero; that value is returned (0 if none did, -1 if unreadable or the
 * query's budget of symbol reads, *budget, ran out). */
static int each_symbol(struct guestos *g, uint64_t module,
                       int (*visit)(void *ctx, const Elf64_Sym *sym, const char *name), void *ctx, size_t *budget)
{
	struct modsyms s;
	Elf64_Sym syms[SYMS_PER_READ];
	char name[GUESTOS_SYMNAME_LEN];

	if (module_symtab(g, module, &s))
		return -1;
	for (uint64_t i = 0; i < s.count; i += SYMS_PER_READ) {
		uint64_t n = s.count - i < SYMS_PER_READ ? s.count - i : SYMS_PER_READ;
		if (gos_kread(g, s.symtab + i * sizeof(Elf64_Sym), syms, n * sizeof(Elf64_Sym)))
			return -1;
		for (uint64_t j = 0; j < n; j++) {
			if (*budget == 0)
				return -1;
			(*budget)--;
			if (syms[j].st_shndx == SHN_UNDEF || syms[j].st_name == 0 ||
			    gos_kread_str(g, s.strtab + syms[j].st_name, name, sizeof(name)) || !name[0])
				continue;
			int r = visit(ctx, &syms[j], name);
			if (r)
				return r;
		}
	}
	return 0;
}

struct by_name {
	const char *want;
	uint64_t addr;
};

static int match_name(void *ctx, const Elf64_Sym *sym, const char *name)
{
	struct by_name *b = ctx;
	if (strcmp(name, b->want))
		return 0;
	b->addr = sym->st_value;
	return 1;
}

int gos_module_symbol_lookup(struct guestos *g, const struct guestos_module *m, const char *name,
                             struct guestos_symbol *out, size_t *budget)
{
	struct by_name b = { name, 0 };

	if (each_symbol(g, m->module, match_name, &b, budget) != 1)
		return -1;
	memset(out, 0, sizeof(*out));
	out->addr = b.addr;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->module, sizeof(out->module), "%s", m->name);
	return 0;
}

struct nearest {
	uint64_t want, best;
	bool found;
	char name[GUESTOS_SYMNAME_LEN];
};

static int closer(void *ctx, const Elf64_Sym *sym, const char *name)
{
	struct nearest *n = ctx;
	if (sym->st_value <= n->want && (!n->found || sym->st_value > n->best)) {
		n->best = sym->st_value;
		n->found = true;
		snprintf(n->name, sizeof(n->name), "%s", name);
	}
	return 0;
}

int gos_module_symbol_at(struct guestos *g, const struct guestos_module *m, uint64_t addr, struct guestos_symbol *out)
{
	struct nearest n = { .want = addr };
	size_t budget = GOS_MAX_MODSYMS;

	if (each_symbol(g, m->module, closer, &n, &budget) || !n.found)
		return -1;
	memset(out, 0, sizeof(*out));
	out->addr = n.best;
	out->offset = addr - n.best;
	snprintf(out->name, sizeof(out->name), "%s", n.name);
	snprintf(out->module, sizeof(out->module), "%s", m->name);
	return 0;
}
