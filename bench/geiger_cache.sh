#!/usr/bin/env bash
# The eviction-based host cache (issue 12) beside an ordinary one: the
# default Debian guest on emu with MEM of RAM reads a set of files larger
# than its page cache can hold, PASSES times in the same order (each pass
# pushes out what the next one needs first: the guest's cache alone hits
# almost nothing).  The disk runs three ways, one VM each, same image:
#   none       no host cache
#   lru        cache=lru:CACHE, the inclusive read cache (every block read
#              goes in, least recently used out)
#   exclusive  cache=exclusive:CACHE, filled with the blocks Geiger infers
#              the guest evicted, dropped when read back into the guest
# The working set (SET MiB) exceeds the guest's cache but fits it plus
# CACHE.  Prints, per mode, the host cache's hit rate over the passes after
# the first (hits / 4 KiB blocks read by the guest) and the guest's time for
# those passes (its own clock), and the ratio of the hit rates.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
MEM=${MEM:-160M}
SET=${SET:-160}
CACHE=${CACHE:-64M}
PASSES=${PASSES:-3}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
command -v mke2fs >/dev/null || die "mke2fs missing (scripts/deps.sh)"

mkdir -p "$tmp/root/set"
for i in $(seq 1 $((SET / 4))); do head -c 4M /dev/urandom >"$tmp/root/set/$(printf %03d "$i")"; done
mke2fs -q -F -t ext4 -d "$tmp/root" "$tmp/disk.img" $((SET + 128))M >/dev/null 2>&1 || die "mke2fs"
rm -rf "$tmp/root"

control_init bench-gcache
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# One VM: MODE SPEC -> "hits misses seconds"
run_mode() {
	local mode=$1 spec=$2
	name=bench-gcache-$mode-$$
	sock=$XDG_RUNTIME_DIR/symbiont/$name.sock
	guest_start "$mode" "$SYM" run --name "$name" --mem "$MEM" --disk "$tmp/disk.img$spec" ||
		die "the $mode guest never became ready"
	echo "mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; sync; echo 3 >/proc/sys/vm/drop_caches; cat /mnt/set/* >/dev/null; echo WARM-\"DONE\"" >&3
	guest_wait_for "$mode" "^WARM-DONE" 900 || die "$mode: the first pass did not finish"
	qmp query-metrics >"$tmp/$mode.m0" || die "query-metrics"
	echo "t0=\$(cut -d' ' -f1 /proc/uptime); for p in \$(seq 2 $PASSES); do cat /mnt/set/* >/dev/null; done; t1=\$(cut -d' ' -f1 /proc/uptime); echo RESULT-\"$mode\" \$t0 \$t1" >&3
	guest_wait_for "$mode" "^RESULT-$mode [0-9]" 1800 || die "$mode: the passes did not finish"
	qmp query-metrics >"$tmp/$mode.m1" || die "query-metrics"
	echo 'poweroff -f' >&3
	guest_finish "$mode" 60
	python3 - "$tmp/$mode.m0" "$tmp/$mode.m1" <<'PY'
import json, sys
a, b = (json.load(open(f))["devices"]["virtio-blk"] for f in sys.argv[1:])
d = lambda k: b.get(k, 0) - a.get(k, 0)
print(d("cache_hits"), d("read_bytes") // 4096)
PY
	tr -d '\r' <"$tmp/$mode.out" | sed -n "s/^RESULT-$mode \([0-9.]*\) \([0-9.]*\)$/\1 \2/p" | awk '{printf "%.2f\n", $2 - $1}'
}

declare -A hits blocks secs
for m in none lru exclusive; do
	case $m in
	none) spec= ;;
	*) spec=",cache=$m:$CACHE" ;;
	esac
	out=$(run_mode $m "$spec") || exit 1
	read -r hits[$m] blocks[$m] <<<"$(echo "$out" | head -1)"
	secs[$m]=$(echo "$out" | tail -1)
done
echo "geiger host cache: emu, $MEM guest, $SET MiB read $PASSES times in order, host cache $CACHE;" \
	"figures over passes 2..$PASSES"
for m in none lru exclusive; do
	printf '  %-10s %8d hits of %8d blocks read  %6.2f%%   %7s s (guest clock)\n' "$m" "${hits[$m]}" "${blocks[$m]}" \
		"$(echo "100 * ${hits[$m]} / (${blocks[$m]} + (${blocks[$m]} == 0))" | bc -l)" "${secs[$m]}"
done
if [ "${hits[lru]}" -gt 0 ]; then
	ratio="$(echo "${hits[exclusive]} / ${hits[lru]}" | bc -l | xargs printf '%.1f')x"
else
	ratio="unbounded (lru: no hits)"
fi
echo "  exclusive / lru hit rate: $ratio; time exclusive / none: $(echo "${secs[exclusive]} / ${secs[none]}" | bc -l |
	xargs printf '%.2f') (times are noisy on a shared host; the hit counts are not)"
