#!/usr/bin/env bash
# VSched on kvm, where each vCPU has a thread of its own: under the
# user-level scheduler (cpus= pins the VM) every vCPU thread is budgeted
# on its own.  A two-vCPU test guest whose first vCPU spins while the
# second never starts (tests/guests/spin.elf sends no SIPI) reserving
# 20 ms of every 100: the busy vCPU gets its 20 ms, not the idle one's as
# well (the VM-wide budget of 2 x 20 ms it once took).
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3
G=$BUILD/tests/guests/spin.elf
[ -e /dev/kvm ] || skip "no /dev/kvm on this host"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible to $(id -un)"
[ -x "$SYM" ] && [ -e "$G" ] || fail "$SYM or $G missing (make BUILD=$BUILD)"
control_init vskvm

"$SYM" run --name "$name" --engine kvm --cpus 2 --kernel "$G" --sched period=100ms,slice=20ms,cpus=0 \
	</dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
for ((i = 0; i < 100; i++)); do
	[ -S "$sock" ] && break
	kill -0 $pid 2>/dev/null || fail "the VM ended: $(cat "$tmp/err")"
	sleep 0.1
done
sleep 3
"$SYM" ctl "$name" sched --json >"$tmp/sched.json" || fail "ctl sched: $(cat "$tmp/sched.json")"
"$SYM" ctl "$name" quit >/dev/null
wait $pid
pid=
python3 - "$tmp/sched.json" <<'PY' || fail "per-vCPU budgets: $(cat "$tmp/sched.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["mode"] == "user-level", s["mode"]
t = {x["vcpu"]: x for x in s["threads"]}
busy, idle = t[0], t[1]
share = busy["received_ns"] / busy["entitled_ns"]
print(f"busy vCPU received {share:.2f} of its reservation, idle vCPU {idle['received_ns'] / 1e6:.1f} ms")
assert 0.85 <= share <= 1.15, f"busy vCPU received {share:.2f} of its own slice"
PY
echo "PASS"
