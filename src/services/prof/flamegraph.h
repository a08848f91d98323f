/* An SVG flame graph from folded stacks, in the layout of Brendan Gregg's
 * flamegraph.pl (Debian packages no flame graph generator): one box per
 * frame, as wide as its share of the samples, callers below callees,
 * siblings in name order, a tooltip (<title>) with the count and share. */
#ifndef PROF_FLAMEGRAPH_H
#define PROF_FLAMEGRAPH_H

#include <stddef.h>

#include "services/prof/stacks.h"

/* Boxes drawn at most: a graph stays a few MiB whatever the input. */
#define FLAMEGRAPH_MAX_BOXES 8192

/* A malloc'd NUL-terminated SVG document for the n entries (title and
 * subtitle are plain text, escaped here), or NULL when out of memory. */
char *flamegraph_svg(const struct stack_entry *const *entries, size_t n, const char *title, const char *subtitle);

#endif
