/* Symbol queries across the kernel image (System.map plus the KASLR slide)
 * and the loaded modules (their in-memory symbol tables). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestos/guestos_int.h"

int guestos_symbol_lookup(struct guestos *g, const char *name, struct guestos_symbol *out, char *err, size_t errlen)
{
	const struct gos_symtab *s;
	const char *colon = strchr(name, ':');
	char modname[GUESTOS_MODNAME_LEN] = "";
	struct guestos_module *mods = NULL;
	size_t nmods = 0;
	uint64_t addr;

	if (gos_ready(g, err, errlen))
		return -1;
	s = &g->k->syms; /* gos_ready() may have just read them from the guest */
	memset(out, 0, sizeof(*out));
	if (colon) {
		if ((size_t)(colon - name) >= sizeof(modname))
			return gos_err(err, errlen, "guestos: no module %.*s", (int)(colon - name), name);
		memcpy(modname, name, (size_t)(colon - name));
		modname[colon - name] = 0;
		name = colon + 1;
	} else if (!gos_symtab_find(s, name, &addr)) {
		/* Per-CPU symbols are offsets into each CPU's area: not moved. */
		out->addr = addr >= s->text_start && addr < s->text_end ? gos_slid(g, addr) : addr;
		snprintf(out->name, sizeof(out->name), "%s", name);
		return 0;
	}
	if (gos_module_list(g, &mods, &nmods, err, errlen))
		return -1;
	size_t budget = GOS_MAX_SYMREADS;
	for (size_t i = 0; i < nmods && budget; i++) {
		if (modname[0] && strcmp(mods[i].name, modname))
			continue;
		if (!gos_module_symbol_lookup(g, &mods[i], name, out, &budget)) {
			free(mods);
			return 0;
		}
	}
	free(mods);
	if (!budget)
		return gos_err(err, errlen, "guestos: no symbol %s in the first %d module symbols", name,
		               GOS_MAX_SYMREADS);
	if (modname[0])
		return gos_err(err, errlen, "guestos: no symbol %s in module %s", name, modname);
	return gos_err(err, errlen, "guestos: no symbol %s", name);
}

int guestos_symbol_at(struct guestos *g, uint64_t addr, struct guestos_symbol *out, char *err, size_t errlen)
{
	const struct gos_symtab *s;
	struct guestos_module *mods = NULL;
	size_t nmods = 0;
	const struct gos_sym *y;

	if (gos_ready(g, err, errlen))
		return -1;
	s = &g->k->syms; /* gos_ready() may have just read them from the guest */
	memset(out, 0, sizeof(*out));
	y = gos_symtab_at(s, addr - (uint64_t)g->slide);
	if (y) {
		out->addr = gos_slid(g, y->addr);
		out->offset = addr - out->addr;
		snprintf(out->name, sizeof(out->name), "%s", gos_sym_name(s, y));
		return 0;
	}
	if (gos_module_list(g, &mods, &nmods, err, errlen))
		return -1;
	for (size_t i = 0; i < nmods; i++) {
		if (addr < mods[i].base || addr - mods[i].base >= mods[i].size)
			continue;
		char modname[GUESTOS_MODNAME_LEN];
		snprintf(modname, sizeof(modname), "%s", mods[i].name);
		int r = gos_module_symbol_at(g, &mods[i], addr, out);
		free(mods);
		if (r)
			return gos_err(err, errlen,
			               "guestos: 0x%" PRIx64 " is in module %s but its symbols are unreadable", addr,
			               modname);
		return 0;
	}
	free(mods);
	return gos_err(err, errlen, "guestos: no symbol at 0x%" PRIx64, addr);
}
