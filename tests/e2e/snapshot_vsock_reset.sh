#!/usr/bin/env bash
# An open vsock connection across a snapshot: the guest holds a stream to a
# host listener (tests/e2e/vsock_echo.c "hold"); the snapshot is taken with
# the connection open (it used to be refused), the VMM killed -9, and the
# machine restored.  The restored device announces a transport reset, so
# the guest's socket ends with "Connection reset by peer" and a write after
# it fails, while the console and a new connection work.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo cpio gzip gcc
require_guest

why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/vsock_echo.c) || skip "cannot build a static guest program: $why"
uds=$tmp/v.sock

# The host side: echoes each connection's first message and keeps it open.
python3 - "${uds}_5000" >"$tmp/srv.log" 2>&1 <<'PY' &
import socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)
    c.sendall(c.recv(4096))
PY
bg_pids+=($!)

guest_start a "$SYM" run --engine emu --api "$tmp/api" --kernel $GUEST/vmlinuz --initrd "$tmp/initrd" \
	--append "console=ttyS0 quiet" --vsock "3,uds=$uds" || fail "the guest never came up"
echo 'vsock_echo hold 2 5000 held-$((20+22))' >&3
guest_wait_for a "HELD: held-42" 60 || fail "the guest did not get its connection echoed"

"$SYM" ctl "$tmp/api" snapshot "$tmp/snap" --stop >"$tmp/ctl.out" 2>&1 ||
	fail "snapshot with a vsock connection open: $(cat "$tmp/ctl.out")"
cat "$tmp/ctl.out"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
exec 3>&-
grep -q "READ-END" "$tmp/a.out" && fail "the connection ended before the snapshot"

mkfifo "$tmp/b.in"
"$SYM" run --restore "$tmp/snap" <"$tmp/b.in" >"$tmp/b.out" 2>"$tmp/b.err" &
pid=$!
exec 3>"$tmp/b.in"
guest_wait_for b "READ-END" 60 || fail "the guest's held connection did not end after the restore ($(head -c 300 "$tmp/b.err"))"
grep -q "READ-END: Connection reset by peer" "$tmp/b.out" || fail "the held connection ended with: $(grep -a READ-END "$tmp/b.out")"
grep -q "WRITE-AFTER: ok" "$tmp/b.out" && fail "a write after the reset succeeded"
echo 'vsock_echo hold 2 5000 again-$((50+5)) & sleep 3; echo "ALIVE-$((6*7))"' >&3
guest_wait_for b "ALIVE-42" 60 || fail "the console does not take commands after the restore"
grep -q "HELD: again-55" "$tmp/b.out" || fail "a new connection after the reset does not work"
echo poweroff >&3
guest_finish b 120
echo "PASS: a snapshot with a vsock connection open restores; the guest saw $(grep -ao 'READ-END: [^$]*' "$tmp/b.out" | head -1 | tr -d '\r'), then connected again"
