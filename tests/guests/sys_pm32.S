/* sys_pm32: 32-bit protected-mode privilege machinery and a round trip
 * through real mode.
 *
 * CPL3 code entered with IRET prints through COM1, which the TSS I/O
 * permission bitmap allows while IOPL is 0; port 0x80 (denied by the
 * bitmap) and CLI raise #GP(0); INT 0x80 through a DPL3 trap gate switches
 * to the TSS ESP0/SS0 stack; INT 0x81 (DPL0 gate) raises #GP(0x40a); a
 * DPL0 data selector in DS raises #GP(selector).  Then the kernel drops to
 * real mode (through a 16-bit protected-mode segment), takes INT 0x30
 * through the IVT, IRETs, and comes back to protected mode. */
#include "guest.h"

#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28
#define CODE16 0x30
#define DATA16 0x38
#define RM_ADDR 0x8000 /* where the real-mode code runs (CS 0x800) */
#define RM_COUNT 0x500  /* counter in low memory, written by the real-mode ISR */

	.text
main:
	/* TSS descriptor (32-bit available TSS), limit covers the bitmap for
	 * ports 0..0x3ff plus its terminating byte. */
	mov $tss, %eax
	shl $16, %eax
	or $tss_end - tss - 1, %eax
	mov %eax, gdt32 + TSS_SEL
	mov $tss, %eax
	mov %eax, %edx
	shr $16, %eax
	and $0xff, %eax
	and $0xff000000, %edx
	or %edx, %eax
	or $0x8900, %eax
	mov %eax, gdt32 + TSS_SEL + 4
	movl $kstack0_top, tss + 4                 /* ESP0 */
	movl $KDATA, tss + 8                       /* SS0 */
	movw $iomap - tss, tss + 0x66

	lgdt gdt32_desc
	ljmp $KCODE, $1f
1:	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $TSS_SEL, %ax
	ltr %ax

	mov $0, %eax
	mov $stub0, %edx
	mov $0x8e, %ecx
	call set_gate
	mov $13, %eax
	mov $stub13, %edx
	call set_gate
	mov $0x80, %eax
	mov $int80, %edx
	mov $0xef, %ecx                            /* DPL3 trap gate */
	call set_gate
	mov $0x81, %eax
	mov $int80, %edx
	mov $0x8e, %ecx                            /* DPL0: not for CPL3 */
	call set_gate
	mov $0x82, %eax
	mov $user_exit, %edx
	mov $0xee, %ecx
	call set_gate
	lidt idt_desc

	mov %esp, kernel_esp
	push $UDATA
	push $ustack_top
	push $0x002                                /* IOPL 0, IF 0 */
	push $UCODE
	push $user
	iret

user:
	mov $UDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov $msg_user, %esi
	call puts
	mov %cs, %eax
	and $3, %eax
	call dec
	call newline
	movl $r1, resume
	out %al, $0x80
r1:	movl $r2, resume
	cli
r2:	mov $0x5a, %eax
	int $0x80
	mov $msg_after, %esi
	call puts
	call hex8
	call newline
	movl $r3, resume
	int $0x81
r3:	movl $r4, resume
	mov $KDATA, %ax
	mov %ax, %ds
r4:	int $0x82
	jmp .

user_exit:
	mov kernel_esp, %esp
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov $msg_kernel, %esi
	call puts
	mov %cs, %eax
	call hex16
	call newline
	jmp to_real

int80:
	pusha
	mov $msg_int80, %esi
	call puts
	mov 36(%esp), %eax                         /* CS of the caller */
	and $3, %eax
	call dec
	mov $msg_esp0, %esi
	call puts
	lea 52(%esp), %eax                         /* 8 registers + 5 frame words */
	cmp $kstack0_top, %eax
	sete %al
	movzbl %al, %eax
	call dec
	mov $msg_ss, %esi
	call puts
	mov %ss, %eax
	call hex16
	call newline
	popa
	add $1, %eax
	iret

.macro STUB v, err
stub\v:
	.if \err == 0
	push $0
	.endif
	push $\v
	jmp exc_common
.endm
	STUB 0, 0
	STUB 13, 1

/* pusha, vector, error, EIP, CS, EFLAGS, [ESP, SS] */
exc_common:
	pusha
	mov %ds, %eax
	push %eax
	mov $KDATA, %ax
	mov %ax, %ds
	mov $msg_exc, %esi
	call puts
	mov 36(%esp), %eax
	call hex8
	mov $msg_err, %esi
	call puts
	mov 40(%esp), %eax
	call hex16
	mov $msg_cpl, %esi
	call puts
	mov 48(%esp), %eax
	and $3, %eax
	call dec
	testb $3, 48(%esp)
	jz 1f
	mov $msg_esp0, %esi
	call puts
	lea 64(%esp), %eax
	cmp $kstack0_top, %eax
	sete %al
	movzbl %al, %eax
	call dec
1:	call newline
	mov resume, %eax
	test %eax, %eax
	jz unexpected
	mov %eax, 44(%esp)
	movl $0, resume
	pop %eax
	mov %ax, %ds
	popa
	add $8, %esp
	iret
unexpected:
	mov $msg_unexp, %esi
	call puts
	mov $EXIT_FAIL, %eax
	jmp exit

/* EAX vector, EDX handler, CL type byte. */
set_gate:
	push %ebx
	mov %edx, %ebx
	and $0xffff, %ebx
	or $KCODE << 16, %ebx
	mov %ebx, idt(, %eax, 8)
	mov %edx, %ebx
	and $0xffff0000, %ebx
	mov %cl, %bh
	mov %ebx, idt + 4(, %eax, 8)
	pop %ebx
	ret

/* ---- real mode round trip ----
 * The 16-bit code is copied to RM_ADDR so that real-mode offsets are
 * differences within the blob. */
to_real:
	movw $0, RM_COUNT
	mov $rm_blob, %esi
	mov $RM_ADDR, %edi
	mov $rm_blob_end - rm_blob, %ecx
	rep movsb
	ljmp $CODE16, $0
rm_blob:
	.code16
	mov $DATA16, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $RM_ADDR >> 4, $rm_real - rm_blob
rm_real:
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7000, %sp
	lidtl %cs:rm_ivt - rm_blob
	movw $rm_isr - rm_blob, 0x30 * 4
	movw $RM_ADDR >> 4, 0x30 * 4 + 2
	mov $0x1234, %bx
	pushf
	pop %cx                                    /* FLAGS before */
	int $0x30
	pushf
	pop %dx                                    /* FLAGS after IRET */
	xor %dx, %cx
	mov %cx, 0x502                             /* 0 if IRET restored them */
	mov %sp, 0x504                             /* 0x7000 again */
	lgdtl %cs:rm_gdt_desc - rm_blob
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $KCODE, $pm_back
rm_isr:
	incw 0x500
	cmp $0x1234, %bx
	jne 1f
	incw 0x500
1:	iret
rm_ivt:
	.word 0x3ff
	.long 0
rm_gdt_desc:
	.word gdt32_end - gdt32 - 1
	.long gdt32
rm_blob_end:
	.code32
pm_back:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov kernel_esp, %esp
	lidt idt_desc
	mov $msg_real, %esi
	call puts
	movzwl RM_COUNT, %eax
	call dec
	mov $msg_flags, %esi
	call puts
	movzwl 0x502, %eax
	call hex16
	mov $msg_sp, %esi
	call puts
	movzwl 0x504, %eax
	call hex16
	call newline
	mov $EXIT_OK, %eax
	ret

	.section .rodata
msg_user: .asciz "user: cpl="
msg_after: .asciz "user: int 0x80 returned eax="
msg_kernel: .asciz "back in the kernel: cs="
msg_int80: .asciz "int 0x80: from cpl="
msg_esp0: .asciz " on esp0="
msg_ss: .asciz " ss="
msg_exc: .asciz "exception "
msg_err: .asciz " err="
msg_cpl: .asciz " cpl="
msg_unexp: .asciz "\nunexpected exception\n"
msg_real: .asciz "real mode: int 0x30 via ivt="
msg_flags: .asciz " flags changed="
msg_sp: .asciz " sp="

	.data
	.align 8
gdt32:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08 code, DPL0 */
	.quad 0x00cf92000000ffff /* 0x10 data, DPL0 */
	.quad 0x00cffa000000ffff /* 0x18 code, DPL3 */
	.quad 0x00cff2000000ffff /* 0x20 data, DPL3 */
	.quad 0                  /* 0x28 TSS */
	.quad 0x00009a008000ffff /* 0x30 16-bit code, base RM_ADDR */
	.quad 0x000092000000ffff /* 0x38 16-bit data, base 0 */
gdt32_end:
gdt32_desc:
	.word gdt32_end - gdt32 - 1
	.long gdt32
idt_desc:
	.word 256 * 8 - 1
	.long idt
resume: .long 0
kernel_esp: .long 0

	.align 16
tss:
	.skip 104
iomap:
	/* ports 0..0x3ff: only COM1 (0x3f8..0x3ff) is allowed */
	.fill 0x3f8 / 8, 1, 0xff
	.byte 0x00
	.byte 0xff                                 /* terminator */
tss_end:

	.bss
	.align 8
idt: .skip 256 * 8
	.align 16
kstack0: .skip 4096
kstack0_top:
ustack: .skip 4096
ustack_top:
