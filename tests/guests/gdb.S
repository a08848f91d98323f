/* gdb: a guest for the gdb stub's end-to-end test (tests/e2e/gdb.sh).
 * Calls gdb_bump five times, which adds one to gdb_counter (the write a
 * watchpoint catches), and gdb_peek, which reads gdb_marker (a known
 * value, for a read watchpoint), then prints the count and exits.  Its symbols are what the test sets breakpoints
 * and watchpoints on; run alone it prints "counter=5". */
#include "guest.h"

	.globl gdb_bump, gdb_peek, gdb_counter, gdb_marker, gdb_loop
main:
	mov $msg_start, %esi
	call puts
	mov $5, %ecx
gdb_loop:
	call gdb_bump
	call gdb_peek
	dec %ecx
	jnz gdb_loop
	mov $msg_count, %esi
	call puts
	mov gdb_counter, %eax
	call dec
	call newline
	mov $EXIT_OK, %eax
	ret

gdb_bump:
	addl $1, gdb_counter
	nop
	ret

gdb_peek:
	mov gdb_marker, %edx
	ret

	.data
	.align 8
gdb_counter: .long 0
gdb_marker: .long 0x5a17b10e

	.section .rodata
msg_start: .asciz "gdb guest start\n"
msg_count: .asciz "counter="
