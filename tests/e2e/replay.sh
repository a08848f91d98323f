#!/usr/bin/env bash
# Record and replay on the emu engine (docs/replay.md): each test guest is
# recorded, then replayed twice from the log alone; every replay must print
# the same serial output, end with the guest's exit status, at the same
# instruction count and with the same register-state hash as the recording.
# pit_irq takes 100 PIT interrupts while halted, sys_apic the LAPIC timer
# (one-shot, periodic, TSC deadline) and a self IPI, count reads the TSC
# millions of times, sys_triple ends in a triple fault (the recording's end
# is the faulting instruction, which retires nothing: the replay must not
# stop before the fault), the others read device registers.
#
# Then the refusals, one line each and a non-zero status: a log with a
# changed byte (header or events), a log whose kernel file changed since,
# --engine kvm and --cpus 2; and a log whose events were edited into
# another valid log (an interrupt's vector changed) must be replayed to a
# reported divergence, naming the instruction count.
set -u
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
GUESTS=$BUILD/tests/guests
LIST="pit_irq hello sys_apic sys_lm sys_pm32 sys_triple pio mmio mbinfo debugreg count"

[ -x "$SYM" ] || { echo "FAIL: $SYM missing (make BUILD=$BUILD)"; exit 1; }
for g in $LIST; do
	[ -e "$GUESTS/$g.elf" ] || make -s BUILD="$BUILD" "$GUESTS/$g.elf" >/dev/null || {
		echo "FAIL: cannot build $GUESTS/$g.elf"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The "N instructions ... state hash H" of a record or replay report line.
point() { sed -n -E 's/^(record|replay): (ok: )?([0-9]+) instructions.*state hash ([0-9a-f]+)$/\3 \4/p' "$1"; }

for g in $LIST; do
	timeout 60 "$SYM" run --engine emu --kernel "$GUESTS/$g.elf" --record "$tmp/$g.rr" \
		--serial "file:$tmp/$g.rec" >/dev/null 2>"$tmp/$g.rec.err"
	rs=$?
	rp=$(point "$tmp/$g.rec.err")
	[ -n "$rp" ] || { bad "$g: no record report: $(tail -2 "$tmp/$g.rec.err")"; continue; }
	for i in 1 2; do
		timeout 60 "$SYM" run --replay "$tmp/$g.rr" --serial "file:$tmp/$g.play$i" >/dev/null 2>"$tmp/$g.play$i.err"
		ps=$?
		pp=$(point "$tmp/$g.play$i.err")
		if [ "$ps" != "$rs" ]; then
			bad "$g replay $i: status $ps, recorded $rs: $(tail -1 "$tmp/$g.play$i.err")"
		elif [ "$pp" != "$rp" ]; then
			bad "$g replay $i: ended at '$pp', recorded '$rp': $(tail -1 "$tmp/$g.play$i.err")"
		elif ! cmp -s "$tmp/$g.rec" "$tmp/$g.play$i"; then
			bad "$g replay $i: serial output differs"
			diff "$tmp/$g.rec" "$tmp/$g.play$i" | head -5
		fi
	done
	[ -s "$tmp/$g.rec" ] || bad "$g: the guest printed nothing"
	echo "ok $g: $(sed -E 's/^record: //' "$tmp/$g.rec.err" | tail -1)"
done
grep -q '^pit: 100 ticks$' "$tmp/pit_irq.play2" || bad "pit_irq: the replay did not take 100 timer interrupts"
grep -Eq '\(100 interrupts' "$tmp/pit_irq.rec.err" || bad "pit_irq: 100 interrupts not logged"

# A recording stopped from outside: timeout(1) sends SIGTERM to the VMM and
# again to its process group; the log must still be whole, and its replay
# stop at the recorded instruction with the recorded state.
[ -e "$GUESTS/spin.elf" ] || make -s BUILD="$BUILD" "$GUESTS/spin.elf" >/dev/null
timeout 2 "$SYM" run --engine emu --kernel "$GUESTS/spin.elf" --record "$tmp/spin.rr" --serial "file:$tmp/spin.rec" \
	>/dev/null 2>"$tmp/spin.rec.err"
timeout 60 "$SYM" run --replay "$tmp/spin.rr" --serial "file:$tmp/spin.play" >/dev/null 2>"$tmp/spin.play.err"
s=$?
rp=$(point "$tmp/spin.rec.err")
pp=$(point "$tmp/spin.play.err")
if [ -z "$rp" ] || [ "$rp" != "$pp" ] || [ $s != 0 ] || ! cmp -s "$tmp/spin.rec" "$tmp/spin.play"; then
	bad "recording stopped by a signal: record '$rp', replay '$pp' status $s: $(tail -n 1 "$tmp/spin.play.err")"
else
	echo "ok recording stopped by SIGTERM, replayed to the same point: $rp"
fi

# refused: exactly one line on stderr, a non-zero status
refused() {
	local what=$1 want=$2
	shift 2
	"$@" >/dev/null 2>"$tmp/ref.err"
	local s=$? n
	n=$(wc -l <"$tmp/ref.err")
	if [ "$s" = 0 ] || [ "$n" != 1 ] || ! grep -q -- "$want" "$tmp/ref.err"; then
		bad "$what: status $s, $n lines: $(head -3 "$tmp/ref.err")"
	else
		echo "ok refused, $what: $(cat "$tmp/ref.err")"
	fi
}

# a byte of the header, then of the compressed events, changed
size=$(stat -c %s "$tmp/pit_irq.rr")
for off in 20 $((size - 10)); do
	cp "$tmp/pit_irq.rr" "$tmp/t.rr"
	printf '\x5a' | dd of="$tmp/t.rr" bs=1 seek=$off conv=notrunc status=none
	cmp -s "$tmp/t.rr" "$tmp/pit_irq.rr" && { printf '\xa5' | dd of="$tmp/t.rr" bs=1 seek=$off conv=notrunc status=none; }
	refused "byte $off of $size changed" "replay log" timeout 20 "$SYM" run --replay "$tmp/t.rr"
done
head -c $((size / 2)) "$tmp/pit_irq.rr" >"$tmp/t.rr"
refused "truncated log" "replay log" timeout 20 "$SYM" run --replay "$tmp/t.rr"
refused "not a log" "not a symbiont replay log" timeout 20 "$SYM" run --replay "$GUESTS/hello.elf"

# the kernel file changed after the recording
cp "$GUESTS/hello.elf" "$tmp/k.elf"
timeout 20 "$SYM" run --engine emu --kernel "$tmp/k.elf" --record "$tmp/k.rr" --serial "file:$tmp/k.out" \
	>/dev/null 2>&1
cp "$GUESTS/pio.elf" "$tmp/k.elf"
refused "another kernel file" "not the kernel that was recorded" timeout 20 "$SYM" run --replay "$tmp/k.rr"

refused "--engine kvm" "emu only" "$SYM" run --engine kvm --kernel "$GUESTS/hello.elf" --record "$tmp/x.rr"
refused "--cpus 2" "one vCPU" "$SYM" run --engine emu --cpus 2 --kernel "$GUESTS/hello.elf" --record "$tmp/x.rr"
refused "--replay with --kernel" "takes the machine from the log" "$SYM" run --replay "$tmp/pit_irq.rr" \
	--kernel "$GUESTS/hello.elf"

# An edited but well-formed log: the 10th timer interrupt's vector 0x20
# becomes 0x21 (the guest's "unexpected interrupt" handler).  The header
# ends 24 + its length bytes in; the events are re-compressed with a
# checksum, so only the replay itself can notice.
if command -v zstd >/dev/null && command -v python3 >/dev/null; then
	python3 - "$tmp/pit_irq.rr" "$tmp/edit" <<'EOF'
import struct, subprocess, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
hend = 24 + struct.unpack_from('<I', data, 12)[0]
open(out + '.head', 'wb').write(data[:hend])
body = bytearray(subprocess.run(['zstd', '-dq', '-c'], input=data[hend:], stdout=subprocess.PIPE, check=True).stdout)
# walk the events (docs/replay.md) to the 10th interrupt
def varint(p):
    v = s = 0
    while True:
        b = body[p]; p += 1; v |= (b & 0x7f) << s; s += 7
        if b < 0x80: return v, p
p, irqs = 0, 0
while p < len(body):
    t = body[p]; _, p = varint(p + 1)
    if t == 1: _, p = varint(p + 1); _, p = varint(p)
    elif t == 2:
        irqs += 1
        if irqs == 10: body[p + 1] = 0x21
        _, p = varint(p + 2)
    elif t == 3: _, p = varint(p)
    else: _, p = varint(p + 8)
z = subprocess.run(['zstd', '-q', '--check', '-c'], input=bytes(body), stdout=subprocess.PIPE, check=True).stdout
open(out + '.rr', 'wb').write(data[:hend] + z)
EOF
	timeout 20 "$SYM" run --replay "$tmp/edit.rr" --serial "file:$tmp/edit.out" >/dev/null 2>"$tmp/edit.err"
	s=$?
	if [ "$s" = 0 ] || ! grep -Eq '^replay: diverged at instruction [0-9]+' "$tmp/edit.err"; then
		bad "edited log: status $s: $(cat "$tmp/edit.err")"
	else
		echo "ok edited log: $(grep '^replay:' "$tmp/edit.err")"
	fi
else
	echo "skip edited log: zstd or python3 missing"
fi

[ $fail = 0 ] && echo "PASS replay" || echo "FAIL replay"
exit $fail
