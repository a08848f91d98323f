/* ipi: inter-processor interrupts between three CPUs (run with 3).
 * The BSP starts the two APs (INIT, SIPI, SIPI to a real-mode trampoline
 * that enters protected mode on the guest's own GDT).  Every CPU turns its
 * local APIC on, in the flat logical model with the logical ID 1 << its
 * APIC id, loads the IDT and counts the IPIs it takes.
 *   logical  200 fixed IPIs to the logical destination 0b110 (both APs),
 *            one at a time: each AP must take all 200 (the SDM: every
 *            CPU whose logical ID matches the mask is a target)
 *   ping     ROUNDS round trips BSP -> AP 1 -> BSP (physical destination):
 *            AP 1's handler answers each ping with a pong; ROUNDS comes
 *            from "rounds=N" on the command line (default 1000), so a
 *            benchmark can time many (bench/ipi.sh)
 * Every wait is bounded: a lost IPI prints "timeout" and fails. */
#include "guest.h"

#define LAPIC 0xfee00000
#define A_ID 0x20
#define A_EOI 0xb0
#define A_LDR 0xd0
#define A_DFR 0xe0
#define A_SVR 0xf0
#define A_ICR_LO 0x300
#define A_ICR_HI 0x310
#define TRAMP 0x8000
#define LOGICAL_IPIS 200
#define SPIN 1000000000
#define V_PING 0x40
#define V_PONG 0x41
#define V_LOGICAL 0x42

/* Sets IDT entry EAX to the handler at EDX (32-bit interrupt gate). */
set_gate:
	push %ebx
	lea idt(,%eax,8), %ebx
	mov %dx, (%ebx)
	movw $KCODE, 2(%ebx)
	movw $0x8e00, 4(%ebx)
	push %edx
	shr $16, %edx
	mov %dx, 6(%ebx)
	pop %edx
	pop %ebx
	ret

/* ICR high EDX (destination), low EAX; waits until the APIC has sent it. */
send_ipi:
	mov %edx, LAPIC + A_ICR_HI
	mov %eax, LAPIC + A_ICR_LO
1:	testl $(1 << 12), LAPIC + A_ICR_LO
	jnz 1b
	ret

/* This CPU's local APIC on: flat logical model, logical ID 1 << APIC id. */
apic_on:
	movl $0x1ff, LAPIC + A_SVR
	movl $0xffffffff, LAPIC + A_DFR
	mov LAPIC + A_ID, %ecx
	shr $24, %ecx
	mov $1, %eax
	shl %cl, %eax
	shl $24, %eax
	mov %eax, LAPIC + A_LDR
	ret

isr_logical:
	push %eax
	mov LAPIC + A_ID, %eax
	shr $24, %eax
	lock incl logical_count(,%eax,4)
	movl $0, LAPIC + A_EOI
	pop %eax
	iret

isr_ping: /* on AP 1: answer with a pong to the BSP */
	push %eax
	push %edx
	movl $0, LAPIC + A_EOI
	mov $0, %edx
	mov $0x4000 | V_PONG, %eax
	call send_ipi
	pop %edx
	pop %eax
	iret

isr_pong:
	lock incl pongs
	movl $0, LAPIC + A_EOI
	iret

isr_spurious: /* the APIC's spurious vector: no EOI (SDM 10.9) */
	iret

isr_other:
	mov $m_unexpected, %esi
	call puts
	mov $EXIT_FAIL, %eax
	jmp exit

/* EAX: the address of a counter; ECX: the value to wait for.  CF set on a
 * timeout. */
wait_for:
	push %edx
	mov $SPIN, %edx
1:	cmp %ecx, (%eax)
	jae 2f
	pause
	dec %edx
	jnz 1b
	pop %edx
	stc
	ret
2:	pop %edx
	clc
	ret

/* "rounds=N" on the command line into EAX (default 1000). */
parse_rounds:
	push %esi
	push %ebx
	mov $1000, %eax
	mov mbi, %ebx
	testl $MBI_F_CMDLINE, MBI_FLAGS(%ebx)
	jz 4f
	mov MBI_CMDLINE(%ebx), %esi
1:	cmpb $0, (%esi)
	je 4f
	cmpl $0x6e756f72, (%esi) /* "roun" */
	jne 2f
	cmpw $0x7364, 4(%esi) /* "ds" */
	jne 2f
	cmpb $'=', 6(%esi)
	je 3f
2:	inc %esi
	jmp 1b
3:	add $7, %esi
	xor %eax, %eax
5:	movzbl (%esi), %ebx
	sub $'0', %ebx
	cmp $9, %ebx
	ja 4f
	imul $10, %eax
	add %ebx, %eax
	inc %esi
	jmp 5b
4:	pop %ebx
	pop %esi
	ret

main:
	/* the 8259s masked: a BIOS (QEMU's) leaves its timer running through them */
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1
	/* the IDT: every vector unexpected but the three IPIs' and the spurious one */
	xor %eax, %eax
1:	mov $isr_other, %edx
	call set_gate
	inc %eax
	cmp $256, %eax
	jb 1b
	mov $V_PING, %eax
	mov $isr_ping, %edx
	call set_gate
	mov $V_PONG, %eax
	mov $isr_pong, %edx
	call set_gate
	mov $V_LOGICAL, %eax
	mov $isr_logical, %edx
	call set_gate
	mov $0xff, %eax
	mov $isr_spurious, %edx
	call set_gate
	lidt idt_desc
	call apic_on
	sti

	/* the APs: the trampoline, with this GDT's descriptor in it */
	mov $tramp, %esi
	mov $TRAMP, %edi
	mov $tramp_end - tramp, %ecx
	rep movsb
	sgdt TRAMP + (tramp_gdt - tramp)
	xor %edx, %edx
	mov $0x000c4500, %eax /* INIT, level assert, all excluding self */
	call send_ipi
	mov $0x000c4600 | (TRAMP >> 12), %eax /* STARTUP */
	call send_ipi
	call send_ipi
	mov $ready, %eax
	mov $2, %ecx
	call wait_for
	jc timeout
	mov $m_ready, %esi
	call puts
	mov ready, %eax
	call dec
	call newline

	/* logical: one at a time, so that no IPI finds the last one pending */
	mov $1, %ecx
1:	mov $0x06000000, %edx
	mov $0x4800 | V_LOGICAL, %eax /* fixed, logical, assert */
	call send_ipi
	mov $logical_count + 4, %eax
	call wait_for
	jc timeout
	mov $logical_count + 8, %eax
	call wait_for
	jc timeout
	inc %ecx
	cmp $LOGICAL_IPIS, %ecx
	jbe 1b
	mov $m_logical, %esi
	call puts
	mov logical_count + 4, %eax
	call dec
	mov $m_ap2, %esi
	call puts
	mov logical_count + 8, %eax
	call dec
	call newline

	/* ping */
	call parse_rounds
	mov %eax, rounds
	mov $1, %ecx
1:	cmp rounds, %ecx
	ja 2f
	mov $0x01000000, %edx
	mov $0x4000 | V_PING, %eax /* fixed, physical, assert: APIC 1 */
	call send_ipi
	mov $pongs, %eax
	call wait_for
	jc timeout
	inc %ecx
	jmp 1b
2:	mov $m_ping, %esi
	call puts
	mov pongs, %eax
	call dec
	mov $m_trips, %esi
	call puts
	mov $EXIT_OK, %eax
	ret

timeout:
	mov $m_timeout, %esi
	call puts
	mov $EXIT_FAIL, %eax
	ret

/* An AP, in protected mode on the guest's GDT: a stack of its own, its
 * APIC, the IDT, then it waits for interrupts. */
ap_main:
	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $1, %eax
	cpuid
	shr $24, %ebx
	mov %ebx, %eax
	shl $12, %eax
	lea ap_stacks + 4096(%eax), %esp
	lidt idt_desc
	call apic_on
	lock incl ready
	sti
1:	hlt
	jmp 1b

	.code16
tramp:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl TRAMP + (tramp_gdt - tramp)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	.byte 0x66, 0xea /* ljmpl $KCODE, $ap_main */
	.long ap_main
	.word KCODE
tramp_gdt:
	.word 0
	.long 0
tramp_end:
	.code32

	.section .rodata
m_ready: .asciz "aps ready: "
m_logical: .asciz "logical: ap1 "
m_ap2: .asciz " ap2 "
m_ping: .asciz "ping: "
m_trips: .asciz " round trips\n"
m_timeout: .asciz "timeout\n"
m_unexpected: .asciz "unexpected interrupt\n"

	.data
	.align 8
idt_desc:
	.word 256 * 8 - 1
	.long idt
	.align 4
ready: .long 0
pongs: .long 0
rounds: .long 0
logical_count: .long 0, 0, 0, 0

	.bss
	.align 4096
idt: .skip 256 * 8
	.align 4096
ap_stacks: .skip 4 * 4096
