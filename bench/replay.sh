#!/usr/bin/env bash
# Record/replay cost on the emu engine (docs/replay.md), for test guests
# that run a fixed workload and exit: wall time without --record, with
# --record, and replaying the log; the log's bytes per 1000 instructions.
# Beside them, the figures the literature gives (VMware ReTrace: about 0.5
# byte per 1000 instructions, about 5% recording overhead) and QEMU's own
# record/replay (-icount shift=auto,rr=record) on the same guest in the
# same run, where qemu-system-x86_64 is installed.
#
#   pit_irq  100 PIT interrupts at 1 kHz, HLT between them (timer-bound)
#   count    a loop that reads the TSC and counts for a fixed TSC interval:
#            the worst case, every few instructions an RDTSC to log
#   sys_lm   long mode setup, paging, device reads (short)
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
SYM=$BUILD/symbiont
GUESTS=$BUILD/tests/guests
LIST=${LIST:-"pit_irq count sys_lm"}
[ -x "$SYM" ] || { echo "$SYM missing (make)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
secs() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>>"$tmp/err"; echo "$EPOCHREALTIME - $t0" | bc; }

printf '%-8s %12s %10s %10s %10s %8s %10s %14s %10s\n' guest instructions plain_s record_s replay_s ratio log_bytes bytes/1000insn qemu_rr_s
for g in $LIST; do
	k=$GUESTS/$g.elf
	[ -e "$k" ] || make -s BUILD="$BUILD" "$k" >/dev/null
	plain=() rec=() play=() q=()
	for i in $(seq "$RUNS"); do
		plain+=("$(secs "$SYM" run --engine emu --kernel "$k" --serial "file:$tmp/out")")
		: >"$tmp/err"
		rec+=("$(secs "$SYM" run --engine emu --kernel "$k" --record "$tmp/$g.rr" --serial "file:$tmp/out")")
		report=$(grep '^record:' "$tmp/err")
		play+=("$(secs "$SYM" run --replay "$tmp/$g.rr" --serial "file:$tmp/out")")
		grep -q '^replay: ok' "$tmp/err" || echo "note: $g replay $i did not end ok: $(grep '^replay' "$tmp/err")"
		if command -v qemu-system-x86_64 >/dev/null; then
			q+=("$(secs timeout 120 qemu-system-x86_64 -accel tcg -icount shift=auto,rr=record,rrfile="$tmp/q.rr" \
				-kernel "$k" -display none -serial "file:$tmp/qout" -no-reboot \
				-device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 64)")
		fi
	done
	p=$(printf '%s\n' "${plain[@]}" | median)
	r=$(printf '%s\n' "${rec[@]}" | median)
	pl=$(printf '%s\n' "${play[@]}" | median)
	qs=$( ((${#q[@]})) && printf '%s\n' "${q[@]}" | median || echo n/a)
	n=$(echo "$report" | sed -E 's/^record: ([0-9]+) instructions.*/\1/')
	bytes=$(stat -c %s "$tmp/$g.rr")
	printf '%-8s %12s %10.3f %10.3f %10.3f %8.2f %10s %14.3f %10s\n' "$g" "$n" "$p" "$r" "$pl" \
		"$(echo "$r / $p" | bc -l)" "$bytes" "$(echo "$bytes * 1000 / $n" | bc -l)" "$qs"
done
echo "reference: VMware ReTrace ~0.5 byte per 1000 instructions at ~5% overhead (ratio 1.05);"
echo "issue 19's goals: <= 1 byte per 1000 instructions, record overhead <= 1.5x"
