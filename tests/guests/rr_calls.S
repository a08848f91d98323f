/* rr_calls: a 64-bit guest for reverse debugging on a replay
 * (tests/e2e/replay_reverse.sh).  Enters long mode (1 GiB identity map in
 * 2 MiB pages), then for i = 1..5 calls rr_square(i) and adds the result
 * to rr_total; prints "total=37" (1+4+9+16+25 = 0x37) and exits.  Each
 * instruction of the loop is on its own line, so that gdb's next and
 * reverse-next go instruction by instruction and step over the call; the
 * test finds the lines by their "rr:" comments.  The loop's labels are
 * local (.L), so gdb sees the loop as one function, rr_loop. */
#include "guest.h"

#define KCODE64 0x18
#define KDATA64 0x20

	.text
	.code32
main:
	movl $rr_pdpt + 7, rr_pml4
	movl $rr_pd + 7, rr_pdpt
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x87, %eax                     /* present, writable, user, 2 MiB */
	mov %eax, rr_pd(, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	mov $rr_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                     /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax                    /* LME */
	wrmsr
	lgdt rr_gdt_desc
	mov %cr0, %eax
	or $0x80000000, %eax               /* PG */
	mov %eax, %cr0
	ljmp $KCODE64, $rr_lm

	.code64
rr_lm:
	mov $KDATA64, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	lea rr_stack_top(%rip), %rsp
	mov $1, %r12d
	xor %eax, %eax
	.globl rr_loop, rr_square, rr_total
rr_loop:
	mov %r12, %rdi                     /* rr: arg */
	call rr_square                     /* rr: call */
	add %rax, rr_total(%rip)           /* rr: add */
	inc %r12                           /* rr: next */
	cmp $6, %r12
	jne rr_loop
	lea rr_msg(%rip), %rsi
1:	lodsb
	test %al, %al
	jz 2f
	call rr_putc
	jmp 1b
2:	mov rr_total(%rip), %rax
	mov %al, %bl
	shr $4, %al
	call rr_hex
	mov %bl, %al
	call rr_hex
	mov $10, %al
	call rr_putc
	mov $EXIT_OK, %eax
	out %eax, $EXIT_PORT
3:	hlt
	jmp 3b

rr_square:
	mov %rdi, %rax                     /* rr: square */
	imul %rdi, %rax
	ret

/* AL's low nibble as a hex digit. */
rr_hex:
	and $0xf, %al
	add $'0', %al
	cmp $'9', %al
	jbe rr_putc
	add $'a' - '9' - 1, %al
rr_putc:
	push %rdx
	push %rax
	mov $COM1 + 5, %dx
1:	in %dx, %al
	test $0x20, %al
	jz 1b
	pop %rax
	mov $COM1, %dx
	out %al, %dx
	pop %rdx
	ret

	.section .rodata
rr_msg: .asciz "total="

	.data
	.align 8
rr_total: .quad 0
rr_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08 code32 */
	.quad 0x00cf92000000ffff /* 0x10 data */
	.quad 0x00af9a000000ffff /* 0x18 code64 */
	.quad 0x00cf92000000ffff /* 0x20 data */
rr_gdt_end:
rr_gdt_desc:
	.word rr_gdt_end - rr_gdt - 1
	.long rr_gdt, 0

	.bss
	.align 4096
rr_pml4: .skip 4096
rr_pdpt: .skip 4096
rr_pd: .skip 4096
	.align 16
	.skip 4096
rr_stack_top:
