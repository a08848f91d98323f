#!/usr/bin/env bash
# Guest profiling and top end to end (emu, default Debian guest, nothing
# added to the guest): a CPU-bound loop in a script of a name the test
# chooses gets most of the samples that are not idle in `ctl prof`; the
# folded file is flamegraph.pl's format (every line "frames COUNT", COUNT >
# 0, the counts summing to the samples taken); the flame graph is
# well-formed XML; `top --once --json` ranks the loop first; dd's samples in
# read(2) carry their kernel call chain (entry, do_syscall_64, ...).  On a multiboot
# test kernel, prof still samples (by raw address) and top says in one line
# why it cannot.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
name=prof-$$
probe=probe$$
ctl() { "$SYM" ctl "$name" "$@"; }

guest_start g "$SYM" run --name "$name" --cpus 2 || fail "guest never became ready: $(tail -3 "$tmp/g.err")"
cat >&3 <<GUEST
printf '#!/bin/sh\\nwhile :; do :; done\\n' >/tmp/$probe; chmod +x /tmp/$probe; /tmp/$probe &
echo PROBE=\$!
GUEST
guest_wait_for g 'PROBE=' 60 || fail "the guest never started the probe"
probe_pid=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^PROBE=\([0-9]*\)$/\1/p' | tail -1)
[ -n "$probe_pid" ] || fail "no probe pid from the guest"
sleep 1

ctl prof --seconds 5 --out "$tmp/p.folded" >"$tmp/prof.txt" 2>&1 || fail "prof: $(cat "$tmp/prof.txt")"
grep -q '^prof: [0-9]* samples' "$tmp/prof.txt" || fail "prof summary: $(cat "$tmp/prof.txt")"
samples=$(sed -n 's/^prof: \([0-9]*\) samples.*/\1/p' "$tmp/prof.txt")
python3 - "$tmp/p.folded" "$samples" "$probe" <<'PY' || fail "the folded profile is wrong: $(head -20 "$tmp/p.folded")"
import re, sys
path, samples, probe = sys.argv[1], int(sys.argv[2]), sys.argv[3]
total = busy = idle = 0
for line in open(path):
    m = re.fullmatch(r"(\S.*) (\d+)\n", line)
    assert m, f"not 'frames COUNT': {line!r}"
    stack, count = m.group(1), int(m.group(2))
    assert count > 0 and all(stack.split(";")), line
    total += count
    frames = stack.split(";")
    if frames[0] == "[idle]":
        idle += count
    elif frames[0] == probe:
        busy += count
assert total == samples, f"counts sum to {total}, {samples} samples taken"
# 5 s at 99 Hz on 2 vCPUs: about 990 samples (the VM's pauses cost a little).
assert samples >= 400, f"only {samples} samples"
assert busy * 2 > total - idle, f"{probe}: {busy} of {total - idle} samples that are not idle"
print(f"ok: {busy} of {total} samples in {probe}, {idle} idle")
PY
python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg"), r.tag' \
	"$tmp/p.folded.svg" || fail "the flame graph is not well-formed SVG"
grep -q "$probe" "$tmp/p.folded.svg" || fail "the flame graph does not name $probe"

ctl top --once --json >"$tmp/top.json" || fail "top: $(cat "$tmp/top.json")"
python3 - "$tmp/top.json" "$probe_pid" "$probe" <<'PY' || fail "top does not rank the probe first: $(head -30 "$tmp/top.json")"
import json, sys
t = json.load(open(sys.argv[1])); pid, probe = int(sys.argv[2]), sys.argv[3]
p = t["processes"]
assert p and p[0]["pid"] == pid and p[0]["comm"] == probe, p[:3]
assert p[0]["cpu"] > 50 and abs(p[0]["cpu"] - p[0]["user"] - p[0]["kernel"]) < 0.01, p[0]
PY
ctl top --once | grep -q "^ *$probe_pid $probe " || fail "top table lacks the probe: $(ctl top --once)"

# Kernel call chains from the guest kernel's ORC tables: dd reading
# /dev/zero spends its time in read(2), under do_syscall_64.
echo "while :; do dd if=/dev/zero of=/dev/null bs=64k count=100 2>/dev/null; done &" >&3
sleep 2
ctl prof --seconds 3 >"$tmp/dd.folded" 2>"$tmp/dd.txt" || fail "prof of dd: $(cat "$tmp/dd.txt")"
grep -Eq '^dd;\[kernel\];([^;]*;)*do_syscall_64;([^;]*;)+[^;]* [0-9]+$' "$tmp/dd.folded" ||
	fail "no kernel call chain through do_syscall_64 for dd: $(sort -t' ' -k2 -rn "$tmp/dd.folded" | head -5)"

# top ends by itself when the VM ends.
ctl top >"$tmp/top.live" 2>&1 &
top_pid=$!
bg_pids+=($top_pid)
sleep 3
echo 'poweroff -f' >&3
guest_finish g 60
for ((i = 0; i < 50; i++)); do kill -0 $top_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $top_pid 2>/dev/null && fail "top is still running after the VM ended"
wait $top_pid || fail "top failed when the VM ended: $(tail -2 "$tmp/top.live")"
grep -q "$probe" "$tmp/top.live" || fail "live top never showed the probe"

# A guest that is not Linux: samples by raw address; top refuses in one line.
"$SYM" run --engine emu --kernel "$BUILD/tests/guests/spin.elf" --api "$tmp/mb.sock" </dev/null >"$tmp/mb.out" 2>&1 &
bg_pids+=($!)
for ((i = 0; i < 100; i++)); do grep -q spinning "$tmp/mb.out" 2>/dev/null && break; sleep 0.1; done
grep -q spinning "$tmp/mb.out" || fail "the spin guest did not start: $(cat "$tmp/mb.out")"
"$SYM" ctl "$tmp/mb.sock" prof --seconds 1 >"$tmp/mb.folded" 2>"$tmp/mb.err" || fail "prof on multiboot: $(cat "$tmp/mb.err")"
grep -q '^\[unknown\];\[kernel\];0x[0-9a-f]* [0-9]*$' "$tmp/mb.folded" || fail "multiboot samples: $(head -3 "$tmp/mb.folded")"
grep -q "raw address: guestos: " "$tmp/mb.err" || fail "prof does not say why: $(cat "$tmp/mb.err")"
"$SYM" ctl "$tmp/mb.sock" top --once 2>"$tmp/e1" && fail "top on a multiboot guest succeeded"
[ "$(wc -l <"$tmp/e1")" = 1 ] && grep -q "not a Linux" "$tmp/e1" || fail "multiboot top: $(cat "$tmp/e1")"
"$SYM" ctl "$tmp/mb.sock" quit || fail "quit failed"
echo PASS
