/* count: prints "count N" for N = 0..STEPS-1, DELAY_MS apart by the TSC,
 * then "done" and exits through debug-exit: a guest to snapshot in mid-run
 * and restore (tests/e2e/snapshot_cross_engine.sh), on one engine or the
 * other.  The output does not depend on timing, so a snapshotted and
 * restored run prints what a straight run prints.
 *
 * The delay reads the TSC (its rate from symbiont's timing leaf
 * 0x40000010, or 1 GHz), and waits while the 64-bit difference from the
 * start is below the delay: a TSC that jumps across a restore (kvm_pvm
 * cannot set a guest TSC) ends that wait early instead of hanging it.  The
 * counter lives in memory and only instructions KVM's emulator handles are
 * used (kvm_pvm runs ring 0 through it); no interrupts, which do not move
 * between engines. */
#include "guest.h"

#define STEPS    40
#define DELAY_MS 50

main:
	mov $0x40000010, %eax
	xor %ecx, %ecx
	cpuid
	test %eax, %eax
	jnz 1f
	mov $1000000, %eax
1:	mov $DELAY_MS, %ecx
	mul %ecx
	mov %eax, delay
	movl $0, step
next:
	mov $msg_count, %esi
	call puts
	mov step, %eax
	call dec
	call newline
	rdtsc
	mov %eax, t0_lo
	mov %edx, t0_hi
2:	rdtsc
	sub t0_lo, %eax
	sbb t0_hi, %edx
	jnz 3f
	cmp delay, %eax
	jb 2b
3:	incl step
	cmpl $STEPS, step
	jb next
	mov $msg_done, %esi
	call puts
	mov $EXIT_OK, %eax
	ret

	.section .rodata
msg_count: .asciz "count "
msg_done: .asciz "done\n"

	.data
	.align 4
delay: .long 0
step: .long 0
t0_lo: .long 0
t0_hi: .long 0
