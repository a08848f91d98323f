#!/usr/bin/env bash
# End to end: the default guest image (make guest, scripts/guest-image.sh).
# Checks what build/guest holds, then boots it under QEMU TCG the way
# symbiont's own end-to-end tests boot it: wait for "symbiont guest ready" on
# the serial console, type commands, expect `poweroff` to end the VM. (Bytes
# sent before the guest is up are partly lost: the UART drops what arrives
# before its driver is set up, so piping commands in from the start is flaky.)
#  1. the image alone: `uname -r` prints VERSION, poweroff ends QEMU;
#  2. with virtio-net, virtio-blk (an ext4 disk) and a module built against
#     build/guest/headers in a cpio appended to the initramfs, loaded by an
#     /etc/init.d hook: eth0 has its DHCP lease, the disk mounts, the module
#     is live.
set -u
trap '' PIPE
G=${GUEST_DIR:-build/guest}
fail() { echo "FAIL: $*"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }

# --- files ---
for f in vmlinuz initramfs.cpio.gz System.map VERSION headers/build/Makefile; do
	[ -e "$G/$f" ] || fail "$G/$f missing (run make guest)"
done
VER=$(cat "$G/VERSION")
[[ $VER == *-cloud-amd64 ]] || fail "VERSION '$VER' is not a cloud-amd64 kernel release"
# bzImage setup header: kernel_version (0x20e) points at the version string.
off=$(od -An -tu2 -j$((0x20e)) -N2 "$G/vmlinuz" | tr -d ' ')
kv=$(dd if="$G/vmlinuz" bs=1 skip=$((off + 0x200)) count=128 status=none | tr '\0' '\n' | head -1)
[ "${kv%% *}" = "$VER" ] || fail "vmlinuz is '${kv%% *}', VERSION says '$VER'"
grep -q ' T start_kernel$' "$G/System.map" || fail "System.map has no start_kernel (a stub?)"
[ "$(readlink -f "$G/headers/lib/modules/$VER/build")" = "$(readlink -f "$G/headers/build")" ] ||
	fail "headers/lib/modules/$VER/build does not lead to headers/build"

T=$(mktemp -d)
trap 'kill "$qemu" 2>/dev/null; rm -rf "$T"' EXIT
qemu=

mkdir "$T/ir"
(cd "$T/ir" && zcat "$OLDPWD/$G/initramfs.cpio.gz" | cpio -id --quiet 2>/dev/null) ||
	fail "initramfs.cpio.gz does not unpack"
[ -x "$T/ir/init" ] || fail "initramfs has no executable /init"
[ -x "$T/ir/bin/busybox" ] || fail "initramfs has no /bin/busybox"
[ "$(readlink "$T/ir/bin/sh")" = /bin/busybox ] || fail "initramfs /bin/sh is not busybox"
# newc header of a character device 5:1 named dev/console (the kernel opens it for /init).
zcat "$G/initramfs.cpio.gz" | LC_ALL=C grep -aqP '070701.{8}0000218..{56}0000000500000001.{16}dev/console\x00' ||
	fail "initramfs has no /dev/console node"
for m in virtio virtio_ring virtio_pci virtio_blk virtio_net virtio_console virtio-rng \
	vmw_vsock_virtio_transport; do
	ko=$(find "$T/ir/lib/modules/$VER" -name "$m.ko" | head -1)
	[ -n "$ko" ] || fail "initramfs lacks $m.ko for $VER"
	[ "$(head -c4 "$ko" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "$m.ko is not an uncompressed ELF"
	grep -q "${ko#"$T/ir/lib/modules/$VER/"}" "$T/ir/lib/modules/$VER/symbiont.load" ||
		fail "$m.ko is not in symbiont.load"
done

# --- boots ---
# boot NAME INITRD [qemu args...] < commands: starts QEMU on a fifo, types the
# commands once the guest is ready, leaves the console in $T/NAME.out and the
# exit status of `timeout 180 qemu` in $rc (0 = the guest powered off).
boot() {
	local name=$1 initrd=$2 t0 t1
	shift 2
	rm -f "$T/in"
	mkfifo "$T/in"
	t0=$(date +%s%N)
	timeout 180 qemu-system-x86_64 -accel tcg -m 512 -no-reboot -display none -monitor none \
		-serial stdio -kernel "$G/vmlinuz" -initrd "$initrd" -append 'console=ttyS0 quiet' "$@" \
		<"$T/in" >"$T/$name.out" 2>&1 &
	qemu=$!
	exec 3>"$T/in"
	until grep -q 'symbiont guest ready' "$T/$name.out"; do
		kill -0 "$qemu" 2>/dev/null || break
		sleep 0.1
	done
	t1=$(date +%s%N)
	cat >&3 2>/dev/null # QEMU may be gone already; its exit status tells
	wait "$qemu"
	rc=$?
	exec 3>&-
	qemu=
	tr -d '\r' <"$T/$name.out" >"$T/$name.txt"
	echo "$name: ready after $(((t1 - t0) / 1000000)) ms, qemu exit $rc"
}
show() { echo "--- console of $1:"; cat "$T/$1.txt"; }

boot plain "$G/initramfs.cpio.gz" <<'EOF'
uname -r
poweroff
EOF
grep -qx 'symbiont guest ready' "$T/plain.txt" || { show plain; fail "no 'symbiont guest ready'"; }
grep -qx "$VER" "$T/plain.txt" || { show plain; fail "uname -r did not print $VER"; }
# -no-reboot makes a reset end QEMU with 0 too: the kernel's last words tell.
[ "$rc" -eq 0 ] && grep -q 'reboot: Power down' "$T/plain.txt" ||
	{ show plain; fail "QEMU did not exit by poweroff within 180 s (exit $rc)"; }

# A module built against the headers, and a hook that loads it before "ready".
mkdir -p "$T/kmod" "$T/layer/root" "$T/layer/etc/init.d" "$T/disk"
cat >"$T/kmod/e2e_hello.c" <<'EOF'
#include <linux/module.h>
static int __init e2e_hello_init(void) { pr_info("e2e_hello: built against the guest headers\n"); return 0; }
static void __exit e2e_hello_exit(void) { }
module_init(e2e_hello_init);
module_exit(e2e_hello_exit);
MODULE_LICENSE("GPL");
EOF
echo 'obj-m := e2e_hello.o' >"$T/kmod/Kbuild"
# The suite may run under make asan, whose CC/CFLAGS travel in MAKEFLAGS:
# the kernel module must be built with the kernel's own toolchain settings.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CC -u CFLAGS make -s -C "$G/headers/build" M="$T/kmod" modules >"$T/kmod.log" 2>&1 ||
	{ cat "$T/kmod.log"; fail "module build against $G/headers failed"; }
cp "$T/kmod/e2e_hello.ko" "$T/layer/root/"
printf '#!/bin/sh\ninsmod /root/e2e_hello.ko\n' >"$T/layer/etc/init.d/S50e2e"
chmod 755 "$T/layer/etc/init.d/S50e2e"
(cd "$T/layer" && find . -mindepth 1 | cpio -o -H newc -R 0:0 --quiet) | gzip >"$T/layer.cpio.gz"
cat "$G/initramfs.cpio.gz" "$T/layer.cpio.gz" >"$T/initrd"

echo "disk-ok-$$" >"$T/disk/token"
mke2fs -q -t ext4 -d "$T/disk" -F "$T/disk.img" 16M >/dev/null 2>&1 || fail "mke2fs failed"

boot devices "$T/initrd" -netdev user,id=n -device virtio-net-pci,netdev=n \
	-drive file="$T/disk.img",if=none,id=d,format=raw -device virtio-blk-pci,drive=d <<'EOF'
ifconfig eth0 | grep -o 'addr:[0-9.]*'
mount /dev/vda /mnt && cat /mnt/token
cat /sys/module/e2e_hello/initstate
dmesg | grep e2e_
poweroff
EOF
grep -qx 'addr:10.0.2.15' "$T/devices.txt" || { show devices; fail "eth0 got no DHCP lease 10.0.2.15"; }
grep -qx "disk-ok-$$" "$T/devices.txt" || { show devices; fail "ext4 on virtio-blk did not mount"; }
grep -qx 'live' "$T/devices.txt" || { show devices; fail "e2e_hello module is not live"; }
grep -q 'e2e_hello: built against the guest headers' "$T/devices.txt" ||
	{ show devices; fail "e2e_hello did not run its init"; }
[ "$rc" -eq 0 ] && grep -q 'reboot: Power down' "$T/devices.txt" ||
	{ show devices; fail "QEMU did not exit by poweroff within 180 s (exit $rc)"; }
echo "guest image $VER: ok"
