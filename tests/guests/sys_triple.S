/* sys_triple: an empty IDT turns INT3 into #GP, #GP into #DF and #DF into
 * a triple fault, which a PC turns into a shutdown: symbiont ends the VM
 * with status 1 and "guest triple fault" on stderr. */
#include "guest.h"

main:
	mov $msg, %esi
	call puts
	lidt idt_empty
	int3
	mov $msg_survived, %esi
	call puts
	mov $EXIT_FAIL, %eax
	ret

	.section .rodata
msg: .asciz "triple fault next\n"
msg_survived: .asciz "still running after a triple fault\n"
	.align 4
idt_empty:
	.word 0
	.long 0
