/* What `top` shows: for each guest process, how many samples found it on a
 * vCPU, in user mode and in the kernel, counted since sampling began.  The
 * counts only grow, as /proc/PID/stat's do, so any number of clients each
 * take the difference between two readings.
 *
 * Bounded: past max entries, the entry seen least recently is dropped (its
 * process most likely exited), so a guest that forks without end costs
 * bounded memory. */
#ifndef PROF_PROC_TABLE_H
#define PROF_PROC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_COMM_LEN 16

struct proc_entry {
	int32_t pid; /* the thread-group id: threads count for their process */
	bool kernel_thread;
	char comm[PROC_COMM_LEN];
	uint64_t user, kernel; /* samples */
	uint64_t last_seen;    /* the table's clock at its last sample */
};

struct proc_table {
	struct proc_entry *e;
	size_t n, max;
	uint64_t clock; /* ticks once per proc_table_add */
};

int proc_table_init(struct proc_table *t, size_t max);
void proc_table_free(struct proc_table *t);
/* One sample of process pid (its current comm) in user mode or not. */
void proc_table_add(struct proc_table *t, int32_t pid, const char *comm, bool kernel_thread, bool user);

#endif
