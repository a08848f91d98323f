#!/usr/bin/env bash
# SymCall's page-cache calls end to end (emu, the default guest with its
# symbiotic.ko, an ext4 disk the test makes): a file nobody has read has no
# cached pages; after the guest reads it, `symcall pagecache` lists one page
# per page of the file, and the bytes the VMM reads from those guest-physical
# pages are the file's (saved on the host and compared with the original).
# Reading it again costs the guest's disk nothing (its /sys/block/vda/stat
# sector count stays); `symcall drop` drops every page, the next listing is
# empty, and the guest's next read goes to the disk again for the whole
# file: the guest's own counters agree with the VMM.  A file on tmpfs is
# listed but cannot be dropped (its pages have no other home).  Bad paths
# (missing, a directory, a component too long for the guest, bytes that are
# no text, one too long for the call) each get one line of error, and the
# guest carries on.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs timeout mkfifo python3 md5sum
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init pcache
ctl() { "$SYM" ctl "$name" "$@"; }

mkdir "$tmp/root"
head -c $((1024 * 1024 + 1234)) /dev/urandom >"$tmp/root/a.bin" # 257 pages, the last partly
sum_a=$(md5sum <"$tmp/root/a.bin" | cut -c1-32)
mke2fs -q -F -t ext4 -O ^has_journal -d "$tmp/root" "$tmp/disk.img" 32M >/dev/null 2>&1 || fail "mke2fs"

guest_start g timeout 900 "$SYM" run --engine emu --name "$name" --cpus 2 --mem 256M --disk "$tmp/disk.img" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
step() { # N CMDS: runs them, waits for STEPN-DONE
	echo "$2; echo STEP$1-\"DONE\"" >&3
	guest_wait_for g "^STEP$1-DONE" 300 || fail "guest step $1 did not finish"
}
# sectors the guest has read from vda, by its own count
sectors() {
	echo "echo SECT$1-\$(cut -c1-40 /sys/block/vda/stat | awk '{print \$3}')-END" >&3
	guest_wait_for g "^SECT$1-[0-9]*-END" 120 || fail "the guest never printed its disk counters"
	tr -d '\r' <"$tmp/g.out" | sed -n "s/^SECT$1-\([0-9]*\)-END$/\1/p" | tail -1
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

step 1 'mkdir -p /mnt; mount -t ext4 /dev/vda /mnt'
ctl symcall pagecache /mnt/a.bin --json >"$tmp/p0.json" || fail "pagecache before reading: $(cat "$tmp/p0.json")"
[ "$(field "$tmp/p0.json" size)" = $((1024 * 1024 + 1234)) ] || fail "wrong size: $(cat "$tmp/p0.json")"
[ "$(field "$tmp/p0.json" listed_pages)" = 0 ] || fail "an unread file has cached pages: $(cat "$tmp/p0.json")"

step 2 'cat /mnt/a.bin >/dev/null'
ctl symcall pagecache /mnt/a.bin "$tmp/a.saved" --json >"$tmp/p1.json" || fail "pagecache: $(cat "$tmp/p1.json")"
python3 - "$tmp/p1.json" <<'PY' || fail "pagecache after reading: $(head -c 600 "$tmp/p1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["size_pages"] == 257 and r["listed_pages"] == 257 and r["cached_pages"] == 257, r
idx = [run["index"] + k for run in r["runs"] for k in range(run["pages"])]
assert idx == list(range(257)), idx
assert r["saved_bytes"] == r["size"], r
PY
[ "$(md5sum <"$tmp/a.saved" | cut -c1-32)" = "$sum_a" ] ||
	fail "the bytes in the listed guest-physical pages are not the file's"
ctl symcall pagecache /mnt/a.bin | grep -q '^/mnt/a.bin: 1049810 bytes (257 pages), 257 cached pages' ||
	fail "pagecache table: $(ctl symcall pagecache /mnt/a.bin | head -3)"

# Cached: reading again costs no disk reads.
s0=$(sectors 0)
step 3 'cat /mnt/a.bin >/dev/null'
s1=$(sectors 1)
[ $((s1 - s0)) -lt 64 ] || fail "re-reading a cached file read $((s1 - s0)) sectors"

# Dropped: nothing listed, and the guest reads the whole file from disk again.
ctl symcall drop /mnt/a.bin --json >"$tmp/d.json" || fail "drop: $(cat "$tmp/d.json")"
[ "$(field "$tmp/d.json" dropped_pages)" = 257 ] && [ "$(field "$tmp/d.json" cached_pages)" = 0 ] ||
	fail "drop: $(cat "$tmp/d.json")"
ctl symcall pagecache /mnt/a.bin --json >"$tmp/p2.json" || fail "pagecache after drop: $(cat "$tmp/p2.json")"
[ "$(field "$tmp/p2.json" listed_pages)" = 0 ] || fail "pages listed after the drop: $(head -c 300 "$tmp/p2.json")"
s2=$(sectors 2)
step 4 'cat /mnt/a.bin >/dev/null'
s3=$(sectors 3)
[ $((s3 - s2)) -ge $((257 * 8 - 8)) ] ||
	fail "after the drop the guest read only $((s3 - s2)) sectors for a 257-page file"
ctl symcall drop /mnt/a.bin | grep -q '^/mnt/a.bin: dropped 257 pages, 0 still cached' ||
	fail "drop table: $(ctl symcall drop /mnt/a.bin)"

# tmpfs: listed, not droppable.
step 5 'head -c 40000 /dev/zero >/tmp/t.bin'
ctl symcall pagecache /tmp/t.bin --json >"$tmp/t.json" || fail "pagecache on tmpfs: $(cat "$tmp/t.json")"
[ "$(field "$tmp/t.json" listed_pages)" = 10 ] || fail "pagecache on tmpfs: $(cat "$tmp/t.json")"
ctl symcall drop /tmp/t.bin --json >"$tmp/td.json" || fail "drop on tmpfs: $(cat "$tmp/td.json")"
[ "$(field "$tmp/td.json" dropped_pages)" = 0 ] && [ "$(field "$tmp/td.json" cached_pages)" = 10 ] ||
	fail "drop on tmpfs: $(cat "$tmp/td.json")"

# Bad paths: one line each, the right reason, the guest carrying on.
bad() { # expected-text ARGS...
	local want=$1
	shift
	ctl symcall "$@" >"$tmp/out" 2>"$tmp/err" && fail "symcall $1 ${2:0:40} succeeded"
	[ "$(wc -l <"$tmp/err")" = 1 ] || fail "symcall $1 ${2:0:40}: $(head -c 300 "$tmp/err")"
	grep -q "$want" "$tmp/err" || fail "symcall $1 ${2:0:40}: $(head -c 300 "$tmp/err")"
}
bad 'No such file' pagecache /mnt/none
bad 'Is a directory' drop /mnt
bad 'File name too long' pagecache "/mnt/$(printf 'x%.0s' {1..300})"
bad 'No such file' pagecache "$(printf '/\001\002\377\376/\033[2J')"
bad 'absolute guest path' pagecache "/$(printf 'a%.0s' {1..5000})"
bad 'absolute guest PATH' pagecache relative/path
bad 'PATH only' drop /mnt/a.bin extra
[ "$(ctl status)" = running ] || fail "the guest is not running after the bad paths"
echo 'echo ALIVE-$((6*7))' >&3
guest_wait_for g ALIVE-42 120 || fail "the guest did not carry on"
echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS (pagecache: 257 of 257 pages listed with the file's bytes; cached re-read $((s1 - s0)) sectors," \
	"after drop $((s3 - s2)) sectors; tmpfs listed, not dropped; bad paths refused in one line)"
