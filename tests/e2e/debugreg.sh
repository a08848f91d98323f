#!/usr/bin/env bash
# The guest's own debug registers (tests/guests/debugreg.S: RF pushed by
# a fault, instruction,
# write, read/write and 1-byte data breakpoints, an I/O breakpoint, RF, DR6's B bits, DR7
# clear, single-step through a clearing POPF and past MOV SS) on the emu
# engine and on QEMU's TCG: both must print the expected
# text and exit 65.  On kvm where it can run the guest; kvm_pvm's emulator
# fails on it (skipped, with its message).
set -u
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
G=$BUILD/tests/guests/debugreg.elf
skip() { echo "$1"; exit 77; }
[ -x "$SYM" ] || { echo "FAIL: $SYM missing (make BUILD=$BUILD)"; exit 1; }
[ -e "$G" ] || make -s BUILD="$BUILD" "$G" >/dev/null || { echo "FAIL: cannot build $G"; exit 1; }
. "$(dirname "$0")/lib/multiboot.bash"
mb_init

cat >"$tmp/want" <<'TXT'
RF pushed by a fault: 1
exec breakpoint: eip ok, dr6=1 count=1
exec breakpoint again: eip ok, dr6=1 count=1
write breakpoint: eip ok, dr6=2 count=1
read/write breakpoint: eip ok, dr6=2 count=1
1-byte breakpoint in a dword write: eip ok, dr6=8 count=1
I/O breakpoint: eip ok, dr6=4 count=1
single-step to a POPF clearing TF: eip ok, dr6=0 count=3
  bs=1 bd=0
MOV SS holding a single-step trap: eip ok, dr6=0 count=1
  bs=1 bd=0
dr7 clear: count=0
TXT
# General detect (DR7.GD) and ICEBP are in tests/cpu/test_emu_exec.c
# instead: QEMU's TCG has no general detect, and sends ICEBP to its own
# debugger rather than the guest's #DB handler.
# QEMU's TCG pushes RF = 0 for a fault; the SDM (and so hardware and kvm)
# push 1 for every fault-class exception but an instruction breakpoint's.
sed 's/^RF pushed by a fault: 1$/RF pushed by a fault: 0/' "$tmp/want" >"$tmp/want.qemu"
check() { # SIDE
	local want=$tmp/want
	[ "$1" = qemu ] && want=$tmp/want.qemu
	if ! cmp -s "$want" "$tmp/debugreg.$1" || [ "$(cat "$tmp/debugreg.$1.rc")" != 65 ]; then
		echo "FAIL debugreg ($1): status $(cat "$tmp/debugreg.$1.rc"), output:"
		diff "$want" "$tmp/debugreg.$1" | head -20
		head -3 "$tmp/debugreg.$1.err"
		fails=$((fails + 1))
	else
		echo "ok   debugreg ($1)"
	fi
}
run_sym emu debugreg --kernel "$G"
check emu
if command -v qemu-system-x86_64 >/dev/null; then
	run_qemu debugreg -kernel "$G"
	check qemu
else
	echo "skip: debugreg on QEMU: qemu-system-x86_64 not installed (scripts/deps.sh)"
fi
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	run_sym kvm debugreg --kernel "$G"
	if [ -e /sys/module/kvm_pvm ] && [ "$(cat "$tmp/debugreg.kvm.rc")" != 65 ]; then
		echo "skip: debugreg on kvm: kvm_pvm cannot run it ($(head -1 "$tmp/debugreg.kvm.err"))"
	else
		check kvm
	fi
else
	echo "skip: debugreg on kvm: no accessible /dev/kvm"
fi
[ $fails -eq 0 ]
