#!/usr/bin/env bash
# The control API end to end on the default guest (emu): a VM started with
# --name is listed by `symbiont ls` with its real pid; `ctl` reports its
# status and vCPUs; `pause` stops the guest (a ticker it runs on its
# console goes quiet, and its clock stands still) and `resume` lets it go
# on; the event stream shows
# STOP, RESUME, POWERDOWN for a press of the ACPI power button and, when the
# guest's acpid powers it off, SHUTDOWN with the guest's reason; the socket
# is gone afterwards.  Bad targets get one line and a non-zero exit.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

control_init control

guest_start g "$SYM" run --name "$name" --cpus 2 || fail "guest never became ready: $(tail -3 "$tmp/g.err")"
ctl() { "$SYM" ctl "$name" "$@"; }

"$SYM" ls >"$tmp/ls" || fail "ls failed"
grep -q "^$name  *$pid  *running  *emu " "$tmp/ls" || fail "ls does not show $name with pid $pid: $(cat "$tmp/ls")"
[ "$(ctl status)" = running ] || fail "status is not running"
ctl info --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['pid']==$pid and d['cpus']==2, d" ||
	fail "info --json"
[ "$(ctl cpus | grep -c running)" = 2 ] || fail "cpus does not list two running vCPUs"

timeout 300 "$SYM" ctl "$name" events --json >"$tmp/events" 2>"$tmp/events.err" &
bg_pids+=($!)

echo '(while :; do echo TICK $(cut -d" " -f1 /proc/uptime); sleep 1; done) &' >&3
guest_wait_for g TICK 60 || fail "the ticker never started"
sleep 2
ctl pause || fail "pause failed"
[ "$(ctl status)" = paused ] || fail "status is not paused after pause"
n0=$(grep -c TICK "$tmp/g.out")
sleep 4
n1=$(grep -c TICK "$tmp/g.out")
[ "$n1" = "$n0" ] || fail "the guest kept running while paused ($n0 -> $n1 ticks)"
ctl pause || fail "a second pause is not a no-op"
ctl resume || fail "resume failed"
[ "$(ctl status)" = running ] || fail "status is not running after resume"
for ((i = 0; i < 30; i++)); do
	[ "$(grep -c TICK "$tmp/g.out")" -gt "$n1" ] && break
	sleep 1
done
[ "$(grep -c TICK "$tmp/g.out")" -gt "$n1" ] || fail "the guest did not run again after resume"
# Guest time stood still while paused: the guest's uptime advanced about one
# tick (1 s) across the 4 s pause, not 5.
sleep 1
gap=$(grep -o 'TICK [0-9.]*' "$tmp/g.out" | awk -v n="$n1" 'NR==n {a=$2} NR==n+1 {b=$2} END {printf "%.2f", b-a}')
awk -v g="$gap" 'BEGIN {exit !(g > 0.5 && g < 2.5)}' || fail "guest uptime moved ${gap}s across a 4 s pause (want ~1)"

# Bad targets and verbs: one line, non-zero.
"$SYM" ctl nosuchvm status 2>"$tmp/e1" && fail "ctl of a missing VM succeeded"
[ "$(wc -l <"$tmp/e1")" = 1 ] && grep -q "no running VM is named" "$tmp/e1" || fail "missing VM: $(cat "$tmp/e1")"
"$SYM" ctl "$name" frobnicate 2>"$tmp/e2"
[ $? = 2 ] && [ "$(wc -l <"$tmp/e2")" = 1 ] || fail "unknown verb: $(cat "$tmp/e2")"
"$SYM" ctl "$tmp/nowhere.sock" status 2>"$tmp/e3" && fail "ctl of a missing socket succeeded"
[ "$(wc -l <"$tmp/e3")" = 1 ] || fail "missing socket: $(cat "$tmp/e3")"

# The ACPI power button: the guest's acpid powers it off.
ctl powerdown || fail "powerdown failed"
guest_finish g 180 # a loaded host (or ASan) stretches the guest's shutdown
for ((i = 0; i < 20; i++)); do
	grep -q SHUTDOWN "$tmp/events" && break
	sleep 0.5
done
python3 - "$tmp/events" <<'PY' || fail "event stream: $(cat "$tmp/events")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = [e["event"] for e in ev]
assert names.index("STOP") < names.index("RESUME") < names.index("POWERDOWN") < names.index("SHUTDOWN"), names
sd = [e for e in ev if e["event"] == "SHUTDOWN"]
assert sd and sd[0]["data"]["guest"] is True and sd[0]["data"]["reason"] == "guest-shutdown", sd
assert all("seconds" in e["timestamp"] for e in ev)
PY
[ -e "$XDG_RUNTIME_DIR/symbiont/$name.sock" ] && fail "the socket outlived its VM"
"$SYM" ls | grep -q "$name" && fail "ls still lists the VM"
echo PASS
