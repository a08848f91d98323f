/* hello: the smallest useful guest.  Prints a greeting and the multiboot
 * command line on COM1, then leaves through the debug-exit port. */
#include "guest.h"

main:
	mov $msg_hello, %esi
	call puts
	mov mbi, %ebx
	testl $MBI_F_CMDLINE, MBI_FLAGS(%ebx)
	jz 1f
	mov $msg_cmdline, %esi
	call puts
	mov MBI_CMDLINE(%ebx), %esi
	call puts
	call newline
1:	mov $msg_bye, %esi
	call puts
	mov $EXIT_OK, %eax
	ret

	.section .rodata
msg_hello: .asciz "hello from multiboot\n"
msg_cmdline: .asciz "cmdline: "
msg_bye: .asciz "bye\n"
