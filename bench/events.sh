#!/usr/bin/env bash
# Event hub benchmark: what syscall events cost the guest on emu.  The
# default guest runs a syscall-bound loop (dd with 1-byte blocks from
# /dev/zero to /dev/null: two syscalls per byte, SYSCALLS bytes), timed by
# its own clock, RUNS times each way, alternately:
#   idle       nobody subscribed: the hub's whole cost is one load and test
#              on SYSCALL and SYSRET (the peer the others are measured against)
#   counting   the syscount service subscribed to every entry and exit
# Prints the medians and the ratio to idle.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-3}
SYSCALLS=${SYSCALLS:-100000}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
control_init bench-events

guest_start g "$SYM" run --name "$name" || die "the guest never became ready"
run_once() { # tag -> seconds, from the guest's clock
	local tag=$1
	echo "t0=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=/dev/null bs=1 count=$SYSCALLS 2>/dev/null; t1=\$(cut -d' ' -f1 /proc/uptime); echo RESULT-$tag \$t0 \$t1" >&3
	guest_wait_for g "RESULT-$tag [0-9]" 600 || die "no result for $tag"
	tr -d '\r' <"$tmp/g.out" | sed -n "s/^RESULT-$tag \([0-9.]*\) \([0-9.]*\)$/\1 \2/p" | awk '{printf "%.3f\n", $2 - $1}'
}
idle=() counting=()
for ((i = 0; i < RUNS; i++)); do
	idle+=("$(run_once idle$i)")
	qmp syscount-start >/dev/null || die "syscount-start failed"
	counting+=("$(run_once count$i)")
	qmp syscount-stop >/dev/null || die "syscount-stop failed"
done
echo 'poweroff -f' >&3
guest_finish g 60
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mi=$(median "${idle[@]}") mc=$(median "${counting[@]}")
printf 'syscall loop, %d x (read+write of 1 byte), emu, medians of %d (guest clock)\n' "$SYSCALLS" "$RUNS"
printf '  no subscriber           %8.3f s   (%.2f us per syscall)\n' "$mi" "$(echo "$mi * 500000 / $SYSCALLS" | bc -l)"
printf '  syscount on every call  %8.3f s   %.2fx the time with no subscriber\n' "$mc" "$(echo "$mc / $mi" | bc -l)"
