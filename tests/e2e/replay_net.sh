#!/usr/bin/env bash
# Record and replay of the Debian guest on the network (docs/replay.md):
# the recording gets its address by DHCP from slirp (--net user) and
# downloads two files from an HTTP server on the host (one of 512 KiB,
# md5summed).  The received frames reach guest RAM at the vCPU's interrupt
# checks, logged with the count and RIP.  The server is then stopped and
# the log replayed twice, with no network at all: the same console output
# byte for byte, the same instruction count and state hash.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo md5sum
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

mkdir "$tmp/www"
token="rr-net-$$-$RANDOM"
echo "hello $token" >"$tmp/www/hello.txt"
head -c 524288 /dev/urandom >"$tmp/www/big.bin"
big_md5=$(md5sum <"$tmp/www/big.bin" | cut -d' ' -f1)
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >"$tmp/http.log" 2>&1 &
http=$!
bg_pids+=($http)
for ((i = 0; i < 50; i++)); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/hello.txt', timeout=1)" \
		2>/dev/null && break
	sleep 0.2
done

guest_start rec "$SYM" run --engine emu --net user --record "$tmp/net.rr" || fail "the recorded guest did not boot"
cat >&3 <<CMDS
ifconfig eth0 | grep -q 'inet addr:10.0.2.15' && echo "DHCP-\$((10+1))"
wget -qO- http://10.0.2.2:$port/hello.txt; echo "WGET-\$((40+2))"
wget -qO- http://10.0.2.2:$port/big.bin | md5sum | sed 's/^/MD5-/'
echo RR-"DONE"
CMDS
guest_wait_for rec "RR-DONE" 300 || fail "no RR-DONE from the recorded guest"
printf 'poweroff\n' >&3
guest_finish rec 300
kill "$http" 2>/dev/null
grep -q "DHCP-11" "$tmp/rec.out" || fail "eth0 did not get 10.0.2.15 by DHCP"
grep -q "^hello $token" "$tmp/rec.out" || fail "the recorded guest did not fetch hello.txt"
grep -q "MD5-$big_md5" "$tmp/rec.out" || fail "the recorded guest's 512 KiB download is wrong"
report=$(grep '^record: ' "$tmp/rec.err") || fail "no record report"
rp=$(sed -n -E 's/^record: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rec.err")
polls=$(echo "$report" | sed -n -E 's/.* ([0-9]+) input points.*/\1/p')
[ "${polls:-0}" -gt 0 ] || fail "no input point in the log: $report"
echo "ok recorded: ${report#record: }"

for i in 1 2; do
	timeout 900 "$SYM" run --replay "$tmp/net.rr" </dev/null >"$tmp/play$i.out" 2>"$tmp/play$i.err"
	s=$?
	replay_exact "$i" "$s"
	echo "ok replay $i without a network: $(grep '^replay: ok' "$tmp/play$i.err")"
done
echo "PASS replay_net"
