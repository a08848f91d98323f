#!/usr/bin/env bash
# VSched benchmark: what a reservation delivers.  A CPU-bound test guest
# (tests/guests/spin.elf: one vCPU that never idles, on emu) runs DUR
# seconds under --sched for periods 1, 10 and 100 ms and slices of 10% to
# 90% of the period, alone and beside best-effort CPU hogs on every host
# CPU (the competition a reservation exists to beat).  For each, from the
# VMM's own accounting (ctl sched, include/symbiont/vsched.h): the share of
# a CPU the vCPU received, that share over the reserved one (the ratio: 1.00
# is the promise kept), and deadline misses per wanted period.  Run as root
# the reservation is SCHED_DEADLINE; then pinned with cpus=0, which the
# user-level scheduler runs at SCHED_FIFO; then the same matrix as user
# nobody, where the kernel refuses SCHED_DEADLINE and real-time priority
# and the user-level scheduler can only cap the VM (as on a host that
# grants no privilege).  The peer of
# a reservation is its own promise; no other VMM offers one.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
DUR=${DUR:-3}
GUEST=$BUILD/tests/guests/spin.elf
[ -x "$SYM" ] && [ -e "$GUEST" ] || { echo "bench: build first (make)"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
AS=()
export XDG_RUNTIME_DIR=$tmp/run
RUNDIR=$XDG_RUNTIME_DIR
mkdir -m 700 "$XDG_RUNTIME_DIR"

# one PERIOD_MS PERCENT: prints "share ratio misses/wanted mode"
one() {
	local p=$1 pct=$2 sock=$RUNDIR/api.sock i
	local slice_us=$((p * 1000 * pct / 100))
	rm -f "$sock"
	"${AS[@]}" "$SYM" run --engine emu --kernel "$GUEST" --api "$sock" --sched "period=${p}ms,slice=${slice_us}us$EXTRA" \
		</dev/null >"$tmp/vm.out" 2>"$tmp/vm.err" &
	local vm=$!
	for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
	sleep "$DUR"
	"${AS[@]}" "$SYM" ctl "$sock" sched --json >"$tmp/s.json" 2>/dev/null
	"${AS[@]}" "$SYM" ctl "$sock" quit >/dev/null 2>&1
	wait $vm 2>/dev/null
	python3 - "$tmp/s.json" "$pct" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1])); t = s["threads"][0]
except Exception as e:
    print(f"{'-':>7} {'-':>6} {'-':>12}  (no figures: {e})"); sys.exit()
pct = int(sys.argv[2])
share = t["received_ns"] / max(1, t["elapsed_ns"])
print(f"{share:7.3f} {share / (pct / 100):6.2f} {t['misses']:5d}/{t['wanted']:<6d} {s['mode']}")
PY
}

matrix() {
	printf '%-9s %-6s %-6s %7s %6s %12s  %s\n' period slice hogs share ratio misses/wanted mode
	for hogs in 0 $(nproc); do
		hp=()
		for ((h = 0; h < hogs; h++)); do
			(while :; do :; done) &
			hp+=($!)
			pids+=($!)
		done
		for p in 1 10 100; do
			for pct in 10 30 50 70 90; do
				printf '%-9s %-6s %-6s ' "${p}ms" "$pct%" "$hogs"
				one $p $pct
			done
		done
		for h in "${hp[@]}"; do kill $h 2>/dev/null; done
	done
}

EXTRA=
echo "as $(id -un):"
matrix
if [ "$(id -u)" = 0 ]; then
	EXTRA=,cpus=0
	echo "as root, cpus=0 (the user-level scheduler at SCHED_FIFO; the hogs run on every CPU):"
	matrix
	EXTRA=
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	RUNDIR=$tmp/run-nobody
	AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups env XDG_RUNTIME_DIR=$RUNDIR)
	mkdir -m 700 "$RUNDIR" && chown nobody "$RUNDIR"
	echo "as nobody (no SCHED_DEADLINE):"
	matrix
fi
