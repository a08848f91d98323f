#!/usr/bin/env bash
# VM-to-VM vsock against TCP between the same two guests, same run: two
# default Debian guests on emu in one vsock group (CIDs 3 and 4), each also
# with virtio-net on slirp user networking.  The TCP path is slirp port
# forwarding: guest a connects to 10.0.2.2:HOSTPORT (its slirp's gateway,
# host loopback), which b's --net user,hostfwd forwards to b's port 5001
# (no TAP: it needs privileges and an address plan this bench does not
# assume).  The guest program is bench/v2v_bench.c (the same code over
# AF_VSOCK and TCP), timed in guest a:
#   ping  PING_ROUNDS 1-byte round trips (mean µs)
#   bulk  BULK_MIB MiB in 64 KiB writes until the receiver has it all (MiB/s)
# and, from both VMMs' metrics after the vsock ping-pong, the host's part
# of each one-way trip: from the sending VMM's publish into the peer's
# ring to the packet in the receiving guest's rx queue (ring_hop_ns /
# ring_hops of virtio-vsock); two such hops make the host's share of a
# round trip, the rest is the two emulated guests.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
PING_ROUNDS=${PING_ROUNDS:-2000}
BULK_MIB=${BULK_MIB:-32}
die() { echo "bench vsock_v2v: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make)"
require_guest
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"

why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" bench/v2v_bench.c) || die "cannot build the guest program: $why"
hport=$(free_port)

start() { # NAME CID FD NET
	mkfifo "$tmp/$1.in"
	"$SYM" run --name "v2v$$-$1" --engine emu --mem 256M --serial stdio --kernel $GUEST/vmlinuz --initrd "$tmp/initrd" \
		--append "console=ttyS0 quiet" --vsock "$2,group=$tmp/group" --net "$4" \
		<"$tmp/$1.in" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	bg_pids+=($!)
}
mkdir -m 700 "$tmp/group"
start a 3 3 user
exec 3>"$tmp/a.in"
start b 4 4 "user,hostfwd=tcp:$hport-:5001"
exec 4>"$tmp/b.in"
guest_wait_for a "symbiont guest ready" "$READY_TIMEOUT" || die "guest a never got ready"
guest_wait_for b "symbiont guest ready" "$READY_TIMEOUT" || die "guest b never got ready"
sleep 2
echo 'v2v_bench serve vsock 5000 & v2v_bench serve tcp 5001 &' >&4
guest_wait_for b SERVING-tcp 120 || die "b's servers did not start: $(tail -3 "$tmp/b.out")"

run() { # the command in a, then its figure
	echo "$1; echo DONE-\$((1+$2))" >&3
	guest_wait_for a "DONE-$((1 + $2))" 900 || die "'$1' did not finish: $(tail -3 "$tmp/a.out")"
}
run "v2v_bench ping vsock 4 5000 $PING_ROUNDS" 1
hops() { "$SYM" ctl "v2v$$-$1" metrics | awk '$2 == "ring_hops" { n += $3 } $2 == "ring_hop_ns" { t += $3 } END { print n + 0, t + 0 }'; }
read -r na ta < <(hops a)
read -r nb tb < <(hops b)
run "v2v_bench ping tcp 10.0.2.2 $hport $PING_ROUNDS" 2
run "v2v_bench bulk vsock 4 5000 $BULK_MIB" 3
run "v2v_bench bulk tcp 10.0.2.2 $hport $BULK_MIB" 4
fig() { tr -d '\r' <"$tmp/a.out" | awk -v k="$1" '$1 == k { print $2 }' | tail -1; }
pv=$(fig PING-vsock) pt=$(fig PING-tcp) bv=$(fig BULK-vsock) bt=$(fig BULK-tcp)
[ -n "$pv" ] && [ -n "$pt" ] && [ -n "$bv" ] && [ -n "$bt" ] || die "missing figures: $(grep -E 'PING|BULK|connect' "$tmp/a.out")"
printf 'VM-to-VM 1-byte round trip (mean of %d): vsock group %.1f us, TCP over virtio-net+slirp %.1f us, ratio %.2fx faster\n' \
	"$PING_ROUNDS" "$pv" "$pt" "$(echo "$pt / $pv" | bc -l)"
if [ $((na + nb)) -gt 0 ]; then
	hop=$(echo "($ta + $tb) / ($na + $nb) / 1000" | bc -l)
	printf 'VMM-to-VMM hop in that vsock ping (ring publish to packet in the peer guest'"'"'s rx queue), mean of %d: %.1f us; two per round trip: %.1f us of %.1f us (%.1f%%), the rest is the two guests\n' \
		$((na + nb)) "$hop" "$(echo "2 * $hop" | bc -l)" "$pv" "$(echo "200 * $hop / $pv" | bc -l)"
fi
printf 'VM-to-VM throughput, %d MiB in 64 KiB writes: vsock group %.1f MiB/s, TCP over virtio-net+slirp %.1f MiB/s, ratio %.2fx\n' \
	"$BULK_MIB" "$bv" "$bt" "$(echo "$bv / $bt" | bc -l)"
echo poweroff >&3
echo poweroff >&4
sleep 3
