#!/usr/bin/env bash
# The GEARS socket accelerator end to end (docs/vsock.md): two default
# guests in one vsock group, a (CID 3) and b (CID 4), on slirp; b forwards
# host ports H1, H2, H3 to its ports 5001, 5002, 5003.  tests/e2e/tcp_echo.c
# (plain BSD sockets, built dynamically against Debian's glibc, on a disk
# with libc6) serves in b: 5001 waiting with poll(), 5002 with select(),
# 5003 with accept().  With guest/tools/v2v_accel.so pushed into both
# guests and switched on by inject-env:
#   - ctl vsock-map: b lists its own ports, a lists b's forwards;
#   - a -> b:5001 and b:5002 go over vsock (the socket's family is AF_VSOCK),
#     1 MiB and 64 KiB echoed byte for byte, to servers waiting in poll()
#     and select() on their TCP listeners;
#   - a map line for H3 naming a CID nobody holds: the vsock connect fails
#     and the program's connect falls back to TCP (AF_INET), echo intact;
#   - the same program without the library (inject-env cleared): TCP.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo gcc mke2fs dpkg-deb apt-get
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
ACCEL=$BUILD/guest-tools/v2v_accel.so
[ -e "$ACCEL" ] || fail "$ACCEL missing (make BUILD=$BUILD)"
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"

st=$tmp/st
mkdir -p "$st/root/bin"
(cd "$st" && apt-get download -qq libc6 >/dev/null 2>&1) || skip "cannot download Debian's libc6 (apt-get download libc6)"
dpkg-deb -x "$st"/libc6_*.deb "$st/root" || fail "cannot unpack libc6"
gcc -O2 -o "$st/root/bin/tcp_echo" tests/e2e/tcp_echo.c || fail "cannot build tests/e2e/tcp_echo.c"
for v in a b; do
	mke2fs -q -F -t ext4 -d "$st/root" "$st/$v.img" 64M >/dev/null 2>&1 || fail "mke2fs failed"
done
h1=$(free_port) h2=$(free_port) h3=$(free_port)

start() { # NAME CID NET
	mkfifo "$tmp/$1.in"
	"$SYM" run --name "accel$$-$1" --engine emu --mem 256M --serial stdio --disk "$st/$1.img" \
		--vsock "$2,group=$tmp/group" --net "$3" <"$tmp/$1.in" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	bg_pids+=($!)
}
ctl() { local v=$1; shift; "$SYM" ctl "accel$$-$v" "$@"; }
mkdir -m 700 "$tmp/group"
start a 3 user
exec 3>"$tmp/a.in"
start b 4 "user,hostfwd=tcp:$h1-:5001,hostfwd=tcp:$h2-:5002,hostfwd=tcp:$h3-:5003"
exec 4>"$tmp/b.in"
guest_wait_for a "symbiont guest ready" "$READY_TIMEOUT" || fail "guest a never got ready"
guest_wait_for b "symbiont guest ready" "$READY_TIMEOUT" || fail "guest b never got ready"
# The disk's glibc where the dynamic loader looks, and a process that makes
# a system call every second for GEARS to start its pushes from.
setup='mkdir -p /st /lib /lib64 && mount -o ro /dev/vda /st && ln -sfn /st/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu && ln -sf /st/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/ && (while :; do sleep 1; done) & echo MOUNTED-OK'
echo "$setup" >&3
echo "$setup" >&4
guest_wait_for a MOUNTED-OK 60 || fail "a: $(tail -3 "$tmp/a.out")"
guest_wait_for b MOUNTED-OK 60 || fail "b: $(tail -3 "$tmp/b.out")"

# ---- the maps the VMMs give
ctl a vsock-map >"$tmp/a.map" || fail "ctl a vsock-map failed"
ctl b vsock-map >"$tmp/b.map" || fail "ctl b vsock-map failed"
for l in "connect 10.0.2.2 $h1 4 5001" "connect 10.0.2.2 $h2 4 5002" "connect 10.0.2.2 $h3 4 5003"; do
	grep -qx "$l" "$tmp/a.map" || fail "a's map lacks '$l': $(cat "$tmp/a.map")"
done
for p in 5001 5002 5003; do
	grep -qx "listen $p $p" "$tmp/b.map" || fail "b's map lacks 'listen $p $p': $(cat "$tmp/b.map")"
done
grep -q '^connect' "$tmp/b.map" && fail "b's map names ports of a, which forwards none: $(cat "$tmp/b.map")"
# H3 points at a CID no member holds: the library must fall back to TCP.
sed -i "s/^connect 10.0.2.2 $h3 4 5003\$/connect 10.0.2.2 $h3 9 5003/" "$tmp/a.map"

for v in a b; do
	ctl $v push "$tmp/$v.map" /tmp/v2v.map >/dev/null || fail "push of the map into $v failed"
	ctl $v push "$ACCEL" /tmp/v2v_accel.so >/dev/null || fail "push of the library into $v failed"
done
ENV=(LD_PRELOAD=/tmp/v2v_accel.so V2V_ACCEL_MAP=/tmp/v2v.map)
ctl b inject-env --comm tcp_echo "${ENV[@]}" >/dev/null || fail "inject-env in b failed"
echo '/st/bin/tcp_echo serve 5001 poll & /st/bin/tcp_echo serve 5002 select & /st/bin/tcp_echo serve 5003 accept &' >&4
for p in 5001 5002 5003; do
	guest_wait_for b "SERVING-$p" 120 || fail "b's server on $p did not start: $(tail -3 "$tmp/b.out")"
done

k=0
send() { # PORT BYTES: the echo from a; out= "DOMAIN n;ECHO-...;" from its output
	k=$((k + 1))
	echo "/st/bin/tcp_echo send 10.0.2.2 $1 $2 2>&1 | sed 's/^/R$k /'; echo SENT-\$((100+$k))" >&3
	guest_wait_for a "SENT-$((100 + k))" 300 || fail "send $1 $2 did not finish: $(tail -3 "$tmp/a.out")"
	out=$(tr -d '\r' <"$tmp/a.out" | awk -v r="R$k" '$1 == r { $1 = ""; printf "%s;", substr($0, 2) }')
}
ctl a inject-env --comm tcp_echo "${ENV[@]}" >/dev/null || fail "inject-env in a failed"
send "$h1" 1048576
[ "$out" = "DOMAIN 40;ECHO-SAME 1048576;" ] || fail "a -> b:5001 (poll) with the library: $out"
send "$h2" 65536
[ "$out" = "DOMAIN 40;ECHO-SAME 65536;" ] || fail "a -> b:5002 (select) with the library: $out"
send "$h3" 65536
[ "$out" = "DOMAIN 2;ECHO-SAME 65536;" ] || fail "a -> b:5003 (no such CID: TCP fallback): $out"
ctl a inject-env --clear >/dev/null || fail "inject-env --clear in a failed"
send "$h1" 65536
[ "$out" = "DOMAIN 2;ECHO-SAME 65536;" ] || fail "a -> b:5001 without the library: $out"

echo poweroff >&3
echo poweroff >&4
sleep 3
echo "vsock accelerator e2e ok"
