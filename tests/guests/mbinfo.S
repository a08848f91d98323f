/* mbinfo: what the multiboot loader handed over.
 * Prints the command line, whether the memory sizes are plausible, the module count, module 0's
 * size, page alignment and contents (up to 256 bytes), and checks that the
 * memory map has a RAM entry covering the kernel at 1 MiB. */
#include "guest.h"

#define MOD_MAX_PRINT 256

main:
	mov mbi, %ebx

	testl $MBI_F_CMDLINE, MBI_FLAGS(%ebx)
	jz 1f
	mov $m_cmdline, %esi
	call puts
	mov MBI_CMDLINE(%ebx), %esi
	call puts
	call newline

1:	/* Exact sizes depend on the board's reserved areas; check they are
	 * plausible for a 64 MiB guest instead. */
	mov $m_mem, %esi
	call puts
	mov $m_no, %esi
	testl $MBI_F_MEM, MBI_FLAGS(%ebx)
	jz 2f
	mov MBI_MEM_LOWER(%ebx), %eax
	cmp $512, %eax
	jb 2f
	cmp $640, %eax
	ja 2f
	cmpl $32768, MBI_MEM_UPPER(%ebx)
	jb 2f
	mov $m_yes, %esi
2:	call puts

	mov $m_mods, %esi
	call puts
	xor %eax, %eax
	testl $MBI_F_MODS, MBI_FLAGS(%ebx)
	jz 3f
	mov MBI_MODS_COUNT(%ebx), %eax
3:	call dec
	call newline
	test %eax, %eax
	jz 5f

	mov MBI_MODS_ADDR(%ebx), %edi
	mov (%edi), %esi      /* mod_start */
	mov 4(%edi), %ecx     /* mod_end */
	sub %esi, %ecx
	mov $m_size, %esi
	call puts
	mov %ecx, %eax
	call dec
	mov $m_aligned, %esi
	call puts
	mov (%edi), %eax
	mov $m_yes, %esi
	test $0xfff, %eax
	jz 4f
	mov $m_no, %esi
4:	call puts
	mov $m_data, %esi
	call puts
	mov (%edi), %esi
	cmp $MOD_MAX_PRINT, %ecx
	jbe 6f
	mov $MOD_MAX_PRINT, %ecx
6:	call putn
	mov $m_end, %esi
	call puts

5:	mov $m_mmap, %esi
	call puts
	mov $m_no, %esi
	testl $MBI_F_MMAP, MBI_FLAGS(%ebx)
	jz 9f
	/* entries: size(4) base(8) len(8) type(4); size excludes itself */
	mov MBI_MMAP_ADDR(%ebx), %edi
	mov MBI_MMAP_LENGTH(%ebx), %ecx
	add %edi, %ecx
7:	cmp %ecx, %edi
	jae 9f
	cmpl $1, 20(%edi)     /* type RAM */
	jne 8f
	cmpl $0, 8(%edi)      /* base high */
	jne 8f
	cmpl $0x100000, 4(%edi)
	ja 8f
	mov 4(%edi), %eax     /* base + len > 1 MiB + 64 KiB */
	add 12(%edi), %eax
	cmp $0x110000, %eax
	jb 8f
	mov $m_yes, %esi
	jmp 9f
8:	add (%edi), %edi
	add $4, %edi
	jmp 7b
9:	call puts

	mov $EXIT_OK, %eax
	ret

	.section .rodata
m_cmdline: .asciz "cmdline: "
m_mem: .asciz "mem: lower 512..640 KiB, upper >= 32 MiB: "
m_mods: .asciz "modules: "
m_size: .asciz "module 0: "
m_aligned: .asciz " bytes, page-aligned: "
m_yes: .asciz "yes\n"
m_no: .asciz "no\n"
m_data: .asciz "--- module 0 ---\n"
m_end: .asciz "--- end ---\n"
m_mmap: .asciz "mmap covers kernel: "
