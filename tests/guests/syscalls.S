/* syscalls: a user program making SYSCALLs into a kernel of its own, with
 * no Linux, so that syscall interception can be tested and measured on
 * both engines (tests/e2e/gears_engines.sh, bench/gears_engines.sh).
 *
 * The kernel switches to long mode (1 GiB identity map in 2 MiB pages, user
 * accessible), points LSTAR at its entry, prints the TSC rate from
 * symbiont's CPUID leaf ("tsc_khz N") and drops to ring 3 with SYSRETQ.
 * Its entry does what Linux's does where an interceptor looks: SWAPGS, its
 * own stack, and back with SWAPGS; SYSRETQ.  It knows four calls:
 *   1   write(fd, buf, len)  buf's bytes to COM1; returns len
 *   39  getpid()             42
 *   110 getppid()            7 (the timed batch)
 *   60  exit(status)         the debug-exit port (status (s<<1)|1)
 * anything else returns -ENOSYS (-38).
 *
 * The user program runs rounds forever, each: BATCH getppid calls timed
 * with RDTSC, one getpid, then one write of
 *   "round RRRRRRRR getpid GGGGGGGGGGGGGGGG ticks/call TTTTTTTT\n"
 * (hex), then waits about 20 ms of TSC.  A denied getpid shows as
 * ffffffffffffffff (-EPERM).  Interrupts stay off throughout; the test
 * ends the VM with `ctl quit`.
 *
 * With "ring0" on the command line the program runs in ring 0 and the
 * kernel returns to it with POPFQ; JMP instead of SYSRETQ: for a KVM that
 * cannot run a ring-3 SYSCALL of this guest (kvm_pvm), where the kvm
 * engine's entry point still fires (bench/gears_engines.sh).  emu reports
 * only SYSCALLs from ring 3, so this mode is for kvm alone. */
#include "guest.h"

#define CODE64  0x08
#define DATA64  0x10
#define USER_BASE 0x18 /* STAR[63:48]: SYSRET loads CS 0x2b, SS 0x23 */

#define BATCH    1000
#define DELAY_MS 20

	.text
	.code32
main:
	mov mbi, %ebx                              /* "ring0" on the command line? */
	testl $MBI_F_CMDLINE, MBI_FLAGS(%ebx)
	jz 3f
	mov MBI_CMDLINE(%ebx), %esi
1:	cmpb $0, (%esi)
	je 3f
	cmpl $0x676e6972, (%esi)                   /* "ring" */
	jne 2f
	cmpb $'0', 4(%esi)
	jne 2f
	movb $1, ring0
	jmp 3f
2:	inc %esi
	jmp 1b
3:
	movl $pdpt + 7, pml4
	movl $pd + 7, pdpt
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x87, %eax                             /* present, writable, user, 2 MiB */
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
	or $0x101, %eax                            /* LME, SCE */
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

	xor %eax, %eax
	mov $USER_BASE << 16 | CODE64, %edx       /* STAR: SYSRET base, SYSCALL CS */
	mov $0xc0000081, %ecx
	wrmsr
	lea syscall_entry(%rip), %rax
	mov %rax, %rdx
	shr $32, %rdx
	mov $0xc0000082, %ecx                      /* LSTAR */
	wrmsr
	mov $0x4700, %eax                          /* SFMASK: TF IF DF NT */
	xor %edx, %edx
	mov $0xc0000084, %ecx
	wrmsr

	mov $0x40000010, %eax                      /* SYM_CPUID_LEAF_TIMING: EAX TSC kHz */
	cpuid
	mov %eax, %eax
	mov %rax, tsc_khz(%rip)
	lea msg_khz(%rip), %rsi
	call kputs
	mov tsc_khz(%rip), %rax
	lea numbuf(%rip), %rdi
	mov $8, %ecx
	call hex_to_buf
	movb $0, (%rdi)
	lea numbuf(%rip), %rsi
	call kputs
	lea msg_nl(%rip), %rsi
	call kputs

	lea user_main(%rip), %rcx
	mov $0x2, %r11d                            /* RFLAGS: interrupts off */
	lea ustack_top(%rip), %rsp
	cmpb $0, ring0(%rip)
	jne user_main                              /* the caller stays in ring 0 */
	sysretq

/* RSI: a NUL-terminated string to COM1 (kernel) */
kputs:
	mov $COM1, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	ret

/* RAX's low 4*RCX bits as RCX hex digits at RDI (advanced); clobbers RAX, RCX, RDX, R8 */
hex_to_buf:
	mov %rax, %r8
	mov %ecx, %eax
	shl $2, %eax
	neg %eax
	add $64, %eax
	xchg %eax, %ecx
	shl %cl, %r8                               /* the wanted digits to the top */
	mov %eax, %ecx
1:	rol $4, %r8
	mov %r8, %rax
	and $0xf, %eax
	lea hexdig(%rip), %rdx
	mov (%rdx, %rax), %al
	mov %al, (%rdi)
	inc %rdi
	dec %ecx
	jnz 1b
	ret

/* LSTAR.  RCX, R11: the user's RIP and RFLAGS; RSP still the user's. */
	.align 16
syscall_entry:
	swapgs
	mov %rsp, user_rsp(%rip)
	lea kstack_top(%rip), %rsp
	push %rcx
	push %r11
	cmp $110, %rax
	je sys_getppid
	cmp $39, %rax
	je sys_getpid
	cmp $1, %rax
	je sys_write
	cmp $60, %rax
	je sys_exit
	mov $-38, %rax                             /* -ENOSYS */
sys_return:
	pop %r11
	pop %rcx
	mov user_rsp(%rip), %rsp
	swapgs
	cmpb $0, ring0(%rip)
	jne 1f
	sysretq
1:	push %r11                                  /* a ring-0 caller: back without SYSRET */
	popfq
	jmp *%rcx

sys_getppid:
	mov $7, %eax
	jmp sys_return
sys_getpid:
	mov $42, %eax
	jmp sys_return
sys_write:
	mov %rdx, %rcx
	mov %rdx, %r9
	mov $COM1, %dx
	jrcxz 2f
1:	lodsb
	out %al, %dx
	loop 1b
2:	mov %r9, %rax
	jmp sys_return
sys_exit:
	mov %edi, %eax
	out %eax, $EXIT_PORT
	jmp .

/* ---- ring 3 ---------------------------------------------------------------- */

/* RDX:RAX = TSC as RAX */
#define RDTSC64 rdtsc; shl $32, %rdx; or %rdx, %rax

user_main:
	xor %r15d, %r15d                           /* the round */
round:
	inc %r15
	RDTSC64
	mov %rax, %r14
	mov $BATCH, %r13d
1:	mov $110, %eax                             /* getppid */
	syscall
	dec %r13d
	jnz 1b
	RDTSC64
	sub %r14, %rax
	xor %edx, %edx
	mov $BATCH, %ecx
	div %rcx
	mov %rax, %r12                             /* ticks per call */
	mov $39, %eax                              /* getpid */
	syscall
	mov %rax, %rbx

	lea linebuf(%rip), %rdi
	lea msg_round(%rip), %rsi
	call ucopy
	mov %r15, %rax
	mov $8, %ecx
	call hex_to_buf
	lea msg_getpid(%rip), %rsi
	call ucopy
	mov %rbx, %rax
	mov $16, %ecx
	call hex_to_buf
	lea msg_ticks(%rip), %rsi
	call ucopy
	mov %r12, %rax
	mov $8, %ecx
	call hex_to_buf
	movb $'\n', (%rdi)
	inc %rdi
	lea linebuf(%rip), %rsi
	mov %rdi, %rdx
	sub %rsi, %rdx
	mov $1, %edi
	mov $1, %eax                               /* write(1, linebuf, len) */
	syscall

	mov tsc_khz(%rip), %rax                    /* about DELAY_MS of TSC */
	imul $DELAY_MS, %rax
	mov %rax, %r13
	RDTSC64
	add %rax, %r13
2:	pause
	RDTSC64
	cmp %r13, %rax
	jb 2b
	jmp round

/* the string at RSI (without its NUL) to RDI, advanced */
ucopy:
	lodsb
	test %al, %al
	jz 1f
	mov %al, (%rdi)
	inc %rdi
	jmp ucopy
1:	ret

	.data
	.align 8
gdt64:
	.quad 0
	.quad 0x00af9a000000ffff                   /* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff                   /* 0x10: data, DPL 0 */
	.quad 0x00cffa000000ffff                   /* 0x18: 32-bit code, DPL 3 (unused) */
	.quad 0x00cff2000000ffff                   /* 0x20: data, DPL 3 */
	.quad 0x00affa000000ffff                   /* 0x28: 64-bit code, DPL 3 */
gdt64_desc:
	.word gdt64_desc - gdt64 - 1
	.long gdt64
tsc_khz:	.quad 0
ring0:	.byte 0
user_rsp:	.quad 0
msg_khz:	.asciz "tsc_khz "
msg_nl:	.asciz "\n"
msg_round:	.asciz "round "
msg_getpid:	.asciz " getpid "
msg_ticks:	.asciz " ticks/call "
hexdig:	.ascii "0123456789abcdef"

	.bss
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096
numbuf:	.space 32
linebuf:	.space 128
	.align 16
	.space 4096
kstack_top:
	.space 4096
ustack_top:
