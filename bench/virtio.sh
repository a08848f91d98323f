#!/usr/bin/env bash
# virtio benchmark: the default guest on symbiont's emu engine and the same
# kernel + initramfs under qemu-system-x86_64 -accel tcg, alternately, RUNS
# times each (medians printed, with the ratio symbiont/QEMU):
#   virtio-blk    sequential read and write, BLK_PASSES times over a raw
#                 image of BLK_MB MiB made here: dd with 1 MiB O_DIRECT
#                 requests (iflag/oflag=direct, each write pass ending in
#                 fsync, i.e. a flush), timed by the guest's own clock
#                 (/proc/uptime) and printed as a marker line the host
#                 parses.  QEMU gets cache=writeback, which is what symbiont
#                 does: pread/pwrite through the host page cache, fdatasync
#                 on flush.
#   virtio-vsock  VSOCK_ROUNDS 1-byte round trips from the host through the
#                 guest's echo server (tests/e2e/vsock_echo.c), timed on the
#                 host; symbiont via --vsock 3,uds=PATH ("CONNECT 1234"),
#                 QEMU only with vhost-vsock (/dev/vhost-vsock on the host).
# A guest that never gets ready, or a figure that never comes, fails the run.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-3}
BLK_MB=${BLK_MB:-256}
BLK_PASSES=${BLK_PASSES:-4}
VSOCK_ROUNDS=${VSOCK_ROUNDS:-1000}
MEM=512
APPEND="console=ttyS0 quiet"

die() { echo "bench: $*" >&2; exit 1; }
for t in qemu-system-x86_64 python3 gcc cpio gzip bc timeout mkfifo; do
	command -v $t >/dev/null || die "$t not installed"
done
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] && [ -e $GUEST/initramfs.cpio.gz ] || die "no default guest in $GUEST (make guest)"
qemu_vsock=
[ -w /dev/vhost-vsock ] && qemu_vsock=1

# The echo server in an extra cpio archive after the image's own; both
# engines boot this same initrd.
why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/vsock_echo.c) || die "cannot build the static guest program: $why"
# Real data, so the first read pass finds allocated blocks (in the host's
# page cache for both engines alike).
head -c "$((BLK_MB + 16))M" /dev/urandom >"$tmp/disk.img" || die "cannot make the disk image"


# The guest shell times each pass itself: centiseconds of /proc/uptime before
# and after BLK_PASSES dd runs over the disk (more than one, so the clock's
# 10 ms steps stay small beside the time measured).  Markers are computed by
# the shell so the echoed command line never matches.
MB=$((BLK_MB * BLK_PASSES))
cat >"$tmp/blk.cmds" <<CMDS
ut() { read -r u x </proc/uptime; echo "\${u%.*}\${u#*.}"; }
rep() { i=0; while [ \$i -lt $BLK_PASSES ]; do "\$@" 2>/tmp/dd.err || { cat /tmp/dd.err; return 1; }; i=\$((i+1)); done; }
a=\$(ut); rep dd if=/dev/vda of=/dev/null bs=1M count=$BLK_MB iflag=direct && b=\$(ut) && echo "BENCH-RD \$(($MB)) \$((b-a))"
a=\$(ut); rep dd if=/dev/zero of=/dev/vda bs=1M count=$BLK_MB oflag=direct conv=fsync && b=\$(ut) && echo "BENCH-WR \$(($MB)) \$((b-a))"
CMDS

# mibs NAME TAG: MiB/s from the guest's "TAG <MiB> <centiseconds>" line.
mibs() {
	local m
	m=$(grep -o "$2 [0-9][0-9]* [0-9][0-9]*" "$tmp/$1.out" | tail -1)
	[ -n "$m" ] || return 1
	set -- $m
	echo "$2 * 100 / ($3 + ($3 == 0))" | bc -l
}

# guest NAME CMD...: boots CMD, runs the disk passes (and the vsock one if
# $pingpong is set: "uds PATH" or "vsock CID"), powers off; sets rd, wr, rtt.
guest() {
	local name=$1
	shift
	rm -f "$tmp/$name".*
	guest_start "$name" timeout 1200 "$@" || die "$name: guest never got ready"
	cat "$tmp/blk.cmds" >&3
	guest_wait_for "$name" "BENCH-WR $MB [0-9]" 600 ||
		{ tail -20 "$tmp/$name.out"; die "$name: disk passes did not finish"; }
	rd=$(mibs "$name" BENCH-RD) && wr=$(mibs "$name" BENCH-WR) || die "$name: no disk figures"
	rtt=
	if [ -n "$pingpong" ]; then
		echo "vsock_echo listen 1234 &" >&3
		guest_wait_for "$name" "LISTENING-1234" 120 ||
			{ tail -20 "$tmp/$name.out"; die "$name: guest echo server did not start"; }
		rtt=$(timeout 600 python3 bench/vsock_pingpong.py $pingpong "$VSOCK_ROUNDS" 2>&1) ||
			die "$name: vsock ping-pong failed: $rtt"
		guest_wait_for "$name" "ECHOED-" 60
	fi
	echo poweroff >&3
	guest_finish "$name"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

s_rd=() s_wr=() s_rtt=() q_rd=() q_wr=() q_rtt=()
for i in $(seq "$RUNS"); do
	pingpong="uds $tmp/v.sock"
	rm -f "$tmp/v.sock"
	guest emu "$SYM" run --engine emu --mem ${MEM}M --serial stdio --kernel $GUEST/vmlinuz --initrd "$tmp/initrd" \
		--append "$APPEND" --disk "$tmp/disk.img" --vsock "3,uds=$tmp/v.sock"
	s_rd+=("$rd") s_wr+=("$wr") s_rtt+=("$rtt")
	pingpong=${qemu_vsock:+vsock 3}
	guest qemu qemu-system-x86_64 -accel tcg -m $MEM -no-reboot -display none -monitor none -serial stdio \
		-nic none -kernel $GUEST/vmlinuz -initrd "$tmp/initrd" -append "$APPEND" \
		-drive "file=$tmp/disk.img,if=virtio,format=raw,cache=writeback" \
		${qemu_vsock:+-device vhost-vsock-pci,guest-cid=3}
	q_rd+=("$rd") q_wr+=("$wr") q_rtt+=("${rtt:+$rtt us}")
	printf 'run %d: emu read %.1f write %.1f MiB/s, vsock %s us | qemu-tcg read %.1f write %.1f MiB/s, vsock %s\n' \
		"$i" "${s_rd[-1]}" "${s_wr[-1]}" "${s_rtt[-1]}" "${q_rd[-1]}" "${q_wr[-1]}" "${q_rtt[-1]:-n/a}"
done

sr=$(printf '%s\n' "${s_rd[@]}" | median) qr=$(printf '%s\n' "${q_rd[@]}" | median)
sw=$(printf '%s\n' "${s_wr[@]}" | median) qw=$(printf '%s\n' "${q_wr[@]}" | median)
st=$(printf '%s\n' "${s_rtt[@]}" | median)
printf 'virtio-blk seq read, %d MiB (median of %d): symbiont emu %.1f MiB/s, qemu tcg %.1f MiB/s, ratio %.2fx\n' \
	"$MB" "$RUNS" "$sr" "$qr" "$(echo "$sr / $qr" | bc -l)"
printf 'virtio-blk seq write, %d MiB (median of %d): symbiont emu %.1f MiB/s, qemu tcg %.1f MiB/s, ratio %.2fx\n' \
	"$MB" "$RUNS" "$sw" "$qw" "$(echo "$sw / $qw" | bc -l)"
# The host-only baseline: the same client and a one-byte echo process on
# the host, no VM in between (what the guest path adds is the difference).
ht=$(python3 bench/vsock_pingpong.py host - "$VSOCK_ROUNDS") || die "host baseline ping-pong failed: $ht"
printf 'guest-to-host 1-byte round trip: symbiont emu virtio-vsock %.1f us, host-only unix socket pair %.1f us, ratio %.1fx\n' \
	"$st" "$ht" "$(echo "$st / $ht" | bc -l)"
if [ -n "$qemu_vsock" ]; then
	qt=$(printf '%s\n' "${q_rtt[@]% us}" | median)
	printf 'virtio-vsock 1-byte round trip (median of %d, each the mean of %d): symbiont emu %.1f us, qemu tcg %.1f us, ratio %.2fx\n' \
		"$RUNS" "$VSOCK_ROUNDS" "$st" "$qt" "$(echo "$st / $qt" | bc -l)"
else
	printf 'virtio-vsock 1-byte round trip (median of %d, each the mean of %d): symbiont emu %.1f us, qemu: n/a (no /dev/vhost-vsock on this host)\n' \
		"$RUNS" "$VSOCK_ROUNDS" "$st"
fi
