#!/usr/bin/env bash
# VSched, the interactive case: the response time of a VM that mostly
# waits, while batch VMs hold reservations.  The default Debian guest (emu,
# one vCPU) runs tests/e2e/vsock_echo.c; the host sends it ROUNDS one-byte
# messages over virtio-vsock, one at a time, and times each round trip.
# The host sends one request every INTERVAL_MS (20), as a user would:
# back to back, a reservation of 3 ms in 10 would be used up by the round
# trips themselves and the figure would be throughput.  Four phases, same
# run: the host idle; two CPU-bound batch VMs (tests/guests/spin.elf) each
# reserving 70 ms of every 100 (1.4 of this host's 1.8 admissible CPUs)
# while the interactive VM has no reservation; the same with the
# interactive VM reserving 3 ms of every 10 (`ctl sched` at run time); and
# with io=250us as well, a reservation for each of its I/O threads (the
# event loop and the vsock thread, which wake the halted guest).  Prints
# median, 90th and 99th percentile and worst round trip per phase.  The
# host-side client runs at SCHED_FIFO where permitted (it stands for a
# user elsewhere).
#
# What it showed on the 2-core development host: docs/vsched.md.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
ROUNDS=${ROUNDS:-300}
INTERVAL_MS=${INTERVAL_MS:-20} # a user's requests, paced: back to back would measure throughput
die() { echo "bench: $*"; exit 1; }
[ -x "$SYM" ] && [ -e "$BUILD/tests/guests/spin.elf" ] || die "build first (make)"
[ -e "$GUEST/vmlinuz" ] || die "no default guest (make guest)"
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/vsock_echo.c) || die "cannot build the static guest program: $why"
name=lat-$$

# The client stands for the VM's user on another machine: at a real-time
# priority where permitted, so that what is timed is the VM's response,
# not the client waiting behind the batch load.
RT=()
chrt -f 50 true 2>/dev/null && RT=(chrt -f 50)
port=1234
phase() { # title
	echo "vsock_echo listen $port &" >&3
	guest_wait_for g "LISTENING-$port" 120 || die "the guest's echo server did not start"
	printf '%-52s ' "$1:"
	timeout 600 "${RT[@]}" python3 bench/vsock_pingpong.py uds "$tmp/v.sock" "$ROUNDS" $port --percentiles \
		--interval="$INTERVAL_MS" ||
		die "ping-pong failed"
	port=$((port + 1))
}

guest_start g "$SYM" run --name "$name" --mem 256M --kernel "$GUEST/vmlinuz" --initrd "$tmp/initrd" \
	--append "console=ttyS0 quiet" --vsock "3,uds=$tmp/v.sock" || die "the guest never got ready"
echo "vsock 1-byte round trips to an idle emu guest, $ROUNDS each:"
phase "host idle"
for b in 1 2; do
	"$SYM" run --name "$name-batch$b" --engine emu --kernel "$BUILD/tests/guests/spin.elf" \
		--sched period=100ms,slice=70ms </dev/null >"$tmp/b$b.out" 2>"$tmp/b$b.err" &
	bg_pids+=($!)
done
sleep 2
grep -q SCHED_DEADLINE "$tmp/b1.err" || echo "(batch VMs: $(head -1 "$tmp/b1.err"))"
phase "batch VMs reserved 70/100 ms, this one not"
"$SYM" ctl "$name" sched period=10ms,slice=3ms || die "the interactive reservation was refused"
sleep 1
phase "batch VMs reserved 70/100 ms, this one 3/10 ms"
"$SYM" ctl "$name" sched period=10ms,slice=3ms,io=250us || die "the reservation with io= was refused"
sleep 1
phase "batch VMs 70/100 ms, this one 3/10 ms, io 0.25/10 ms"
"$SYM" ctl "$name" sched | sed 's/^/  /'
for b in 1 2; do "$SYM" ctl "$name-batch$b" quit >/dev/null; done
echo 'poweroff -f' >&3
guest_finish g 120
