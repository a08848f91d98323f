#!/usr/bin/env bash
# virtio-net over a TAP interface: symbiont creates symtapN (--net tap:NAME),
# the host gives it 10.214.0.1/24 and serves a file there; the guest sets
# 10.214.0.2 by hand, pings the host and fetches the file with busybox wget.
# Needs root (CAP_NET_ADMIN) and /dev/net/tun; skipped otherwise.
set -u
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
GUEST=build/guest
READY_TIMEOUT=${READY_TIMEOUT:-600}

skip() { echo "$1"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
for t in python3 timeout mkfifo ip; do
	command -v $t >/dev/null || skip "$t not installed"
done
[ -e $GUEST/vmlinuz ] && [ -e $GUEST/initramfs.cpio.gz ] || skip "no default guest in $GUEST (make guest)"
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ "$(id -u)" = 0 ] || skip "creating a TAP interface needs root"

tap=symtap$(($$ % 10000))
ip link show "$tap" >/dev/null 2>&1 && skip "$tap already exists"
tmp=$(mktemp -d)
pid= srv=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkfifo "$tmp/in"
timeout 1200 "$SYM" run --mem 256M --serial stdio --net "tap:$tap" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
# The interface exists once symbiont opened it.
for ((i = 0; i < 100; i++)); do
	ip link show "$tap" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
ip link show "$tap" >/dev/null 2>&1 || { cat "$tmp/err"; fail "symbiont did not create $tap"; }
ip addr add 10.214.0.1/24 dev "$tap" && ip link set "$tap" up || skip "cannot configure $tap"

mkdir "$tmp/www"
token="tap-$$-$RANDOM"
echo "hello $token" >"$tmp/www/hello.txt"
python3 -m http.server --bind 10.214.0.1 --directory "$tmp/www" 8214 >"$tmp/http.log" 2>&1 &
srv=$!

for ((i = 0; i < READY_TIMEOUT; i++)); do
	grep -q "symbiont guest ready" "$tmp/out" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
if ! grep -q "symbiont guest ready" "$tmp/out"; then
	tail -5 "$tmp/err"
	skip "emu engine cannot boot the default guest yet"
fi
sleep 2
cat >&3 <<'CMDS'
ifconfig eth0 10.214.0.2 netmask 255.255.255.0 up
ping -c 2 -W 5 10.214.0.1 >/dev/null && echo "PING-$((20+2))"
wget -qO- http://10.214.0.1:8214/hello.txt; echo "WGET-$((40+2))"
poweroff
CMDS
for ((i = 0; i < 180; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
exec 3>&-
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=

out=$tmp/out
grep -q "PING-22" "$out" || { cat "$out"; fail "guest could not ping the host over $tap"; }
grep -q "^hello $token" "$out" || { cat "$out"; fail "guest did not fetch the file over $tap"; }
ip link show "$tap" >/dev/null 2>&1 && fail "$tap outlived symbiont"
echo "virtio-net tap e2e ok"
