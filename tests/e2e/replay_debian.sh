#!/usr/bin/env bash
# Record and replay of the default Debian guest on emu (docs/replay.md):
# the boot, then commands typed at the shell that read the clock and the
# kernel's random numbers (seeded, inside the guest, from the TSC and
# interrupt timing, all of which come from the log), then poweroff.  The
# replay, with nothing on its console input, must print the same console
# output byte for byte, end at the same instruction count with the same
# register-state hash, and do so twice; `ctl ps` on the first replay
# while it runs must list the guest's tasks, a GEARS trace the recording
# never had must show its calls, `ctl exec` (which would change the guest)
# must be refused, and the replay must stay exact.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

control_init replay
guest_start rec "$SYM" run --engine emu --record "$tmp/deb.rr" --name "$name" || fail "the recorded guest did not boot"
printf 'cat /proc/uptime; head -c 16 /dev/urandom | od -An -tx1; echo RR-"DONE"\n' >&3
guest_wait_for rec "RR-DONE" 120 || fail "no RR-DONE from the recorded guest"
# the VMM's own writes into the guest are not logged: refused while recording
"$SYM" ctl "$name" exec -- true >"$tmp/rexec.out" 2>&1 && fail "ctl exec while recording was not refused"
grep -q "changes the guest, which a recording cannot log" "$tmp/rexec.out" ||
	fail "ctl exec while recording: $(cat "$tmp/rexec.out")"
printf 'poweroff\n' >&3
guest_finish rec 120
grep -q '^record: ' "$tmp/rec.err" || fail "no record report"
rp=$(sed -n -E 's/^record: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/rec.err")
echo "ok recorded: $(grep '^record: ' "$tmp/rec.err" | sed 's/^record: //'); exec refused while recording"

for i in 1 2; do
	if [ $i = 1 ]; then
		# a read-only service on a replay: ctl ps while it runs, which
		# must not disturb it
		timeout 600 "$SYM" run --replay "$tmp/deb.rr" --name "$name" </dev/null >"$tmp/play$i.out" \
			2>"$tmp/play$i.err" &
		pid=$!
		for ((t = 0; t < 60; t++)); do
			[ -S "$sock" ] && break
			sleep 0.5
		done
		# a trace the recording never had, for as long as the replay runs
		"$SYM" ctl "$name" trace --syscalls execve,openat >"$tmp/trace.out" 2>&1 &
		tracer=$!
		# The socket opens before the kernel has its first threads, and
		# how long the replay takes to get there depends on the build
		# (ASan is several times slower): ask until kthreadd is listed or
		# the replay has ended.
		for ((t = 0; t < 240; t++)); do
			"$SYM" ctl "$name" ps >"$tmp/ps.out" 2>&1
			grep -q kthreadd "$tmp/ps.out" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		# what would change the guest is refused, in one line
		if "$SYM" ctl "$name" exec -- true >"$tmp/exec.out" 2>&1; then
			fail "ctl exec on a replay was not refused: $(cat "$tmp/exec.out")"
		fi
		grep -q "changes the guest, which a replay cannot do" "$tmp/exec.out" ||
			fail "ctl exec on a replay: $(cat "$tmp/exec.out")"
		wait "$pid"
		s=$?
		pid=
		wait "$tracer"
		grep -q kthreadd "$tmp/ps.out" || fail "ctl ps on the replay: $(head -n 3 "$tmp/ps.out")"
		echo "ok ctl ps on the replay: $(($(wc -l <"$tmp/ps.out") - 1)) tasks; exec refused: $(cat "$tmp/exec.out")"
		grep -Eq ' (execve|openat)\(' "$tmp/trace.out" || fail "no traced call on the replay: $(head -n 3 "$tmp/trace.out")"
		echo "ok traced on the replay: $(grep -Ec ' (execve|openat)\(' "$tmp/trace.out") calls, e.g. $(grep -Em1 ' (execve|openat)\(' "$tmp/trace.out")"
	else
		timeout 600 "$SYM" run --replay "$tmp/deb.rr" </dev/null >"$tmp/play$i.out" 2>"$tmp/play$i.err"
		s=$?
	fi
	replay_exact "$i" "$s"
	echo "ok replay $i: $(grep '^replay: ' "$tmp/play$i.err")"
done
grep -A2 'cat /proc/uptime' "$tmp/play2.out" | tail -n 2
echo "PASS replay_debian"
