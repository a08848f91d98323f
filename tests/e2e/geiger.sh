#!/usr/bin/env bash
# Geiger end to end (emu, the default Debian guest, a disk made here): with
# nothing in the guest, the VMM infers its buffer cache.  Reading an 8 MiB
# file must make `inserted` and `cache_pages` rise by about its 2048 pages;
# dropping the guest's caches and reading another 8 MiB file must make the
# freed pages, reused, show up as evictions.  The inferred cache growth is
# compared, loosely, with what the guest's own /proc/meminfo says (Cached),
# and both are printed.  Reading the first file again must hit the ghost list
# of evicted blocks, and the working-set estimate must say about its size in
# pages more would have kept it.  The ctl verbs, the event stream
# (geiger-events) and the JSON fields the issue names are checked on the way.
# Last, deleting the first file (cached again) must evict its pages as
# freed: the block bitmap, written home, re-read from the image.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init geiger

mkdir "$tmp/root"
head -c 8M /dev/urandom >"$tmp/root/a.bin"
head -c 8M /dev/urandom >"$tmp/root/b.bin"
# No journal: jbd2's copies are a separate case (docs/services.md).
mke2fs -q -F -t ext4 -O ^has_journal -d "$tmp/root" "$tmp/disk.img" 64M >/dev/null 2>&1 || fail "mke2fs"

guest_start g timeout 1200 "$SYM" run --name "$name" --mem 256M --disk "$tmp/disk.img" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# step N CMDS: runs CMDS in the guest, then prints the guest's Cached (kB) as STEPN-<kB>.
step() {
	echo "$2; echo STEP$1-\$(awk '/^Cached:/ {print \$2}' /proc/meminfo)-END" >&3
	guest_wait_for g "^STEP$1-[0-9]*-END" 180 || fail "guest step $1 did not finish"
	sed -n "s/^STEP$1-\([0-9]*\)-END.*/\1/p" "$tmp/g.out" | tail -1
}

qmp geiger >"$tmp/q0" || fail "geiger: $(cat "$tmp/q0")"
[ "$(field tracking <"$tmp/q0")" = True ] || fail "geiger is not tracking: $(cat "$tmp/q0")"
[ "$(field writes_seen <"$tmp/q0")" = True ] || fail "emu should report guest writes to watched pages"

c1=$(step 1 'mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; sync; echo 3 >/proc/sys/vm/drop_caches')
qmp geiger >"$tmp/q1"
c2=$(step 2 'cat /mnt/a.bin >/dev/null')
qmp geiger >"$tmp/q2"
ins=$(($(field inserted <"$tmp/q2") - $(field inserted <"$tmp/q1")))
grow=$(($(field cache_pages <"$tmp/q2") - $(field cache_pages <"$tmp/q1")))
guest_grow=$(((c2 - c1) / 4))
[ "$ins" -ge 2048 ] || fail "reading 2048 pages of file inserted only $ins"
[ "$grow" -ge 1900 ] || fail "the inferred cache grew by $grow pages for a 2048-page file"
# Loosely: the guest's own count and the inferred one within 15% of each other.
[ $((grow * 100)) -ge $((guest_grow * 85)) ] && [ $((grow * 100)) -le $((guest_grow * 115)) ] ||
	fail "inferred growth $grow pages, the guest's Cached grew by $guest_grow pages"

c3=$(step 3 'echo 3 >/proc/sys/vm/drop_caches; cat /mnt/b.bin >/dev/null')
qmp geiger >"$tmp/q3"
ev=$(($(field evicted <"$tmp/q3") - $(field evicted <"$tmp/q2")))
ins3=$(($(field inserted <"$tmp/q3") - $(field inserted <"$tmp/q2")))
[ "$ins3" -ge 2048 ] || fail "reading the second file inserted only $ins3"
# The 2048 pages a.bin left are free again; reading b.bin reuses many of
# them (the guest zeroes a page it hands out, or a read lands in it).
[ "$ev" -ge 512 ] || fail "only $ev evictions after drop_caches and a read of 2048 new pages"

# Working-set size: a.bin's blocks were evicted while b.bin was read; reading
# a.bin again misses on them while they are ghosts, each about 2048
# evictions (b.bin's reuse of the freed pages) after it left.  So the curve
# says about 2048 more pages would have kept them.
qmp geiger-wss >"$tmp/w3" || fail "geiger-wss"
step 4 'cat /mnt/a.bin >/dev/null' >/dev/null
qmp geiger-wss >"$tmp/w4" || fail "geiger-wss"
gh=$(($(field ghost_hits <"$tmp/w4") - $(field ghost_hits <"$tmp/w3")))
extra=$(field extra_pages <"$tmp/w4")
[ "$gh" -ge 1000 ] || fail "re-reading the evicted file found only $gh ghosts"
[ "$extra" -ge 1024 ] && [ "$extra" -le 4096 ] ||
	fail "wss: $extra more pages estimated to keep blocks evicted ~2000 evictions before"
"$SYM" ctl "$name" wss >"$tmp/wss" || fail "ctl wss"
grep -q "^estimate" "$tmp/wss" || fail "ctl wss: $(cat "$tmp/wss")"
"$SYM" ctl "$name" wss --out "$tmp/curve" >/dev/null || fail "ctl wss --out"
[ "$(grep -vc '^#' "$tmp/curve")" -ge 2 ] && awk '!/^#/ && NF != 3 {exit 1}' "$tmp/curve" ||
	fail "ctl wss --out wrote no curve: $(head -3 "$tmp/curve")"
grep -q '<svg' "$tmp/curve.svg" && grep -q '<path' "$tmp/curve.svg" || fail "ctl wss --out wrote no plot"
out=$("$SYM" ctl "$name" status --out "$tmp/x" 2>&1) && fail "--out on status was accepted"
grep -q 'for prof and wss' <<<"$out" || fail "--out on status: $out"

# The stream: the newest records, in order, each an insert or an evict.
qmp geiger-events >"$tmp/ev" || fail "geiger-events"
python3 - "$tmp/ev" "$(field records <"$tmp/q3")" <<'PY' || fail "geiger-events: bad stream"
import json, sys
d = json.load(open(sys.argv[1])); ev = d["events"]
assert ev and d["next"] >= int(sys.argv[2]), d["next"]
assert all(e["kind"] in ("insert", "evict") for e in ev)
assert all(b["seq"] == a["seq"] + 1 for a, b in zip(ev, ev[1:]))
assert any(e["kind"] == "evict" for e in ev) and any(e["kind"] == "insert" for e in ev)
PY
# ctl, for people and as JSON.
"$SYM" ctl "$name" geiger >"$tmp/ctl" || fail "ctl geiger"
grep -q "^inserted" "$tmp/ctl" && grep -q "^evicted" "$tmp/ctl" || fail "ctl geiger: $(cat "$tmp/ctl")"
"$SYM" ctl "$name" geiger --json | field cache_pages >/dev/null || fail "ctl geiger --json"

# Block liveness from the file system: a.bin is cached again; deleting it
# and syncing writes the block bitmap home (no journal), Geiger re-reads the
# bitmap from the image and a.bin's pages leave the cache as freed.
qmp geiger >"$tmp/q4"
step 5 'rm /mnt/a.bin; sync' >/dev/null
sleep 1
qmp geiger >"$tmp/q5"
freed=$(python3 -c 'import json,sys; a,b=(json.load(open(f))["evicted_by"]["freed"] for f in sys.argv[1:]); print(b-a)' "$tmp/q4" "$tmp/q5")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["file_systems"][0]; assert d["known"] and d["bitmap_rereads"] > 0, d' "$tmp/q5" ||
	fail "the disk's file system was not read, or its bitmap never re-read: $(cat "$tmp/q5")"
[ "$freed" -ge 1900 ] || fail "deleting the cached 2048-page a.bin freed only $freed pages in Geiger's view"

echo 'poweroff -f' >&3
guest_finish g 60
inf3=$(field cache_pages <"$tmp/q3")
echo "PASS (file read: inserted $ins, inferred cache +$grow pages, guest Cached +$guest_grow pages;" \
	"after drop_caches and a new 2048-page read: $ev evictions; inferred cache $inf3 pages," \
	"guest Cached $((c3 / 4)) pages (the initramfs is in Cached but never on the disk);" \
	"re-reading the first file: $gh ghost hits, wss extra $extra pages; deleting it: $freed pages freed)"
