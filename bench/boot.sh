#!/usr/bin/env bash
# Boot benchmark: the default guest on symbiont's emu engine and the same
# kernel + initramfs under qemu-system-x86_64 -accel tcg, alternately, RUNS
# times each.  Measures wall time from start to "symbiont guest ready" on the
# serial console (the initramfs prints it just before the shell) and to exit
# after `poweroff` typed at the shell.  Prints both medians and the ratio emu/qemu.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
G=build/guest
SYM=$BUILD/symbiont
MEM=512M
APPEND="console=ttyS0 quiet"

# Runs "$@" on a fifo console; types `poweroff` once the guest is ready (a
# UART may drop bytes that arrive before its driver starts, as QEMU's does)
# and prints "<ready_s> <total_s>", or "fail".
measure() {
	local t0 ready="" line fifo total
	fifo=$(mktemp -u) && mkfifo "$fifo"
	t0=$EPOCHREALTIME
	exec 8<>"$fifo"
	while IFS= read -r line; do
		if [ -z "$ready" ] && [[ $line == *"symbiont guest ready"* ]]; then
			ready=$(echo "$EPOCHREALTIME - $t0" | bc)
			sleep 0.5
			printf 'poweroff\n' >&8
		fi
	done < <(timeout 600 "$@" <&8 2>&1)
	total=$(echo "$EPOCHREALTIME - $t0" | bc)
	exec 8>&-
	rm -f "$fifo"
	[ -n "$ready" ] && echo "$ready $total" || echo fail
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

emu_ready=() emu_total=() q_ready=() q_total=()
for i in $(seq "$RUNS"); do
	r=$(measure "$SYM" run --engine emu --mem $MEM)
	[ "$r" = fail ] && { echo "bench: symbiont emu did not reach the shell" >&2; exit 1; }
	emu_ready+=("${r% *}") emu_total+=("${r#* }")
	r=$(measure qemu-system-x86_64 -accel tcg -m $MEM -no-reboot -display none -monitor none -serial stdio \
		-kernel $G/vmlinuz -initrd $G/initramfs.cpio.gz -append "$APPEND")
	[ "$r" = fail ] && { echo "bench: qemu did not reach the shell" >&2; exit 1; }
	q_ready+=("${r% *}") q_total+=("${r#* }")
	echo "run $i: emu ready ${emu_ready[-1]}s total ${emu_total[-1]}s | qemu-tcg ready ${q_ready[-1]}s total ${q_total[-1]}s"
done
er=$(printf '%s\n' "${emu_ready[@]}" | median)
qr=$(printf '%s\n' "${q_ready[@]}" | median)
et=$(printf '%s\n' "${emu_total[@]}" | median)
qt=$(printf '%s\n' "${q_total[@]}" | median)
printf 'boot to shell (median of %d): symbiont emu %.2f s, qemu tcg %.2f s, ratio %.2fx\n' "$RUNS" "$er" "$qr" \
	"$(echo "$er / $qr" | bc -l)"
printf 'boot + poweroff (median of %d): symbiont emu %.2f s, qemu tcg %.2f s, ratio %.2fx\n' "$RUNS" "$et" "$qt" \
	"$(echo "$et / $qt" | bc -l)"
