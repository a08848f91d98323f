#!/usr/bin/env bash
# VSched end to end (emu, default Debian guest): two CPU-bound VMs reserving
# 30 ms and 60 ms of every 100 ms get work done in that proportion (the
# same guest loop, counted over the same 6 s of guest time); a third whose
# reservation would take the host past the admission bound is refused with
# an error naming the VMs that hold the CPU; a reservation changed at run
# time (30 -> 60 ms) brings the first VM level with the second.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init vsched
ncpu=$(nproc)
# The reservations fit any host's bound (0.9 of each CPU): 0.3 + 0.6 = 0.9;
# the refusal test asks for what is left and a little more.

# Two guests, each on its own console fifo.
start() { # tag slice
	mkfifo "$tmp/$1.in"
	"$SYM" run --name "$name-$1" --sched "period=100ms,slice=$2" <"$tmp/$1.in" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	bg_pids+=($!)
	eval "exec ${3}>\"$tmp/$1.in\""
}
start a 30ms 5
start b 60ms 6
for t in a b; do
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		grep -q "symbiont guest ready" "$tmp/$t.out" && break
		sleep 1
	done
	grep -q "symbiont guest ready" "$tmp/$t.out" || fail "guest $t never became ready: $(tail -2 "$tmp/$t.err")"
done
grep -q "SCHED_DEADLINE\|user-level" "$tmp/a.err" || fail "vsched did not say which scheduler is in force: $(cat "$tmp/a.err")"
sleep 3

cpu_ns() { "$SYM" ctl "$name-$1" metrics --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vcpus"]["0"]["thread_cpu_ns"])'; }
loop() { # tag: the same CPU-bound loop in both guests, 6 s of guest time
	local cmd="n=0; read u x </proc/uptime; e=\$((\${u%.*}+6)); while :; do read u x </proc/uptime; [ \${u%.*} -ge \$e ] && break; n=\$((n+1)); done; echo RATE-$1 \$n"
	echo "$cmd" >&5
	echo "$cmd" >&6
	for t in a b; do
		for ((i = 0; i < 1200; i++)); do grep -q "RATE-$1 [0-9]" "$tmp/$t.out" && break; sleep 0.1; done
	done
}
rate() { tr -d '\r' <"$tmp/$1.out" | sed -n "s/^RATE-$2 \([0-9]*\)$/\1/p" | tail -1; }

# Received CPU over the loops (both busy the whole time): what the
# reservations promise.
ca0=$(cpu_ns a) cb0=$(cpu_ns b) t0=$(date +%s%N)
loop one
ca1=$(cpu_ns a) cb1=$(cpu_ns b) t1=$(date +%s%N)
share_a=$(python3 -c "print(round(($ca1 - $ca0) / ($t1 - $t0), 3))")
share_b=$(python3 -c "print(round(($cb1 - $cb0) / ($t1 - $t0), 3))")
# The window also holds the moments after the loops end (seeing their
# lines, asking for the counters), so the shares read a little low, more
# so on a loaded host; never above the reservation.
python3 -c "import sys; sys.exit(0 if 0.24 <= $share_a <= 0.33 and 0.48 <= $share_b <= 0.66 else 1)" ||
	fail "received CPU a $share_a, b $share_b of a CPU; want 0.30 and 0.60 (at most, and at least 80% of it)"
# The VMM's own accounting agrees: the busy periods of the loops were
# wanted and received their reservation, and none was missed by much (the
# count never cries wolf: tests/unit/test_vsched.c).
for t in a b; do
	"$SYM" ctl "$name-$t" metrics --json >"$tmp/$t.metrics" || fail "metrics of $t"
	python3 - "$tmp/$t.metrics" <<'PY' || fail "vsched accounting of $t: $(grep sched "$tmp/$t.metrics")"
import json, sys
v = json.load(open(sys.argv[1]))["vcpus"]["0"]
assert v["sched_periods"] >= 60 and v["sched_periods_wanted"] >= 40, v
assert v["sched_received_ns"] >= 0.9 * v["sched_entitled_ns"], v
assert v["sched_deadline_misses"] <= v["sched_periods_wanted"] // 10, v
PY
done
"$SYM" ctl "$name-a" sched | grep -q "^vcpu0 thread: received [0-9.]* s of [0-9.]* s entitled; [0-9]* periods" ||
	fail "ctl sched does not show the accounting: $("$SYM" ctl "$name-a" sched)"
ra=$(rate a one) rb=$(rate b one)
[ -n "$ra" ] && [ -n "$rb" ] || fail "no work rates (a '$ra', b '$rb')"
ratio=$(python3 -c "print(round($rb / $ra, 3))")
# Work done is not quite proportional: each guest spends a fixed part of
# every second on its own upkeep (timer ticks, the idle loop), a bigger
# part of a smaller share, and the emu engine's throughput moves with the
# host's load (caches, the other core).  Seen here: 1.76 to 2.29.
python3 -c "import sys; sys.exit(0 if 1.5 <= $rb / $ra <= 2.7 else 1)" ||
	fail "60/100 vs 30/100 got work done $ratio:1 (a $ra, b $rb), want about 2:1"

# A third reservation past the bound: refused, naming who holds the CPU.
need=$(python3 -c "print(int(round((0.9 * $ncpu - 0.9 + 0.05) * 100)))")
if [ "$need" -le 100 ]; then
	"$SYM" run --name "$name-c" --sched "period=100ms,slice=${need}ms" --kernel "$BUILD/tests/guests/hello.elf" \
		</dev/null >"$tmp/c.out" 2>"$tmp/c.err" && fail "a reservation past the bound was admitted"
	[ "$(wc -l <"$tmp/c.err")" = 1 ] && grep -q "held by .*$name-a.*$name-b\|held by .*$name-b.*$name-a" "$tmp/c.err" ||
		fail "refusal: $(cat "$tmp/c.err")"
fi

# A change at run time: a goes to 60/100 and catches up with b.
"$SYM" ctl "$name-a" sched period=100ms,slice=60ms || fail "sched change refused"
"$SYM" ctl "$name-a" sched | grep -q "slice 60.000 ms every 100.000 ms" || fail "the new reservation is not in force"
sleep 1
loop two
ra=$(rate a two) rb=$(rate b two)
python3 -c "import sys; sys.exit(0 if 0.75 <= $rb / $ra <= 1.33 else 1)" ||
	fail "after the change a and b got $ra and $rb, want level within 25%"
echo 'poweroff -f' >&5
echo 'poweroff -f' >&6
sleep 3
echo "PASS (received CPU $share_a and $share_b; work 1:$ratio; after the change $ra vs $rb)"
