/* sys_apic: the local APIC in 32-bit protected mode (no paging): the timer
 * in one-shot, periodic and TSC-deadline modes, ISR/EOI, a self IPI held
 * back by the TPR, and the PIT's IRQ 0 through the 8259A and LINT0 (virtual
 * wire) while the APIC is software-enabled.  Interrupts are awaited with
 * "sti; hlt" (the STI shadow makes that race-free); counts, not times, are
 * printed, so the output is deterministic. */
#include "guest.h"

#define APIC 0xfee00000
#define A_TPR 0x80
#define A_EOI 0xb0
#define A_SVR 0xf0
#define A_ISR 0x100
#define A_IRR 0x200
#define A_ICR_LO 0x300
#define A_LVT_TIMER 0x320
#define A_LVT_LINT0 0x350
#define A_INIT 0x380
#define A_CUR 0x390
#define A_DCR 0x3e0

	.text
main:
	/* IDT */
	mov $0x20, %eax
	mov $irq_pit, %edx
	call set_gate
	mov $0x27, %eax
	mov $irq_spurious_pic, %edx
	call set_gate
	mov $0x40, %eax
	mov $irq_timer, %edx
	call set_gate
	mov $0x41, %eax
	call set_gate
	mov $0x42, %eax
	call set_gate
	mov $0x50, %eax
	mov $irq_ipi, %edx
	call set_gate
	mov $0x55, %eax
	call set_gate
	mov $0xff, %eax
	mov $irq_spurious, %edx
	call set_gate
	lidt idt_desc

	/* PIC: vectors 0x20/0x28, everything masked for now. */
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1

	movl $0x1ff, APIC + A_SVR                  /* software enable, spurious 0xff */
	movl $0xb, APIC + A_DCR                    /* divide by 1 */

	/* one-shot */
	movl $0x40, APIC + A_LVT_TIMER
	movl $200000, APIC + A_INIT
	mov $1, %eax
	call wait_ticks
	mov $msg_oneshot, %esi
	call puts
	mov ticks, %eax
	call dec
	mov $msg_ccr0, %esi
	call puts
	mov APIC + A_CUR, %eax
	test %eax, %eax
	setz %al
	movzbl %al, %eax
	call dec
	mov $msg_isr, %esi
	call puts
	mov isr_in_handler, %eax
	call dec
	mov $msg_isr_after, %esi
	call puts
	mov APIC + A_ISR + 0x20, %eax              /* vectors 0x40..0x5f */
	and $1, %eax
	call dec
	call newline

	/* periodic */
	movl $0, ticks
	movl $0x20041, APIC + A_LVT_TIMER
	movl $100000, APIC + A_INIT
	mov $5, %eax
	call wait_ticks
	movl $0x30041, APIC + A_LVT_TIMER          /* masked, still periodic */
	mov $msg_periodic, %esi
	call puts
	cmpl $5, ticks                             /* one more may have been pending */
	setae %al
	movzbl %al, %eax
	call dec
	mov $msg_running, %esi
	call puts
	mov APIC + A_CUR, %eax
	test %eax, %eax
	setnz %al
	movzbl %al, %eax
	call dec
	call newline
	movl $0, APIC + A_INIT

	/* TSC deadline */
	mov $1, %eax
	cpuid
	test $1 << 24, %ecx
	jz 1f
	movl $0, ticks
	movl $0x40042, APIC + A_LVT_TIMER
	rdtsc
	add $2000000, %eax
	adc $0, %edx
	mov $0x6e0, %ecx
	wrmsr
	mov $1, %eax
	call wait_ticks
	mov $msg_tscdl, %esi
	call puts
	mov ticks, %eax
	call dec
	mov $msg_msr, %esi
	call puts
	mov $0x6e0, %ecx
	rdmsr
	or %edx, %eax
	setz %al
	movzbl %al, %eax
	call dec
	call newline
	jmp 2f
1:	mov $msg_notscdl, %esi
	call puts
2:	movl $0x10000, APIC + A_LVT_TIMER

	/* self IPI, held back by the TPR */
	movl $0, ipis
	movl $0x40050, APIC + A_ICR_LO             /* self, vector 0x50 */
	sti
	nop
	nop
	cli
	movl $0x60, APIC + A_TPR
	movl $0x40055, APIC + A_ICR_LO             /* self, vector 0x55: below TPR class 6 */
	sti
	nop
	nop
	cli
	mov $msg_ipi, %esi
	call puts
	mov ipis, %eax
	call dec
	mov $msg_irr, %esi
	call puts
	mov APIC + A_IRR + 0x20, %eax
	shr $0x15, %eax
	and $1, %eax
	call dec
	movl $0, APIC + A_TPR
	sti
	nop
	nop
	cli
	mov $msg_tpr0, %esi
	call puts
	mov ipis, %eax
	call dec
	call newline

	/* PIT IRQ 0 → 8259A → LINT0 (ExtINT) with the APIC enabled */
	mov APIC + A_LVT_LINT0, %eax
	and $0x1ff00, %eax
	cmp $0x700, %eax
	je 3f
	movl $0x700, APIC + A_LVT_LINT0           /* as firmware leaves it */
3:	movl $0, ticks
	mov $0x34, %al                             /* channel 0, lo/hi, rate generator */
	out %al, $0x43
	mov $1193 & 0xff, %al
	out %al, $0x40
	mov $1193 >> 8, %al
	out %al, $0x40
	mov $0xfe, %al
	out %al, $0x21
	mov $3, %eax
	call wait_ticks
	mov $0xff, %al
	out %al, $0x21
	mov $msg_pit, %esi
	call puts
	cmpl $3, ticks
	setae %al
	movzbl %al, %eax
	call dec
	call newline

	mov $EXIT_OK, %eax
	ret

/* Waits until ticks >= EAX. */
wait_ticks:
	push %ebx
	mov %eax, %ebx
1:	cli
	cmp %ebx, ticks
	jae 2f
	sti
	hlt
	jmp 1b
2:	pop %ebx
	ret

/* EAX vector, EDX handler: 32-bit interrupt gate. */
set_gate:
	push %ecx
	mov %edx, %ecx
	and $0xffff, %ecx
	or $KCODE << 16, %ecx
	mov %ecx, idt(, %eax, 8)
	mov %edx, %ecx
	and $0xffff0000, %ecx
	or $0x8e00, %ecx
	mov %ecx, idt + 4(, %eax, 8)
	pop %ecx
	ret

irq_timer:
	push %eax
	incl ticks
	mov APIC + A_ISR + 0x20, %eax
	and $1, %eax
	mov %eax, isr_in_handler
	movl $0, APIC + A_EOI
	pop %eax
	iret

irq_ipi:
	incl ipis
	movl $0, APIC + A_EOI
	iret

irq_pit:
	push %eax
	incl ticks
	mov $0x20, %al
	out %al, $0x20
	pop %eax
	iret

irq_spurious_pic:
irq_spurious:
	incl spurious
	iret

	.section .rodata
msg_oneshot: .asciz "oneshot: irqs="
msg_ccr0: .asciz " ccr zero="
msg_isr: .asciz " isr in handler="
msg_isr_after: .asciz " isr after eoi="
msg_periodic: .asciz "periodic: irqs>=5: "
msg_running: .asciz " counting="
msg_tscdl: .asciz "tsc-deadline: irqs="
msg_msr: .asciz " msr cleared="
msg_notscdl: .asciz "tsc-deadline: not advertised\n"
msg_ipi: .asciz "self ipi: delivered="
msg_irr: .asciz " held in irr="
msg_tpr0: .asciz " after tpr=0: "
msg_pit: .asciz "pit via lint0: irqs>=3: "

	.data
	.align 4
idt_desc:
	.word 256 * 8 - 1
	.long idt
ticks: .long 0
ipis: .long 0
spurious: .long 0
isr_in_handler: .long 0

	.bss
	.align 8
idt: .skip 256 * 8
