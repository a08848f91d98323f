#!/usr/bin/env bash
# Live migration of the default Debian guest between two symbiont processes
# on this host, over a unix socket, on emu: the guest counts every 100 ms to
# its console and to a file on an ext4 virtio disk, while a CPU loop and a
# disk writer run.  First, migrations that cannot happen (nobody listening;
# a destination that takes some of the stream and hangs up) must leave the
# source running: the counter goes on there, and so does a migration
# cancelled half-way.  Then the guest is migrated
# (with --verify: the destination checks a CRC of all guest RAM): the
# source quits, the counter carries on at the destination from where it
# was, the console takes commands, the guest logged no error, and the disk
# is clean for fsck after the guest unmounts it.  A stream that is not a
# migration is one line and exit 2 at the destination.
#   KEEP=1 keeps the console logs.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs e2fsck timeout mkfifo python3
require_guest

mke2fs -q -F -t ext4 -L count "$tmp/disk.img" 64M >/dev/null 2>&1 || fail "mke2fs"

guest_start a "$SYM" run --engine emu --api "$tmp/api" --disk "$tmp/disk.img" || fail "the guest never came up"
src_pid=$pid
cat >&3 <<'CMDS'
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt && echo "MOUNT-$((40+2))"
i=0; while :; do echo "TICK-$i."; echo $i >/mnt/counter; i=$((i+1)); sleep 0.1; done &
while :; do j=$((j+1)); done &
while :; do dd if=/dev/urandom of=/mnt/blob bs=64k count=64 conv=fsync 2>/dev/null; done &
CMDS
guest_wait_for a "TICK-20\." 120 || fail "the guest does not count (see $tmp/a.out)"

ticks() { grep -ao 'TICK-[0-9]*\.' "$tmp/$1.out" | tail -1 | tr -dc 0-9; }
# counts_on NAME: the counter in NAME's console moves on by 10 within 60 s.
counts_on() {
	local from want i
	from=$(ticks "$1")
	want=$((from + 10))
	for ((i = 0; i < 60; i++)); do
		[ "$(ticks "$1")" -ge $want ] && return 0
		sleep 1
	done
	return 1
}

# The kernel's complaints before any migration (the boot may have some).
echo 'echo "BEFORE-$(dmesg | grep -ci "error\|warn\|bug\|oops")-ISSUES"' >&3
guest_wait_for a "BEFORE-[0-9]*-ISSUES" 30 || fail "the console does not answer"
before=$(grep -ao 'BEFORE-[0-9]*-ISSUES' "$tmp/a.out" | tail -1 | tr -dc 0-9)

# Nobody listening: refused at once, the source runs on.
"$SYM" ctl "$tmp/api" migrate "unix:$tmp/nobody.sock" >"$tmp/dead.out" 2>&1 && fail "a migration to nobody succeeded"
[ "$("$SYM" ctl "$tmp/api" status)" = running ] || fail "the source is not running after a refused migration"
counts_on a || fail "the guest stopped counting after a refused migration"
echo "ok   to nobody: $(head -1 "$tmp/dead.out")"

# A destination that reads 2 MiB of the stream and hangs up.
python3 - "$tmp/hangup.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); got = 0
while got < (2 << 20):
    b = c.recv(65536)
    if not b: break
    got += len(b)
c.close()
PY
bg_pids+=($!)
for ((i = 0; i < 50; i++)); do [ -S "$tmp/hangup.sock" ] && break; sleep 0.1; done
"$SYM" ctl "$tmp/api" migrate "unix:$tmp/hangup.sock" >"$tmp/hangup.out" 2>&1 && fail "a migration to a destination that hung up succeeded"
[ "$("$SYM" ctl "$tmp/api" status)" = running ] || fail "the source is not running after a failed migration"
counts_on a || fail "the guest stopped counting after a failed migration"
echo "ok   destination hangs up: $(tail -1 "$tmp/hangup.out")"

# A migration cancelled half-way (capped at 2 MiB/s, it would take half a
# minute): the source runs on, the destination gives up with an error.
"$SYM" run --incoming "unix:$tmp/cancel.sock" </dev/null >/dev/null 2>"$tmp/cancel-dst.err" &
cdst=$!
bg_pids+=($cdst)
for ((i = 0; i < 50; i++)); do [ -S "$tmp/cancel.sock" ] && break; sleep 0.1; done
"$SYM" ctl "$tmp/api" migrate "unix:$tmp/cancel.sock" --bandwidth 2 >"$tmp/cancel.out" 2>&1 &
cctl=$!
sleep 2
python3 - "$tmp/api" <<'PY' || fail "migrate_cancel refused"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "migrate_cancel"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
    if "error" in r:
        sys.exit(r["error"]["desc"])
PY
wait $cctl && fail "a cancelled migration reported success"
grep -q "migration cancelled" "$tmp/cancel.out" || fail "ctl migrate after a cancel: $(cat "$tmp/cancel.out")"
wait $cdst
rc=$?
[ $rc -eq 2 ] && grep -q "cut short" "$tmp/cancel-dst.err" ||
	fail "the destination of a cancelled migration: exit $rc, $(cat "$tmp/cancel-dst.err")"
[ "$("$SYM" ctl "$tmp/api" status)" = running ] || fail "the source is not running after a cancelled migration"
counts_on a || fail "the guest stopped counting after a cancelled migration"
echo "ok   cancelled: $(tail -1 "$tmp/cancel.out"); destination exit $rc: $(grep -v waiting "$tmp/cancel-dst.err")"

# A stream that is not a migration: the destination refuses it, one line, exit 2.
"$SYM" run --incoming "unix:$tmp/junk.sock" </dev/null >/dev/null 2>"$tmp/junk.err" &
junk_pid=$!
for ((i = 0; i < 50; i++)); do [ -S "$tmp/junk.sock" ] && break; sleep 0.1; done
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"SYMBMIGR\x07\0\0\0\0\0\0\0"); print(s.recv(200).decode().strip())' "$tmp/junk.sock" >"$tmp/junk.reply"
wait $junk_pid
rc=$?
[ $rc -eq 2 ] && grep -q "version 7" "$tmp/junk.err" && grep -q "^ERR " "$tmp/junk.reply" ||
	fail "a bad stream: exit $rc, $(cat "$tmp/junk.err") / $(cat "$tmp/junk.reply")"
echo "ok   bad stream refused: $(grep -v waiting "$tmp/junk.err")"

# The migration.
mkfifo "$tmp/b.in"
"$SYM" run --incoming "unix:$tmp/mig.sock" --api "$tmp/b.api" <"$tmp/b.in" >"$tmp/b.out" 2>"$tmp/b.err" &
dst_pid=$!
exec 4>"$tmp/b.in"
bg_pids+=($dst_pid)
for ((i = 0; i < 50; i++)); do [ -S "$tmp/mig.sock" ] && break; sleep 0.1; done
"$SYM" ctl "$tmp/api" migrate "unix:$tmp/mig.sock" --verify >"$tmp/mig.out" 2>"$tmp/mig.err" ||
	fail "migrate: $(cat "$tmp/mig.out" "$tmp/mig.err")"
cat "$tmp/mig.out"
for ((i = 0; i < 30; i++)); do kill -0 "$src_pid" 2>/dev/null || break; sleep 0.5; done
kill -0 "$src_pid" 2>/dev/null && fail "the source did not quit after the migration"
wait "$src_pid"
echo "source exited with status $?"
pid=$dst_pid
exec 3>&4 4>&-
last=$(ticks a)
echo "the guest had counted to $last at the source"
for ((i = 0; i < 60; i++)); do
	[ "$(ticks b)" ] && [ "$(ticks b)" -ge $((last + 10)) ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
[ "$(ticks b)" ] && [ "$(ticks b)" -ge $((last + 10)) ] ||
	fail "the guest did not count on to $((last + 10)) at the destination ($(head -c 300 "$tmp/b.err"))"
first=$(grep -ao 'TICK-[0-9]*\.' "$tmp/b.out" | head -1 | tr -dc 0-9)
[ "$first" -ge $((last + 1)) ] && [ "$first" -le $((last + 2)) ] ||
	fail "the destination counted from $first, want $((last + 1))"
grep -aq "Linux version\|symbiont guest ready" "$tmp/b.out" && fail "the guest rebooted at the destination"
cat >&3 <<'CMDS'
kill %1 %2 %3; wait; sleep 0.3; echo "ALIVE-$((6*7))"; echo "DISK-$(cat /mnt/counter)"
dmesg | grep -i 'error\|warn\|bug\|oops' | sed 's/^/KMSG: /'; dmesg | grep -ci 'error\|warn\|bug\|oops' | sed 's/^/KERNEL-ISSUES-/'
umount /mnt && echo "UMOUNT-$((60+6))"
poweroff
CMDS
guest_finish b 120
grep -q "ALIVE-42" "$tmp/b.out" || fail "the console does not take commands after the migration"
disk=$(grep -ao 'DISK-[0-9]*' "$tmp/b.out" | tail -1 | tr -dc 0-9)
[ -n "$disk" ] && [ "$disk" -gt "$last" ] || fail "the disk's counter is '$disk', want past $last"
issues=$(grep -ao 'KERNEL-ISSUES-[0-9]*' "$tmp/b.out" | tail -1 | tr -dc 0-9)
[ -n "$issues" ] && [ "$issues" = "$before" ] ||
	{ grep -a '^KMSG' "$tmp/b.out" | tail; fail "the guest kernel logged $issues errors or warnings, $before before the migrations"; }
grep -q "UMOUNT-66" "$tmp/b.out" || fail "the guest could not unmount its disk"
e2fsck -fn "$tmp/disk.img" >"$tmp/fsck.out" 2>&1 || { cat "$tmp/fsck.out"; fail "fsck finds the disk damaged"; }
echo "PASS: counted to $last at the source, migrated under CPU and disk load ($(sed 's/^[^:]*: //' "$tmp/mig.out")), counted on from $first; console, kernel log and disk (counter $disk) fine"
