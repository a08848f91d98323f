#!/usr/bin/env bash
# Reverse debugging on a replay (docs/replay.md, "Reverse execution"):
# tests/guests/rr_calls.S (64-bit: for i = 1..5, rr_total += rr_square(i))
# is recorded, then replayed under Debian's gdb with checkpoints.  With a
# breakpoint on the add after the call, continue three times (i 3, RAX 9,
# total 5), then:
#   reverse-continue   the previous hit: i 2, RAX 4, total 1
#   reverse-stepi x3   into rr_square, back over its ret, imul and mov:
#                      RIP at rr_square, RAX 1 (the value before the call)
#   reverse-finish     out to the call
#   a write watchpoint on rr_total, reverse-continue: stops before the add
#                      that made it 1 (old 1, new 0), i 1
#   reverse-continue   no earlier write: the start of the history
#                      (replaylog:begin, "No more reverse-execution history")
#   forward to the inc twice (i 2, total 5), then reverse-next three times:
#                      back over the add (total 1), over the call to
#                      rr_square (RAX back to 1: the function's work undone)
#                      and over the mov of its argument (RDI 1); then next
#                      twice, forward over the call again (RAX 4)
# gdb writing a register or memory is refused (the replay would diverge).
# Then continued to the end, where the replay must still end at the
# recorded count and state hash with the recorded serial output (what the
# guest printed again after going back is not printed twice).  gdb reads
# symbols and lines from the same source assembled with -g (as an elf64
# copy: the stub's target description is amd64).
#
# The same session runs again with a checkpoint every instruction in a
# 100 KiB budget (most of them thinned out) and must see the same values.
# Refusals: reverse execution on a live run (gdb is not offered it),
# --checkpoint-every without --replay or 0, --gdb with --record.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools gdb nm objcopy ld timeout python3
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
G=$BUILD/tests/guests/rr_calls.elf
S=tests/guests/rr_calls.S
[ -e "$G" ] || make -s BUILD="$BUILD" "$G" >/dev/null || fail "cannot build $G"

# symbols and line numbers for gdb: the same source with -g, as elf64
${CC:-cc} -m32 -c -g -Iinclude -Itests/guests -o "$tmp/rrg.o" "$S" || fail "cannot assemble $S with -g"
ld -m elf_i386 -T tests/guests/guest.ld --defsym=LOAD_ADDR=0x100000 -o "$tmp/rrg.elf" "$tmp/rrg.o" || fail "ld"
objcopy -O elf64-x86-64 "$tmp/rrg.elf" "$tmp/rr64.elf" || fail "objcopy"
objcopy -O binary -j .text "$G" "$tmp/a.text" && objcopy -O binary -j .text "$tmp/rrg.elf" "$tmp/b.text" &&
	cmp -s "$tmp/a.text" "$tmp/b.text" || fail "the -g build of $S has other code than $G"
line() { grep -n "/\* rr: $1 \*/" "$S" | cut -d: -f1; }
addr() { printf '0x%s' "$(nm "$G" | awk -v s="$1" '$3 == s { print $1 }')"; }
square=$(addr rr_square) total=$(addr rr_total) loop=$(addr rr_loop)

"$SYM" run --engine emu --kernel "$G" --record "$tmp/g.rr" --serial "file:$tmp/rec.out" >/dev/null 2>"$tmp/rec.err"
[ $? = 65 ] || fail "recording: $(tail -1 "$tmp/rec.err")"
grep -q '^total=37$' "$tmp/rec.out" || fail "rr_calls printed: $(cat "$tmp/rec.out")"
rp=$(sed -n -E 's/^record: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rec.err")
[ -n "$rp" ] || fail "no record report"
echo "ok recorded: $rp"

regs() { printf 'echo MARK %s\\n\ninfo registers rip rax rdi r12\nx/gx %s\n' "$1" "$total"; }
{
	echo "set pagination off"
	echo "file $tmp/rr64.elf"
	echo "target remote $tmp/g.sock"
	echo "break rr_calls.S:$(line add)"
	echo "continue" && echo "continue" && echo "continue"
	regs continue-x3
	echo "reverse-continue"
	regs reverse-continue
	echo "reverse-stepi" && echo "reverse-stepi" && echo "reverse-stepi"
	regs reverse-stepi-x3
	echo "reverse-finish"
	regs reverse-finish
	echo "delete"
	echo "watch *(long *)$total"
	echo "reverse-continue"
	regs reverse-watch
	echo "reverse-continue"
	regs history-begin
	echo "delete"
	echo "break rr_calls.S:$(line next)"
	echo "continue" && echo "continue"
	regs forward
	echo "delete"
	echo "reverse-next"
	regs reverse-next-1
	echo "reverse-next"
	regs reverse-next-2
	echo "reverse-next"
	regs reverse-next-3
	echo "next" && echo "next"
	regs next-2
	cat <<EOF
python
for what in ("set \$rax = 1", "set *(long *)$total = 7"):
    try:
        gdb.execute(what)
        print("WRITE-ACCEPTED", what)
    except gdb.error as e:
        print("WRITE-REFUSED", what)
end
monitor replay
continue
EOF
} >"$tmp/rev.gdb"

# session NAME ARGS...: the replay under gdb; checks the end and the output
session() {
	local n=$1 st
	shift
	rm -f "$tmp/g.sock"
	"$SYM" run --replay "$tmp/g.rr" "$@" --gdb "unix:$tmp/g.sock" --gdb-wait --serial "file:$tmp/$n.out" \
		>/dev/null 2>"$tmp/$n.err" &
	pid=$!
	for _ in $(seq 50); do [ -S "$tmp/g.sock" ] && break; sleep 0.1; done
	timeout 120 gdb -nx -batch -x "$tmp/rev.gdb" >"$tmp/$n.gdbout" 2>&1
	st=0
	wait "$pid" || st=$?
	pid=
	[ "$st" = 65 ] || fail "$n: replay status $st, want the guest's 65: $(tail -2 "$tmp/$n.err")"
	pp=$(sed -n -E 's/^replay: ok: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/$n.err")
	[ "$pp" = "$rp" ] || fail "$n: the replay ended at '$pp', recorded '$rp': $(tail -2 "$tmp/$n.err")"
	cmp -s "$tmp/rec.out" "$tmp/$n.out" || fail "$n: serial output differs from the recording's: $(cat "$tmp/$n.out")"
	python3 - "$tmp/$n.gdbout" "$square" "$loop" <<'PY' || fail "$n: $(cat "$tmp/$n.gdbout")"
import re, sys
out = open(sys.argv[1]).read()
square, loop = int(sys.argv[2], 16), int(sys.argv[3], 16)
# the loop: mov %r12,%rdi (3 bytes), call (5), add %rax,rr_total(%rip) (7), inc %r12
arg, call, add, nxt = loop, loop + 3, loop + 8, loop + 15
def at(mark):
    part = out.split(f"MARK {mark}\n", 1)[1].split("MARK ", 1)[0]
    reg = lambda r: int(re.search(rf"^{r}\s+(0x[0-9a-f]+)", part, re.M).group(1), 16)
    tot = int(re.search(r"^0x[0-9a-f]+(?: <rr_total>)?:\s+(0x[0-9a-f]+)", part, re.M).group(1), 16)
    return dict(rip=reg("rip"), rax=reg("rax"), rdi=reg("rdi"), i=reg("r12"), total=tot)
def want(mark, **w):
    got = at(mark)
    bad = {k: (got[k], v) for k, v in w.items() if got[k] != v}
    assert not bad, f"{mark}: (got, want) {bad}; all {got}"
want("continue-x3", rip=add, i=3, rax=9, total=5)
want("reverse-continue", rip=add, i=2, rax=4, total=1)         # the previous hit
want("reverse-stepi-x3", rip=square, i=2, rax=1, total=1)      # back over ret, imul, mov
want("reverse-finish", rip=call, i=2, rax=1)                   # out to the call
want("reverse-watch", rip=add, i=1, rax=1, total=0)            # before the add that made it 1
assert re.search(r"Old value = 1\nNew value = 0", out), "reverse watchpoint values"
want("history-begin", rip=0x10000c)
assert "No more reverse-execution history." in out, "no replaylog:begin"
want("forward", rip=nxt, i=2, rax=4, total=5)
want("reverse-next-1", rip=add, i=2, rax=4, total=1)           # the add undone
want("reverse-next-2", rip=call, i=2, rax=1, rdi=2, total=1)   # back over rr_square: RAX as before it
want("reverse-next-3", rip=arg, i=2, rdi=1)                    # the argument not yet loaded
want("next-2", rip=add, i=2, rax=4, rdi=2, total=1)            # forward over the call again
assert out.count("WRITE-REFUSED") == 2 and "WRITE-ACCEPTED" not in out, "a register or memory write was not refused"
restores = int(re.search(r"memory: \d+ bytes of a \d+-byte budget; (\d+) restores", out).group(1))
print(f"registers as recorded at every point going back ({restores} checkpoint restores)")
PY
	echo "ok $n: $(grep '^replay: checkpoints' "$tmp/$n.err" | sed 's/^replay: //')"
}

session default --checkpoint-every 50
session thinned --checkpoint-every 1 --checkpoint-budget 100K
grep -q '([1-9][0-9]* thinned)' "$tmp/thinned.err" || fail "thinned: nothing thinned in a 100 KiB budget"

# refusals
"$SYM" run --engine emu --kernel "$G" --checkpoint-every 10 >/dev/null 2>"$tmp/r1.err"
[ $? = 2 ] && grep -q 'only with --replay' "$tmp/r1.err" || fail "--checkpoint-every without --replay: $(cat "$tmp/r1.err")"
"$SYM" run --engine emu --kernel "$G" --record "$tmp/x.rr" --gdb "unix:$tmp/x.sock" >/dev/null 2>"$tmp/r2.err"
[ $? = 2 ] || fail "--gdb with --record: $(cat "$tmp/r2.err")"
"$SYM" run --replay "$tmp/g.rr" --checkpoint-every 0 >/dev/null 2>"$tmp/r3.err"
[ $? = 2 ] || fail "--checkpoint-every 0: $(cat "$tmp/r3.err")"
# a live run has no history: gdb is not offered reverse execution
rm -f "$tmp/l.sock"
"$SYM" run --engine emu --kernel "$G" --gdb "unix:$tmp/l.sock" --gdb-wait >/dev/null 2>"$tmp/live.err" &
pid=$!
for _ in $(seq 50); do [ -S "$tmp/l.sock" ] && break; sleep 0.1; done
timeout 60 gdb -nx -batch -ex "target remote $tmp/l.sock" -ex "reverse-stepi" -ex "detach" >"$tmp/live.gdbout" 2>&1
wait "$pid"
pid=
grep -q "does not support this command" "$tmp/live.gdbout" || fail "reverse-stepi on a live run: $(cat "$tmp/live.gdbout")"
echo "ok refusals (no reverse on a live run; --checkpoint-every needs --replay; --gdb not with --record)"
echo "PASS replay_reverse"
