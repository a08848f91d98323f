/* pio: port I/O to the board's devices, printed in a fixed form.
 *   CMOS: status registers A (without the update-in-progress bit), B, D,
 *         and an NVRAM byte written then read back
 *   PIC:  interrupt mask registers written then read back (in-kernel on KVM)
 *   PCI:  0xcf8 read back, host bridge vendor/device, an empty slot
 *   an unclaimed port reads all ones
 *   string I/O: rep outsb of a message to COM1 */
#include "guest.h"

/* AL = CMOS register index -> AL = value */
cmos_read:
	out %al, $0x70
	in $0x71, %al
	ret

/* print "NAME=" (ESI), then AL in hex and a newline */
show8:
	call puts
	call hex8
	jmp newline

show32:
	call puts
	call hex32
	jmp newline

main:
	mov $0x0a, %al
	call cmos_read
	and $0x7f, %al
	mov $m_rtc_a, %esi
	call show8
	mov $0x0b, %al
	call cmos_read
	mov $m_rtc_b, %esi
	call show8
	mov $0x0d, %al
	call cmos_read
	mov $m_rtc_d, %esi
	call show8
	mov $0x40, %al
	out %al, $0x70
	mov $0x5a, %al
	out %al, $0x71
	mov $0x41, %al
	out %al, $0x70
	mov $0xc3, %al
	out %al, $0x71
	mov $0x40, %al
	call cmos_read
	mov $m_nvram40, %esi
	call show8
	mov $0x41, %al
	call cmos_read
	mov $m_nvram41, %esi
	call show8

	mov $0xa5, %al
	out %al, $0x21
	mov $0x3c, %al
	out %al, $0xa1
	in $0x21, %al
	mov $m_pic1, %esi
	call show8
	in $0xa1, %al
	mov $m_pic2, %esi
	call show8

	mov $0xcf8, %dx
	mov $0x80000000, %eax
	out %eax, %dx
	in %dx, %eax
	mov $m_cf8, %esi
	call show32
	mov $0xcfc, %dx
	in %dx, %eax
	mov $m_host, %esi
	call show32
	mov $0xcf8, %dx
	mov $0x8000f800, %eax /* bus 0, device 31 */
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %eax
	mov $m_empty, %esi
	call show32

	mov $0x2e0, %dx
	in %dx, %al
	mov $m_unclaimed, %esi
	call show8

	mov $m_string, %esi
	mov $m_string_end - m_string, %ecx
	mov $COM1, %dx
	rep outsb

	mov $EXIT_OK, %eax
	ret

	.section .rodata
m_rtc_a: .asciz "cmos[0a]&7f="
m_rtc_b: .asciz "cmos[0b]="
m_rtc_d: .asciz "cmos[0d]="
m_nvram40: .asciz "cmos[40]="
m_nvram41: .asciz "cmos[41]="
m_pic1: .asciz "pic1 imr="
m_pic2: .asciz "pic2 imr="
m_cf8: .asciz "pci cf8="
m_host: .asciz "pci 00:00.0 id="
m_empty: .asciz "pci 00:1f.0 id="
m_unclaimed: .asciz "port 2e0="
m_string: .ascii "rep outsb ok\n"
m_string_end:
