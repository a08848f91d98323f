/* ctl wss (ctl_wss.h).  The plot is gnuplot's: the data file is written
 * first, then gnuplot reads a script on its standard input that names it,
 * so the file can be plotted again or otherwise.  The file names reach
 * gnuplot as single-quoted strings, in which only a quote needs doubling. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/ctl_wss.h"

void ctl_print_wss(struct json_object *ret)
{
	struct json_object *curve;
	long long last = -1;
	printf("read misses %lld, of them ghost hits %lld (blocks read again after their eviction, within the last "
	       "%lld evictions)\n",
	       ctl_jint(ret, "misses"), ctl_jint(ret, "ghost_hits"), ctl_jint(ret, "ghost_capacity"));
	printf("estimate    %lld pages (%lld MiB) of cache: the %lld cached now + %lld, to avoid %lld%% of those\n",
	       ctl_jint(ret, "estimate_pages"), ctl_jint(ret, "estimate_pages") >> 8, ctl_jint(ret, "cache_pages"),
	       ctl_jint(ret, "extra_pages"), ctl_jint(ret, "share"));
	if (!json_object_object_get_ex(ret, "curve", &curve))
		return;
	printf("%12s %12s %10s\n", "EXTRA-PAGES", "CACHE-PAGES", "MISSES");
	for (size_t i = 0; i < json_object_array_length(curve); i++) {
		struct json_object *pt = json_object_array_get_idx(curve, i);
		if (ctl_jint(pt, "misses") == last && i + 1 < json_object_array_length(curve))
			continue; /* only where the curve moves, and its end */
		last = ctl_jint(pt, "misses");
		printf("%12lld %12lld %10lld\n", ctl_jint(pt, "extra_pages"), ctl_jint(pt, "memory_pages"), last);
	}
}

/* s as a gnuplot single-quoted string into out: 0, or -1 if it does not fit. */
static int gp_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;
	if (len < 3)
		return -1;
	out[o++] = '\'';
	for (; *s; s++) {
		if (o + (*s == '\'' ? 2 : 1) + 2 > len)
			return -1;
		if (*s == '\'')
			out[o++] = '\'';
		out[o++] = *s;
	}
	out[o++] = '\'';
	out[o] = 0;
	return 0;
}

int ctl_wss_plot(struct json_object *ret, const char *out, char *err, size_t errlen)
{
	struct json_object *curve;
	char svg[4096], qdata[8300], qsvg[8300];
	FILE *f, *gp;
	int st;

	if (!json_object_object_get_ex(ret, "curve", &curve) || !json_object_is_type(curve, json_type_array) ||
	    json_object_array_length(curve) == 0) {
		snprintf(err, errlen, "wss: the reply has no miss curve");
		return -1;
	}
	if ((size_t)snprintf(svg, sizeof(svg), "%s.svg", out) >= sizeof(svg) || gp_quote(out, qdata, sizeof(qdata)) ||
	    gp_quote(svg, qsvg, sizeof(qsvg))) {
		snprintf(err, errlen, "wss: --out '%.200s' is too long", out);
		return -1;
	}
	if (!(f = fopen(out, "w"))) {
		snprintf(err, errlen, "wss: %s: %s", out, strerror(errno));
		return -1;
	}
	fprintf(f,
	        "# Geiger's miss curve: the guest's cache in MiB, the read misses it would have had, extra "
	        "pages over its cache now (%lld pages); estimate %lld pages for %lld%% of the avoidable misses\n",
	        ctl_jint(ret, "cache_pages"), ctl_jint(ret, "estimate_pages"), ctl_jint(ret, "share"));
	for (size_t i = 0; i < json_object_array_length(curve); i++) {
		struct json_object *pt = json_object_array_get_idx(curve, i);
		fprintf(f, "%.3f %lld %lld\n", (double)ctl_jint(pt, "memory_pages") / 256.0, ctl_jint(pt, "misses"),
		        ctl_jint(pt, "extra_pages"));
	}
	if (fclose(f)) {
		snprintf(err, errlen, "wss: %s: %s", out, strerror(errno));
		return -1;
	}
	/* gnuplot's own messages go to our stderr; its status says */
	if (!(gp = popen("gnuplot", "w"))) {
		snprintf(err, errlen, "wss: cannot run gnuplot: %s", strerror(errno));
		return -1;
	}
	fprintf(gp,
	        "set terminal svg size 800,500 dynamic background rgb 'white'\n"
	        "set output %s\n"
	        "set title 'Guest read misses by cache size (Geiger miss curve)'\n"
	        "set xlabel 'guest page cache (MiB)'\n"
	        "set ylabel 'read misses (4 KiB pages)'\n"
	        "set grid\n"
	        "set key off\n"
	        "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead dashtype 2 lc rgb 'red'\n"
	        "set label 'estimate' at %.3f, graph 0.95 offset 0.5,0 tc rgb 'red'\n"
	        "plot %s using 1:2 with steps lw 2\n",
	        qsvg, (double)ctl_jint(ret, "estimate_pages") / 256.0, (double)ctl_jint(ret, "estimate_pages") / 256.0,
	        (double)ctl_jint(ret, "estimate_pages") / 256.0, qdata);
	st = pclose(gp);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "wss: gnuplot failed%s (scripts/deps.sh installs it)",
		         st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ": not installed" : "");
		return -1;
	}
	printf("wss: wrote %s and %s\n", out, svg);
	return 0;
}
