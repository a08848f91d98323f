#!/usr/bin/env bash
# The symbiotic module's page-cache ring end to end (emu, default Debian
# guest, a disk made here): the guest kernel's own page-cache insertions and
# deletions (abi/pcache.h), followed by the VMM into a host file with no exit
# (pcache-follow-start/-stop).  Reading a 4 MiB file after drop_caches must
# show an insertion of each of its 1024 pages, on the disk's device and the
# file's inode (as the guest's own ls -i and mountinfo say), and the next
# drop_caches a deletion of each; nothing may be lost.  A follow with no file
# named, a second follow, and a stop with none running are one-line errors.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init pcache

mkdir "$tmp/root"
head -c 4M /dev/urandom >"$tmp/root/f.bin"
mke2fs -q -F -t ext4 -O ^has_journal -d "$tmp/root" "$tmp/disk.img" 32M >/dev/null 2>&1 || fail "mke2fs"
guest_start g "$SYM" run --name "$name" --disk "$tmp/disk.img" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"

echo 'mkdir -p /mnt; mount -t ext4 /dev/vda /mnt; echo INO=$(ls -i /mnt/f.bin | awk "{print \$1}") DEV=$(awk "\$5 == \"/mnt\" {print \$3}" /proc/self/mountinfo); sync; echo 3 >/proc/sys/vm/drop_caches; echo PREP-"DONE"' >&3
guest_wait_for g PREP-DONE 120 || fail "the guest could not mount its disk"
ino=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^INO=\([0-9]*\) DEV=.*/\1/p' | tail -1)
dev=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^INO=[0-9]* DEV=\([0-9:]*\)$/\1/p' | tail -1)
[ -n "$ino" ] && [ -n "$dev" ] || fail "no inode or device from the guest: [$ino] [$dev]"

out=$(qmp pcache-follow-start 2>&1) && fail "a follow without a path was accepted"
grep -q "'path'" <<<"$out" || fail "pcache-follow-start without a path: $out"
qmp pcache-follow-start "{\"path\": \"$tmp/ring\"}" >/dev/null || fail "pcache-follow-start: $(qmp pcache-follow-start "{\"path\": \"$tmp/ring\"}" 2>&1)"
out=$(qmp pcache-follow-start "{\"path\": \"$tmp/ring2\"}" 2>&1) && fail "a second follow was accepted"
grep -q "already" <<<"$out" || fail "a second follow: $out"
echo 'cat /mnt/f.bin >/dev/null; echo 3 >/proc/sys/vm/drop_caches; echo READ-"DONE"' >&3
guest_wait_for g READ-DONE 120 || fail "the guest's read did not finish"
sleep 0.5
qmp pcache-follow-stop >"$tmp/stop" || fail "pcache-follow-stop"
python3 - "$tmp/stop" "$tmp/ring" "$ino" "$dev" <<'PY' || fail "the ring's records"
import json, sys
stop = json.load(open(sys.argv[1]))
ino, dev = int(sys.argv[3]), sys.argv[4]
assert stop["ring"] and stop["lost"] == 0, stop
added, deleted = set(), set()
n = 0
for line in open(sys.argv[2]):
    tsc, op, pfn, d, i, index, order = line.split()
    n += 1
    if d == dev and int(i) == ino:
        pages = range(int(index), int(index) + (1 << int(order)))
        (added if op == "add" else deleted).update(pages)
assert n == stop["records"], (n, stop)
want = set(range(1024))
assert added >= want, f"insertions of {len(added & want)} of the file's 1024 pages"
assert deleted >= want, f"deletions of {len(deleted & want)} of the file's 1024 pages"
print(f"ring: {n} records, the file's 1024 pages inserted and deleted, none lost")
PY
out=$(qmp pcache-follow-stop 2>&1) && fail "a stop with no follow was accepted"
grep -q "not being followed" <<<"$out" || fail "a stop with no follow: $out"
echo 'poweroff -f' >&3
guest_finish g 60
echo PASS
