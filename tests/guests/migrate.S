/* migrate: the guest tests/cpu/test_migrate.c moves between engines in
 * mid-run (emu, then kvm, then emu again).
 *
 * It first puts values in every kind of register struct x86_state carries
 * beyond the general ones: the x87 stack and control word, XMM registers
 * and MXCSR, two MSRs and a debug register.  Then STEPS steps of general
 * register work (an LCG, rotates, a carry chain through RFLAGS), each
 * printing one line and writing the step number to CHECKPOINT_PORT, where
 * the test stops the VM and continues it on the other engine; elsewhere
 * the port is unclaimed and the write does nothing.  Last it reads the
 * x87, SSE, MSR and debug values back and prints them: whatever did not
 * survive both trips shows there.
 *
 * The steps use only instructions KVM's instruction emulator handles,
 * because on kvm_pvm hosts every ring-0 instruction goes through it (it
 * has no x87 or SSE, and refuses WRMSR there): the kvm leg runs steps
 * only, the x87/SSE/MSR work happens on emu before and after.  No
 * interrupts: the interrupt controllers are not moved between engines
 * (the board's models on emu, KVM's in-kernel chips on kvm). */
#include "guest.h"

#define STEPS           24
#define SPIN            600
#define CHECKPOINT_PORT 0xf0
#define MSR_STAR        0xc0000081
#define MSR_TSC_AUX     0xc0000103

main:
	/* SSE on: CR0.EM clear, CR0.MP set, CR4.OSFXSR and OSXMMEXCPT. */
	mov %cr0, %eax
	and $~0x4, %eax
	or $0x2, %eax
	mov %eax, %cr0
	mov %cr4, %eax
	or $0x600, %eax
	mov %eax, %cr4
	fninit
	fldcw fcw_double /* precision control: double, not the default */
	ldmxcsr mxcsr_ftz /* FTZ and DAZ on */
	fldl three_halves
	fld1
	faddp /* st0 = 2.5 */
	fldpi /* st0 = pi, st1 = 2.5 */
	movdqu xmm_init, %xmm0
	movdqu xmm_init + 16, %xmm5
	addps float_step, %xmm5
	mov $MSR_STAR, %ecx
	mov $0x12345678, %eax
	mov $0x00230010, %edx
	wrmsr
	mov $MSR_TSC_AUX, %ecx
	mov $0xabcd, %eax
	xor %edx, %edx
	wrmsr
	mov $0x00c0ffe0, %eax
	mov %eax, %db0 /* DR7 keeps the breakpoint disabled */

	mov $1, %edi
	mov $0x5a5a5a5a, %ebp
	mov $0x0f0f0f0f, %esi
	xor %ebx, %ebx
	clc
step:
	mov $SPIN, %ecx
1:	imul $1103515245, %edi, %edi
	add $12345, %edi
	rol $3, %ebp
	xor %edi, %ebp
	adc %edi, %esi /* a carry chain through RFLAGS, across steps too */
	loop 1b
	pushf /* the line's printing must not disturb CF */
	push %esi
	mov $msg_step, %esi
	call puts
	mov %ebx, %eax
	call dec
	mov $msg_gpr, %esi
	call puts
	mov %edi, %eax
	call hex32
	mov %ebp, %eax
	call hex32
	pop %esi
	mov %esi, %eax
	call hex32
	call newline
	mov %ebx, %eax
	out %eax, $CHECKPOINT_PORT
	popf
	inc %ebx /* INC leaves CF alone */
	cmp $STEPS, %ebx
	jb step

	/* Read everything back. */
	mov $msg_fpu, %esi
	call puts
	fistpl scratch /* pi rounds to 3 */
	mov scratch, %eax
	call hex32
	fmull three_halves /* 2.5 * 1.5 = 3.75, rounds to 4 */
	fistpl scratch
	mov scratch, %eax
	call hex32
	mov $msg_cw, %esi
	call puts
	fnstcw scratch
	movzwl scratch, %eax
	call hex16
	mov $msg_sse, %esi
	call puts
	movd %xmm0, %eax
	call hex32
	pshufd $0xff, %xmm0, %xmm1
	movd %xmm1, %eax
	call hex32
	movd %xmm5, %eax
	call hex32
	pshufd $0xaa, %xmm5, %xmm1
	movd %xmm1, %eax
	call hex32
	mov $msg_mx, %esi
	call puts
	stmxcsr scratch
	mov scratch, %eax
	call hex32
	call newline
	mov $msg_msr, %esi
	call puts
	mov $MSR_STAR, %ecx
	rdmsr
	call hex32
	mov %edx, %eax
	call hex32
	mov $MSR_TSC_AUX, %ecx
	rdmsr
	call hex32
	mov $msg_dr, %esi
	call puts
	mov %db0, %eax
	call hex32
	call newline
	mov $msg_done, %esi
	call puts
	mov $EXIT_OK, %eax
	ret

	.section .rodata
	.align 16
xmm_init: .long 0x01234567, 0x89abcdef, 0xdeadbeef, 0x0badf00d
	.long 0x3f800000, 0x40000000, 0x40400000, 0x40800000 /* 1.0 2.0 3.0 4.0 */
float_step: .float 0.5, 0.25, 1.5, 3.0
three_halves: .double 1.5
fcw_double: .word 0x027f
	.align 4
mxcsr_ftz: .long 0x9fc0
msg_step: .asciz "step "
msg_gpr: .asciz " gpr="
msg_fpu: .asciz "fpu="
msg_cw: .asciz " cw="
msg_sse: .asciz " sse="
msg_mx: .asciz " mx="
msg_msr: .asciz "msr="
msg_dr: .asciz " dr0="
msg_done: .asciz "done\n"

	.data
scratch: .long 0
