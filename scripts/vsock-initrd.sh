#!/usr/bin/env bash
# scripts/vsock-initrd.sh DIR: DIR/initrd is the default guest's initramfs
# with the vsock test program (tests/e2e/vsock_echo.c, built static here)
# appended as /bin/vsock_echo, in a second cpio archive.  Status 1 and the
# compiler's last line when it cannot be built.
set -eu
dir=$1
guest=${GUEST:-build/guest}
mkdir -p "$dir/root/bin"
if ! gcc -static -O2 -o "$dir/root/bin/vsock_echo" tests/e2e/vsock_echo.c 2>"$dir/gcc.log"; then
	tail -1 "$dir/gcc.log"
	exit 1
fi
(cd "$dir/root" && find . | cpio -o -H newc --quiet | gzip) >"$dir/extra.cpio.gz"
cat "$guest/initramfs.cpio.gz" "$dir/extra.cpio.gz" >"$dir/initrd"
