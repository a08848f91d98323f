"""Host side of a vsock ping-pong with the guest's echo server
(tests/e2e/vsock_echo.c): ROUNDS one-byte round trips, one at a time.

    vsock_pingpong.py uds PATH ROUNDS [PORT] [--percentiles] [--interval=MS]
    vsock_pingpong.py vsock CID ROUNDS [PORT] [--percentiles] [--interval=MS]
    vsock_pingpong.py host - ROUNDS [--percentiles] [--interval=MS]

uds: through symbiont's --vsock CID,uds=PATH ("CONNECT PORT" handshake);
vsock: through the host's AF_VSOCK (QEMU's vhost-vsock); host: the
host-only baseline, the same client against an echo process on the other
end of a unix socket pair (no VM at all).  Prints the mean
round trip in microseconds after 50 warm-up rounds, or with --percentiles
the median, 90th, 99th percentile and worst of every round.  --interval
paces the rounds, one every MS milliseconds, as a user's requests come,
rather than back to back (which measures throughput)."""
import os
import socket
import sys
import time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
percentiles = "--percentiles" in sys.argv
interval = 0.0
for a in sys.argv[1:]:
    if a.startswith("--interval="):
        interval = float(a.split("=", 1)[1]) / 1000
how, where, rounds = args[0], args[1], int(args[2])
port = int(args[3]) if len(args) > 3 else 1234
if how == "uds":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(where)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            sys.exit("closed before OK: %r" % line)
        line += b
    if not line.startswith(b"OK "):
        sys.exit("bad handshake reply %r" % line)
elif how == "host":
    s, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.fork() == 0:  # the echo server, a process as the guest's is
        s.close()
        while True:
            b = peer.recv(4096)
            if not b:
                os._exit(0)
            peer.sendall(b)
    peer.close()
else:
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.connect((int(where), port))


def rt():
    s.sendall(b"x")
    if s.recv(1) != b"x":
        sys.exit("echo lost")


if percentiles:
    t = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        rt()
        t.append((time.perf_counter_ns() - t0) / 1000)
        if interval:
            time.sleep(interval)
    t.sort()

    def q(f):
        return t[min(len(t) - 1, int(f * len(t)))]

    print(f"median {q(0.5):8.0f} us  p90 {q(0.9):8.0f} us  p99 {q(0.99):8.0f} us  worst {t[-1]:8.0f} us")
else:
    for _ in range(50):
        rt()
    t0 = time.perf_counter()
    for _ in range(rounds):
        rt()
    print("%.1f" % ((time.perf_counter() - t0) / rounds * 1e6))
s.shutdown(socket.SHUT_WR)
while s.recv(4096):
    pass
