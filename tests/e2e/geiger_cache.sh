#!/usr/bin/env bash
# The eviction-based host cache end to end (emu, the default guest, a disk
# with cache=exclusive): a file read and then pushed out of the guest's
# cache (drop_caches, then another file read into the freed pages) lands in
# the host cache (cache_fills); reading it again is served from there
# (cache_hits) with the right data.  Then the guest overwrites, in place,
# the file whose blocks are in the host cache again: every cached block must
# be dropped (cache_invalidations) and the guest, reading after
# drop_caches, must see its new data, not the cached old one (the checksums
# are compared with ones computed on the host).
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs timeout mkfifo python3 md5sum
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init gcache

mkdir "$tmp/root"
head -c 8M /dev/urandom >"$tmp/root/a.bin"
head -c 8M /dev/urandom >"$tmp/root/b.bin"
head -c 8M /dev/urandom >"$tmp/root/new.bin"
sum_a=$(md5sum <"$tmp/root/a.bin" | cut -c1-32) sum_new=$(md5sum <"$tmp/root/new.bin" | cut -c1-32)
mke2fs -q -F -t ext4 -O ^has_journal -d "$tmp/root" "$tmp/disk.img" 64M >/dev/null 2>&1 || fail "mke2fs"

guest_start g timeout 900 "$SYM" run --name "$name" --mem 256M --disk "$tmp/disk.img,cache=exclusive:32M" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
stat_of() { qmp query-metrics | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"]["virtio-blk"].get(sys.argv[1], -1))' "$1"; }
step() { # N CMDS: runs them, waits for STEPN-DONE
	echo "$2; echo STEP$1-\"DONE\"" >&3
	guest_wait_for g "^STEP$1-DONE" 180 || fail "guest step $1 did not finish"
}
step 1 'mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; cat /mnt/a.bin >/dev/null; echo 3 >/proc/sys/vm/drop_caches; cat /mnt/b.bin >/dev/null'
fills=$(stat_of cache_fills)
[ "$fills" -ge 1024 ] || fail "only $fills blocks went into the exclusive cache after a.bin was pushed out"
h0=$(stat_of cache_hits)
step 2 'echo SUM1-$(md5sum </mnt/a.bin | cut -c1-32)-END'
h1=$(stat_of cache_hits)
[ $((h1 - h0)) -ge 1024 ] || fail "re-reading a.bin hit the host cache only $((h1 - h0)) times"
grep -q "^SUM1-$sum_a-END" <(tr -d '\r' <"$tmp/g.out") || fail "a.bin read back from the cache is wrong"

# Into the host cache again, then overwritten in place by the guest.
step 3 'echo 3 >/proc/sys/vm/drop_caches; cat /mnt/b.bin >/dev/null'
cached=$(stat_of cache_blocks)
[ "$cached" -ge 1024 ] || fail "a.bin did not go back into the host cache"
i0=$(stat_of cache_invalidations)
step 4 'dd if=/mnt/new.bin of=/mnt/a.bin bs=1M conv=notrunc 2>/dev/null; sync; echo 3 >/proc/sys/vm/drop_caches'
i1=$(stat_of cache_invalidations)
[ $((i1 - i0)) -ge 1024 ] || fail "the guest's overwrite dropped only $((i1 - i0)) of $cached cached blocks"
step 5 'echo SUM2-$(md5sum </mnt/a.bin | cut -c1-32)-END'
grep -q "^SUM2-$sum_new-END" <(tr -d '\r' <"$tmp/g.out") || fail "the guest read stale data after its write"
echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS (exclusive cache: $fills fills after a.bin was pushed out, $((h1 - h0)) hits re-reading it, right data;" \
	"the guest's overwrite of the file dropped $((i1 - i0)) cached blocks ($cached were cached before it began) and it read its new data back)"
