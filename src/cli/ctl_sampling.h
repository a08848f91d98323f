/* The ctl verbs that sample over time rather than ask once: `prof` (a
 * profile over N seconds, written as folded stacks and a flame graph) and
 * `top` (a live view of the guest's processes by CPU). */
#ifndef SYMBIONT_CTL_SAMPLING_H
#define SYMBIONT_CTL_SAMPLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct qmp_client;

struct ctl_sampling_opts {
	double seconds; /* prof: how long; top: the refresh interval */
	int freq;       /* prof: Hz; 0: the VM's default */
	const char *out;
	const char *guest_root; /* prof: host copy of the guest's files, for user symbols */
	bool once;              /* top: one snapshot, then exit */
};

#define CTL_PROF_MAX_SECONDS 86400.0

/* "5", "0.5": a positive number of seconds up to max.  0 or -1. */
int ctl_parse_seconds(const char *s, double max, double *out);

int ctl_prof(struct qmp_client *q, const struct ctl_sampling_opts *o, bool json);
int ctl_top(struct qmp_client *q, const char *target, const struct ctl_sampling_opts *o, bool json);

/* top's arithmetic, from two query-top replies (prev may be NULL: since
 * sampling began): each process with samples in between, busiest first,
 * in percent of one vCPU (as top shows it: 200% is two vCPUs busy). */
struct top_row {
	int32_t pid;
	char comm[16];
	bool kernel_thread;
	double cpu, user, kernel; /* percent */
	uint64_t samples;
};
struct top_view {
	uint64_t rounds; /* sample rounds in the interval (one sample of each vCPU) */
	int cpus;
	double idle; /* percent of all vCPU time */
	struct top_row *rows;
	size_t n;
};
/* 0, or -1 when cur is not a query-top reply. */
int top_view_build(struct json_object *prev, struct json_object *cur, struct top_view *v);
void top_view_free(struct top_view *v);

/* Set by SIGINT while prof or top runs (ctl_sampling_catch_interrupt). */
bool ctl_sampling_interrupted(void);
void ctl_sampling_catch_interrupt(void);
/* Sleeps up to seconds; returns early (false) on Ctrl-C. */
bool ctl_sampling_sleep(double seconds);

#endif
