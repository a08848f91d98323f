#!/usr/bin/env bash
# virtio-blk end to end: an ext4 image made here (mke2fs -d) is given to the
# default guest with --disk; through the serial console the guest mounts
# /dev/vda, prints the file the host put there, checksums and copies a 3 MiB
# one, writes a new file, syncs, trims the file system (discard), runs a
# program from the disk with a cold page cache, writes to
# /dev/hvc0 (virtio-console, whose output shares the serial console), reads
# /dev/hwrng (virtio-rng) and powers off.  The host then reads the new files
# back with debugfs.  A second boot with ",ro" must see them and refuse
# writes; it also runs the guest's virtio drivers on the legacy interface
# with INTx, where the first used virtio 1.0 with MSI-X.
#
#   VIRTIO_E2E_QEMU=1 tests/e2e/virtio_blk.sh   runs the same guest steps
#   under QEMU's TCG instead (validates the guest side; no hvc0, rng or serial checks).
#   KEEP=1 keeps the guests' console logs.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools mke2fs debugfs timeout mkfifo
require_guest

mkdir "$tmp/root"
echo "hello from the host $$" >"$tmp/root/hello.txt"
head -c 3M /dev/urandom >"$tmp/root/big.bin" # multi-segment requests, indirect tables
big_md5=$(md5sum <"$tmp/root/big.bin" | cut -d' ' -f1)
mke2fs -q -F -t ext4 -d "$tmp/root" -L symdisk "$tmp/disk.img" 32M >/dev/null 2>&1 || fail "mke2fs"

# boot NAME CMD...: the guest types $tmp/NAME.cmds (ending in poweroff).
boot() {
	local name=$1
	guest_start "$@" || return 2
	cat "$tmp/$name.cmds" >&3
	guest_finish "$name"
}

# The read-only boot also makes the guest use the legacy interface and INTx
# (virtio_pci.force_legacy=1 pci=nomsi); the read-write one uses virtio 1.0
# with MSI-X.
LEGACY_APPEND="virtio_pci.force_legacy=1 pci=nomsi"

# Markers are computed by the shell so the echoed command line never matches.
cat >"$tmp/rw.cmds" <<'CMDS'
mkdir -p /mnt; mount -t ext4 /dev/vda /mnt && echo "MOUNT-$((40+2))"
cat /mnt/hello.txt
echo "written by the guest" >/mnt/new.txt && sync && echo "SYNC-$((50+5))"
echo "MD5-$(md5sum </mnt/big.bin | cut -d' ' -f1)"
dd if=/mnt/big.bin of=/mnt/copy.bin bs=256k conv=fsync 2>/dev/null && echo "COPY-$((20+2))"
rm /mnt/hello.txt && sync && fstrim /mnt && echo "TRIM-$((10+1))"
cp /bin/busybox /mnt/busybox && sync && echo 3 >/proc/sys/vm/drop_caches && /mnt/busybox echo "EXEC-$((5+5))"
cat /sys/block/vda/serial 2>/dev/null; echo
echo "VER1-$(cut -c33 /sys/block/vda/device/features)"
grep virtio /proc/interrupts | grep -q -i msi && echo "MSIX-$((80+8))"
[ -e /dev/hvc0 ] && echo "HVC-$((30+3))" >/dev/hvc0
[ -e /dev/hwrng ] && head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \n' | sed 's/^/RNG-/'; echo
umount /mnt && echo "UMOUNT-$((60+6))"
poweroff
CMDS
cat >"$tmp/ro.cmds" <<'CMDS'
mkdir -p /mnt; mount -t ext4 -o ro,noload /dev/vda /mnt && echo "MOUNT-$((40+2))"
cat /mnt/new.txt
echo "VER1-$(cut -c33 /sys/block/vda/device/features)"
grep virtio /proc/interrupts | grep -q IO-APIC && echo "INTX-$((90+9))"
dd if=/dev/zero of=/dev/vda bs=512 count=1 seek=100 conv=fsync 2>&1 | grep -q -i -e error -e 'read-only' && echo "ROFAIL-$((70+7))"
umount /mnt
poweroff
CMDS

if [ -n "${VIRTIO_E2E_QEMU:-}" ]; then
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
	run() { # name drive-options
		timeout 1200 qemu-system-x86_64 -accel tcg -M pc -m 256 -smp 1 -nographic -no-reboot -nic none \
			-kernel $GUEST/vmlinuz -initrd $GUEST/initramfs.cpio.gz -append "console=ttyS0 quiet $3" \
			-drive "file=$tmp/disk.img,if=virtio,format=raw$2" -serial stdio -monitor none -display none
	}
	boot rw run rw "" "" || fail "QEMU guest never got ready"
	boot ro run ro ",readonly=on" "$LEGACY_APPEND" || fail "QEMU guest never got ready (ro)"
	hvc=0
else
	[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
	run() { timeout 1200 "$SYM" run --mem 256M --serial stdio --disk "$tmp/disk.img$2" ${3:+--append "$3"}; }
	boot rw run rw ",serial=symdisk0" "" || fail "guest never got ready"
	boot ro run ro ",ro" "$LEGACY_APPEND" || fail "guest never got ready (ro)"
	hvc=1
fi

out=$tmp/rw.out
grep -q "MOUNT-42" "$out" || { cat "$out"; fail "guest could not mount /dev/vda"; }
grep -q "hello from the host $$" "$out" || { cat "$out"; fail "guest did not read the host's file"; }
grep -q "SYNC-55" "$out" || { cat "$out"; fail "guest could not write and sync"; }
grep -q "UMOUNT-66" "$out" || { cat "$out"; fail "guest could not unmount"; }
grep -q "MD5-$big_md5" "$out" || { cat "$out"; fail "guest read a different big.bin"; }
grep -q "COPY-22" "$out" || { cat "$out"; fail "guest could not copy big.bin"; }
grep -q "EXEC-10" "$out" || { cat "$out"; fail "guest could not run a program from the disk"; }
grep -q "VER1-1" "$out" || { cat "$out"; fail "guest did not negotiate virtio 1.0"; }
grep -q "MSIX-88" "$out" || { cat "$out"; fail "guest does not use MSI-X for virtio"; }
if [ $hvc = 1 ]; then
	grep -q "RNG-[0-9a-f]\{32\}" "$out" || { cat "$out"; fail "no bytes from /dev/hwrng (virtio-rng)"; }
	grep -q "symdisk0" "$out" || { cat "$out"; fail "serial= not seen in /sys/block/vda/serial"; }
	grep -q "HVC-33" "$out" || { cat "$out"; fail "nothing from /dev/hvc0 on the console"; }
	grep -q "TRIM-11" "$out" || { cat "$out"; fail "fstrim (virtio-blk discard) failed"; }
fi
debugfs -R "cat /new.txt" "$tmp/disk.img" 2>/dev/null | grep -q "written by the guest" ||
	fail "host debugfs does not see /new.txt"
[ "$(debugfs -R "cat /copy.bin" "$tmp/disk.img" 2>/dev/null | md5sum | cut -d' ' -f1)" = "$big_md5" ] ||
	fail "host debugfs reads a different /copy.bin"
out=$tmp/ro.out
grep -q "MOUNT-42" "$out" || { cat "$out"; fail "guest could not mount the read-only disk"; }
grep -q "written by the guest" "$out" || { cat "$out"; fail "read-only run did not see the new file"; }
grep -q "ROFAIL-77" "$out" || { cat "$out"; fail "a write to the read-only disk did not fail"; }
grep -q "VER1-0" "$out" || { cat "$out"; fail "forced-legacy guest did not use the legacy interface"; }
grep -q "INTX-99" "$out" || { cat "$out"; fail "guest without MSI does not use INTx for virtio"; }
echo "virtio-blk e2e ok"
