/* ctl wss: Geiger's working-set estimate for people, and its miss curve as
 * data and as a plot. */
#ifndef SYMBIONT_CTL_WSS_H
#define SYMBIONT_CTL_WSS_H

#include <stddef.h>

struct json_object;

void ctl_print_wss(struct json_object *ret);
/* The curve of a geiger-wss reply into out (one "MEMORY-MIB MISSES
 * EXTRA-PAGES" line per point, after a # header) and plotted into out.svg by
 * gnuplot.  0, or -1 with one line in err. */
int ctl_wss_plot(struct json_object *ret, const char *out, char *err, size_t errlen);

#endif
