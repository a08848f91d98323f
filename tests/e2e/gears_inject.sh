#!/usr/bin/env bash
# GEARS code injection end to end (emu, default Debian guest), with nothing
# in the guest:
#   inject      a static-pie payload (build/payloads/hello.elf) run inside a
#               background shell loop writes its line on the loop's stdout
#               (the console) and returns the pid; the loop then carries on
#               to its normal end with its state intact (its counter)
#   blocked     a shell blocked in read on a fifo is injected (when the read
#               returns, or woken when another process runs) and still gets
#               the line it read; a `sleep 6` is woken from its nanosleep
#               (by a helper in another process while the vCPU is kept busy),
#               injected, and still ends normally
#   first       the first command after boot, in a guest where nothing has
#               made a system call since the VMM started watching: `ctl exec`
#               works (the kernel is found from the vCPUs' own registers)
#   idle        in an idle guest a sleeping process is woken by a call of the
#               guest kernel's signal_wake_up_state on the idle vCPU, and
#               `ctl exec` starts from a process woken the same way
#   hostile     a process killed while injected code runs (a payload that
#               sleeps) makes the injection fail with a clear error, soon;
#               bad files and pids are one-line errors; the VM serves the
#               next injection as before
#   exec        `ctl exec` runs a guest command with no agent: its stdout and
#               stderr apart, its exit status, --env and --cwd
#   push/pull   a 1 MiB random file goes in and comes back byte for byte (and
#               the guest's own md5sum agrees)
#   32-bit      a static 32-bit program (tests/e2e/gears_t32.c, pushed in),
#               once through INT 0x80 and once through the vDSO (SYSENTER):
#               a trace shows its open and write marked (i386), a deny rule
#               on open refuses its open with EACCES
# exec, push and pull inject into whichever process makes a system call
# first, or, when none does, into one the kernel is made to wake.
# The markers a command prints are quoted in what is typed (echo X-"DONE"), so
# the console's echo of the command line never matches them.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
HELLO=$BUILD/payloads/hello.elf
SLEEPER=$BUILD/payloads/sleeper.elf
UNMAPPER=$BUILD/payloads/unmapper.elf
EXECER=$BUILD/payloads/execer.elf
for f in "$HELLO" "$SLEEPER" "$UNMAPPER" "$EXECER"; do
	[ -f "$f" ] || fail "$f missing (make BUILD=$BUILD)"
done
control_init gearsinj

guest_start g "$SYM" run --name "$name" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"
"$SYM" ctl "$name" events >"$tmp/events" 2>&1 &
bg_pids+=($!)

# ---- the first command: no event has told GEARS where the kernel is
sleep 3 # the shell's prompt written, every task asleep
out=$(timeout 60 "$SYM" ctl "$name" exec -- echo first-"exec" 2>&1) || fail "the first exec: $out"
[ "$out" = first-exec ] || fail "the first exec printed: $out"
echo "ok the first command in an idle guest: exec printed $out"

guest_pid() { # MARKER: the number the guest printed as MARKER=N
	tr -d '\r' <"$tmp/g.out" | sed -n "s/^$1=\([0-9]*\)\$/\1/p" | tail -1
}

# ---- inject into a running loop
echo '(i=0; while [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done; echo LOOP-"END" $i) & echo LOOPPID=$!' >&3
guest_wait_for g 'LOOPPID=[0-9]' 60 || fail "the loop did not start"
loop=$(guest_pid LOOPPID)
out=$("$SYM" ctl "$name" inject --pid "$loop" "$HELLO" 2>&1) || fail "inject: $out"
grep -Eq "^returned $loop in pid $loop \(sh\), thread $loop, in [0-9.]+ ms$" <<<"$out" || fail "inject said: $out"
wait_event() { # PATTERN: until the events client has it (it may lag the command's reply)
	local i
	for ((i = 0; i < 20; i++)); do
		grep -Eq "$1" "$tmp/events" && return 0
		sleep 0.5
	done
	return 1
}
wait_event "GEARS_INJECT \{\"pid\":$loop,\"tid\":$loop,\"comm\":\"sh\",\"at\":\"(entry|exit)\",\"syscall\":\"[a-z_0-9]+\",\"waker\":false,\"woken\":(null|\"kernel\"|\"helper\"),\"ret\":$loop,\"error\":null\}" ||
	fail "no GEARS_INJECT event for the loop: $(grep GEARS_INJECT "$tmp/events")"
guest_wait_for g "INJECTED-hello from pid $loop" 30 || fail "the payload's line never reached the console"
guest_wait_for g 'LOOP-END 25' 60 || fail "the loop did not carry on to its end after the injection"

# ---- a process blocked in read, injected when the read returns
# (opened read-write, so the open does not block: a fifo open interrupted
# and restarted, as by a signal, can miss a writer that came and went)
echo 'mkfifo /tmp/inj-fifo; (read x <>/tmp/inj-fifo; echo READ-"GOT" "$x") & echo READPID=$!' >&3
guest_wait_for g 'READPID=[0-9]' 60 || fail "the reader did not start"
reader=$(guest_pid READPID)
sleep 2 # the reader is asleep in its read by now
"$SYM" ctl "$name" inject --timeout 60 --pid "$reader" "$HELLO" >"$tmp/blocked" 2>&1 &
injector=$!
bg_pids+=("$injector")
sleep 2
echo 'echo fifo-line >/tmp/inj-fifo' >&3
wait "$injector" || fail "inject into the blocked reader: $(cat "$tmp/blocked")"
guest_wait_for g "INJECTED-hello from pid $reader" 30 || fail "the blocked reader's injection printed nothing"
if ! guest_wait_for g 'READ-GOT fifo-line' 30; then
	echo "ps; cat /proc/$reader/stat /proc/$reader/syscall; echo PS-\"DONE\"" >&3
	guest_wait_for g PS-DONE 30
	fail "the reader lost its line to the injection: $("$SYM" ctl "$name" ps | tail -6; grep GEARS_INJECT "$tmp/events")"
fi

# ---- hostile and bad input
out=$("$SYM" ctl "$name" inject --pid 99999 "$HELLO" 2>&1) && fail "inject into a missing pid succeeded: $out"
grep -q 'no process 99999' <<<"$out" || fail "missing pid: $out"
out=$("$SYM" ctl "$name" inject --pid "$loop" /etc/hostname 2>&1) && fail "inject of a text file succeeded: $out"
grep -q 'not an ELF file' <<<"$out" || fail "text file: $out"
echo '(while :; do sleep 0.3; done) & echo VICTIM=$!' >&3
guest_wait_for g 'VICTIM=[0-9]' 60 || fail "the victim did not start"
victim=$(guest_pid VICTIM)
start=$(date +%s)
"$SYM" ctl "$name" inject --timeout 60 --pid "$victim" "$SLEEPER" >"$tmp/killed" 2>&1 &
injector=$!
bg_pids+=("$injector")
sleep 3 # the payload sleeps 20 s
echo "kill -9 $victim; echo KILLED-\"DONE\"" >&3
guest_wait_for g KILLED-DONE 30 || fail "the kill did not run"
wait "$injector" && fail "the injection into a killed process succeeded: $(cat "$tmp/killed")"
grep -q "exited (or was killed) during the injection (pid $victim)" "$tmp/killed" ||
	fail "killed mid-injection: $(cat "$tmp/killed")"
(($(date +%s) - start < 15)) || fail "the failed injection took $(($(date +%s) - start)) s to be reported"
wait_event "GEARS_INJECT.*\"pid\":$victim,.*\"error\":\"the process exited" ||
	fail "no GEARS_INJECT event for the killed process: $(grep GEARS_INJECT "$tmp/events")"
# injected code that unmaps its own pages, or execs: a clear error, at once
echo '(while :; do sleep 0.3; done) & echo UNMAPVICTIM=$!' >&3
guest_wait_for g 'UNMAPVICTIM=[0-9]' 60 || fail "the unmap victim did not start"
victim=$(guest_pid UNMAPVICTIM)
out=$("$SYM" ctl "$name" inject --pid "$victim" "$UNMAPPER" 2>&1) && fail "an injection that unmaps itself succeeded: $out"
grep -q "the process called munmap on the injection's memory (pid $victim)" <<<"$out" || fail "unmapper: $out"
sleep 1 # the victim dies of it now (SIGSEGV): its job notice is printed before the next line is typed
echo '(while :; do sleep 0.3; done) & echo EXECVICTIM=$!' >&3
guest_wait_for g 'EXECVICTIM=[0-9]' 60 || fail "the exec victim did not start"
victim=$(guest_pid EXECVICTIM)
out=$("$SYM" ctl "$name" inject --pid "$victim" "$EXECER" 2>&1) && fail "an injection that execs succeeded: $out"
grep -q "the process called execve during the injection (pid $victim)" <<<"$out" || fail "execer: $out"
guest_wait_for g 'EXECED-OK' 30 || fail "the exec'd program did not run"
# the VMM is unharmed: the next injection works
echo '(sleep 1; sleep 1; sleep 1; echo AFTER-"END") & echo AFTERPID=$!' >&3
guest_wait_for g 'AFTERPID=[0-9]' 60 || fail "the last target did not start"
after=$(guest_pid AFTERPID)
out=$("$SYM" ctl "$name" inject --pid "$after" "$HELLO" 2>&1) || fail "inject after the hostile case: $out"
guest_wait_for g 'AFTER-END' 60 || fail "the last target did not end"

# inject_sleeper TAG SECONDS WOKEN [BEFORE]: a `sleep SECONDS` started in the
# guest is injected mid-sleep (hello.elf), woken as WOKEN says (its
# GEARS_INJECT event), and still sleeps out its time and exits 0; BEFORE is
# typed ahead of the wait for it
inject_sleeper() {
	local tag=$1 secs=$2 woken=$3 before=${4:-} sp out # not pid: guest_wait_for's guest
	echo "sleep $secs & echo ${tag}PID=\$!" >&3
	guest_wait_for g "${tag}PID=[0-9]" 60 || fail "the $tag sleeper did not start"
	sp=$(guest_pid "${tag}PID")
	sleep 1
	out=$("$SYM" ctl "$name" inject --pid "$sp" "$HELLO" 2>&1) || fail "inject into the $tag sleeper: $out"
	grep -q "^returned $sp in pid $sp (sleep)" <<<"$out" || fail "inject into the $tag sleeper said: $out"
	guest_wait_for g "INJECTED-hello from pid $sp" 30 || fail "the $tag sleeper's injection printed nothing"
	wait_event "GEARS_INJECT.*\"pid\":$sp,.*\"woken\":\"$woken\",\"ret\":[0-9]+,\"error\":null" ||
		fail "no GEARS_INJECT event saying the $woken woke $sp: $(grep GEARS_INJECT "$tmp/events")"
	echo "$before wait $sp; echo ${tag}SLEPT-\"END\" \$?" >&3
	guest_wait_for g "${tag}SLEPT-END 0" 60 || fail "the $tag sleeper did not end normally after its injection"
}

# ---- an idle guest: nothing but a sleeper, the shell asleep in its read.
# The sleeper is woken by the guest kernel's signal_wake_up_state, called on
# the idle vCPU (no other process makes a call a helper could start from).
inject_sleeper IDLE 8 kernel
# agentless exec in the idle guest: the process it starts from (the first
# one asleep) is woken the same way
out=$("$SYM" ctl "$name" exec -- echo idle-exec 2>&1) || fail "exec in an idle guest: $out"
[ "$out" = idle-exec ] || fail "exec in an idle guest said: [$out]"

# ---- exec, push, pull
echo '(while :; do sleep 1; done) & echo TICKER=$!' >&3
guest_wait_for g 'TICKER=[0-9]' 60 || fail "the ticker did not start"
# With the vCPU kept busy (a shell loop with no system call), none idles for
# the kernel's waking: the sleeper is woken through ptrace by a helper
# started in another process (the ticker)
echo '(while :; do :; done) & echo BUSY=$!' >&3
guest_wait_for g 'BUSY=[0-9]' 60 || fail "the busy loop did not start"
inject_sleeper HELPED 6 helper "kill $(guest_pid BUSY);"
wait_event "GEARS_INJECT.*\"waker\":true,\"woken\":null,\"ret\":[0-9]+,\"error\":null" ||
	fail "no GEARS_INJECT event for the helper that woke the sleeper: $(grep GEARS_INJECT "$tmp/events")"
"$SYM" ctl "$name" exec -- sh -c 'echo out-line; echo err-line >&2; exit 3' >"$tmp/exec.out" 2>"$tmp/exec.err"
st=$?
[ "$st" = 3 ] || fail "exec exited $st, want 3 (stderr: $(cat "$tmp/exec.err"))"
[ "$(cat "$tmp/exec.out")" = out-line ] || fail "exec stdout: [$(cat "$tmp/exec.out")]"
[ "$(cat "$tmp/exec.err")" = err-line ] || fail "exec stderr: [$(cat "$tmp/exec.err")]"
out=$("$SYM" ctl "$name" exec --env GEARS_X=from-host --cwd /proc -- sh -c 'echo "$GEARS_X $(pwd)"') ||
	fail "exec with --env and --cwd: $out"
[ "$out" = "from-host /proc" ] || fail "exec --env --cwd said: [$out]"
out=$("$SYM" ctl "$name" exec -- /no/such/program 2>&1)
st=$?
[ "$st" = 127 ] && grep -q 'cannot run /no/such/program' <<<"$out" || fail "exec of a missing program: $st [$out]"
head -c 1048576 /dev/urandom >"$tmp/blob"
"$SYM" ctl "$name" push "$tmp/blob" /tmp/blob || fail "push failed"
sum=$("$SYM" ctl "$name" exec -- md5sum /tmp/blob) || fail "md5sum in the guest failed"
[ "${sum%% *}" = "$(md5sum <"$tmp/blob" | cut -d' ' -f1)" ] || fail "the pushed file differs in the guest: $sum"
"$SYM" ctl "$name" pull /tmp/blob "$tmp/blob.back" || fail "pull failed"
cmp "$tmp/blob" "$tmp/blob.back" || fail "the pulled file differs from the pushed one"
out=$("$SYM" ctl "$name" pull /no/such/file "$tmp/none" 2>&1) && fail "pull of a missing file succeeded"
grep -q 'ENOENT' <<<"$out" && [ ! -e "$tmp/none" ] || fail "pull of a missing file: $out"

# ---- the 32-bit entries (INT 0x80, and SYSENTER through the vDSO): a
# trace names their calls, a deny rule refuses them
for prog in t32 t32s; do
	flags=
	[ $prog = t32s ] && flags=-DVIA_VDSO
	if ! gcc -m32 -static -nostdlib -fno-pic -fno-stack-protector -O1 $flags -o "$tmp/$prog" tests/e2e/gears_t32.c \
		2>/dev/null; then
		echo "gears_inject: no 32-bit gcc here: the 32-bit entries are skipped" >&2
		break
	fi
	"$SYM" ctl "$name" push "$tmp/$prog" /tmp/$prog || fail "push of the 32-bit program failed"
	"$SYM" ctl "$name" exec -- sh -c "chmod 755 /tmp/$prog; echo probe >/tmp/gears32-probe" || fail "exec chmod failed"
	"$SYM" ctl "$name" trace --comm $prog --syscalls open,write >"$tmp/trace-$prog" 2>&1 &
	tracer=$!
	bg_pids+=("$tracer")
	for ((i = 0; i < 40; i++)); do
		[ "$(qmp query-gears-traces | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] && break
		sleep 0.5
	done
	echo "/tmp/$prog; echo $prog-\"RAN\"" >&3
	guest_wait_for g "$prog-RAN" 60 || fail "$prog did not run"
	n=$([ $prog = t32 ] && echo 1 || echo 2) # the programs' lines so far, each
	[ "$(tr -d '\r' <"$tmp/g.out" | grep -c '^T32-OPEN-OK$')" = $n ] || fail "$prog could not open its probe"
	for ((i = 0; i < 20; i++)); do grep -q 'write(' "$tmp/trace-$prog" && break; sleep 0.5; done
	grep -Eq "^[0-9]+ $prog \(i386\) open\(\"/tmp/gears32-probe\", O_RDONLY\) = [0-9]+\$" "$tmp/trace-$prog" ||
		fail "no 32-bit open by $prog in the trace: $(head -5 "$tmp/trace-$prog")"
	grep -Eq "^[0-9]+ $prog \(i386\) write\(1, \"T32-OPEN-OK\\\\n\", 12\) = 12\$" "$tmp/trace-$prog" ||
		fail "no 32-bit write by $prog in the trace: $(head -5 "$tmp/trace-$prog")"
	kill "$tracer"
	"$SYM" ctl "$name" deny --syscall open --path-prefix /tmp/gears32-probe --errno EACCES >/dev/null || fail "deny"
	echo "/tmp/$prog; echo $prog-\"DENIED\"" >&3
	guest_wait_for g "$prog-DENIED" 60 || fail "the denied $prog did not run"
	[ "$(tr -d '\r' <"$tmp/g.out" | grep -c '^T32-OPEN-ERR-13$')" = $n ] ||
		fail "the 32-bit open by $prog was not refused with EACCES"
	"$SYM" ctl "$name" deny --remove all || fail "deny --remove"
	echo "ok   $prog: traced and denied through its 32-bit entry"
done

echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS"
