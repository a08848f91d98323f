#!/usr/bin/env bash
# The GEARS socket accelerator (docs/vsock.md): an unmodified TCP program
# pair with and without guest/tools/v2v_accel.so, same run.  Two default
# Debian guests on emu in one vsock group (CIDs 3 and 4), each on slirp
# user networking; b forwards host port HPORT to its port 5001, so a
# reaches b's TCP server at 10.0.2.2:HPORT (a's slirp gateway → host
# loopback → b's forward), as in bench/vsock_v2v.sh.
#
# The program is bench/v2v_bench.c built dynamically against the host's
# Debian glibc and used in its TCP mode only (plain BSD sockets: socket,
# connect, bind, listen, accept, read, write, setsockopt, shutdown, close);
# the default guest's userland is static busybox, so a disk carries it with
# Debian's libc6 (apt-get download; without it the bench says so and
# stops), and the guest links /lib64 and /lib/x86_64-linux-gnu to the disk.
# The accelerator and the map are pushed into the running guests with
# `symbiont ctl NAME push`; the map is each VMM's `symbiont ctl NAME
# vsock-map`; the library is switched on for the program by GEARS
# environment injection at exec (`ctl NAME inject-env --comm v2v_bench
# LD_PRELOAD=...`), in b for its server (which then takes TCP and vsock
# connections) and in a for the accelerated client runs only.  Runs, timed
# by the guest's clock in a:
#   ping  PING_ROUNDS 1-byte round trips (mean µs)
#   bulk  BULK_MIB MiB in 64 KiB writes (MiB/s)
# plain, then accelerated, then plain again (the ratios are against the mean
# of the plain runs around the accelerated ones), and checks that the accelerated runs went over vsock (a's vsock device
# counted their bytes) and the plain ones did not.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
PING_ROUNDS=${PING_ROUNDS:-2000}
BULK_MIB=${BULK_MIB:-32}
die() { echo "bench vsock_accel: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make)"
ACCEL=$BUILD/guest-tools/v2v_accel.so
[ -e "$ACCEL" ] || die "$ACCEL missing (make)"
require_guest
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"

# The disk: the dynamic program and Debian's glibc.
st=$tmp/st
mkdir -p "$st/root/bin"
(cd "$st" && apt-get download -qq libc6 >/dev/null 2>&1) || die "cannot download Debian's libc6 (apt-get download libc6)"
dpkg-deb -x "$st"/libc6_*.deb "$st/root" || die "cannot unpack libc6"
gcc -O2 -o "$st/root/bin/v2v_bench" bench/v2v_bench.c || die "cannot build bench/v2v_bench.c"
for v in a b; do
	mke2fs -q -F -t ext4 -d "$st/root" "$st/$v.img" 64M >/dev/null 2>&1 || die "mke2fs failed"
done
hport=$(free_port)

start() { # NAME CID NET
	mkfifo "$tmp/$1.in"
	"$SYM" run --name "acc$$-$1" --engine emu --mem 256M --serial stdio --kernel $GUEST/vmlinuz \
		--initrd $GUEST/initramfs.cpio.gz --append "console=ttyS0 quiet" --disk "$st/$1.img" \
		--vsock "$2,group=$tmp/group" --net "$3" <"$tmp/$1.in" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	bg_pids+=($!)
}
ctl() { local v=$1; shift; "$SYM" ctl "acc$$-$v" "$@"; }
mkdir -m 700 "$tmp/group"
start a 3 user
exec 3>"$tmp/a.in"
start b 4 "user,hostfwd=tcp:$hport-:5001"
exec 4>"$tmp/b.in"
guest_wait_for a "symbiont guest ready" "$READY_TIMEOUT" || die "guest a never got ready"
guest_wait_for b "symbiont guest ready" "$READY_TIMEOUT" || die "guest b never got ready"
setup='mkdir -p /st /lib /lib64 && mount -o ro /dev/vda /st && ln -sfn /st/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu && ln -sf /st/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/'
# A process that makes a system call every second, for GEARS push and
# inject-env to start from (in a guest where every process sleeps, waking
# one needs the guest kernel located first, which a fresh emu guest may not
# allow yet: "MSR_LSTAR is 0").
tick='(while :; do sleep 1; done) &'
echo "$setup && $tick echo MOUNTED-OK" >&3
echo "$setup && $tick echo MOUNTED-OK" >&4
guest_wait_for a MOUNTED-OK 60 || die "a: $(tail -3 "$tmp/a.out")"
guest_wait_for b MOUNTED-OK 60 || die "b: $(tail -3 "$tmp/b.out")"

# What each VMM says is co-located, and the library, into the guests.
for v in a b; do
	ctl $v vsock-map >"$tmp/$v.map" || die "ctl $v vsock-map failed"
	ctl $v push "$tmp/$v.map" /tmp/v2v.map >/dev/null || die "push of the map into $v failed"
	ctl $v push "$ACCEL" /tmp/v2v_accel.so >/dev/null || die "push of the library into $v failed"
done
grep -q "^connect 10.0.2.2 $hport 4 5001$" "$tmp/a.map" || die "a's map lacks b's port: $(cat "$tmp/a.map")"
grep -q "^listen 5001 5001$" "$tmp/b.map" || die "b's map lacks its own port: $(cat "$tmp/b.map")"
ENV=(LD_PRELOAD=/tmp/v2v_accel.so V2V_ACCEL_MAP=/tmp/v2v.map)

ctl b inject-env --comm v2v_bench "${ENV[@]}" >/dev/null || die "inject-env in b failed"
echo '/st/bin/v2v_bench serve tcp 5001 &' >&4
guest_wait_for b SERVING-tcp 120 || die "b's server did not start: $(tail -3 "$tmp/b.out")"

vsock_bytes() { ctl a metrics | awk '$2 == "bytes_from_guest" && $1 ~ /vsock/ { n += $3 } END { print n + 0 }'; }
k=0
run() { # TAG COMMAND: the command in a, then its figure and the vsock bytes it moved
	k=$((k + 1))
	local before after
	before=$(vsock_bytes)
	echo "$2; echo DONE-\$((1000+$k))" >&3
	guest_wait_for a "DONE-$((1000 + k))" 900 || die "'$2' did not finish: $(tail -3 "$tmp/a.out")"
	after=$(vsock_bytes)
	# each run prints one figure line: the k-th is this one's
	fig=$(tr -d '\r' <"$tmp/a.out" | awk -v k=$k '$1 ~ /^(PING|BULK)-tcp$/ && ++n == k { print $2 }')
	[ -n "$fig" ] || die "$1: no figure: $(tail -3 "$tmp/a.out")"
	echo "$1 $fig $((after - before))" >>"$tmp/figs"
}
PING="/st/bin/v2v_bench ping tcp 10.0.2.2 $hport $PING_ROUNDS"
BULK="/st/bin/v2v_bench bulk tcp 10.0.2.2 $hport $BULK_MIB"
run ping-plain "$PING"
run bulk-plain "$BULK"
ctl a inject-env --comm v2v_bench "${ENV[@]}" >/dev/null || die "inject-env in a failed"
run ping-accel "$PING"
run bulk-accel "$BULK"
ctl a inject-env --clear >/dev/null || die "inject-env --clear in a failed"
run ping-plain2 "$PING"
run bulk-plain2 "$BULK"

get() { awk -v k="$1" '$1 == k { print $'"$2"' }' "$tmp/figs"; }
for t in ping-plain bulk-plain ping-plain2 bulk-plain2; do
	[ "$(get $t 3)" -lt 4096 ] || die "$t moved $(get $t 3) bytes over vsock: it was not plain TCP"
done
[ "$(get ping-accel 3)" -ge "$PING_ROUNDS" ] || die "the accelerated ping moved only $(get ping-accel 3) bytes over vsock"
[ "$(get bulk-accel 3)" -ge $((BULK_MIB << 20)) ] || die "the accelerated bulk moved only $(get bulk-accel 3) bytes over vsock"
pp=$(get ping-plain 2) pa=$(get ping-accel 2) pp2=$(get ping-plain2 2)
bp=$(get bulk-plain 2) ba=$(get bulk-accel 2) bp2=$(get bulk-plain2 2)
# The accelerated runs against the mean of the plain runs around them.
printf 'TCP 1-byte round trip a -> b (mean of %d): plain %.1f us (before) and %.1f us (after), with the GEARS socket accelerator %.1f us (over vsock), ratio %.2fx faster\n' \
	"$PING_ROUNDS" "$pp" "$pp2" "$pa" "$(echo "($pp + $pp2) / 2 / $pa" | bc -l)"
printf 'TCP throughput a -> b, %d MiB in 64 KiB writes: plain %.1f and %.1f MiB/s, with the accelerator %.1f MiB/s, ratio %.2fx\n' \
	"$BULK_MIB" "$bp" "$bp2" "$ba" "$(echo "$ba * 2 / ($bp + $bp2)" | bc -l)"
echo poweroff >&3
echo poweroff >&4
sleep 3
