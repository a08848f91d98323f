#!/usr/bin/env bash
# Snapshot and restore of the default Debian guest on emu: the guest counts
# every 100 ms, to its console and to a file on an ext4 virtio disk; it is
# snapshotted with --stop, its VMM killed -9, and restored in a new process
# from the snapshot.  The counter must carry on from where it stopped (no
# restart from 0, no reboot), the console must still take commands, the
# disk must be clean for fsck after the guest unmounts it, the guest's date
# must be the host's although the snapshot sat 6 s, and a bad
# snapshot must be one line and exit 2.
#   KEEP=1 keeps the console logs.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs e2fsck timeout mkfifo
require_guest

mke2fs -q -F -t ext4 -L count "$tmp/disk.img" 16M >/dev/null 2>&1 || fail "mke2fs"

guest_start a "$SYM" run --engine emu --api "$tmp/api" --disk "$tmp/disk.img" || fail "the guest never came up"
# Markers are computed by the shell so the echoed command line never matches.
cat >&3 <<'CMDS'
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt && echo "MOUNT-$((40+2))"
i=0; while :; do echo "TICK-$i."; echo $i >/mnt/counter; i=$((i+1)); sleep 0.1; done &
CMDS
guest_wait_for a "TICK-20\." 120 || fail "the guest does not count (see $tmp/a.out)"

"$SYM" ctl "$tmp/api" snapshot "$tmp/snap" --stop >"$tmp/ctl.out" 2>&1 || fail "snapshot: $(cat "$tmp/ctl.out")"
cat "$tmp/ctl.out"
[ "$("$SYM" ctl "$tmp/api" status)" = paused ] || fail "--stop did not leave the guest paused"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
exec 3>&-
last=$(grep -ao 'TICK-[0-9]*\.' "$tmp/a.out" | tail -1 | tr -dc 0-9)
echo "the guest had counted to $last"

# The snapshot sits a while: the restored guest's clock must account for it.
sleep 6

# The restored guest, on a new console.
mkfifo "$tmp/b.in"
"$SYM" run --restore "$tmp/snap" <"$tmp/b.in" >"$tmp/b.out" 2>"$tmp/b.err" &
pid=$!
exec 3>"$tmp/b.in"
want=$((last + 10))
for ((i = 0; i < 60; i++)); do
	grep -q "TICK-$want\." "$tmp/b.out" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
grep -q "TICK-$want\." "$tmp/b.out" || fail "the restored guest did not count on to $want ($(head -c 300 "$tmp/b.err"))"
first=$(grep -ao 'TICK-[0-9]*\.' "$tmp/b.out" | head -1 | tr -dc 0-9)
[ "$first" -eq $((last + 1)) ] || fail "the restored guest counted from $first, want $((last + 1))"
grep -aq "Linux version\|symbiont guest ready" "$tmp/b.out" && fail "the restored guest rebooted"
host_date=$(date +%s)
cat >&3 <<'CMDS'
kill $!; echo "DATE-$(date +%s)"; sleep 0.3; echo "ALIVE-$((6*7))"; echo "DISK-$(cat /mnt/counter)"
umount /mnt && echo "UMOUNT-$((60+6))"
poweroff
CMDS
guest_finish b 120
grep -q "ALIVE-42" "$tmp/b.out" || fail "the console does not take commands after restore"
guest_date=$(grep -ao 'DATE-[0-9]*' "$tmp/b.out" | tail -1 | tr -dc 0-9)
[ -n "$guest_date" ] && [ $((guest_date - host_date)) -ge -3 ] && [ $((guest_date - host_date)) -le 3 ] ||
	fail "the restored guest's date is $guest_date, the host's $host_date (the snapshot sat 6 s)"
echo "the restored guest's date is the host's ($((guest_date - host_date)) s)"
disk=$(grep -ao 'DISK-[0-9]*' "$tmp/b.out" | tail -1 | tr -dc 0-9)
[ -n "$disk" ] && [ "$disk" -gt "$last" ] || fail "the disk's counter is '$disk', want past $last"
grep -q "UMOUNT-66" "$tmp/b.out" || fail "the guest could not unmount its disk"
e2fsck -fn "$tmp/disk.img" >"$tmp/fsck.out" 2>&1 || { cat "$tmp/fsck.out"; fail "fsck finds the disk damaged"; }

# A snapshot is refused while the disk it references has changed, and a
# truncated or foreign one is one line and exit 2.
"$SYM" run --restore "$tmp/snap" </dev/null >/dev/null 2>"$tmp/changed.err"
rc=$?
[ $rc -eq 2 ] && grep -q "changed since the snapshot" "$tmp/changed.err" || fail "a changed disk: exit $rc, $(cat "$tmp/changed.err")"
cp -r "$tmp/snap" "$tmp/bad"
truncate -s 100 "$tmp/bad/state"
"$SYM" run --restore "$tmp/bad" </dev/null >/dev/null 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] || fail "a truncated snapshot: exit $rc, $(cat "$tmp/bad.err")"
echo "PASS: counted to $last, snapshot, kill -9, restore: counted on from $first; console and disk (counter $disk) fine"
