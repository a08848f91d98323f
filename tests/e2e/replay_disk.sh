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
	replay_exact "$i" "$s"
	echo "ok replay $i without the disk image: $(grep "^replay: " "$tmp/play$i.err" | tr "\n" " ")"
done

# Going back over the disk's writes into guest RAM: gdb on a replay (default
# checkpoints), a breakpoint on ext4_readahead; from its second hit,
# reverse-continue must return to the first (a checkpoint restored, the
# logged DMA replayed again up to there), and the replay still ends exact.
ra=$(awk '$3 == "ext4_readahead" { print "0x" $1 }' "$GUEST/System.map" 2>/dev/null)
jiffies=$(awk '$3 == "jiffies" { print "0x" $1 }' "$GUEST/System.map" 2>/dev/null)
if ! command -v gdb >/dev/null || [ -z "$ra" ] || [ -z "$jiffies" ]; then
	echo "skip: reverse-continue over the disk's writes (no gdb, or no ext4_readahead/jiffies in System.map)"
else
	cat >"$tmp/rev.gdb" <<GDB
set pagination off
target remote $tmp/g.sock
watch *(long *)$(printf '0x%x' $((jiffies - 0xffffffff80000000)))
continue
delete
break *$ra
continue
echo MARK first\\n
monitor replay
continue
echo MARK second\\n
monitor replay
reverse-continue
echo MARK back\\n
info registers rip
monitor replay
delete
continue
GDB
	"$SYM" run --replay "$tmp/disk.rr" --gdb "unix:$tmp/g.sock" --gdb-wait </dev/null >"$tmp/rev.out" \
		2>"$tmp/rev.err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$tmp/g.sock" ] && break; sleep 0.1; done
	timeout 900 gdb -nx -batch -x "$tmp/rev.gdb" >"$tmp/gdb.out" 2>&1
	wait "$pid"
	s=$?
	pid=
	[ "$s" = 0 ] || fail "replay under gdb: status $s: $(tail -n 2 "$tmp/rev.err")"
	pp=$(sed -n -E 's/^replay: ok: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rev.err")
	[ "$pp" = "$rp" ] || fail "the replay under gdb ended at '$pp', recorded '$rp'"
	cmp -s "$tmp/rec.out" "$tmp/rev.out" || fail "the replay under gdb: console output differs"
	python3 - "$tmp/gdb.out" "$ra" <<'PY' || fail "gdb: $(tail -n 20 "$tmp/gdb.out")"
import re, sys
out, bp = open(sys.argv[1]).read(), int(sys.argv[2], 16)
def count(mark):
    part = out.split(f"MARK {mark}\n", 1)[1].split("MARK ", 1)[0]
    return int(re.search(r"^instruction (\d+)$", part, re.M).group(1)), part
first, _ = count("first")
second, _ = count("second")
back, part = count("back")
rip = int(re.search(r"^rip\s+(0x[0-9a-f]+)", part, re.M).group(1), 16)
assert second > first and back == first and rip == bp, (first, second, back, hex(rip))
print(f"ext4_readahead hit at instructions {first} and {second}; reverse-continue back to {back}")
PY
	echo "ok $(grep '^replay: checkpoints' "$tmp/rev.err")"
fi

# what is not logged yet is refused in one line
for opt in "--vsock 3"; do
	"$SYM" run --engine emu --kernel "$GUEST/vmlinuz" $opt --record "$tmp/x.rr" >"$tmp/refused.out" 2>&1 &&
		fail "$opt with --record was not refused"
	[ "$(wc -l <"$tmp/refused.out")" = 1 ] || fail "$opt with --record: $(cat "$tmp/refused.out")"
	echo "ok refused, $opt: $(cat "$tmp/refused.out")"
done
echo "PASS replay_disk"
