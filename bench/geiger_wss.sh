#!/usr/bin/env bash
# Geiger's working-set estimate checked by a rerun (issue 12): the default
# guest on emu with MEM of RAM reads SET MiB of files PASSES times in the
# same order after drop_caches.  Geiger tracks from the first pass
# (geiger-start) and its miss curve (geiger-wss, share SHARE%) names the
# extra memory that would avoid SHARE% of the avoidable misses.  A second
# VM with MEM plus that much RAM runs the same workload; its disk reads in
# the passes after the first are the misses it really gets, printed beside
# the curve's prediction for that memory and the first VM's own.
# Misses are 4 KiB pages read from the disk (the disk's read_bytes / 4096),
# the VMM's view: the guest's cache hits are invisible to it.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
MEM=${MEM:-128}
SET=${SET:-96}
PASSES=${PASSES:-3}
SHARE=${SHARE:-95}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
command -v mke2fs >/dev/null || die "mke2fs missing (scripts/deps.sh)"

mkdir -p "$tmp/root/set"
for i in $(seq 1 $((SET / 4))); do head -c 4M /dev/urandom >"$tmp/root/set/$(printf %03d "$i")"; done
mke2fs -q -F -t ext4 -d "$tmp/root" "$tmp/disk.img" $((SET + 64))M >/dev/null 2>&1 || die "mke2fs"
rm -rf "$tmp/root"
control_init bench-gwss

# One VM of $1 MiB: prints "first-pass-pages later-passes-pages", the disk's
# reads in pages; leaves geiger-wss in $tmp/wss.$1.
run_vm() {
	local mem=$1
	name=bench-gwss-$mem-$$
	sock=$XDG_RUNTIME_DIR/symbiont/$name.sock
	guest_start "m$mem" "$SYM" run --name "$name" --mem "${mem}M" --disk "$tmp/disk.img" ||
		die "the ${mem} MiB guest never became ready"
	echo "mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; sync; echo 3 >/proc/sys/vm/drop_caches; echo READY-\"DONE\"" >&3
	guest_wait_for "m$mem" "^READY-DONE" 300 || die "mount"
	qmp geiger-start >/dev/null || die "geiger-start"
	qmp query-metrics >"$tmp/m0.$mem" || die "query-metrics"
	echo "cat /mnt/set/* >/dev/null; echo PASS1-\"DONE\"" >&3
	guest_wait_for "m$mem" "^PASS1-DONE" 900 || die "first pass"
	qmp query-metrics >"$tmp/m1.$mem" || die "query-metrics"
	echo "for p in \$(seq 2 $PASSES); do cat /mnt/set/* >/dev/null; done; echo PASSES-\"DONE\"" >&3
	guest_wait_for "m$mem" "^PASSES-DONE" 1800 || die "passes"
	qmp query-metrics >"$tmp/m2.$mem" || die "query-metrics"
	# The guest's own figures beside Geiger's inferred cache (cache_pages).
	echo "grep -E '^(MemFree|Cached|Active.file|Inactive.file):' /proc/meminfo | tr -s ' ' | tr '\n' ' '; echo MEMINFO-\"DONE\"" >&3
	guest_wait_for "m$mem" "MEMINFO-DONE" 60 || die "meminfo"
	grep -a -o 'MemFree: .*MEMINFO-DONE' "$tmp/m$mem.out" | tail -n 1 | sed 's/ *MEMINFO-DONE//' >"$tmp/meminfo.$mem"
	python3 - "$sock" "$SHARE" >"$tmp/wss.$mem" <<'PY' || die "geiger-wss"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw"); f.readline()
for cmd in ({"execute": "qmp_capabilities"}, {"execute": "geiger-wss", "arguments": {"share": int(sys.argv[2])}}):
    f.write(json.dumps(cmd) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
if "error" in r:
    sys.exit(r["error"]["desc"])
print(json.dumps(r["return"]))
PY
	echo 'poweroff -f' >&3
	guest_finish "m$mem" 60
	python3 - "$tmp/m0.$mem" "$tmp/m1.$mem" "$tmp/m2.$mem" <<'PY'
import json, sys
r = [json.load(open(f))["devices"]["virtio-blk"]["read_bytes"] for f in sys.argv[1:]]
print((r[1] - r[0]) // 4096, (r[2] - r[1]) // 4096)
PY
}

read -r cold1 warm1 <<<"$(run_vm "$MEM")" || exit 1
read -r extra est misses1 pred extra_ev inferred free free_src <<<"$(python3 - "$tmp/wss.$MEM" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
extra = w["extra_pages"]
# the curve's misses with that much more memory: the point at or above it
pts = [p for p in w["curve"] if p["extra_pages"] >= extra] or w["curve"][-1:]
print(extra, w["estimate_pages"], w["misses"], pts[0]["misses"], w["extra_pages_by_evictions"],
      w["inferred_cache_pages"], w["guest_free_pages"], w["free_source"])
PY
)"
mem2=$((MEM + (extra * 4 + 1023) / 1024))
read -r cold2 warm2 <<<"$(run_vm "$mem2")" || exit 1
total=$(((PASSES - 1) * SET * 256))
echo "geiger wss check: emu, $SET MiB read $PASSES times in order after drop_caches; share $SHARE%"
echo "  $MEM MiB guest: first pass read $cold1 pages, passes 2..$PASSES read $warm1 pages (miss ratio" \
	"$(echo "100 * $warm1 / $total" | bc -l | xargs printf '%.1f')% of $total page reads)"
echo "  Geiger: $misses1 read misses seen, estimate $est pages of cache = $extra pages more than now;" \
	"the curve predicts $pred misses in all $PASSES passes with them" \
	"(by eviction distances instead: $extra_ev pages more)"
echo "  the $MEM MiB guest's own figures at the end: $(cat "$tmp/meminfo.$MEM") (Geiger's inferred cache:" \
	"$inferred pages = $((inferred * 4)) kB; less the $free pages free by $free_src: $((est - extra)) pages)"
echo "  rerun with $mem2 MiB: first pass read $cold2 pages, passes 2..$PASSES read $warm2 pages (miss ratio" \
	"$(echo "100 * $warm2 / $total" | bc -l | xargs printf '%.1f')%);" \
	"predicted for passes 2..$PASSES: $((pred > cold1 ? pred - cold1 : 0)) pages"
# ALSO="MiB ...": more reruns at other memory sizes, to see where the misses really stop.
for m in ${ALSO:-}; do
	read -r c w <<<"$(run_vm "$m")" || exit 1
	echo "  rerun with $m MiB: first pass read $c pages, passes 2..$PASSES read $w pages (miss ratio" \
		"$(echo "100 * $w / $total" | bc -l | xargs printf '%.1f')%)"
done
