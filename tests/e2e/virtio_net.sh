#!/usr/bin/env bash
# virtio-net end to end with user networking: the default guest gets
# 10.0.2.15 by DHCP from libslirp, fetches a small and a 512 KiB file from a
# python3 http.server on the host's 127.0.0.1 through the gateway 10.0.2.2
# (busybox wget, checked by content and md5), then serves a page with busybox
# httpd that the host fetches through --net user,hostfwd=tcp:PORT-:8080.
#
#   VIRTIO_E2E_QEMU=1 tests/e2e/virtio_net.sh   runs the same guest steps
#   under QEMU's TCG with its own user networking (validates the guest side).
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo md5sum
require_guest

# The host's web server, on loopback only.
mkdir "$tmp/www"
token="net-e2e-$$-$RANDOM"
echo "hello $token" >"$tmp/www/hello.txt"
head -c 524288 /dev/urandom >"$tmp/www/big.bin"
big_md5=$(md5sum <"$tmp/www/big.bin" | cut -d' ' -f1)
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >"$tmp/http.log" 2>&1 &
bg_pids+=($!)
for ((i = 0; i < 50; i++)); do
	python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/hello.txt', timeout=1)" \
		2>/dev/null && break
	sleep 0.2
done
hport=$(free_port)

if [ -n "${VIRTIO_E2E_QEMU:-}" ]; then
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
	guest_start net timeout 1200 qemu-system-x86_64 -accel tcg -M pc -m 256 -smp 1 -nographic -no-reboot \
		-kernel $GUEST/vmlinuz -initrd $GUEST/initramfs.cpio.gz -append "console=ttyS0 quiet" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$hport-:8080" -device virtio-net-pci,netdev=n0 \
		-serial stdio -monitor none -display none || fail "QEMU guest never got ready"
else
	[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
	guest_start net timeout 1200 "$SYM" run --mem 256M --serial stdio --net "user,hostfwd=tcp:$hport-:8080" ||
		fail "guest never got ready"
fi

# Markers are computed by the guest's shell so the echoed commands never match.
cat >&3 <<CMDS
ifconfig eth0 | grep -q 'inet addr:10.0.2.15' && echo "DHCP-\$((10+1))"
wget -qO- http://10.0.2.2:$port/hello.txt; echo "WGET-\$((40+2))"
wget -qO- http://10.0.2.2:$port/big.bin | md5sum | sed 's/^/MD5-/'
mkdir -p /tmp/www && echo "guest page $token" >/tmp/www/g.txt && httpd -p 8080 -h /tmp/www && echo "HTTPD-\$((50+5))"
CMDS
guest_wait_for net "HTTPD-55" 300 || { cat "$tmp/net.out"; fail "guest steps did not finish"; }
fetched=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$hport/g.txt', timeout=30).read().decode().strip())" 2>&1)
echo poweroff >&3
guest_finish net

out=$tmp/net.out
grep -q "DHCP-11" "$out" || { cat "$out"; fail "eth0 did not get 10.0.2.15 by DHCP"; }
grep -q "^hello $token" "$out" || { cat "$out"; fail "guest did not fetch hello.txt from the host"; }
grep -q "MD5-$big_md5" "$out" || { cat "$out"; fail "512 KiB download corrupted or incomplete"; }
[ "$fetched" = "guest page $token" ] || { cat "$out"; fail "hostfwd fetch got: $fetched"; }
echo "virtio-net e2e ok"
