#!/usr/bin/env bash
# Live migration benchmark: the default guest (512 MiB) booted to its shell
# and migrated to a second process on this host over tcp:127.0.0.1, on
# symbiont's emu engine and on qemu-system-x86_64 -accel tcg in the same
# run, both at the default 300 ms downtime limit (QEMU's bandwidth cap is
# lifted, symbiont has none).  Two loads: idle (the shell waiting), and busy
# (the guest rewriting a 32 MiB file in /dev/shm from /dev/urandom in a
# loop, so pages keep getting dirty).  Prints each VM's own report of the
# total migration time and the downtime (guest stopped), the pre-copy
# rounds, and the ratios symbiont/qemu.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
G=build/guest
MEM=512
APPEND="console=ttyS0 quiet"
QT=bench/qmp_time.py
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT

[ -e $G/vmlinuz ] || { echo "bench: no default guest (make guest)"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "bench: qemu-system-x86_64 not installed"; exit 1; }

QEMU=(qemu-system-x86_64 -accel tcg -m $MEM -no-reboot -display none -monitor none -nic none
	-kernel $G/vmlinuz -initrd $G/initramfs.cpio.gz -append "$APPEND")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_listen() {
	local i
	for ((i = 0; i < 300; i++)); do
		ss -ltnH "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	echo "bench: nothing listens on port $1"
	exit 1
}

# boot NAME CMD...: starts CMD on a fifo console and waits for the shell.
boot() {
	local name=$1 i
	shift
	mkfifo "$tmp/$name.in"
	: >"$tmp/$name.out" # there before the VM opens it, for the wait below
	"$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
	pids+=($!)
	exec 8>"$tmp/$name.in"
	for ((i = 0; i < 600; i++)); do
		grep -q "symbiont guest ready" "$tmp/$name.out" && break
		sleep 1
	done
	grep -q "symbiont guest ready" "$tmp/$name.out" || { echo "bench: $name never reached the shell"; exit 1; }
	sleep 2 # let the shell settle
}

# one KIND LOAD: boots, loads, migrates; prints "TOTAL DOWNTIME ROUNDS".
one() {
	local kind=$1 load=$2 port r
	port=$(free_port)
	if [ "$kind" = symbiont ]; then
		"$SYM" run --incoming "tcp:127.0.0.1:$port" --api "$tmp/$kind-$load-dst.sock" \
			--serial file:"$tmp/$kind-$load-dst.out" </dev/null >/dev/null 2>&1 &
		pids+=($!)
		boot "$kind-$load" "$SYM" run --engine emu --mem ${MEM}M --api "$tmp/$kind-$load.sock"
	else
		"${QEMU[@]}" -serial file:"$tmp/$kind-$load-dst.out" -qmp unix:"$tmp/$kind-$load-dst.sock",server=on,wait=off \
			-incoming "tcp:127.0.0.1:$port" </dev/null >/dev/null 2>&1 &
		pids+=($!)
		boot "$kind-$load" "${QEMU[@]}" -serial stdio -qmp unix:"$tmp/$kind-$load.sock",server=on,wait=off
	fi
	if [ "$load" = busy ]; then
		echo 'while :; do dd if=/dev/urandom of=/dev/shm/busy bs=1M count=32 2>/dev/null; done &' >&8
		sleep 5
	fi
	wait_listen "$port"
	r=$(python3 $QT migrate "$tmp/$kind-$load.sock" "tcp:127.0.0.1:$port" "$kind") || exit 1
	python3 $QT quit "$tmp/$kind-$load-dst.sock" >/dev/null 2>&1
	exec 8>&-
	echo "$r"
}

for load in idle busy; do
	s=$(one symbiont $load)
	q=$(one qemu $load)
	read -r st sd sr <<<"$s"
	read -r qt qd qr <<<"$q"
	printf 'migration of a %d MiB guest, %s: symbiont emu total %.1f ms, downtime %.1f ms, %d rounds | qemu tcg total %.1f ms, downtime %.1f ms, %d dirty syncs | ratio total %.2fx, downtime %.2fx\n' \
		$MEM $load "$st" "$sd" "$sr" "$qt" "$qd" "$qr" "$(echo "$st / $qt" | bc -l)" "$(echo "$sd / $qd" | bc -l)"
done
