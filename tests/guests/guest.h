/* Shared start-up and helpers of the multiboot test guests (included first
 * by every tests/guests/*.S).
 *
 * Provides: the multiboot v1 header; _start, which loads a flat GDT (the
 * loader's GDTR may be anything), a stack, saves the MBI pointer in `mbi`
 * and calls the guest's `main`; main's EAX goes to the debug-exit port
 * (status (EAX<<1)|1).  Helpers, all preserving every register but EAX
 * where noted:
 *   putc   AL           one byte to COM1, polling LSR.THRE
 *   puts   ESI          NUL-terminated string
 *   putn   ESI, ECX     ECX bytes
 *   hex8/hex16/hex32 EAX  two/four/eight hex digits
 *   dec    EAX          unsigned decimal
 *   exit   EAX          debug-exit; never returns
 * Output must be deterministic: the end-to-end test compares it byte for
 * byte between symbiont and QEMU. */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* modules page-aligned, memory info */
#define MB_BOOT_MAGIC 0x2BADB002

/* multiboot_info offsets */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_F_MEM (1 << 0)
#define MBI_F_CMDLINE (1 << 2)
#define MBI_F_MODS (1 << 3)
#define MBI_F_MMAP (1 << 6)

#define COM1 0x3f8
#define EXIT_PORT 0xf4
#define EXIT_OK 0x20   /* process status 65 */
#define EXIT_FAIL 0x7f /* process status 255 */

#define KCODE 0x08
#define KDATA 0x10

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	mov %ebx, mbi
	mov %eax, boot_magic
	lgdt gdt_desc
	ljmp $KCODE, $1f
1:	mov $KDATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $stack_top, %esp
	cmpl $MB_BOOT_MAGIC, boot_magic
	je 2f
	mov $msg_bad_magic, %esi
	call puts
	mov $EXIT_FAIL, %eax
	jmp exit
2:	call main
	/* fall through with main's status */
exit:
	out %eax, $EXIT_PORT
	mov $msg_exit_failed, %esi
	call puts
3:	cli
	hlt
	jmp 3b

putc:
	push %edx
	push %eax
	mov $COM1 + 5, %dx
1:	in %dx, %al
	test $0x20, %al
	jz 1b
	pop %eax
	mov $COM1, %dx
	out %al, %dx
	pop %edx
	ret

puts:
	push %esi
	push %eax
1:	lodsb
	test %al, %al
	jz 2f
	call putc
	jmp 1b
2:	pop %eax
	pop %esi
	ret

putn:
	push %esi
	push %ecx
	push %eax
	jecxz 2f
1:	lodsb
	call putc
	loop 1b
2:	pop %eax
	pop %ecx
	pop %esi
	ret

/* ECX = number of hex digits of EAX to print (from the low end). */
hexn:
	push %eax
	push %ebx
	push %ecx
	push %edx
	mov %eax, %edx
	mov %ecx, %ebx
	shl $2, %ecx
	ror %cl, %edx /* the wanted digits now lead */
1:	rol $4, %edx
	mov %edx, %eax
	and $0xf, %eax
	mov hexdigits(%eax), %al
	call putc
	dec %ebx
	jnz 1b
	pop %edx
	pop %ecx
	pop %ebx
	pop %eax
	ret

hex8:
	push %ecx
	mov $2, %ecx
	call hexn
	pop %ecx
	ret
hex16:
	push %ecx
	mov $4, %ecx
	call hexn
	pop %ecx
	ret
hex32:
	push %ecx
	mov $8, %ecx
	call hexn
	pop %ecx
	ret

dec:
	push %eax
	push %ecx
	push %edx
	push %ebx
	mov $10, %ebx
	xor %ecx, %ecx
1:	xor %edx, %edx
	div %ebx
	push %edx
	inc %ecx
	test %eax, %eax
	jnz 1b
2:	pop %eax
	add $48, %al
	call putc
	loop 2b
	pop %ebx
	pop %edx
	pop %ecx
	pop %eax
	ret

newline:
	push %eax
	mov $10, %al
	call putc
	pop %eax
	ret

	.section .rodata
hexdigits: .ascii "0123456789abcdef"
msg_bad_magic: .asciz "bad multiboot magic\n"
msg_exit_failed: .asciz "debug-exit port did not stop the machine\n"

	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: code, flat 4 GiB, 32-bit */
	.quad 0x00cf92000000ffff /* 0x10: data, flat 4 GiB */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.data
	.globl mbi
mbi: .long 0
boot_magic: .long 0

	.bss
	.align 16
stack: .skip 16384
stack_top:

	.text
