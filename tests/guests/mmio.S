/* mmio: memory-mapped registers.
 *   IOAPIC version register through IOREGSEL/IOWIN (in-kernel on KVM):
 *   the number of redirection entries, and whether the version is one of
 *   the two real ones (0x11: 82093AA, KVM's in-kernel chip; 0x20: ICH,
 *   QEMU's and the board's model), so the output is engine-independent,
 *   an IOAPIC redirection entry written and read back,
 *   an unclaimed address in the PCI hole: reads all ones, writes vanish. */
#include "guest.h"

#define IOAPIC 0xfec00000
#define IOREGSEL 0x00
#define IOWIN 0x10
#define HOLE 0xdf000000 /* in the PCI window, above anything the board maps */

show32:
	call puts
	call hex32
	jmp newline

main:
	movl $1, IOAPIC + IOREGSEL
	mov IOAPIC + IOWIN, %ebx
	mov $m_redirs, %esi
	call puts
	mov %ebx, %eax
	shr $16, %eax
	and $0xff, %eax
	inc %eax
	call dec
	call newline
	mov $m_ver, %esi
	call puts
	mov $m_yes, %esi
	cmp $0x11, %bl
	je 1f
	cmp $0x20, %bl
	je 1f
	mov $m_no, %esi
1:	call puts

	/* redirection entry 5, low dword: masked, vector 0x45 */
	movl $0x1a, IOAPIC + IOREGSEL
	movl $0x00010045, IOAPIC + IOWIN
	movl $0x1a, IOAPIC + IOREGSEL
	mov IOAPIC + IOWIN, %eax
	mov $m_redir, %esi
	call show32

	movl $0x12345678, HOLE
	mov HOLE, %eax
	mov $m_hole, %esi
	call show32
	movw HOLE + 0x10, %ax
	mov $m_hole16, %esi
	call puts
	call hex16
	call newline

	mov $EXIT_OK, %eax
	ret

	.section .rodata
m_redirs: .asciz "ioapic redirection entries: "
m_ver: .asciz "ioapic version 0x11 or 0x20: "
m_yes: .asciz "yes\n"
m_no: .asciz "no\n"
m_redir: .asciz "ioapic redir5.lo="
m_hole: .asciz "pci hole="
m_hole16: .asciz "pci hole word="
