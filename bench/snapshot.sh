#!/usr/bin/env bash
# Snapshot benchmark: the default guest (512 MiB) booted to its shell on
# symbiont's emu engine and on qemu-system-x86_64 -accel tcg, in the same
# run.  Measures:
#   - snapshot time: symbiont `snapshot {dir, stop: true}`; QEMU `stop` then
#     `migrate "exec:cat > FILE"` until completed (QEMU's way to write a
#     machine to a file), both through QMP, and the snapshot's size on disk;
#   - restore time, RUNS times each: from starting the process to its QMP
#     socket answering query-status "running" (symbiont `run --restore DIR`,
#     QEMU `-incoming "exec:cat FILE"`), and symbiont's own restore_ns metric
#     (reading the snapshot to starting the vCPUs, in the process).
# Prints the figures, medians and ratios symbiont/qemu.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
SYM=$BUILD/symbiont
G=build/guest
MEM=512
APPEND="console=ttyS0 quiet"
QT=bench/qmp_time.py
tmp=$(mktemp -d)
vm=
trap '[ -n "$vm" ] && kill -9 $vm 2>/dev/null; rm -rf "$tmp"' EXIT

[ -e $G/vmlinuz ] || { echo "bench: no default guest (make guest)"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "bench: qemu-system-x86_64 not installed"; exit 1; }

QEMU=(qemu-system-x86_64 -accel tcg -m $MEM -no-reboot -display none -monitor none -nic none
	-kernel $G/vmlinuz -initrd $G/initramfs.cpio.gz -append "$APPEND")

# boot NAME CMD...: starts CMD on a fifo console and waits for the shell.
boot() {
	local name=$1 i
	shift
	mkfifo "$tmp/$name.in"
	"$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
	vm=$!
	exec 8>"$tmp/$name.in"
	for ((i = 0; i < 600; i++)); do
		grep -q "symbiont guest ready" "$tmp/$name.out" && break
		sleep 1
	done
	grep -q "symbiont guest ready" "$tmp/$name.out" || { echo "bench: $name never reached the shell"; exit 1; }
	sleep 2 # let the shell settle
}

finish() {
	python3 $QT quit "$1" >/dev/null 2>&1
	wait $vm 2>/dev/null
	vm=
	exec 8>&-
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ms() { echo "$1 * 1000" | bc -l; }

# symbiont: snapshot
boot sym "$SYM" run --engine emu --mem ${MEM}M --api "$tmp/sym.sock"
sym_snap=$(python3 $QT symbiont-snap "$tmp/sym.sock" "$tmp/snap") || exit 1
finish "$tmp/sym.sock"
sym_disk=$(du -s --block-size=1 "$tmp/snap" | cut -f1)

# QEMU: stop + migrate to a file
boot qemu "${QEMU[@]}" -serial stdio -qmp unix:"$tmp/q.sock",server=on,wait=off
q_snap=$(python3 $QT qemu-snap "$tmp/q.sock" "$tmp/q.mig") || exit 1
finish "$tmp/q.sock"
q_disk=$(du -s --block-size=1 "$tmp/q.mig" | cut -f1)

printf 'snapshot of a %d MiB guest after boot: symbiont emu %.1f ms, %.1f MiB on disk | qemu tcg %.1f ms, %.1f MiB | ratio time %.2fx, size %.2fx\n' \
	$MEM "$(ms "$sym_snap")" "$(echo "$sym_disk / 1048576" | bc -l)" "$(ms "$q_snap")" \
	"$(echo "$q_disk / 1048576" | bc -l)" "$(echo "$sym_snap / $q_snap" | bc -l)" "$(echo "$sym_disk / $q_disk" | bc -l)"

sym_r=() sym_in=() q_r=()
for i in $(seq "$RUNS"); do
	rm -f "$tmp/r.sock" "$tmp/rq.sock"
	t0=$EPOCHREALTIME
	"$SYM" run --restore "$tmp/snap" --api "$tmp/r.sock" --serial file:"$tmp/r.out" </dev/null >/dev/null 2>&1 &
	vm=$!
	sym_r+=("$(python3 $QT running "$tmp/r.sock" "$t0")")
	sym_in+=("$(python3 $QT metric "$tmp/r.sock" restore_ns)")
	python3 $QT quit "$tmp/r.sock" >/dev/null 2>&1
	wait $vm 2>/dev/null
	t0=$EPOCHREALTIME
	"${QEMU[@]}" -serial file:"$tmp/rq.out" -qmp unix:"$tmp/rq.sock",server=on,wait=off \
		-incoming "exec:cat $tmp/q.mig" </dev/null >/dev/null 2>&1 &
	vm=$!
	q_r+=("$(python3 $QT running "$tmp/rq.sock" "$t0")")
	python3 $QT quit "$tmp/rq.sock" >/dev/null 2>&1
	wait $vm 2>/dev/null
	vm=
	printf 'run %d: restore to running: symbiont %.1f ms (restore_ns %.2f ms) | qemu %.1f ms\n' "$i" \
		"$(ms "${sym_r[-1]}")" "$(echo "${sym_in[-1]} / 1000000" | bc -l)" "$(ms "${q_r[-1]}")"
done
sr=$(printf '%s\n' "${sym_r[@]}" | median)
si=$(printf '%s\n' "${sym_in[@]}" | median)
qr=$(printf '%s\n' "${q_r[@]}" | median)
printf 'restore to running (median of %d, process start to QMP "running"): symbiont emu %.1f ms, qemu tcg %.1f ms, ratio %.3fx; symbiont in-process (snapshot read to vCPUs started) %.2f ms (Firecracker: p90 5 ms)\n' \
	"$RUNS" "$(ms "$sr")" "$(ms "$qr")" "$(echo "$sr / $qr" | bc -l)" "$(echo "$si / 1000000" | bc -l)"
