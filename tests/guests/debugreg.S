/* debugreg: the guest's own debug registers (DR0-DR3, DR6, DR7).
 * An instruction breakpoint on a function (a #DB fault before its first
 * instruction, the handler sets RF in the pushed EFLAGS and the function
 * then runs, and a second call faults again: RF covers one instruction);
 * a 4-byte write breakpoint (a trap after the writing instruction, with
 * the next EIP; a read of the same bytes does not fire); the same bytes
 * as read/write (a read fires); a 1-byte write breakpoint hit by a 4-byte
 * write that overlaps it and missed by one beside it; an I/O breakpoint
 * with CR4.DE (OUT to its port traps, to another not); DR7 cleared: nothing
 * fires; single-step through a POPF that clears TF (it traps: TF was set
 * as it began) and past a MOV SS (its trap waits for the next instruction,
 * with DR6.BS).  DR6's B0-B3 name the register each time.  Every line is
 * deterministic (compared with QEMU by tests/e2e/debugreg.sh).  First, a
 * fault (#UD) pushes RF = 1 in its EFLAGS image. */
#include "guest.h"

	.text
main:
	mov $1, %eax
	mov $db_handler, %edx
	mov $0x8e, %cl
	call set_gate
	mov $6, %eax
	mov $ud_handler, %edx
	mov $0x8e, %cl
	call set_gate
	lidt idt_desc

	/* 0. a fault (#UD) pushes RF = 1; the handler skips the UD2 */
	ud2
	mov ud_flags, %eax
	shr $16, %eax
	and $1, %eax
	mov $msg_fault_rf, %esi
	call puts
	call dec
	call newline

	/* 1. instruction breakpoint on bp_fn */
	mov $bp_fn, %eax
	mov %eax, %dr0
	mov $0x1, %eax /* L0, R/W0 = 00 (execute), LEN0 = 00 */
	mov %eax, %dr7
	call bp_fn
	mov $bp_fn, %ebx
	mov $msg_exec, %esi
	call report
	call bp_fn /* RF was for one instruction: it faults again */
	mov $bp_fn, %ebx
	mov $msg_exec2, %esi
	call report
	cmpl $2, fn_runs
	jne fail

	/* 2. write breakpoint, 4 bytes at var: a trap after the write */
	mov $var, %eax
	mov %eax, %dr1
	mov $(0x4 | (1 << 20) | (3 << 22)), %eax /* L1, R/W1 = 01 (write), LEN1 = 11 (4 bytes) */
	mov %eax, %dr7
	movl $5, var
after_write:
	mov var, %eax /* a read: no trap for a write breakpoint */
	mov $after_write, %ebx
	mov $msg_write, %esi
	call report

	/* 3. the same bytes as read/write: a read traps */
	mov $(0x4 | (3 << 20) | (3 << 22)), %eax /* R/W1 = 11 */
	mov %eax, %dr7
	mov var, %eax
after_read:
	mov $after_read, %ebx
	mov $msg_read, %esi
	call report

	/* 4. a 1-byte breakpoint at var+5 (DR3): a dword write at var+4
	 * covers it, one at var+8 does not */
	mov $var + 5, %eax
	mov %eax, %dr3
	mov $(0x40 | (1 << 28) | (0 << 30)), %eax /* L3, R/W3 = 01, LEN3 = 00 */
	mov %eax, %dr7
	movl $1, var + 8
	movl $2, var + 4
after_overlap:
	mov $after_overlap, %ebx
	mov $msg_overlap, %esi
	call report

	/* 5. an I/O breakpoint on port 0x80 (DR2, CR4.DE): OUT to 0x80 traps,
	 * to 0x84 not */
	mov %cr4, %eax
	or $0x8, %eax
	mov %eax, %cr4
	mov $0x80, %eax
	mov %eax, %dr2
	mov $(0x10 | (2 << 24) | (0 << 26)), %eax /* L2, R/W2 = 10 (I/O), LEN2 = 00 */
	mov %eax, %dr7
	xor %eax, %eax
	out %al, $0x84
	out %al, $0x80
after_out:
	mov $after_out, %ebx
	mov $msg_io, %esi
	call report
	mov %cr4, %eax
	and $~0x8, %eax
	mov %eax, %cr4

	/* 7. single-step to a POPF that clears TF: PUSHF, AND and the POPF
	 * itself trap (TF was set as each began), the NOP after does not */
	pushf
	orl $0x100, (%esp)
	popf
	pushf
	andl $~0x100, (%esp)
	popf
after_popf:
	nop
	mov $after_popf, %ebx
	mov $msg_popf, %esi
	call report_status

	/* 8. MOV SS under TF: its trap waits for the next instruction (the
	 * handler clears TF at the first trap) */
	movl $1, stop_tf
	mov %ss, %ax
	pushf
	orl $0x100, (%esp)
	popf
	mov %ax, %ss
	nop
after_ss:
	movl $0, stop_tf
	mov $after_ss, %ebx
	mov $msg_movss, %esi
	call report_status

	/* 6. DR7 clear: nothing fires */
	xor %eax, %eax
	mov %eax, %dr7
	movl $0, db_count
	call bp_fn
	movl $7, var
	mov db_count, %eax
	mov $msg_off, %esi
	call puts
	call dec
	call newline
	cmpl $0, db_count
	jne fail
	mov $EXIT_OK, %eax
	ret

fail:
	mov $msg_fail, %esi
	call puts
	mov $EXIT_FAIL, %eax
	jmp exit

/* Prints ESI, then whether the last #DB came from EIP = EBX, its DR6
 * B0-B3 and the number of #DBs so far; resets the count. */
report:
	call puts
	cmp db_eip, %ebx
	mov $msg_eip_ok, %esi
	je 1f
	mov $msg_eip_bad, %esi
1:	call puts
	mov db_dr6, %eax
	and $0xf, %eax
	mov $1, %ecx
	call hexn
	mov $msg_count, %esi
	call puts
	mov db_count, %eax
	call dec
	call newline
	movl $0, db_count
	movl $0, db_eip
	ret

/* report, then DR6's BS and BD of the last #DB. */
report_status:
	push db_dr6
	call report
	mov $msg_bs, %esi
	call puts
	mov (%esp), %eax
	shr $14, %eax
	and $1, %eax
	call dec
	mov $msg_bd, %esi
	call puts
	pop %eax
	shr $13, %eax
	and $1, %eax
	call dec
	call newline
	ret

bp_fn:
	incl fn_runs
	ret

/* #DB: note EIP and DR6, clear DR6's B bits (the CPU never clears them),
 * set RF in the pushed EFLAGS so a faulting instruction runs on IRET. */
db_handler:
	pusha
	incl db_count
	mov 32(%esp), %eax
	mov %eax, db_eip
	mov %dr6, %eax
	mov %eax, db_dr6
	and $~0x600f, %eax /* B0-B3, BD, BS */
	mov %eax, %dr6
	orl $0x10000, 40(%esp)
	cmpl $0, stop_tf
	je 1f
	andl $~0x100, 40(%esp)
1:
	popa
	iret

/* #UD: note the pushed EFLAGS, return past the 2-byte UD2. */
ud_handler:
	push %eax
	mov 12(%esp), %eax
	mov %eax, ud_flags
	addl $2, 4(%esp)
	pop %eax
	iret

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

idt_desc:
	.word 256 * 8 - 1
	.long idt

	.data
	.align 8
var: .long 0, 0, 0, 0
db_count: .long 0
db_eip: .long 0
db_dr6: .long 0
fn_runs: .long 0
ud_flags: .long 0
stop_tf: .long 0
	.align 8
idt: .skip 256 * 8

	.section .rodata
msg_fault_rf: .asciz "RF pushed by a fault: "
msg_exec: .asciz "exec breakpoint: "
msg_exec2: .asciz "exec breakpoint again: "
msg_write: .asciz "write breakpoint: "
msg_read: .asciz "read/write breakpoint: "
msg_overlap: .asciz "1-byte breakpoint in a dword write: "
msg_eip_ok: .asciz "eip ok, dr6="
msg_eip_bad: .asciz "eip WRONG, dr6="
msg_count: .asciz " count="
msg_io: .asciz "I/O breakpoint: "
msg_off: .asciz "dr7 clear: count="
msg_popf: .asciz "single-step to a POPF clearing TF: "
msg_movss: .asciz "MOV SS holding a single-step trap: "
msg_bs: .asciz "  bs="
msg_bd: .asciz " bd="
msg_fail: .asciz "FAIL\n"
