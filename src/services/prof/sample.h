/* One sample: what one vCPU was doing at one instant, and the folded stack
 * it is counted under:
 *
 *   COMM;[kernel];SYMBOL          in the kernel, on behalf of task COMM
 *   COMM;[kernel];CALLER;...;SYMBOL  the same with its call chain, outermost
 *                                 first, where the kernel's ORC tables give it
 *   COMM;[kernel];SYMBOL [MODULE] in a module's code
 *   COMM;[user];FUNCTION          in user mode, in a function of the
 *                                 executable's symbols (prof-start's guest_root)
 *   COMM;[user]                   in user mode, function unknown
 *   [idle];SYMBOL                 the vCPU halted, or the idle task running
 *   [unknown];[kernel];0xRIP      no task known (a guest guestos does not
 *   [unknown];[user];0xRIP        understand, or not readable yet)
 *   [unknown];[unreadable]        the engine could not give the state
 *
 * A kernel address without a symbol stays a raw 0xRIP frame. */
#ifndef PROF_SAMPLE_H
#define PROF_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sample_mode { SAMPLE_IDLE, SAMPLE_KERNEL, SAMPLE_USER, SAMPLE_UNKNOWN };

struct sample {
	bool readable; /* the vCPU's state was read */
	uint64_t rip;
	int cpl;     /* CS.DPL: 0 kernel, 3 user */
	bool halted; /* waiting in HLT for an interrupt */

	bool task_known; /* guestos gave the current task */
	int32_t tid, pid;
	bool kernel_thread;
	char comm[16];

	bool symbol_known; /* kernel RIPs; user RIPs where the executable's symbols name them */
	char symbol[128];
	char module[56];    /* "" for the kernel image */
	char callers[1024]; /* frames below the leaf, outermost first, ';'-joined; "" if none */
};

enum sample_mode sample_mode(const struct sample *s);
/* The folded stack of s (frames cleaned with stack_frame_clean). */
void sample_stack(const struct sample *s, char *out, size_t len);

#endif
