/* The flame graph writer (flamegraph.h).  The stacks become a tree of
 * frames (a frame's count is the samples of every stack through it), laid
 * out bottom-up: the root ("all") spans the width, each child sits on its
 * parent in name order, as wide as its count.  Boxes narrower than a tenth
 * of a pixel are not drawn (flamegraph.pl's --minwidth), and at most
 * FLAMEGRAPH_MAX_BOXES are, so the document stays small. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/prof/flamegraph.h"

#define WIDTH      1200.0
#define FRAME_H    16
#define PAD_TOP    36
#define PAD_BOTTOM 30
#define XPAD       10.0
#define FONT_PX    12
#define CHAR_W     (FONT_PX * 0.59) /* an average Verdana glyph */
#define MIN_WIDTH  0.1
#define MAX_NODES  (1u << 20)

struct node {
	char *name;
	uint64_t count;
	struct node *child, *next; /* children kept in name order */
};

struct tree {
	struct node root;
	size_t nodes;
	int depth; /* frames in the deepest stack */
	int oom;
};

static struct node *child_named(struct tree *t, struct node *parent, const char *name, size_t len)
{
	struct node **pp = &parent->child, *c = NULL;
	for (; *pp; pp = &(*pp)->next) {
		int d = strncmp((*pp)->name, name, len);
		if (d == 0 && (*pp)->name[len] == 0)
			return *pp;
		if (d > 0 || (d == 0 && (*pp)->name[len] != 0))
			break;
	}
	if (t->nodes >= MAX_NODES || !(c = calloc(1, sizeof(*c))) || !(c->name = strndup(name, len))) {
		if (c)
			free(c);
		t->oom = 1;
		return NULL;
	}
	c->next = *pp;
	*pp = c;
	t->nodes++;
	return c;
}

static void add_stack(struct tree *t, const char *stack, uint64_t count)
{
	struct node *n = &t->root;
	int depth = 0;
	n->count += count;
	while (*stack && depth < STACK_FRAMES_MAX) {
		size_t len = strcspn(stack, ";");
		if (len) {
			n = child_named(t, n, stack, len);
			if (!n)
				return;
			n->count += count;
			depth++;
		}
		stack += len + (stack[len] == ';');
	}
	if (depth > t->depth)
		t->depth = depth;
}

static void free_nodes(struct node *n)
{
	while (n) {
		struct node *next = n->next;
		free_nodes(n->child);
		free(n->name);
		free(n);
		n = next;
	}
}

/* Text in XML: the five special characters escaped, bytes XML 1.0 or
 * UTF-8 would refuse replaced. */
static void put_escaped(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(c >= 0x20 && c < 0x7f ? c : '?', f);
		}
	}
}

/* flamegraph.pl's "hot" palette, from a hash of the name so a frame keeps
 * its colour from one graph to the next; idle frames grey. */
static void frame_colour(const char *name, int *r, int *g, int *b)
{
	uint32_t h = 2166136261u;
	if (!strcmp(name, "[idle]")) {
		*r = *g = *b = 190;
		return;
	}
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	*r = 205 + (int)(h % 50);
	*g = (int)((h >> 8) % 230);
	*b = (int)((h >> 16) % 55);
}

struct layout {
	FILE *f;
	double scale; /* pixels per sample */
	uint64_t total;
	int height;
	size_t boxes;
};

static void draw(struct layout *l, const struct node *n, double x, int depth)
{
	double w = (double)n->count * l->scale;
	int r, g, b;

	if (w < MIN_WIDTH || l->boxes >= FLAMEGRAPH_MAX_BOXES)
		return;
	l->boxes++;
	double y = l->height - PAD_BOTTOM - (depth + 1) * FRAME_H;
	frame_colour(n->name, &r, &g, &b);
	fputs("<g><title>", l->f);
	put_escaped(l->f, n->name, SIZE_MAX);
	fprintf(l->f, " (%" PRIu64 " samples, %.2f%%)</title>", n->count, 100.0 * (double)n->count / (double)l->total);
	fprintf(l->f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>", x,
	        y, w, FRAME_H - 1, r, g, b);
	size_t fits = (size_t)((w - 6) / CHAR_W);
	if (fits >= 3) {
		size_t len = strlen(n->name);
		fprintf(l->f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FRAME_H - 4.5);
		if (len <= fits) {
			put_escaped(l->f, n->name, len);
		} else {
			put_escaped(l->f, n->name, fits - 2);
			fputs("..", l->f);
		}
		fputs("</text>", l->f);
	}
	fputs("</g>\n", l->f);
	for (const struct node *c = n->child; c; c = c->next) {
		draw(l, c, x, depth + 1);
		x += (double)c->count * l->scale;
	}
}

char *flamegraph_svg(const struct stack_entry *const *entries, size_t n, const char *title, const char *subtitle)
{
	struct tree t = { .root.name = "all" };
	struct layout l = { 0 };
	char *doc = NULL;
	size_t len = 0;

	for (size_t i = 0; i < n && !t.oom; i++)
		add_stack(&t, entries[i]->stack, entries[i]->count);
	l.f = open_memstream(&doc, &len);
	if (t.oom || !l.f) {
		if (l.f)
			fclose(l.f);
		free(doc);
		free_nodes(t.root.child);
		return NULL;
	}
	l.total = t.root.count ? t.root.count : 1;
	l.scale = (WIDTH - 2 * XPAD) / (double)l.total;
	l.height = PAD_TOP + (t.depth + 1) * FRAME_H + PAD_BOTTOM;
	fprintf(l.f,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
	        "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%d\" "
	        "viewBox=\"0 0 %.0f %d\">\n"
	        "<style>text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; } "
	        "g:hover rect { stroke: #000; stroke-width: 0.5; }</style>\n"
	        "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n"
	        "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" style=\"font-size: 17px\">",
	        WIDTH, l.height, WIDTH, l.height, FONT_PX, WIDTH / 2);
	put_escaped(l.f, title ? title : "Flame Graph", SIZE_MAX);
	fprintf(l.f, "</text>\n<text x=\"%.0f\" y=\"%d\">", XPAD, l.height - 10);
	put_escaped(l.f, subtitle ? subtitle : "", SIZE_MAX);
	fputs("</text>\n", l.f);
	if (t.root.count)
		draw(&l, &t.root, XPAD, 0);
	fputs("</svg>\n", l.f);
	free_nodes(t.root.child);
	if (fclose(l.f)) {
		free(doc);
		return NULL;
	}
	return doc;
}
