/* smp: application processor start-up through the local APIC.
 * The BSP copies a real-mode trampoline to 0x8000, sends INIT then two
 * SIPIs (vector 0x08) to all-excluding-self, and waits for every AP to
 * check in.  Each AP sets the bit of its initial APIC id (CPUID.1:EBX[31:24])
 * in a mask and halts.  Run with 4 CPUs: the expected mask is 0000000e. */
#include "guest.h"

#define LAPIC 0xfee00000
#define ICR_LO 0x300
#define ICR_HI 0x310
#define TRAMP 0x8000
#define MASK 0x7000
#define COUNT 0x7004
#define NAPS 3
#define SPIN 5000000

/* Sends the IPI in EAX to all-excluding-self and waits until the APIC has
 * delivered it. */
send_ipi:
	movl $0, LAPIC + ICR_HI
	mov %eax, LAPIC + ICR_LO
1:	testl $(1 << 12), LAPIC + ICR_LO
	jnz 1b
	ret

main:
	mov $tramp, %esi
	mov $TRAMP, %edi
	mov $tramp_end - tramp, %ecx
	rep movsb
	movl $0, MASK
	movl $0, COUNT

	mov $0x000c4500, %eax /* INIT, level assert, all excluding self */
	call send_ipi
	mov $0x000c4600 | (TRAMP >> 12), %eax /* STARTUP */
	call send_ipi
	call send_ipi

	mov $SPIN, %ecx
2:	cmpl $NAPS, COUNT
	jae 3f
	pause
	loop 2b
3:	mov $m_count, %esi
	call puts
	mov COUNT, %eax
	call dec
	call newline
	mov $m_mask, %esi
	call puts
	mov MASK, %eax
	call hex32
	call newline
	mov $EXIT_OK, %eax
	ret

	.code16
tramp:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov $1, %eax
	cpuid
	shr $24, %ebx
	lock btsl %ebx, MASK
	lock incl COUNT
1:	hlt
	jmp 1b
tramp_end:
	.code32

	.section .rodata
m_count: .asciz "aps started: "
m_mask: .asciz "apic id mask: "
