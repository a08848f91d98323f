/* symcall: the guest side of one SymCall (include/symbiont/abi/symcall.h),
 * with no Linux, so that both engines can be tested (tests/e2e/symcall_engines.sh).
 *
 * Switches to long mode (1 GiB identity map in 2 MiB pages), checks the
 * SymCall feature bit in symbiont's CPUID leaf (exit 255 without it), times
 * PIO_READS port reads of the doorbell port with the TSC and prints the
 * ticks and the TSC rate in kHz (the port-I/O exit round trip beside which
 * bench/symcall.sh puts the SymCall's), registers a
 * SymCall entry through symbiont's MSRs (RIP, RSP, CS, GS base, then the
 * call area with the enable bit), says so, and runs a loop that keeps two
 * registers in step (RBX counts up, R12 is its complement) and checks them
 * and its stack pointer every turn: a call that did not put the interrupted
 * state back breaks the loop.  The handler answers:
 *   SYM_SYMCALL_NULL (0)   ret args[0] + 1
 *   0x100                  ret the null calls answered so far; the loop
 *                          then says whether it stayed intact and exits
 *                          through the debug-exit port (status 65, or 255)
 *   anything else          status SYM_SYMCALL_ENOSYS
 * then rings the doorbell (32-bit OUT of the call id to port 0x5d0) and
 * spins until the VMM restores the vCPU.  Interrupts stay off throughout. */
#include "guest.h"

#define CODE64 0x08
#define DATA64 0x10 /* CODE64 + 8: SymCall's SS */

#define PIO_READS   20000

#define AREA_ID     8
#define AREA_CALL   12
#define AREA_ARG0   16
#define AREA_STATUS 64
#define AREA_LEN    68
#define AREA_RET    72

	.text
	.code32
main:
	movl $pdpt + 3, pml4
	movl $pd + 3, pdpt
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax                             /* present, writable, 2 MiB */
	mov %eax, pd(, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                             /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax                            /* LME */
	wrmsr
	lgdt gdt64_desc
	mov %cr0, %eax
	or $0x80000000, %eax                       /* PG */
	mov %eax, %cr0
	ljmp $CODE64, $lm_entry

	.code64
lm_entry:
	mov $DATA64, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	lea kstack_top(%rip), %rsp

	mov $0x40000000, %eax                      /* SYM_CPUID_LEAF_SIGNATURE */
	cpuid
	cmp $0x626d7953, %ebx                      /* "Symb" */
	jne no_feature
	mov $0x40000001, %eax                      /* SYM_CPUID_LEAF_INFO */
	cpuid
	test $2, %ecx                              /* SYM_FEAT_SYMCALL */
	jz no_feature

	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, %r14
	mov $PIO_READS, %ecx
	mov $0x5d0, %dx
2:	in %dx, %eax
	dec %ecx
	jnz 2b
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
	sub %r14, %rax
	mov %rax, %r14
	lea msg_pio(%rip), %rsi
	call puts64
	mov %r14, %rax
	call hex64
	lea msg_khz(%rip), %rsi
	call puts64
	mov $0x40000010, %eax                      /* SYM_CPUID_LEAF_TIMING: EAX TSC kHz */
	cpuid
	call hex64
	lea msg_nl(%rip), %rsi
	call puts64

	/* the call area: magic and layout, the guest's to write */
	lea area(%rip), %rsi
	movl $0x4c435953, (%rsi)                   /* SYM_SYMCALL_MAGIC */
	movl $1, 4(%rsi)                           /* SYM_SYMCALL_LAYOUT */
	lea handler(%rip), %rax
	mov $0x53594d10, %ecx                      /* SYM_MSR_SYMCALL_RIP */
	call wrmsr64
	lea hstack_top - 8(%rip), %rax
	mov $0x53594d11, %ecx                      /* _RSP */
	call wrmsr64
	mov $CODE64, %eax
	mov $0x53594d12, %ecx                      /* _CS */
	call wrmsr64
	xor %eax, %eax
	mov $0x53594d13, %ecx                      /* _GS */
	call wrmsr64
	lea area(%rip), %rax
	or $1, %rax                                /* SYM_SYMCALL_ENABLE */
	mov $0x53594d14, %ecx                      /* _AREA: last, turns calls on */
	call wrmsr64
	lea msg_ready(%rip), %rsi
	call puts64

	xor %ebx, %ebx
	mov $-1, %r12
	mov %rsp, %r13
loop:
	cmpb $0, quit(%rip)
	jne done
	inc %rbx
	dec %r12
	mov %rbx, %rax
	not %rax
	cmp %rax, %r12
	jne broken
	cmp %rsp, %r13
	jne broken
	jmp loop
done:
	lea msg_intact(%rip), %rsi
	call puts64
	mov $EXIT_OK, %eax
	out %eax, $EXIT_PORT
	jmp .
broken:
	lea msg_broken(%rip), %rsi
	call puts64
	mov $EXIT_FAIL, %eax
	out %eax, $EXIT_PORT
	jmp .

no_feature:
	lea msg_nofeat(%rip), %rsi
	call puts64
	mov $EXIT_FAIL, %eax
	out %eax, $EXIT_PORT
	jmp .

/* RAX as 16 hex digits to COM1; clobbers RAX, RCX, RDX, R8 */
hex64:
	mov %rax, %r8
	mov $16, %ecx
1:	rol $4, %r8
	mov %r8, %rax
	and $0xf, %eax
	lea hexdig(%rip), %rdx
	mov (%rdx, %rax), %al
	mov $COM1, %dx
	out %al, %dx
	dec %ecx
	jnz 1b
	ret

/* ECX = RAX */
wrmsr64:
	mov %rax, %rdx
	shr $32, %rdx
	wrmsr
	ret

/* RSI: a NUL-terminated string to COM1 */
puts64:
	mov $COM1, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	ret

/* Entered by the VMM: CPL 0, interrupts off, on hstack. */
handler:
	lea area(%rip), %rsi
	movl $0, AREA_LEN(%rsi)
	movl $0, AREA_STATUS(%rsi)
	mov AREA_CALL(%rsi), %eax
	test %eax, %eax
	jnz 1f
	mov AREA_ARG0(%rsi), %rax
	inc %rax
	mov %rax, AREA_RET(%rsi)
	incq calls(%rip)
	jmp ring
1:	cmp $0x100, %eax
	jne 2f
	mov calls(%rip), %rax
	mov %rax, AREA_RET(%rsi)
	movb $1, quit(%rip)
	jmp ring
2:	movl $1, AREA_STATUS(%rsi)                 /* SYM_SYMCALL_ENOSYS */
ring:
	mov AREA_ID(%rsi), %eax
	mov $0x5d0, %dx                            /* SYM_PORT_DOORBELL */
	out %eax, %dx
3:	pause
	jmp 3b

	.data
	.align 8
gdt64:
	.quad 0
	.quad 0x00af9a000000ffff                   /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff                   /* 0x10: data */
gdt64_desc:
	.word gdt64_desc - gdt64 - 1
	.long gdt64
calls:	.quad 0
quit:	.byte 0
msg_ready:	.asciz "symcall entry registered\n"
msg_pio:	.asciz "pio 20000 reads: ticks "
msg_khz:	.asciz " tsc_khz "
msg_nl:	.asciz "\n"
msg_nofeat:	.asciz "no SymCall feature in symbiont's CPUID leaf\n"
hexdig:	.ascii "0123456789abcdef"
msg_intact:	.asciz "loop intact after the calls\n"
msg_broken:	.asciz "loop broken: a call changed the interrupted state\n"

	.bss
	.align 65536
area:	.space 65536
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096
	.align 16
	.space 4096
kstack_top:
	.space 4096
hstack_top:
