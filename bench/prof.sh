#!/usr/bin/env bash
# Profiling and introspection cost, on the default guest (emu, CPUS vCPUs):
#   profiling overhead  a CPU-bound guest loop (busybox sh counting to
#                       LOOP), timed on the host from typing it to its end
#                       marker on the console, RUNS times without and RUNS
#                       times with `ctl prof` sampling at the default rate
#                       (99 Hz), alternately; medians and the ratio.  Host
#                       time, not the guest's: guest time stands still while
#                       a sample pauses the VM, so the guest's clock would
#                       not see the cost.
#   ctl ps              with PROCS sleeping processes started in the guest,
#                       `ctl ps --json` timed PS_RUNS times (median), and the
#                       number of processes it listed.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-5}
LOOP=${LOOP:-30000}
PROCS=${PROCS:-1000}
PS_RUNS=${PS_RUNS:-5}
CPUS=${CPUS:-1}

die() { echo "bench: $*" >&2; exit 1; }
for t in python3 bc timeout mkfifo; do
	command -v $t >/dev/null || die "$t not installed"
done
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] && [ -e $GUEST/initramfs.cpio.gz ] || die "no default guest in $GUEST (make guest)"
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
name=bench-prof-$$
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

guest_start g "$SYM" run --engine emu --name "$name" --cpus "$CPUS" || die "the guest never became ready"

# Types loop number $1 and prints the host seconds until its end marker.
loop_seconds() {
	local t0 i n=$1
	t0=$EPOCHREALTIME
	echo "i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done; echo LOOP-END-$n" >&3
	for ((i = 0; i < 6000; i++)); do
		grep -q "^LOOP-END-$n" "$tmp/g.out" && break
		sleep 0.02
	done
	grep -q "^LOOP-END-$n" "$tmp/g.out" || die "loop $n never ended"
	echo "$EPOCHREALTIME - $t0" | bc
}

loop_seconds warm >/dev/null # the first run also decodes and caches the shell's code
off=() on=() pause_us=()
# One loop with a profile taken meanwhile (Ctrl-C ends it, as a user would).
profiled_loop() {
	"$SYM" ctl "$name" prof --seconds 3600 --out "$tmp/p.folded" >"$tmp/prof.out" 2>&1 &
	prof_pid=$!
	sleep 0.5 # prof-start has answered
	on+=("$(loop_seconds "on$1")")
	kill -INT $prof_pid # Ctrl-C: prof stops and writes what it sampled
	wait $prof_pid || die "prof failed: $(cat "$tmp/prof.out")"
}
for r in $(seq "$RUNS"); do
	# alternate the order, so that a drift in the host's load favours neither
	if ((r % 2)); then
		off+=("$(loop_seconds "off$r")")
		profiled_loop $r
	else
		profiled_loop $r
		off+=("$(loop_seconds "off$r")")
	fi
	pause_us+=("$(sed -n 's/.*the VM stood still \([0-9]*\) us a sample.*/\1/p' "$tmp/prof.out")")
	echo "run $r: loop without profiling ${off[-1]}s, with ${on[-1]}s ($(sed -n 's/^prof: \([0-9]*\) samples.*/\1/p' "$tmp/prof.out") samples, each pausing the VM ${pause_us[-1]} us)"
done
mo=$(printf '%s\n' "${off[@]}" | median)
mp=$(printf '%s\n' "${on[@]}" | median)
printf 'profiling overhead (CPU-bound guest loop, %d vCPU(s), 99 Hz, median of %d): without %.2f s, with %.2f s, ratio %.3fx\n' \
	"$CPUS" "$RUNS" "$mo" "$mp" "$(echo "$mp / $mo" | bc -l)"
printf 'a sample holds the VM paused %s us (median of the runs'"'"' means)\n' "$(printf '%s\n' "${pause_us[@]}" | median)"

# PROCS sleeping processes, then ps.
t0=$EPOCHREALTIME
echo "for i in \$(seq $PROCS); do sleep 100000 & done; echo SPAWNED-ALL" >&3
guest_wait_for g '^SPAWNED-ALL' 600 || die "the guest never started $PROCS processes"
echo "started $PROCS processes in the guest in $(echo "$EPOCHREALTIME - $t0" | bc) s"
sleep 2
times=()
for r in $(seq "$PS_RUNS"); do
	t0=$EPOCHREALTIME
	"$SYM" ctl "$name" ps --json >"$tmp/ps.json" || die "ps failed"
	times+=("$(echo "$EPOCHREALTIME - $t0" | bc)")
done
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/ps.json")
[ "$count" -ge "$PROCS" ] || die "ps listed $count processes, expected at least $PROCS"
printf 'ctl ps --json with %d processes in the guest (median of %d): %.3f s\n' "$count" "$PS_RUNS" \
	"$(printf '%s\n' "${times[@]}" | median)"
echo 'poweroff -f' >&3
guest_finish g 60
