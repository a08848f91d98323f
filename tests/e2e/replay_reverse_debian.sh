#!/usr/bin/env bash
# Reverse debugging on a replay of the default Debian guest (docs/replay.md,
# "Reverse execution"): its boot and a `cat /etc/hostname` are recorded on
# emu, then replayed under Debian's gdb with the default checkpoints (every
# 10 M instructions, 256 MiB).  gdb stops the replay before its first
# instruction, where the kernel's own page tables are not up yet: a write
# watchpoint on jiffies by its physical address stops it once the kernel
# runs (its first timer tick), and from there a breakpoint on the kernel's
# do_sys_openat2 (System.map's address).  At the second open it goes back with
# reverse-continue to the first (the same instruction count, `monitor
# replay`), reverse-stepi from there (RIP leaves the function's first
# instruction, one instruction fewer), stepi forward again (back on it), and
# the replay then runs to its end: the recorded count and state hash, and
# the recorded console output.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools gdb timeout python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
[ -e "$GUEST/System.map" ] || skip "no $GUEST/System.map"
openat=$(awk '$3 == "do_sys_openat2" { print "0x" $1 }' "$GUEST/System.map")
[ -n "$openat" ] || fail "no do_sys_openat2 in $GUEST/System.map"
# the kernel runs where it was linked to (__START_KERNEL_map + 16 MiB)
jiffies=$(awk '$3 == "jiffies" { print "0x" $1 }' "$GUEST/System.map")
[ -n "$jiffies" ] || fail "no jiffies in $GUEST/System.map"
jiffies_phys=$(printf '0x%x' $((jiffies - 0xffffffff80000000)))

guest_start rec "$SYM" run --engine emu --record "$tmp/deb.rr" || fail "the recorded guest did not boot"
printf 'cat /etc/hostname; echo RR-"DONE"\n' >&3
guest_wait_for rec "RR-DONE" 120 || fail "no RR-DONE from the recorded guest"
printf 'poweroff\n' >&3
guest_finish rec 120
rp=$(sed -n -E 's/^record: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rec.err")
[ -n "$rp" ] || fail "no record report: $(tail -2 "$tmp/rec.err")"
echo "ok recorded: $rp"

cat >"$tmp/rev.gdb" <<EOF
set pagination off
target remote $tmp/g.sock
watch *(long *)$jiffies_phys
continue
delete
break *$openat
continue
echo MARK first\\n
info registers rip
monitor replay
continue
echo MARK second\\n
info registers rip
monitor replay
reverse-continue
echo MARK back\\n
info registers rip
monitor replay
reverse-stepi
echo MARK rstep\\n
info registers rip
monitor replay
stepi
echo MARK step\\n
info registers rip
monitor replay
delete
continue
EOF
"$SYM" run --replay "$tmp/deb.rr" --gdb "unix:$tmp/g.sock" --gdb-wait </dev/null >"$tmp/play.out" 2>"$tmp/play.err" &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/g.sock" ] && break; sleep 0.1; done
timeout 900 gdb -nx -batch -x "$tmp/rev.gdb" >"$tmp/gdb.out" 2>&1
wait "$pid"
s=$?
pid=
[ "$s" = 0 ] || fail "replay: status $s: $(tail -n 2 "$tmp/play.err")"
pp=$(sed -n -E 's/^replay: ok: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/play.err")
[ "$pp" = "$rp" ] || fail "the replay ended at '$pp', recorded '$rp'"
cmp -s "$tmp/rec.out" "$tmp/play.out" || {
	diff "$tmp/rec.out" "$tmp/play.out" | head -10
	fail "console output differs from the recording's"
}
python3 - "$tmp/gdb.out" "$openat" <<'PY' || fail "gdb: $(cat "$tmp/gdb.out")"
import re, sys
out, bp = open(sys.argv[1]).read(), int(sys.argv[2], 16)
def at(mark):
    part = out.split(f"MARK {mark}\n", 1)[1].split("MARK ", 1)[0]
    rip = int(re.search(r"^rip\s+(0x[0-9a-f]+)", part, re.M).group(1), 16)
    return rip, int(re.search(r"^instruction (\d+)$", part, re.M).group(1))
first, second, back, rstep, step = (at(m) for m in ("first", "second", "back", "rstep", "step"))
assert first[0] == bp and second[0] == bp and second[1] > first[1], (first, second)
assert back == first, f"reverse-continue went to {back}, the first hit was {first}"
assert rstep[0] != bp and rstep[1] == first[1] - 1, f"reverse-stepi: {rstep}"
assert step == first, f"stepi after it: {step}"
ck = re.findall(r"^checkpoints: (.*)$", out, re.M)[-1]
print(f"do_sys_openat2 hit at instructions {first[1]} and {second[1]}; back to {back[1]}, "
      f"reverse-stepi to {rstep[0]:#x}; checkpoints: {ck}")
PY
echo "ok $(grep '^replay: checkpoints' "$tmp/play.err")"
echo "PASS replay_reverse_debian"
