#!/usr/bin/env bash
# IPI round trips on emu beside QEMU TCG (issue 17: APIC-heavy paths): the
# multiboot test guest tests/guests/ipi.S on 3 CPUs pings AP 1 from the BSP
# with a fixed IPI and waits for its answer, ROUNDS times.  Each machine
# runs it with rounds=0 and rounds=ROUNDS, RUNS times alternately; the
# difference of the medians over ROUNDS is the time of one round trip (the
# start-up and the logical-destination test cancel out).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-20000}
RUNS=${RUNS:-3}
K=$BUILD/tests/guests/ipi.elf
make -s BUILD="$BUILD" "$K" "$BUILD/symbiont"
command -v qemu-system-x86_64 >/dev/null || { echo "bench: qemu-system-x86_64 missing (scripts/deps.sh)"; exit 1; }
now() { date +%s.%N; }
sym() { # rounds -> seconds
	local t0 t1
	t0=$(now)
	"$BUILD/symbiont" run --cpus 3 --kernel "$K" --append "rounds=$1" >/dev/null || [ $? = 65 ] || exit 1
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
qemu() {
	local t0 t1
	t0=$(now)
	timeout 600 qemu-system-x86_64 -accel tcg -M pc -m 64 -smp 3 -nographic -no-reboot -nic none -vga none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -serial null -display none -monitor none \
		-kernel "$K" -append "rounds=$1" </dev/null >/dev/null 2>&1 || [ $? = 65 ] || exit 1
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s0=() s1=() q0=() q1=()
for ((i = 0; i < RUNS; i++)); do
	s0+=("$(sym 0)") s1+=("$(sym "$ROUNDS")") q0+=("$(qemu 0)") q1+=("$(qemu "$ROUNDS")")
done
per() { echo "($(median "${@:2}") - $1) * 1000000 / $ROUNDS" | bc -l; }
se=$(per "$(median "${s0[@]}")" "${s1[@]}") qe=$(per "$(median "${q0[@]}")" "${q1[@]}")
printf 'IPI round trip BSP -> AP -> BSP, 3 vCPUs, %d rounds, medians of %d\n' "$ROUNDS" "$RUNS"
printf '  symbiont emu   %8.2f us   (runs: 0 rounds %s; %d rounds %s)\n' "$se" "${s0[*]}" "$ROUNDS" "${s1[*]}"
printf '  QEMU TCG       %8.2f us   (runs: 0 rounds %s; %d rounds %s)\n' "$qe" "${q0[*]}" "$ROUNDS" "${q1[*]}"
printf '  emu / QEMU     %8.2fx the time\n' "$(echo "$se / $qe" | bc -l)"
