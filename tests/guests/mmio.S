/* mmio: memory-mapped registers.
 *   IOAPIC version register through IOREGSEL/IOWIN (in-kernel on KVM),
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
	mov IOAPIC + IOWIN, %eax
	mov $m_ver, %esi
	call show32

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
m_ver: .asciz "ioapic ver="
m_redir: .asciz "ioapic redir5.lo="
m_hole: .asciz "pci hole="
m_hole16: .asciz "pci hole word="
