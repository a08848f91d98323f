#!/usr/bin/env bash
# Debian's gdb attached to the default guest on emu with two vCPUs over
# TCP (--gdb, and --name for the control API `monitor` reaches): the guest
# stops at the attach; gdb sees a thread per vCPU, each with its own GS
# base; `monitor ps` lists its processes (init and a sleep the test
# started); `monitor sym` finds a kernel symbol; gdb reads RIP and kernel
# memory through the vCPU's page tables; continue, then Ctrl-C (SIGINT to
# gdb, which sends 0x03) stops it again; a breakpoint on the kernel's
# do_sys_openat2 stops it when the shell opens a file; after detach the
# guest runs on and answers on its console.  (One Ctrl-C: gdb 13 in batch
# mode mishandles a second SIGINT on its own side.)
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools gdb timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init gdbdeb
port=$(free_port)

guest_start g "$SYM" run --engine emu --cpus 2 --name "$name" --gdb "tcp:127.0.0.1:$port" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
echo 'sleep 12345 & echo SLEEPER-"STARTED"' >&3
guest_wait_for g SLEEPER-STARTED 60 || fail "the guest did not start the sleeper"

# linux_banner's address from the control API: gdb then reads the string
# through the page tables of the stopped vCPU
banner=$("$SYM" ctl "$name" sym linux_banner 2>/dev/null | grep -o '0x[0-9a-f]*' | head -1)
[ -n "$banner" ] || fail "ctl sym linux_banner: no address"
openat=$("$SYM" ctl "$name" sym do_sys_openat2 2>/dev/null | grep -o '0x[0-9a-f]*' | head -1)
[ -n "$openat" ] || fail "ctl sym do_sys_openat2: no address"
cat >"$tmp/cmds.gdb" <<EOF
set remotelogfile $tmp/remote.log
target remote 127.0.0.1:$port
monitor ps
monitor sym linux_banner
monitor sym no_such_symbol_here
info threads
thread 2
print/x \$gs_base
thread 1
print/x \$gs_base
info registers rip
x/s (char *) $banner
echo CONTINUING\\n
continue
echo STOPPED-AGAIN\\n
info registers rip
break *$openat
echo BREAK-SET\\n
continue
info registers rip
delete
detach
EOF
mkfifo "$tmp/gdb.ctl"
# gdb reads its commands from the file; the fifo only keeps its stdin open
timeout 120 gdb -nx -batch -x "$tmp/cmds.gdb" <"$tmp/gdb.ctl" >"$tmp/gdb.out" 2>&1 &
gdbpid=$!
bg_pids+=("$gdbpid")
exec 4>"$tmp/gdb.ctl"
# Ctrl-C once gdb has resumed the guest (its vCont;c is in the protocol
# log): a SIGINT while gdb is still exchanging packets makes it give up on
# the target instead of interrupting it.
interrupt_after() { # MARKER
	for _ in $(seq 600); do
		grep -q "$1" "$tmp/gdb.out" && grep -q 'w \$vCont;c' "$tmp/remote.log" 2>/dev/null && break
		kill -0 "$gdbpid" 2>/dev/null || fail "gdb ended early: $(cat "$tmp/gdb.out")"
		sleep 0.1
	done
	sleep 2
	kill -INT "$gdbpid"
}
interrupt_after CONTINUING
# the breakpoint on the kernel's open: the shell opens a file
for _ in $(seq 600); do grep -q "BREAK-SET" "$tmp/gdb.out" && break; sleep 0.1; done
sleep 1
echo 'cat /etc/hostname >/dev/null; echo OPENED-"FILE"' >&3
wait "$gdbpid" || fail "gdb failed: $(cat "$tmp/gdb.out")"
exec 4>&-

python3 - "$tmp/gdb.out" "$openat" <<'PY' || fail "gdb session: $(cat "$tmp/gdb.out")"
import re, sys
out, openat = open(sys.argv[1]).read(), int(sys.argv[2], 16)
assert re.search(r"^\s+1\s+0\s+\S+\s+init\b", out, re.M), "monitor ps: no init (pid 1)"
assert re.search(r"^\s+\d+\s+\d+\s+\S+\s+sleep\s+sleep 12345$", out, re.M), "monitor ps: no sleep 12345"
assert re.search(r"^linux_banner = 0xffffffff[0-9a-f]+$", out, re.M), "monitor sym linux_banner"
assert re.search(r"^error: ", out, re.M), "monitor sym of an unknown symbol: no error line"
# two vCPUs, two threads, each with its own per-CPU GS base
assert re.search(r"^\*\s+1\s+Thread 1\b", out, re.M) and re.search(r"^\s+2\s+Thread 2\b", out, re.M), "info threads"
gs = [int(x, 16) for x in re.findall(r"^\$\d+ = (0x[0-9a-f]+)$", out, re.M)[:2]]
assert len(gs) == 2 and gs[0] != gs[1] and all(g >= 0xffff000000000000 for g in gs), f"per-vCPU gs_base: {gs}"
assert re.search(r'"Linux version 6\.', out), "the banner through the page tables"
assert out.count("received signal SIGINT") == 1, "the Ctrl-C stop"
rips = [int(r, 16) for r in re.findall(r"^rip\s+(0x[0-9a-f]+)", out, re.M)]
assert len(rips) == 3, rips
assert re.search(rf"^(Thread \d+ hit )?Breakpoint 1, 0x{openat:016x}", out, re.M) and rips[2] == openat, "breakpoint on do_sys_openat2"
assert "[Inferior 1 (Remote target) detached]" in out, "detach"
print("monitor ps/sym, banner read through the page tables, Ctrl-C, a breakpoint on do_sys_openat2, detach ok")
PY
echo 'echo AFTER-"DETACH"; kill %1; poweroff' >&3
guest_wait_for g AFTER-DETACH 60 || fail "the guest does not answer after detach"
guest_finish g 60
echo "ok   gdb on the Debian guest"
