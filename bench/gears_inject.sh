#!/usr/bin/env bash
# GEARS code injection and agentless exec on emu, the default guest, with a
# shell loop running (sleep 0.05 between its calls) as the injection target
# and the source of system calls exec needs:
#   inject   `ctl inject` of a payload that writes a line: the time symbiont
#            reports from the request to the process being put back (it
#            includes waiting for the loop's next system call, < 50 ms)
#   exec     `ctl exec -- echo hi`, host wall clock, beside its peer: the same
#            command typed into the serial console, until its marker comes
#            back (what one does without an agent or a network)
#   push, pull  SIZE bytes (default 4 MiB) in and out, host wall clock; no
#            peer here (the default guest has no agent or network service to
#            copy with)
# Medians of RUNS (default 5); every run is printed.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-5}
SIZE=${SIZE:-4194304}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -f "$BUILD/payloads/hello.elf" ] || die "$BUILD/payloads/hello.elf missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
require_tools python3
control_init bench-inject

guest_start g "$SYM" run --name "$name" || die "the guest never became ready"
now() { date +%s.%N; }
wait_fine() { # PATTERN: polls the console every 5 ms (guest_wait_for's 1 s would swamp the peer)
	local i
	for ((i = 0; i < 12000; i++)); do
		grep -q "$1" "$tmp/g.out" && return 0
		sleep 0.005
	done
	return 1
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo '(while :; do sleep 0.05; done) >/dev/null & echo LOOP=$!' >&3
guest_wait_for g 'LOOP=[0-9]' 60 || die "the loop did not start"
loop=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^LOOP=\([0-9]*\)$/\1/p' | tail -1)

: >"$tmp/inject"
for ((i = 0; i < RUNS; i++)); do
	out=$("$SYM" ctl "$name" inject --pid "$loop" "$BUILD/payloads/hello.elf") || die "inject: $out"
	sed -n 's/.* in \([0-9.]*\) ms$/\1/p' <<<"$out" | tee -a "$tmp/inject" | sed 's/^/inject run: /; s/$/ ms/'
done

: >"$tmp/exec"
: >"$tmp/console"
for ((i = 0; i < RUNS; i++)); do
	t0=$(now)
	[ "$("$SYM" ctl "$name" exec -- echo hi)" = hi ] || die "exec did not say hi"
	t1=$(now)
	echo "echo hi; echo CONSOLE-\"$i\"" >&3
	wait_fine "^CONSOLE-$i" || die "the console command did not come back"
	t2=$(now)
	python3 -c "print('%.1f' % (($t1 - $t0) * 1000))" | tee -a "$tmp/exec" | sed 's/^/exec run: /; s/$/ ms/'
	python3 -c "print('%.1f' % (($t2 - $t1) * 1000))" | tee -a "$tmp/console" | sed 's/^/console run: /; s/$/ ms/'
done

head -c "$SIZE" /dev/urandom >"$tmp/blob"
: >"$tmp/push"
: >"$tmp/pull"
for ((i = 0; i < RUNS; i++)); do
	t0=$(now)
	"$SYM" ctl "$name" push "$tmp/blob" /tmp/bench-blob || die "push failed"
	t1=$(now)
	"$SYM" ctl "$name" pull /tmp/bench-blob "$tmp/back" || die "pull failed"
	t2=$(now)
	cmp -s "$tmp/blob" "$tmp/back" || die "the pulled file differs"
	python3 -c "print('%.1f' % ($SIZE / 1048576 / ($t1 - $t0)))" | tee -a "$tmp/push" | sed 's/^/push run: /; s/$/ MiB\/s/'
	python3 -c "print('%.1f' % ($SIZE / 1048576 / ($t2 - $t1)))" | tee -a "$tmp/pull" | sed 's/^/pull run: /; s/$/ MiB\/s/'
done

e=$(median <"$tmp/exec")
c=$(median <"$tmp/console")
echo "inject into a running loop: median $(median <"$tmp/inject") ms (request to the process put back)"
echo "exec 'echo hi': median $e ms; typed into the console: median $c ms; ratio $(python3 -c "print('%.2fx' % ($e / $c))")"
echo "push $SIZE bytes: median $(median <"$tmp/push") MiB/s; pull: median $(median <"$tmp/pull") MiB/s (no peer in this guest)"
echo 'poweroff -f' >&3
guest_finish g 60
