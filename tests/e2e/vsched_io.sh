#!/usr/bin/env bash
# VSched's I/O threads (symbiont/iothreads.h): a VM reserving with io=
# runs its vCPU thread and each I/O thread (the event loop and the vsock
# thread here) under SCHED_DEADLINE, as the kernel's per-thread policy
# shows, and `ctl sched` counts those threads; the same reservation
# changed at run time without io= leaves the I/O threads at SCHED_FIFO 1
# and only the vCPU thread reserved, with the new slice the kernel's at once.
# A host that does not grant SCHED_DEADLINE skips, saying so.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3
G=$BUILD/tests/guests/spin.elf
[ -x "$SYM" ] && [ -e "$G" ] || fail "$SYM or $G missing (make BUILD=$BUILD)"
control_init vsio

"$SYM" run --name "$name" --engine emu --kernel "$G" --vsock "3,uds=$tmp/v.sock" \
	--sched period=10ms,slice=1ms,io=100us </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
for ((i = 0; i < 100; i++)); do
	[ -S "$sock" ] && "$SYM" ctl "$name" sched 2>/dev/null | grep -q "^deadline\|^user-level" && break
	kill -0 $pid 2>/dev/null || fail "the VM ended: $(cat "$tmp/err")"
	sleep 0.1
done
mode=$("$SYM" ctl "$name" sched | head -1)
case $mode in
deadline*) ;;
*) echo "skip: this host did not grant SCHED_DEADLINE ($mode; $(head -1 "$tmp/err"))"; exit 77 ;;
esac

# "policy rt_priority" of each of the VM's threads, from /proc (stat fields
# 41 and 40, counted after the command name's closing parenthesis).
policies() {
	for s in /proc/$pid/task/*/stat; do
		sed 's/.*) //' "$s" | awk '{print $39, $38}'
	done
}
io=$("$SYM" ctl "$name" sched --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["io_threads"])')
[ "$io" -ge 2 ] || fail "ctl sched counts $io I/O threads; the event loop and the vsock thread are two"
"$SYM" ctl "$name" sched | grep -q "^I/O threads: $io, each 0.100 ms every period" ||
	fail "ctl sched does not show io=: $("$SYM" ctl "$name" sched)"
dl=$(policies | grep -c '^6 ')
[ "$dl" = $((io + 1)) ] || fail "with io=: $dl SCHED_DEADLINE threads, want the vCPU thread and $io I/O threads: $(policies | tr '\n' ';')"

"$SYM" ctl "$name" sched period=10ms,slice=2ms || fail "the change without io= was refused"
# The kernel holds the new reservation as soon as the command returns, so
# it is in force from the thread's next period (sched_getattr's runtime
# and period of the SCHED_DEADLINE thread).
python3 - "$pid" <<'PY' || fail "the changed reservation is not the kernel's at once"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
pid, found = sys.argv[1], []
for tid in os.listdir(f"/proc/{pid}/task"):
    buf = ctypes.create_string_buffer(56)
    if libc.syscall(315, int(tid), buf, 56, 0) != 0:  # sched_getattr
        continue
    size, policy, flags, nice, prio, runtime, deadline, period = struct.unpack("IIQiIQQQ", buf.raw[:48])
    if policy == 6:
        found.append((runtime, period))
assert found == [(2000000, 10000000)], found
PY
dl=$(policies | grep -c '^6 ')
fifo1=$(policies | grep -c '^1 1$')
[ "$dl" = 1 ] && [ "$fifo1" = "$io" ] ||
	fail "without io=: $dl SCHED_DEADLINE and $fifo1 SCHED_FIFO 1 threads, want 1 and $io: $(policies | tr '\n' ';')"
"$SYM" ctl "$name" quit >/dev/null
wait $pid
pid=
echo "PASS ($io I/O threads reserved with io=, at SCHED_FIFO 1 without)"
