#!/usr/bin/env bash
# GEARS syscall tracing benchmark: what a trace costs the guest on emu.  The
# default guest runs a syscall-bound loop (dd with 1-byte blocks from
# /dev/zero to /dev/null: a read and a write per byte, SYSCALLS bytes),
# timed by its own clock, RUNS times each way, alternately:
#   none        no trace (the peer the others are measured against)
#   unselected  a trace of openat only, which the loop never calls: the hub's
#               syscall filter keeps the loop's calls away from it
#   filtered    a trace of read,write for a command that does not run
#               (--comm nosuchcmd): each call is intercepted and its task
#               named, then dropped
#   selected    a trace of read,write: each call is intercepted, named,
#               decoded and sent to `symbiont ctl NAME trace` as a line
#   strace      strace -f -o /dev/null inside the guest, the peer of the
#               selected trace: the default guest (busybox) has none, so the
#               bench builds a disk with Debian's strace and the libraries
#               it needs (apt-get download; without them it says so and
#               skips it), mounted in the guest and run through its loader
# Prints the medians, the cost per intercepted syscall, and how many lines
# the selected trace delivered.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-5}
SYSCALLS=${SYSCALLS:-100000}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
control_init bench-gears

# strace and its libraries (Debian's, as this host's apt has them) on a disk
st=$tmp/strace
strace_disk=()
if mkdir -p "$st/root" && (cd "$st" && apt-get download -qq strace libunwind8 liblzma5 libc6 >/dev/null 2>&1) &&
	for d in "$st"/*.deb; do dpkg-deb -x "$d" "$st/root" || exit 1; done &&
	mke2fs -q -F -t ext4 -d "$st/root" "$st/disk.img" 64M >/dev/null 2>&1; then
	strace_disk=(--disk "$st/disk.img")
fi

guest_start g "$SYM" run --name "$name" "${strace_disk[@]}" || die "the guest never became ready"
LOOP="dd if=/dev/zero of=/dev/null bs=1 count=$SYSCALLS 2>/dev/null"
run_once() { # tag [command prefix] -> seconds, from the guest's clock
	local tag=$1 pre=${2:-}
	echo "t0=\$(cut -d' ' -f1 /proc/uptime); $pre $LOOP; t1=\$(cut -d' ' -f1 /proc/uptime); echo RESULT-$tag \$t0 \$t1" >&3
	guest_wait_for g "RESULT-$tag [0-9]" 900 || die "no result for $tag"
	tr -d '\r' <"$tmp/g.out" | sed -n "s/^RESULT-$tag \([0-9.]*\) \([0-9.]*\)$/\1 \2/p" | awk '{printf "%.3f\n", $2 - $1}'
}
traces() { qmp query-gears-traces | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
start_trace() { # out-file args...: a trace client in the background, once it runs
	local out=$1 i
	shift
	"$SYM" ctl "$name" trace "$@" >"$out" 2>&1 &
	tracer=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(traces)" = 1 ] && return 0
		sleep 0.2
	done
	die "the trace did not start: $(cat "$out")"
}
stop_trace() {
	local i
	kill "$tracer"
	wait "$tracer" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[ "$(traces)" = 0 ] && return 0
		sleep 0.2
	done
	die "the trace did not end with its client"
}

STRACE="/st/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /st/lib/x86_64-linux-gnu:/st/usr/lib/x86_64-linux-gnu /st/usr/bin/strace"
if [ ${#strace_disk[@]} -gt 0 ]; then
	echo "mkdir -p /st; mount -o ro /dev/vda /st; $STRACE -V >/dev/null 2>&1 && echo STRACE-YES || echo STRACE-NO" >&3
else
	echo 'echo STRACE-NO' >&3
fi
guest_wait_for g 'STRACE-[YN]' 60 || die "the guest did not answer"
has_strace=$(tr -d '\r' <"$tmp/g.out" | grep -c '^STRACE-YES$')

none=() unselected=() filtered=() selected=() strace=() lines=() lost=()
run_once warmup >/dev/null # the first run pays for faulting dd in
for ((i = 0; i < RUNS; i++)); do
	none+=("$(run_once none$i)")
	start_trace "$tmp/unsel" --syscalls openat
	unselected+=("$(run_once unsel$i)")
	stop_trace
	start_trace "$tmp/filt" --syscalls read,write --comm nosuchcmd
	filtered+=("$(run_once filt$i)")
	stop_trace
	start_trace "$tmp/sel$i" --syscalls read,write
	selected+=("$(run_once sel$i)")
	sleep 2 # let the client print what is still on its way
	stop_trace
	lines+=("$(grep -c ' dd \(read\|write\)(' "$tmp/sel$i")")
	lost+=("$(sed -n 's/^\.\.\. \([0-9]*\) lines lost.*/\1/p' "$tmp/sel$i" | awk '{s+=$1} END {print s+0}')")
	if [ "$has_strace" = 1 ]; then
		strace+=("$(run_once strace$i "$STRACE -f -o /dev/null")")
	fi
done
echo 'poweroff -f' >&3
guest_finish g 60
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mn=$(median "${none[@]}") mu=$(median "${unselected[@]}") mf=$(median "${filtered[@]}") ms=$(median "${selected[@]}")
calls=$((2 * SYSCALLS))
per() { echo "($1 - $mn) * 1000000 / $calls" | bc -l; }
printf 'syscall loop, %d x (read+write of 1 byte), emu, medians of %d (guest clock)\n' "$SYSCALLS" "$RUNS"
printf '  no trace                    %8.3f s   (%.2f us per syscall)\n' "$mn" "$(echo "$mn * 1000000 / $calls" | bc -l)"
printf '  unselected trace (openat)   %8.3f s   %.2fx, %+.3f us per syscall\n' "$mu" "$(echo "$mu / $mn" | bc -l)" "$(per "$mu")"
printf '  selected, filtered out      %8.3f s   %.2fx, %+.3f us per intercepted syscall (intercept + name the task)\n' \
	"$mf" "$(echo "$mf / $mn" | bc -l)" "$(per "$mf")"
printf '  selected (read,write)       %8.3f s   %.2fx, %+.3f us per intercepted syscall (+ decode, send a line)\n' \
	"$ms" "$(echo "$ms / $mn" | bc -l)" "$(per "$ms")"
printf '  lines the client printed    %s (of %d per run; lost as too slow: %s)\n' "${lines[*]}" "$calls" "${lost[*]}"
printf '  runs (s): none %s; unselected %s; filtered %s; selected %s\n' "${none[*]}" "${unselected[*]}" "${filtered[*]}" \
	"${selected[*]}"
if [ "$has_strace" = 1 ]; then
	mt=$(median "${strace[@]}")
	printf '  strace -f in the guest      %8.3f s   %.2fx, %+.3f us per syscall\n' "$mt" "$(echo "$mt / $mn" | bc -l)" "$(per "$mt")"
else
	printf '  strace in the guest         not measured: no strace disk (apt-get download strace failed?)\n'
fi
