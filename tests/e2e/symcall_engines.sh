#!/usr/bin/env bash
# SymCall on both engines with a guest of our own (tests/guests/symcall.S, no
# Linux: the machine's kvm cannot boot the Debian guest): the guest registers
# an entry through symbiont's MSRs (on kvm they come to the VMM through
# KVM's MSR filter) and answers the null call and a "quit" call.  On each
# engine: null calls with different arguments return argument + 1, a call
# the guest does not know fails in one line, the quit call returns the
# number of null calls answered, and the guest's own loop, interrupted by
# every call, reports that its registers and stack came back intact and
# exits with status 65.  On emu a batch of null calls made back to back on
# the vCPU thread (`repeat`) answers too and is counted by the guest; kvm
# refuses it in one line.  kvm is skipped, saying why, where /dev/kvm is not
# usable; emu always runs.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout python3
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
G=$BUILD/tests/guests/symcall.elf
[ -e "$G" ] || make -s BUILD="$BUILD" "$G" >/dev/null || fail "cannot build $G"
control_init sce
CALLS=${CALLS:-20}
REPEAT=${REPEAT:-1000}

engines_here
summary=
for eng in $engines; do
	n=$name-$eng
	timeout 300 "$SYM" run --engine "$eng" --name "$n" --kernel "$G" >"$tmp/$eng.out" 2>"$tmp/$eng.err" &
	gpid=$!
	bg_pids+=("$gpid")
	for ((i = 0; i < 100; i++)); do
		grep -q "symcall entry registered" "$tmp/$eng.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "symcall entry registered" "$tmp/$eng.out" || fail "$eng: the guest never registered: $(cat "$tmp/$eng.err")"
	: >"$tmp/$eng.rt"
	for ((k = 0; k < CALLS; k++)); do
		"$SYM" ctl "$n" symcall null $((k * 1000 + 7)) --json >"$tmp/r.json" ||
			fail "$eng: symcall null: $(cat "$tmp/r.json")"
		python3 - "$tmp/r.json" $((k * 1000 + 8)) "$tmp/$eng.rt" <<'PY' || fail "$eng: null call $k: $(cat "$tmp/r.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ret"] == int(sys.argv[2]) and r["cpu"] == 0, r
open(sys.argv[3], "a").write(f'{r["round_trip_ns"]}\n')
PY
	done
	"$SYM" ctl "$n" symcall 0x200 2>"$tmp/e" && fail "$eng: a call the guest does not know succeeded"
	[ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "does not know call 512" "$tmp/e" || fail "$eng: unknown call: $(cat "$tmp/e")"
	# REPEAT null calls back to back on the vCPU thread (emu); kvm, which
	# runs no vCPU work, refuses them in one line
	python3 - "$XDG_RUNTIME_DIR/symbiont/$n.sock" "$REPEAT" "$eng" >"$tmp/rep" 2>&1 <<'PY' || fail "$eng: repeat: $(cat "$tmp/rep")"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
def ex(cmd, args=None):
    f.write(json.dumps({"execute": cmd, "arguments": args or {}}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
ex("qmp_capabilities")
r = ex("symcall", {"call": "null", "arg": 99, "repeat": int(sys.argv[2])})
if sys.argv[3] == "kvm":
    assert "error" in r and "needs an engine" in r["error"]["desc"], r
else:
    r = r["return"]
    assert r["repeat"] == int(sys.argv[2]) and r["ret"] == 100, r
    assert 0 < r["vcpu_min_ns"] <= r["vcpu_ns"] and 0 < r["round_trip_min_ns"] <= r["round_trip_ns"], r
r = ex("symcall", {"call": "processes", "repeat": 2})
assert "error" in r and "null call" in r["error"]["desc"], r
PY
	want=$CALLS
	[ "$eng" = emu ] && want=$((CALLS + REPEAT))
	"$SYM" ctl "$n" symcall 256 --json >"$tmp/q.json" || fail "$eng: the quit call: $(cat "$tmp/q.json")"
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ret"] == int(sys.argv[2]), r' \
		"$tmp/q.json" "$want" || fail "$eng: the guest counted other calls: $(cat "$tmp/q.json")"
	wait "$gpid"
	st=$?
	[ "$st" = 65 ] || fail "$eng: the guest exited with $st: $(cat "$tmp/$eng.out" "$tmp/$eng.err")"
	grep -q "loop intact after the calls" "$tmp/$eng.out" || fail "$eng: $(cat "$tmp/$eng.out")"
	med=$(sort -n "$tmp/$eng.rt" | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]/1000}')
	summary="$summary $eng: $CALLS calls, median round trip $med us;"
done
echo "PASS (symcall test guest:$summary loop intact on each)"
