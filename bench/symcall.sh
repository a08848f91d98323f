#!/usr/bin/env bash
# SymCall benchmark (emu, default guest, 1 vCPU): the round trip of a null
# SymCall, host time from the service's first pause to its last resume, as
# the `symcall` command reports it (CALLS calls, median), beside the cost of
# one port-I/O access in the same guest: dd reading /dev/port (one IN per
# byte) with 256-byte and 1-byte blocks, timed by the guest's clock; the
# difference over the extra ports is one port read, syscall overhead
# removed.  Ports 0x500-0x5ff: the SymCall doorbell (reads as all ones) and
# ports nobody claims, so the reads have no effect.  And the cost of a
# SymSpy read: the service's own time (read_ns of query-symspy) to copy the
# global and per-vCPU pages under their seqcounts, check them and build the
# reply, with the guest running and no exit (CALLS reads, median).
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
CALLS=${CALLS:-50}
BLOCKS=${BLOCKS:-40000}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
control_init bench-symcall

guest_start g "$SYM" run --engine emu --name "$name" --cpus 1 || die "the guest never became ready"
: >"$tmp/rt"
for ((i = 0; i < CALLS; i++)); do
	"$SYM" ctl "$name" symcall null --json >"$tmp/one" || die "symcall null: $(cat "$tmp/one")"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["round_trip_ns"])' "$tmp/one" >>"$tmp/rt"
done
: >"$tmp/spy"
for ((i = 0; i < CALLS; i++)); do
	"$SYM" ctl "$name" symspy --json >"$tmp/one" || die "symspy: $(cat "$tmp/one")"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["read_ns"])' "$tmp/one" >>"$tmp/spy"
done
dd_time() { # block size, tag -> seconds by the guest's clock
	echo "t0=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/port of=/dev/null bs=$1 skip=$((0x500 / $1)) count=$BLOCKS 2>/dev/null; t1=\$(cut -d' ' -f1 /proc/uptime); echo RESULT-$2 \$t0 \$t1" >&3
	guest_wait_for g "RESULT-$2 [0-9]" 600 || die "no result for $2"
	tr -d '\r' <"$tmp/g.out" | sed -n "s/^RESULT-$2 \([0-9.]*\) \([0-9.]*\)$/\1 \2/p" | awk '{printf "%.3f\n", $2 - $1}'
}
t256=$(dd_time 256 wide)
t1=$(dd_time 1 narrow)
echo 'poweroff -f' >&3
guest_finish g 60
python3 - "$tmp/rt" "$t256" "$t1" "$BLOCKS" "$tmp/spy" <<'PY'
import sys
ts = sorted(int(l) for l in open(sys.argv[1]))
spy = sorted(int(l) for l in open(sys.argv[5]))
t256, t1, n = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pio = (t256 - t1) / (n * 255) * 1e9
print(f"symcall null round trip: median {ts[len(ts)//2]/1e3:.1f} us, min {ts[0]/1e3:.1f} us ({len(ts)} calls)")
print(f"port-I/O read in the guest: {pio:.0f} ns each ({n} x 256 reads in {t256:.3f} s, {n} x 1 in {t1:.3f} s)")
print(f"ratio: one null SymCall costs {ts[len(ts)//2] / pio:.0f} port reads")
print(f"symspy read (global + per-vCPU pages, checked): median {spy[len(spy)//2]/1e3:.1f} us, min {spy[0]/1e3:.1f} us ({len(spy)} reads, no exit)")
print(f"ratio: one SymSpy read costs {spy[len(spy)//2] / pio:.1f} port reads; a null SymCall {ts[len(ts)//2] / spy[len(spy)//2]:.0f} SymSpy reads")
PY
