#!/usr/bin/env bash
# scripts/initrd-plus.sh DIR PROGRAM.c...: DIR/initrd is the default
# guest's initramfs with each PROGRAM.c built static here and appended as
# /bin/PROGRAM, in a second cpio archive (the kernel unpacks both).  Status
# 1 and the compiler's last line when one cannot be built.
set -eu
dir=$1
shift
guest=${GUEST:-build/guest}
mkdir -p "$dir/root/bin"
for src in "$@"; do
	if ! gcc -static -O2 -o "$dir/root/bin/$(basename "$src" .c)" "$src" 2>"$dir/gcc.log"; then
		tail -1 "$dir/gcc.log"
		exit 1
	fi
done
(cd "$dir/root" && find . | cpio -o -H newc --quiet | gzip) >"$dir/extra.cpio.gz"
cat "$guest/initramfs.cpio.gz" "$dir/extra.cpio.gz" >"$dir/initrd"
