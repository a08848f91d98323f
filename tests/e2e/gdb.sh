#!/usr/bin/env bash
# The gdb stub (src/services/gdbstub) with Debian's stock gdb in batch mode
# against tests/guests/gdb.S, started with --gdb-wait: registers at the
# first instruction, a breakpoint at gdb_bump hit by continue, registers and
# memory read there, a single step, a write watchpoint on gdb_counter that
# stops right after the writing instruction with old and new values, a
# read watchpoint on gdb_marker and an access watchpoint on gdb_counter
# (each right after the instruction), a register (and YMM0's upper half)
# written and read back,
# detach, and the guest then finishing on its own (counter=5, status 65).
# On emu over a unix socket; on kvm over TCP where /dev/kvm exists:
# registers, memory, stepi, hardware and software breakpoints (debug
# registers through KVM_SET_GUEST_DEBUG where there are no code hooks, as
# on kvm_pvm), detach; watchpoints are skipped there, with the reason.
# Then hostile
# clients: garbage, a wrong checksum, bad numbers, a huge length, an
# oversized packet, a client that disconnects mid-packet; the stub answers
# each, and the guest (with the client's breakpoint gone) still finishes.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools gdb nm timeout python3
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
G=$BUILD/tests/guests/gdb.elf
[ -e "$G" ] || make -s BUILD="$BUILD" "$G" >/dev/null || fail "cannot build $G"
addr() { printf '0x%s' "$(nm "$G" | awk -v s="$1" '$3 == s { print $1 }')"; }
bump=$(addr gdb_bump) peek=$(addr gdb_peek) counter=$(addr gdb_counter) marker=$(addr gdb_marker)

# run_case NAME ENGINE TARGET full|kvm|pvm: the guest waits for gdb at
# TARGET; full adds the step from a breakpoint and the watchpoint
run_case() {
	local n=$1 engine=$2 where=$3 full=$4 sock
	case $where in unix:*) sock=${where#unix:} ;; tcp:*) sock=${where#tcp:} ;; esac
	"$SYM" run --engine "$engine" --kernel "$G" --gdb "$where" --gdb-wait >"$tmp/$n.out" 2>"$tmp/$n.err" &
	pid=$!
	for _ in $(seq 50); do
		{ [ -S "$sock" ] || ss -ltn 2>/dev/null | grep -q ":${sock##*:} "; } && break
		sleep 0.1
	done
	{
		echo "target remote $sock"
		echo "info registers rip"
		echo "x/wx $marker"
		echo "set \$rbx = 0x1234abcd"
		echo "info registers rbx"
		echo "print/x \$cr0"
		echo "print/x \$fs_base"
		echo "set \$ymm0.v8_int32[7] = 0x7e57"
		echo "print/x \$ymm0.v8_int32[7]"
		if [ "$full" = full ]; then
			echo "break *$bump"
			echo "continue"
			echo "info registers rip"
			echo "stepi"
			echo "info registers rip"
			echo "x/wx $counter"
			echo "delete"
			echo "watch *(int *)$counter"
			echo "continue"
			echo "info registers rip"
			echo "delete"
			echo "rwatch *(int *)$marker"
			echo "continue"
			echo "info registers rip"
			echo "delete"
			echo "awatch *(int *)$counter"
			echo "continue"
			echo "info registers rip"
		else
			echo "stepi"
			echo "info registers rip"
			echo "hbreak *$bump" # a debug register through KVM_SET_GUEST_DEBUG
			echo "continue"
			echo "info registers rip"
			echo "delete"
			echo "break *$bump" # a code hook, or on kvm_pvm (no hooks) a debug register
			echo "continue"
		fi
		echo "detach"
	} >"$tmp/$n.gdb"
	timeout 60 gdb -nx -batch -x "$tmp/$n.gdb" >"$tmp/$n.gdbout" 2>&1
	local st=0
	wait "$pid" || st=$?
	pid=
	[ "$st" = 65 ] || fail "$n: guest status $st after detach, want 65: $(tail -3 "$tmp/$n.err")"
	grep -q '^counter=5$' "$tmp/$n.out" || fail "$n: the guest did not finish after detach: $(cat "$tmp/$n.out")"
	python3 - "$tmp/$n.gdbout" "$bump" "$counter" "$marker" "$full" "$peek" <<'PY' || fail "$n: $(cat "$tmp/$n.gdbout")"
import re, sys
out = open(sys.argv[1]).read()
bump, counter, marker, full = int(sys.argv[2], 16), int(sys.argv[3], 16), int(sys.argv[4], 16), sys.argv[5] == "full"
peek = int(sys.argv[6], 16)
rips = [int(x, 16) for x in re.findall(r"^rip\s+(0x[0-9a-f]+)", out, re.M)]
assert rips and rips[0] == 0x10000c, f"not stopped at the entry: {rips}"
assert re.search(rf"^0x{marker:x}:\s+0x5a17b10e$", out, re.M), "memory read"
assert re.search(r"^rbx\s+0x1234abcd\s", out, re.M), "register write"
cr0 = re.search(r"^\$1 = (0x[0-9a-f]+)$", out, re.M)
assert cr0 and int(cr0.group(1), 16) & 1, "cr0 (PE) not shown"
assert re.search(r"^\$2 = 0x0$", out, re.M), "fs_base"
assert re.search(r"^\$3 = 0x7e57$", out, re.M), "ymm0's upper half (the avx feature) written and read back"
assert "[Inferior 1 (Remote target) detached]" in out, "no detach"
if full:
    assert f"Breakpoint 1, 0x{bump:016x}" in out, "breakpoint not reported"
    # at the breakpoint, after one step (ADD m32,imm8 with a 32-bit address: 7 bytes), after the watched write
    # then after the read of the marker (MOV EDX, moffs32: 6 bytes), after the third add
    assert rips[1:6] == [bump, bump + 7, bump + 7, peek + 6, bump + 7], [hex(r) for r in rips]
    assert re.search(rf"^0x{counter:x}:\s+0x00000001$", out, re.M), "the stepped add did not write 1"
    assert "Hardware watchpoint 2" in out and re.search(r"Old value = 1\nNew value = 2", out), "watchpoint"
    assert re.search(r"Hardware read watchpoint 3: .*\n\nValue = 1511502094", out), "read watchpoint"
    assert re.search(r"Hardware access \(read/write\) watchpoint 4: .*\n\n(Old value = 2\nNew value = 3|Value = 3)", out), "access watchpoint"
    print(f"breakpoint at 0x{bump:x}, step, write/read/access watchpoints (1 -> 2, marker, 2 -> 3), registers, memory ok")
else:
    assert len(rips) >= 3 and rips[1] != 0x10000c, f"stepi did not move: {rips}"
    assert f"Breakpoint 1, 0x{bump:016x}" in out and rips[2] == bump, "hardware breakpoint"
    # kvm_pvm has no code hooks: the software breakpoint takes a debug register too
    assert f"Breakpoint 2, 0x{bump:016x}" in out, "software breakpoint"
    print("registers, memory, stepi, hardware and software breakpoints, detach ok")
PY
}

run_case emu emu "unix:$tmp/gdb.sock" full
echo "ok   emu"

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	port=$(free_port)
	if [ -e /sys/module/kvm_pvm ]; then
		echo "skip: gdb watchpoints on kvm: kvm_pvm's data breakpoints (DR7 through KVM_SET_GUEST_DEBUG) never fire for the guest kernel-mode code its emulator runs"
		run_case kvm kvm "tcp:127.0.0.1:$port" pvm
	else
		echo "skip: gdb watchpoints on kvm: not tested by this script (the test hosts have kvm_pvm)"
		run_case kvm kvm "tcp:127.0.0.1:$port" kvm
	fi
	echo "ok   kvm"
else
	echo "skip: gdb on kvm: no accessible /dev/kvm"
fi

# Hostile clients: the stub answers or drops them, and the guest goes on.
"$SYM" run --engine emu --kernel "$G" --gdb "unix:$tmp/h.sock" --gdb-wait >"$tmp/h.out" 2>"$tmp/h.err" &
pid=$!
for _ in $(seq 50); do [ -S "$tmp/h.sock" ] && break; sleep 0.1; done
python3 - "$tmp/h.sock" <<'PY' || fail "hostile clients: $(cat "$tmp/h.err")"
import socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    return s
def pkt(body):
    return b"$" + body + b"#%02x" % (sum(body) & 0xff)
def recv_until(s, want):
    buf = b""
    while want not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf
s = conn()
s.sendall(b"garbage\x00\xff" + b"$g#00")             # noise, then a wrong checksum
assert recv_until(s, b"-").endswith(b"-"), "no nack for a bad checksum"
s.sendall(pkt(b"m" + b"f" * 40 + b",10"))            # a number too long
assert b"$E01" in recv_until(s, b"#"), "bad number"
s.sendall(pkt(b"m10000c,ffffffffffffffff"))          # a huge length: cut to a packet
r = recv_until(s, b"#")
assert r.startswith(b"+$") and len(r) > 1000, r[:40]
s.sendall(pkt(b"M0,1:" + b"0" * 40000))              # longer than any packet
assert b"E01" in recv_until(s, b"E01"), "oversized packet"
s.sendall(pkt(b"Z0,10000c,1") + pkt(b"Z9,0,0") + pkt(b"vCont;x") + pkt(b"Hg99"))
r = recv_until(s, b"E02")
assert b"$OK" in r and b"$#00" in r and b"E01" in r and b"E02" in r, r
s.sendall(b"$m10000c,4")                             # then gone, mid-packet
s.close()
print("hostile clients answered or dropped")
PY
st=0
wait "$pid" || st=$?
pid=
[ "$st" = 65 ] || fail "after hostile clients: status $st, want 65: $(tail -3 "$tmp/h.err")"
echo "ok   hostile clients"
exit 0
