#!/usr/bin/env bash
# virtio-net over a TAP interface: symbiont creates symtapN (--net tap:NAME),
# the host gives it 10.214.0.1/24 and serves a file there; the guest sets
# 10.214.0.2 by hand, pings the host and fetches the file with busybox wget.
# Needs root (CAP_NET_ADMIN) and /dev/net/tun; skipped otherwise.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo ip
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ "$(id -u)" = 0 ] || skip "creating a TAP interface needs root"

tap=symtap$(($$ % 10000))
ip link show "$tap" >/dev/null 2>&1 && skip "$tap already exists"
# The host side of the interface is configured by a helper that waits for
# symbiont to create it, while guest_start waits for the guest.
(
	for ((i = 0; i < 100; i++)); do
		ip link show "$tap" >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip addr add 10.214.0.1/24 dev "$tap" && ip link set "$tap" up && echo configured
) >"$tmp/ipconf.log" 2>&1 &
bg_pids+=($!)

guest_start tap timeout 1200 "$SYM" run --mem 256M --serial stdio --net "tap:$tap" || fail "guest never got ready"
grep -q configured "$tmp/ipconf.log" || { cat "$tmp/ipconf.log" "$tmp/tap.err"; fail "could not configure $tap"; }
# The web server binds the address, so it starts once the interface has it.
mkdir "$tmp/www"
token="tap-$$-$RANDOM"
echo "hello $token" >"$tmp/www/hello.txt"
python3 -m http.server --bind 10.214.0.1 --directory "$tmp/www" 8214 >"$tmp/http.log" 2>&1 &
bg_pids+=($!)
# Until it listens (a fixed second was not always enough on a loaded host).
for ((i = 0; i < 100; i++)); do
	python3 -c 'import socket; socket.create_connection(("10.214.0.1", 8214), 0.2)' 2>/dev/null && break
	sleep 0.1
done
cat >&3 <<'CMDS'
ifconfig eth0 10.214.0.2 netmask 255.255.255.0 up
ping -c 2 -W 5 10.214.0.1 >/dev/null && echo "PING-$((20+2))"
wget -qO- http://10.214.0.1:8214/hello.txt; echo "WGET-$((40+2))"
poweroff
CMDS
guest_finish tap 180

out=$tmp/tap.out
grep -q "PING-22" "$out" || { cat "$out"; fail "guest could not ping the host over $tap"; }
grep -q "^hello $token" "$out" || { cat "$out"; fail "guest did not fetch the file over $tap"; }
ip link show "$tap" >/dev/null 2>&1 && fail "$tap outlived symbiont"
echo "virtio-net tap e2e ok"
