/* pit_irq: timer interrupts through the legacy 8259A.
 * Programs the PIC pair (ICW1-4, vectors 0x20/0x28, only IRQ0 unmasked),
 * an IDT whose every vector but 0x20 reports an unexpected interrupt, and
 * PIT channel 0 in mode 2 at ~1 kHz; then HLTs until TICKS interrupts have
 * arrived.  Also checks that the PIC's in-service register is clear after
 * the last EOI and that reading back the PIT's latched count works. */
#include "guest.h"

#define TICKS 100
#define PIT_HZ 1193182
#define DIVISOR 1193

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

/* Returns from the interrupt without IRET: on hosts whose /dev/kvm comes
 * from kvm_pvm every guest kernel instruction goes through KVM's
 * instruction emulator, which cannot do a protected-mode IRET.  The frame
 * (EIP, CS, EFLAGS; same privilege) is rewritten to (EFLAGS, EIP) and left
 * with POPF; RET.  An interrupt between the two nests below ESP harmlessly. */
timer_isr:
	push %eax
	incl ticks
	mov $0x20, %al
	out %al, $0x20 /* non-specific EOI */
	mov 4(%esp), %eax  /* EIP */
	xchg %eax, 12(%esp) /* EIP into the EFLAGS slot, EFLAGS out */
	mov %eax, 8(%esp)  /* EFLAGS into the CS slot */
	pop %eax
	add $4, %esp
	popfl
	ret

unexpected_isr:
	mov $m_unexpected, %esi
	call puts
	mov $EXIT_FAIL, %eax
	jmp exit

main:
	xor %eax, %eax
	mov $unexpected_isr, %edx
1:	call set_gate
	inc %eax
	cmp $256, %eax
	jb 1b
	mov $0x20, %eax
	mov $timer_isr, %edx
	call set_gate
	lidt idt_desc

	/* ICW1: edge, cascade, ICW4 needed */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al /* ICW2: vector bases */
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al /* ICW3: slave on IRQ2 */
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al /* ICW4: 8086 mode */
	out %al, $0x21
	out %al, $0xa1
	mov $0xfe, %al /* only IRQ0 */
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1

	/* PIT channel 0: lobyte/hibyte, mode 2, binary */
	mov $0x34, %al
	out %al, $0x43
	mov $(DIVISOR & 0xff), %al
	out %al, $0x40
	mov $(DIVISOR >> 8), %al
	out %al, $0x40

	sti
2:	hlt
	cmpl $TICKS, ticks
	jb 2b
	cli

	mov $m_ticks, %esi
	call puts
	mov $TICKS, %eax
	call dec
	mov $m_ticks2, %esi
	call puts

	/* OCW3: read ISR */
	mov $0x0b, %al
	out %al, $0x20
	in $0x20, %al
	mov $m_isr, %esi
	call puts
	call hex8
	call newline

	/* Latch channel 0 and read the count: must be below the divisor. */
	mov $0x00, %al
	out %al, $0x43
	in $0x40, %al
	mov %al, %cl
	in $0x40, %al
	mov %al, %ch
	mov $m_latch, %esi
	call puts
	mov $m_latch_ok, %esi
	cmp $DIVISOR, %cx
	jbe 3f
	mov $m_latch_bad, %esi
3:	call puts

	mov $0xff, %al /* quiet the PIC again */
	out %al, $0x21
	mov $EXIT_OK, %eax
	ret

	.section .rodata
m_unexpected: .asciz "unexpected interrupt or exception\n"
m_ticks: .asciz "pit: "
m_ticks2: .asciz " ticks\n"
m_isr: .asciz "pic isr="
m_latch: .asciz "pit latch: "
m_latch_ok: .asciz "ok\n"
m_latch_bad: .asciz "out of range\n"
idt_desc:
	.word 256 * 8 - 1
	.long idt

	.data
ticks: .long 0

	.bss
	.align 8
idt: .skip 256 * 8
