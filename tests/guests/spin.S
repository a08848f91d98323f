/* spin: prints one line, then runs a tight loop until the VM is ended from
 * outside: a guest that is running and is not Linux, for the control API's
 * tests (introspection must say it does not understand it). */
#include "guest.h"

main:
	mov $msg_spin, %esi
	call puts
1:	pause
	jmp 1b

	.section .rodata
msg_spin: .asciz "spinning\n"
