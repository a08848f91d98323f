/* low_hello: a multiboot kernel linked at 64 KiB, below 1 MiB, as real-mode
 * test programs are (the Makefile links low_* guests there).  It prints
 * where it runs and the command line the loader put beside it, then
 * leaves through the debug-exit port. */
#include "guest.h"

main:
	mov $msg_at, %esi
	call puts
	mov $main, %eax
	call hex32
	call newline
	mov mbi, %ebx
	testl $MBI_F_CMDLINE, MBI_FLAGS(%ebx)
	jz 1f
	mov $msg_cmdline, %esi
	call puts
	mov MBI_CMDLINE(%ebx), %esi
	call puts
	call newline
1:	mov $EXIT_OK, %eax
	ret

	.section .rodata
msg_at: .asciz "low: main at "
msg_cmdline: .asciz "cmdline: "
