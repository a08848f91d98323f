/* sys_lm: the switch to long mode and the 64-bit system machinery.
 *
 * Builds 4-level page tables (1 GiB identity map in 2 MiB pages, except
 * 2..4 MiB in 4 KiB pages with a not-present, a read-only, a supervisor and
 * an NX page), enables PAE/LME/NXE/SCE and paging, and in 64-bit mode:
 * exceptions through a 64-bit IDT (#DE, #UD, #GP with and without an error
 * code, #PF with error codes and CR2 for each kind of violation), a
 * privilege switch to CPL3 with IRETQ, SYSCALL/SYSRET round trips, a user
 * page fault taken on the TSS RSP0 stack, INT 0x80 from CPL3 through a DPL3
 * gate on IST1, and a #DF (a #PF whose gate is not present) on IST2.
 * Every line is deterministic; the last action is the debug exit. */
#include "guest.h"

#define KCODE64 0x18
#define KDATA64 0x20
#define UCODE32 0x2b
#define UDATA 0x33
#define UCODE64 0x3b
#define TSS_SEL 0x40

/* The guest is assembled as a 32-bit object: 64-bit code must use
 * RIP-relative addresses (no 64-bit or sign-extended 32-bit relocations). */
.macro SET_RESUME label
	push %rax
	lea \label(%rip), %rax
	mov %rax, resume(%rip)
	pop %rax
.endm

#define PG_P 1
#define PG_W 2
#define PG_U 4
#define PG_PS 0x80

	.text
	.code32
main:
	/* PML4[0] → PDPT, PDPT[0] → PD, PD[i] = 2 MiB pages, PD[1] → PT */
	movl $pdpt + 7, pml4
	movl $pd + 7, pdpt
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $PG_P | PG_W | PG_U | PG_PS, %eax
	mov %eax, pd(, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	movl $pt + 7, pd + 8
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $12, %eax
	add $0x200000 + 7, %eax
	mov %eax, pt(, %ecx, 8)
	inc %ecx
	cmp $512, %ecx
	jne 2b
	movl $0, pt + 0 * 8                        /* 0x200000 not present */
	movl $0x201000 | PG_P | PG_U, pt + 1 * 8     /* read-only */
	movl $0x202000 | PG_P | PG_W, pt + 2 * 8     /* supervisor only */
	movl $0x80000000, pt + 3 * 8 + 4           /* 0x203000 NX */

	/* TSS descriptor: base tss, limit 103, type 9 (available 64-bit TSS). */
	mov $tss, %eax
	shl $16, %eax
	or $103, %eax
	mov %eax, gdt64 + TSS_SEL
	mov $tss, %eax
	mov %eax, %edx
	shr $16, %eax
	and $0xff, %eax
	and $0xff000000, %edx
	or %edx, %eax
	or $0x8900, %eax
	mov %eax, gdt64 + TSS_SEL + 4
	movl $kstack0_top, tss + 4                 /* RSP0 */
	movl $ist1_top, tss + 0x24                 /* IST1 */
	movl $ist2_top, tss + 0x2c                 /* IST2 */
	movw $104, tss + 0x66                      /* no I/O bitmap */

	mov $pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax                             /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x901, %eax                            /* SCE, LME, NXE */
	wrmsr
	lgdt gdt64_desc
	mov %cr0, %eax
	or $0x80010000, %eax                       /* PG, WP */
	mov %eax, %cr0
	ljmp $KCODE64, $lm_entry

	.code64
lm_entry:
	mov $KDATA64, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	lea kstack_top(%rip), %rsp
	lea msg_lm(%rip), %rsi
	call puts64
	mov $0xc0000080, %ecx
	rdmsr
	mov $4, %ecx
	call hexn64
	call nl64

	mov $TSS_SEL, %ax
	ltr %ax
	/* IDT: exceptions on the current stack, INT 0x80 (DPL3) on IST1,
	 * #DF on IST2. */
	xor %ebx, %ebx
3:	mov %ebx, %edi
	lea stubs(%rip), %rsi
	mov (%rsi, %rbx, 8), %rsi
	xor %edx, %edx
	mov $0x8e, %ecx
	call set_gate
	inc %ebx
	cmp $20, %ebx
	jne 3b
	mov $8, %edi
	lea stub8(%rip), %rsi
	mov $2, %edx
	mov $0x8e, %ecx
	call set_gate
	mov $0x80, %edi
	lea int80(%rip), %rsi
	mov $1, %edx
	mov $0xee, %ecx
	call set_gate
	lidt idt_desc(%rip)

	/* #DE */
	SET_RESUME r_de
	xor %ecx, %ecx
	mov $1, %eax
	div %ecx
r_de:
	/* #UD */
	SET_RESUME r_ud
	ud2
r_ud:
	/* #GP(0): non-canonical address */
	SET_RESUME r_gp1
	movabs $0x8000000000000000, %rax
	mov (%rax), %rbx
r_gp1:
	/* #GP(selector): beyond the GDT limit */
	SET_RESUME r_gp2
	mov $0x1000, %ax
	mov %ax, %ds
r_gp2:
	/* #PF: not present read */
	SET_RESUME r_pf1
	mov 0x200010, %rax
r_pf1:
	/* #PF: supervisor write to a read-only page with CR0.WP */
	SET_RESUME r_pf2
	movl $1, 0x201008
r_pf2:
	/* #PF: NX fetch */
	SET_RESUME r_pf3
	mov $0x203000, %eax
	jmp *%rax
r_pf3:
	/* a write to the supervisor page works for the kernel */
	movl $0x12345678, 0x202000
	mov 0x202000, %eax
	lea msg_sup(%rip), %rsi
	call puts64
	mov $8, %ecx
	call hexn64
	call nl64

	/* SYSCALL MSRs: kernel CS 0x18/SS 0x20, user base 0x28. */
	mov $0xc0000081, %ecx
	xor %eax, %eax
	mov $0x00280018, %edx
	wrmsr
	mov $0xc0000082, %ecx
	lea syscall_entry(%rip), %rax
	xor %edx, %edx
	wrmsr
	mov $0xc0000084, %ecx
	mov $0x700, %eax                           /* clear TF, IF, DF */
	wrmsr

	/* Into CPL3 with IOPL 3 (the user part prints). */
	mov %rsp, kernel_rsp(%rip)
	push $UDATA
	lea ustack_top(%rip), %rax
	push %rax
	push $0x3002
	push $UCODE64
	lea user(%rip), %rax
	push %rax
	iretq

/* ---- CPL3 ---- */
user:
	mov %cs, %eax
	lea msg_user(%rip), %rsi
	call puts64
	mov $4, %ecx
	call hexn64
	mov %ss, %eax
	lea msg_ss(%rip), %rsi
	call puts64
	call hexn64
	call nl64
	mov $42, %eax
	syscall
user_sysret:
	lea msg_back(%rip), %rsi
	call puts64
	mov $4, %ecx
	call hexn64
	mov %cs, %eax
	lea msg_cs(%rip), %rsi
	call puts64
	call hexn64
	call nl64
	/* user read of a supervisor page */
	SET_RESUME r_upf1
	mov 0x202000, %rax
r_upf1:
	/* user write to a read-only page */
	SET_RESUME r_upf2
	movl $1, 0x201000
r_upf2:
	int $0x80
	lea msg_after80(%rip), %rsi
	call puts64
	mov $60, %eax
	syscall
	jmp .

/* ---- CPL0 entry points ---- */
syscall_entry:
	cmp $60, %eax
	je sys_exit
	lea user_sysret(%rip), %r10
	cmp %r10, %rcx
	sete %r10b
	movzbl %r10b, %r10d
	push %rax
	lea msg_sys(%rip), %rsi
	call puts64
	mov $4, %ecx
	call hexn64
	lea msg_rcx(%rip), %rsi
	call puts64
	mov %r10, %rax
	mov $1, %ecx
	call hexn64
	lea msg_r11(%rip), %rsi
	call puts64
	mov %r11, %rax
	and $0xff00, %eax                          /* IOPL/IF/DF/TF: not the arithmetic flags */
	mov $4, %ecx
	call hexn64
	mov %cs, %eax
	lea msg_cs(%rip), %rsi
	call puts64
	call hexn64
	call nl64
	pop %rax
	lea user_sysret(%rip), %rcx
	mov $0x3002, %r11
	mov $0x99, %eax
	sysretq

sys_exit:
	mov kernel_rsp(%rip), %rsp
	mov $KDATA64, %ax
	mov %ax, %ss
	lea msg_exit(%rip), %rsi
	call puts64
	mov %cs, %eax
	mov $4, %ecx
	call hexn64
	call nl64

	/* #DF: the #PF gate is not present, so delivering #PF raises #NP,
	 * a contributory fault during a page fault. */
	movb $0x0e, idt + 14 * 16 + 5(%rip)
	SET_RESUME r_df
	mov 0x200000, %rax
r_df:
	movb $0x8e, idt + 14 * 16 + 5(%rip)
	lea msg_done(%rip), %rsi
	call puts64
	mov $EXIT_OK, %eax
	out %eax, $EXIT_PORT
	jmp .

int80:
	push %rax
	push %rsi
	push %rcx
	lea msg_int80(%rip), %rsi
	call puts64
	lea ist1_top - 64(%rip), %rax              /* 5 frame qwords + 3 pushes */
	cmp %rax, %rsp
	sete %al
	movzbl %al, %eax
	mov $1, %ecx
	call hexn64
	lea msg_cpl(%rip), %rsi
	call puts64
	mov 32(%rsp), %rax
	and $3, %eax
	call hexn64
	call nl64
	pop %rcx
	pop %rsi
	pop %rax
	iretq

/* Exception stubs: [vector, error] then common. */
.macro STUB v, err
stub\v:
	.if \err == 0
	push $0
	.endif
	push $\v
	jmp exc_common
.endm
	STUB 0, 0
	STUB 1, 0
	STUB 2, 0
	STUB 3, 0
	STUB 4, 0
	STUB 5, 0
	STUB 6, 0
	STUB 7, 0
	STUB 8, 1
	STUB 9, 0
	STUB 10, 1
	STUB 11, 1
	STUB 12, 1
	STUB 13, 1
	STUB 14, 1
	STUB 15, 0
	STUB 16, 0
	STUB 17, 1
	STUB 18, 0
	STUB 19, 0

/* Stack: 9 saved registers, vector, error, RIP, CS, RFLAGS, RSP, SS. */
exc_common:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	lea msg_exc(%rip), %rsi
	call puts64
	mov 72(%rsp), %rax
	mov $2, %ecx
	call hexn64
	lea msg_err(%rip), %rsi
	call puts64
	mov 80(%rsp), %rax
	mov $4, %ecx
	call hexn64
	cmpq $14, 72(%rsp)
	jne 1f
	lea msg_cr2(%rip), %rsi
	call puts64
	mov %cr2, %rax
	mov $8, %ecx
	call hexn64
1:	lea msg_cpl(%rip), %rsi
	call puts64
	mov 96(%rsp), %rax
	and $3, %eax
	mov $1, %ecx
	call hexn64
	testb $3, 96(%rsp)
	jz 2f
	lea msg_rsp0(%rip), %rsi                   /* from CPL3: on the RSP0 stack? */
	call puts64
	lea 128(%rsp), %rax
	lea kstack0_top(%rip), %rdx
	cmp %rdx, %rax
	sete %al
	movzbl %al, %eax
	call hexn64
2:	cmpq $8, 72(%rsp)
	jne 3f
	lea msg_ist2(%rip), %rsi                   /* #DF: on the IST2 stack? */
	call puts64
	lea 128(%rsp), %rax
	lea ist2_top(%rip), %rdx
	cmp %rdx, %rax
	sete %al
	movzbl %al, %eax
	call hexn64
3:	call nl64
	mov resume(%rip), %rax
	test %rax, %rax
	jz unexpected
	mov %rax, 88(%rsp)
	movq $0, resume(%rip)
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	add $16, %rsp
	iretq
unexpected:
	lea msg_unexp(%rip), %rsi
	call puts64
	mov $EXIT_FAIL, %eax
	out %eax, $EXIT_PORT
	jmp .

/* set_gate: EDI vector, RSI handler, EDX IST, ECX type byte. */
set_gate:
	mov %edi, %eax
	shl $4, %eax
	lea idt(%rip), %r8
	add %rax, %r8
	mov %rsi, %rax
	mov %ax, (%r8)
	movw $KCODE64, 2(%r8)
	mov %dl, 4(%r8)
	mov %cl, 5(%r8)
	shr $16, %rax
	mov %ax, 6(%r8)
	shr $16, %rax
	mov %eax, 8(%r8)
	movl $0, 12(%r8)
	ret

/* 64-bit output helpers (the 32-bit ones in guest.h use encodings that
 * mean REX prefixes here). */
putc64:
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

puts64:
	push %rsi
	push %rax
1:	lodsb
	test %al, %al
	jz 2f
	call putc64
	jmp 1b
2:	pop %rax
	pop %rsi
	ret

/* RAX value, ECX digits (1..16). */
hexn64:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	mov %rax, %rdx
	mov %ecx, %ebx
	shl $2, %ecx
	ror %cl, %rdx
1:	rol $4, %rdx
	mov %edx, %eax
	and $0xf, %eax
	lea hexdigits64(%rip), %rcx
	mov (%rcx, %rax), %al
	call putc64
	sub $1, %ebx
	jnz 1b
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	ret

nl64:
	push %rax
	mov $10, %al
	call putc64
	pop %rax
	ret

	.section .rodata
hexdigits64: .ascii "0123456789abcdef"
msg_lm: .asciz "long mode: efer="
msg_sup: .asciz "supervisor page: "
msg_user: .asciz "user: cs="
msg_ss: .asciz " ss="
msg_sys: .asciz "syscall: rax="
msg_rcx: .asciz " rcx ok="
msg_r11: .asciz " r11="
msg_cs: .asciz " cs="
msg_back: .asciz "sysret: rax="
msg_after80: .asciz "user: after int 0x80\n"
msg_exit: .asciz "back in the kernel: cs="
msg_int80: .asciz "int 0x80: on ist1="
msg_exc: .asciz "exception "
msg_err: .asciz " err="
msg_cr2: .asciz " cr2="
msg_cpl: .asciz " cpl="
msg_rsp0: .asciz " on rsp0="
msg_ist2: .asciz " on ist2="
msg_done: .asciz "done\n"
msg_unexp: .asciz "\nunexpected exception\n"

	.align 8
stubs:
	.irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
	.long stub\n, 0
	.endr

	.data
	.align 8
gdt64:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08 code32 */
	.quad 0x00cf92000000ffff /* 0x10 data */
	.quad 0x00af9a000000ffff /* 0x18 code64 */
	.quad 0x00cf92000000ffff /* 0x20 data */
	.quad 0x00cffa000000ffff /* 0x28 code32, DPL3 */
	.quad 0x00cff2000000ffff /* 0x30 data, DPL3 */
	.quad 0x00affa000000ffff /* 0x38 code64, DPL3 */
	.quad 0, 0               /* 0x40 TSS */
gdt64_end:
gdt64_desc:
	.word gdt64_end - gdt64 - 1
	.long gdt64, 0
idt_desc:
	.word 256 * 16 - 1
	.long idt, 0
resume: .quad 0
kernel_rsp: .quad 0

	.bss
	.align 4096
pml4: .skip 4096
pdpt: .skip 4096
pd: .skip 4096
pt: .skip 4096
idt: .skip 4096
tss: .skip 128
	.align 16
kstack: .skip 4096
kstack_top:
kstack0: .skip 4096
kstack0_top:
ist1: .skip 4096
ist1_top:
ist2: .skip 4096
ist2_top:
ustack: .skip 4096
ustack_top:
