#!/usr/bin/env bash
# The system-side test guests (tests/guests/sys_*.S) under `symbiont run
# --engine emu`, against the expected text and against QEMU's TCG running
# the same kernel with its own multiboot loader; the other multiboot test
# guests (hello, pio, mmio, pit_irq, mbinfo, smp, ipi (IPIs among 3 CPUs), and low_hello, hello linked
# at 64 KiB, below 1 MiB) on the emu engine must print exactly what QEMU prints.  Where /dev/kvm is usable (and is not
# kvm_pvm, which cannot run CPL3 port I/O or some APIC accesses of these
# guests) the sys guests also run on --engine kvm.
#
# Allowed differences, each checked against its own expectation:
# - QEMU's TCG does not offer the TSC-deadline timer (CPUID.1:ECX[24]);
# - an unclaimed address in the PCI hole reads all ones on symbiont (as on
#   real hardware) but zero on QEMU;
# - QEMU, like GRUB, starts the multiboot command line with the kernel path;
# - a triple fault ends symbiont with status 1 and "guest triple fault" on
#   stderr; QEMU with -no-reboot just stops, so it is not compared there.
set -u
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
GUESTS=$BUILD/tests/guests
SYS="sys_lm sys_pm32 sys_apic sys_triple"
OTHER="hello pio mmio pit_irq mbinfo smp ipi low_hello"

skip() { echo "$1"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (scripts/deps.sh)"
[ -x "$SYM" ] || { echo "FAIL: $SYM missing (make BUILD=$BUILD)"; exit 1; }
for g in $SYS $OTHER; do
	[ -e "$GUESTS/$g.elf" ] || make -s BUILD="$BUILD" "$GUESTS/$g.elf" >/dev/null || {
		echo "FAIL: cannot build $GUESTS/$g.elf"; exit 1; }
done

. "$(dirname "$0")/lib/multiboot.bash"
mb_init

# expect NAME SIDE STATUS WANTFILE: SIDE's output and status must match.
expect() {
	local name=$1 side=$2 status=$3 want=$4
	if ! cmp -s "$want" "$tmp/$name.$side"; then
		echo "FAIL $name ($side): output differs from the expected text:"
		diff "$want" "$tmp/$name.$side" | head -20
		sed 's/^/  stderr: /' "$tmp/$name.$side.err" | head -5
		return 1
	fi
	if [ "$(cat "$tmp/$name.$side.rc")" != "$status" ]; then
		echo "FAIL $name ($side): exit status $(cat "$tmp/$name.$side.rc"), want $status"
		sed 's/^/  stderr: /' "$tmp/$name.$side.err" | head -5
		return 1
	fi
	return 0
}

result() { if [ "$1" = 0 ]; then echo "ok   $2"; else fails=$((fails + 1)); fi; }

kvm_ok=0
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then
	kvm_ok=1
else
	echo "note: --engine kvm not run (no usable /dev/kvm, or kvm_pvm)"
fi

# ---- sys_lm ----
cat >"$tmp/sys_lm.want" <<'EOT'
long mode: efer=0d01
exception 00 err=0000 cpl=0
exception 06 err=0000 cpl=0
exception 0d err=0000 cpl=0
exception 0d err=1000 cpl=0
exception 0e err=0000 cr2=00200010 cpl=0
exception 0e err=0003 cr2=00201008 cpl=0
exception 0e err=0011 cr2=00203000 cpl=0
supervisor page: 12345678
user: cs=003b ss=0033
syscall: rax=002a rcx ok=1 r11=3000 cs=0018
sysret: rax=0099 cs=003b
exception 0e err=0005 cr2=00202000 cpl=3 on rsp0=1
exception 0e err=0007 cr2=00201000 cpl=3 on rsp0=1
int 0x80: on ist1=1 cpl=3
user: after int 0x80
back in the kernel: cs=0018
exception 08 err=0000 cpl=0 on ist2=1
done
EOT

# ---- sys_pm32 ----
cat >"$tmp/sys_pm32.want" <<'EOT'
user: cpl=3
exception 0d err=0000 cpl=3 on esp0=1
exception 0d err=0000 cpl=3 on esp0=1
int 0x80: from cpl=3 on esp0=1 ss=0010
user: int 0x80 returned eax=5b
exception 0d err=040a cpl=3 on esp0=1
exception 0d err=0010 cpl=3 on esp0=1
back in the kernel: cs=0008
real mode: int 0x30 via ivt=2 flags changed=0000 sp=7000
EOT

# ---- sys_apic ----
cat >"$tmp/sys_apic.want" <<'EOT'
oneshot: irqs=1 ccr zero=1 isr in handler=1 isr after eoi=0
periodic: irqs>=5: 1 counting=1
tsc-deadline: irqs=1 msr cleared=1
self ipi: delivered=1 held in irr=1 after tpr=0: 2
pit via lint0: irqs>=3: 1
EOT
sed 's/^tsc-deadline: .*/tsc-deadline: not advertised/' "$tmp/sys_apic.want" >"$tmp/sys_apic.want.qemu"

echo "triple fault next" >"$tmp/sys_triple.want"

for g in sys_lm sys_pm32 sys_apic; do
	run_sym emu "$g" --kernel "$GUESTS/$g.elf"
	run_qemu "$g" -kernel "$GUESTS/$g.elf"
	r=0
	expect "$g" emu 65 "$tmp/$g.want" || r=1
	wq="$tmp/$g.want"
	[ -e "$tmp/$g.want.qemu" ] && wq="$tmp/$g.want.qemu"
	expect "$g" qemu 65 "$wq" || { echo "  (QEMU disagrees: the guest itself is wrong?)"; r=1; }
	if [ $kvm_ok = 1 ]; then
		run_sym kvm "$g" --kernel "$GUESTS/$g.elf"
		expect "$g" kvm 65 "$tmp/$g.want" || r=1
	fi
	result $r "$g"
done

engines=emu
[ $kvm_ok = 1 ] && engines="emu kvm"
for e in $engines; do
	run_sym "$e" sys_triple --kernel "$GUESTS/sys_triple.elf"
	r=0
	expect sys_triple "$e" 1 "$tmp/sys_triple.want" || r=1
	grep -q "guest triple fault" "$tmp/sys_triple.$e.err" || {
		echo "FAIL sys_triple ($e): no 'guest triple fault' on stderr"; r=1; }
	result $r "sys_triple ($e)"
done

# ---- the other guests: emu must print what QEMU prints ----
for g in $OTHER; do
	K=$GUESTS/$g.elf
	args=(--kernel "$K")
	qargs=(-kernel "$K")
	case $g in
	hello | low_hello) args+=(--append "hello-arg=1 two"); qargs+=(-append "hello-arg=1 two") ;;
	mbinfo) args+=(--initrd "$tmp/initrd.txt" --append "console=ttyS0 x=y")
		qargs+=(-initrd "$tmp/initrd.txt" -append "console=ttyS0 x=y") ;;
	smp) args+=(--cpus 4); qargs+=(-smp 4) ;;
	ipi) args+=(--cpus 3); qargs+=(-smp 3) ;;
	esac
	run_sym emu "$g" "${args[@]}"
	run_qemu "$g" "${qargs[@]}"
	sed -i -e "s#^cmdline: $K #cmdline: #" -e "s#^cmdline: $K\$#cmdline: #" "$tmp/$g.qemu"
	sed -e 's/^pci hole=00000000$/pci hole=ffffffff/' -e 's/^pci hole word=0000$/pci hole word=ffff/' \
		"$tmp/$g.qemu" >"$tmp/$g.want"
	r=0
	expect "$g" emu "$(cat "$tmp/$g.qemu.rc")" "$tmp/$g.want" || r=1
	result $r "$g (emu = qemu)"
done

[ $fails -eq 0 ] || { echo "$fails guest(s) failed"; exit 1; }
echo "all system guests pass on the emu engine"
