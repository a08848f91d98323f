#!/usr/bin/env bash
# Record and replay of the Debian guest with a disk (docs/replay.md): the
# recording mounts an ext4 virtio-blk disk, reads a file on it (md5sum),
# writes one and reads it back after dropping the page cache, reads the
# virtio-rng device, unmounts and powers off.  The disk image is then
# deleted: the replay needs no disk (what virtio-blk and virtio-rng wrote
# into guest RAM comes from the log).  Replayed twice: the same console
# output byte for byte, the same instruction count and state hash.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs timeout mkfifo md5sum
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

mkdir "$tmp/root"
head -c 1M /dev/urandom >"$tmp/root/data.bin"
md5=$(md5sum <"$tmp/root/data.bin" | cut -d' ' -f1)
mke2fs -q -F -t ext4 -d "$tmp/root" -L rrdisk "$tmp/disk.img" 16M >/dev/null 2>&1 || fail "mke2fs"

guest_start rec "$SYM" run --engine emu --disk "$tmp/disk.img" --record "$tmp/disk.rr" ||
	fail "the recorded guest did not boot"
# markers computed by the shell, so the echoed command line never matches
cat >&3 <<'CMDS'
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt && echo "MOUNT-$((40+2))"
md5sum /mnt/data.bin
echo "written at $(cat /proc/uptime)" >/mnt/new.txt; sync; echo 3 >/proc/sys/vm/drop_caches; cat /mnt/new.txt
ls /dev/hwrng >/dev/null 2>&1 && head -c 16 /dev/hwrng | od -An -tx1
umount /mnt && echo "UMOUNT-$((60+6))"
echo RR-"DONE"
CMDS
guest_wait_for rec "RR-DONE" 300 || fail "no RR-DONE from the recorded guest"
printf 'poweroff\n' >&3
guest_finish rec 300
grep -q "MOUNT-42" "$tmp/rec.out" || fail "the recorded guest did not mount the disk"
grep -q "^$md5" "$tmp/rec.out" || fail "md5sum of the disk's file: $(grep data.bin "$tmp/rec.out")"
grep -q "UMOUNT-66" "$tmp/rec.out" || fail "the recorded guest did not unmount the disk"
report=$(grep '^record: ' "$tmp/rec.err") || fail "no record report"
rp=$(sed -n -E 's/^record: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rec.err")
dma=$(echo "$report" | sed -n -E 's/.* ([0-9]+) DMA writes of ([0-9]+) bytes.*/\2/p')
[ "${dma:-0}" -gt 1048576 ] || fail "the log holds ${dma:-no} bytes of device writes, less than the file read"
echo "ok recorded: ${report#record: }"
grep -A1 'md5sum /mnt' "$tmp/rec.out" | tail -n 1

rm -f "$tmp/disk.img" # a replay needs no disk
for i in 1 2; do
	# the second with checkpoints (device blobs and RAM deltas over the DMA)
	ck=
	[ $i = 2 ] && ck="--checkpoint-every 100000000"
	timeout 900 "$SYM" run --replay "$tmp/disk.rr" $ck </dev/null >"$tmp/play$i.out" 2>"$tmp/play$i.err"
	s=$?
	pp=$(sed -n -E 's/^replay: ok: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/play$i.err")
	[ "$s" = 0 ] || fail "replay $i: status $s: $(tail -n 1 "$tmp/play$i.err")"
	[ "$pp" = "$rp" ] || fail "replay $i ended at '$pp', recorded '$rp'"
	cmp -s "$tmp/rec.out" "$tmp/play$i.out" || {
		diff "$tmp/rec.out" "$tmp/play$i.out" | head -10
		fail "replay $i: console output differs"
	}
	echo "ok replay $i without the disk image: $(grep "^replay: " "$tmp/play$i.err" | tr "\n" " ")"
done

# what is not logged yet is refused in one line
for opt in "--vsock 3"; do
	"$SYM" run --engine emu --kernel "$GUEST/vmlinuz" $opt --record "$tmp/x.rr" >"$tmp/refused.out" 2>&1 &&
		fail "$opt with --record was not refused"
	[ "$(wc -l <"$tmp/refused.out")" = 1 ] || fail "$opt with --record: $(cat "$tmp/refused.out")"
	echo "ok refused, $opt: $(cat "$tmp/refused.out")"
done
echo "PASS replay_disk"
