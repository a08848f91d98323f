#!/usr/bin/env bash
# virtio-vsock end to end: a static guest program (tests/e2e/vsock_echo.c,
# built here and appended to the default initramfs as /bin/vsock_echo) talks
# to host unix sockets through --vsock 3,uds=PATH:
#   host -> guest: the host connects to PATH, says "CONNECT 1234", gets
#                  "OK <port>", and the guest's echo server returns the 1 MiB
#                  it sends, byte for byte;
#   guest -> host: the guest connects to CID 2 port 5000, which reaches the
#                  host's listener at PATH_5000, and prints the host's answer.
# QEMU cannot check the guest side here without /dev/vhost-vsock; the guest
# program uses nothing but the AF_VSOCK socket API.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo cpio gzip gcc
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

# The guest program, in an extra cpio archive after the image's own.
why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/vsock_echo.c) || skip "cannot build a static guest program: $why"

uds=$tmp/v.sock
token="vsock-$$-$RANDOM"

# Host listener for the guest's connections to port 5000: answers
# "host got: <what it read>" once the guest half-closes.
python3 - "${uds}_5000" >"$tmp/srv.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
data = b""
while True:
    b = c.recv(4096)
    if not b:
        break
    data += b
c.sendall(b"host got: " + data)
c.close()
print("served", data)
PY
bg_pids+=($!)

guest_start vs timeout 1200 "$SYM" run --mem 256M --serial stdio --kernel $GUEST/vmlinuz --initrd "$tmp/initrd" \
	--append "console=ttyS0 quiet" --vsock "3,uds=$uds" || fail "guest never got ready"

# Guest -> host first, then the guest's echo server for host -> guest.
cat >&3 <<CMDS
vsock_echo connect 2 5000 hello-$token
vsock_echo listen 1234 &
CMDS
guest_wait_for vs "LISTENING-1234" 120 || { cat "$tmp/vs.out" "$tmp/vs.err"; fail "guest echo server did not start"; }

# Idle, with the guest's driver up and a listener waiting, no thread of the
# VMM spins: each uses well under half of the 3 s (a vsock thread that woke
# itself on every poll once used all of it).
vmm=$(pgrep -P "$pid" -x symbiont) || fail "no symbiont process under $pid" # $pid is timeout's
ticks() { for s in /proc/$vmm/task/*/stat; do echo "${s%/stat} $(sed 's/.*) //' "$s" | awk '{print $12 + $13}')"; done; }
ticks >"$tmp/t0"
sleep 3
ticks >"$tmp/t1"
hz=$(getconf CLK_TCK)
busy=$(join "$tmp/t0" "$tmp/t1" | awk -v hz="$hz" '($3 - $2) / hz > 1.5 {print $1 ": " ($3 - $2) / hz " s"}')
[ -z "$busy" ] || fail "threads busy while the VM idles: $busy"

# The host sends 1 MiB through the guest's echo server and must get the same
# bytes back: both directions' credit windows fill and drain many times.
host_reply=$(timeout 300 python3 - "$uds" "ping-$token" 2>&1 <<'PY'
import hashlib, os, socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"CONNECT 1234\n")
buf = b""
while b"\n" not in buf:
    b = s.recv(64)
    if not b:
        sys.exit("closed before OK: %r" % buf)
    buf += b
line, rest = buf.split(b"\n", 1)
if not line.startswith(b"OK "):
    sys.exit("bad handshake reply %r" % line)
payload = sys.argv[2].encode() + os.urandom(1 << 20)
def send():
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
data = rest
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
t.join()
same = hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
print(line.decode(), data[:len(sys.argv[2])].decode(), "same" if same else "differs (%d bytes)" % len(data))
PY
)
guest_wait_for vs "ECHOED-" 60

echo poweroff >&3
guest_finish vs

out=$tmp/vs.out
grep -q "REPLY: host got: hello-$token" "$out" || { cat "$out" "$tmp/vs.err" "$tmp/srv.log"; fail "guest -> host connection"; }
case $host_reply in
"OK "[0-9]*" ping-$token same") ;;
*) cat "$out"; fail "host -> guest connection: $host_reply" ;;
esac
grep -q "ECHOED-$((5 + ${#token} + 1048576))" "$out" || { cat "$out"; fail "guest echo server did not see EOF"; }
echo "virtio-vsock e2e ok"
