#!/usr/bin/env bash
# Guest CPU benchmark: the default guest on symbiont's emu engine and the
# same kernel + initramfs under qemu-system-x86_64 -accel tcg, alternately,
# RUNS times each.  In each boot the shell runs, one after the other:
#   sha     dd if=/dev/zero bs=1M count=32 | sha256sum
#   loop    a shell loop of 100000 i=$((i+1))
#   gzip    gzip -c of /bin/busybox, 8 times
# Each is timed on the host, from the line its shell prints before it to
# the line it prints after it (markers the shell computes, so the echo of
# the typed command never matches).  Prints each median and the ratio
# emu time / qemu time (below 1: emu is faster).  Beside the wall time it
# takes the host CPU time the VMM process used over the same span (all its
# threads, from /proc/PID/stat, 10 ms ticks): on a loaded host the wall
# time also counts waiting for a core, the CPU time much less so.  emu runs twice per round:
# as it runs by default (translating hot blocks) and with --emu-translate
# off (the interpreter alone), so the translator's gain is measured in the
# same run too.  EMU_ARGS adds options to both symbiont command lines.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
G=build/guest
SYM=$BUILD/symbiont
MEM=512M
APPEND="console=ttyS0 quiet"
EMU_ARGS=${EMU_ARGS:-}
NAMES=(sha loop gzip)
CMDS=(
	'dd if=/dev/zero bs=1M count=32 2>/dev/null | sha256sum'
	'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo $i'
	'for k in 1 2 3 4 5 6 7 8; do gzip -c /bin/busybox; done | wc -c'
)

# Runs "$@" on a fifo console, types each workload between markers once the
# guest is ready, then poweroff.  Prints one time per workload, or "fail".
measure() {
	local line fifo k=0 t_start=0 c_start=0 vpid="" out=() cpu=()
	fifo=$(mktemp -u) && mkfifo "$fifo"
	exec 8<>"$fifo"
	while IFS= read -r line; do
		line=${line%$'\r'}
		if [[ $line == *"symbiont guest ready"* ]]; then
			vpid=$(pgrep -P "$!" | head -n 1) # the VMM, under timeout
			sleep 0.5
			printf 'echo B$((%d+1)); %s; echo E$((%d+1))\n' $k "${CMDS[$k]}" $k >&8
		elif [[ $line == "B$((k + 1))" ]]; then
			t_start=$EPOCHREALTIME
			c_start=$(cpu_ticks "$vpid")
		elif [[ $line == "E$((k + 1))" ]]; then
			out+=("$(echo "$EPOCHREALTIME - $t_start" | bc)")
			cpu+=("$(echo "($(cpu_ticks "$vpid") - $c_start) / $(getconf CLK_TCK)" | bc -l)")
			k=$((k + 1))
			if [ $k -lt ${#CMDS[@]} ]; then
				printf 'echo B$((%d+1)); %s; echo E$((%d+1))\n' $k "${CMDS[$k]}" $k >&8
			else
				printf 'poweroff\n' >&8
			fi
		fi
	done < <(timeout 900 "$@" <&8 2>&1)
	exec 8>&-
	rm -f "$fifo"
	[ ${#out[@]} -eq ${#CMDS[@]} ] && echo "${out[*]} ${cpu[*]}" || echo fail
}

# utime + stime of process $1 (all its threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A E I Q EC IC QC
N=${#NAMES[@]}
for i in $(seq "$RUNS"); do
	# shellcheck disable=SC2086
	r=$(measure "$SYM" run --engine emu --mem $MEM $EMU_ARGS)
	[ "$r" = fail ] && { echo "bench: symbiont emu did not finish the workloads" >&2; exit 1; }
	read -r -a er <<<"$r"
	# shellcheck disable=SC2086
	r=$(measure "$SYM" run --engine emu --mem $MEM --emu-translate off $EMU_ARGS)
	[ "$r" = fail ] && { echo "bench: symbiont emu (interpreter) did not finish the workloads" >&2; exit 1; }
	read -r -a ir <<<"$r"
	r=$(measure qemu-system-x86_64 -accel tcg -m $MEM -no-reboot -display none -monitor none -serial stdio \
		-kernel $G/vmlinuz -initrd $G/initramfs.cpio.gz -append "$APPEND")
	[ "$r" = fail ] && { echo "bench: qemu did not finish the workloads" >&2; exit 1; }
	read -r -a qr <<<"$r"
	line="run $i (wall / cpu s):"
	for j in "${!NAMES[@]}"; do
		E[$j]+="${er[$j]} " I[$j]+="${ir[$j]} " Q[$j]+="${qr[$j]} "
		EC[$j]+="${er[$((j + N))]} " IC[$j]+="${ir[$((j + N))]} " QC[$j]+="${qr[$((j + N))]} "
		line+=$(printf ' %s emu %.2f/%.2f interp %.2f/%.2f qemu %.2f/%.2f;' "${NAMES[$j]}" "${er[$j]}" \
			"${er[$((j + N))]}" "${ir[$j]}" "${ir[$((j + N))]}" "${qr[$j]}" "${qr[$((j + N))]}")
	done
	echo "$line"
done
for j in "${!NAMES[@]}"; do
	for kind in wall cpu; do
		if [ $kind = wall ]; then
			e=$(printf '%s\n' ${E[$j]} | median) it=$(printf '%s\n' ${I[$j]} | median) q=$(printf '%s\n' ${Q[$j]} | median)
		else
			e=$(printf '%s\n' ${EC[$j]} | median) it=$(printf '%s\n' ${IC[$j]} | median) q=$(printf '%s\n' ${QC[$j]} | median)
		fi
		printf 'cpu %-5s %-4s (median of %d): symbiont emu %.2f s (interpreter only %.2f s: %.2fx faster translated), qemu tcg %.2f s, emu/qemu time %.2fx (throughput %.2fx)\n' \
			"${NAMES[$j]}" $kind "$RUNS" "$e" "$it" "$(echo "$it / $e" | bc -l)" "$q" "$(echo "$e / $q" | bc -l)" \
			"$(echo "$q / $e" | bc -l)"
	done
done
