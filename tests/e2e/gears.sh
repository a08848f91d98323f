#!/usr/bin/env bash
# GEARS end to end (emu, default Debian guest), with nothing in the guest:
#   trace       `symbiont ctl NAME trace --syscalls openat` shows the guest's
#               openat of a path this test chooses, with its result (and the
#               ENOENT of a missing one); --comm and --pid keep only that
#               command's or process's calls;
#               the trace ends when its client goes away
#   deny        a rule on openat under /secret makes `cat /secret/x` fail with
#               "Permission denied" and nothing else, while another file still
#               opens; the rule is listed with its hit, the refusal is one
#               GEARS_DENIED event, and the rule can be removed
#   inject-env  a variable reaches the script selected by --path (replacing
#               one the caller set, keeping the rest), and no other program;
#               each injection is a GEARS_ENV event; --clear ends it
#   cgroup      a trace and a deny rule with --cgroup see only the calls of
#               processes in that cgroup (v2) or below it; the trace shows
#               the refused call with the error the caller got
# The markers a command prints are quoted in what is typed (echo X-"DONE"), so
# the console's echo of the command line never matches them.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init gears

guest_start g "$SYM" run --name "$name" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"

# guest_run TAG COMMANDS: types COMMANDS between TAG-BEGIN and TAG-END
# markers and waits for the end; guest_said TAG: what they printed
guest_run() {
	echo "echo $1-\"BEGIN\"; $2; echo $1-\"END\"" >&3
	guest_wait_for g "$1-END" 60 || fail "the guest's $1 commands did not finish"
}
guest_said() { tr -d '\r' <"$tmp/g.out" | sed -n "/^$1-BEGIN\$/,/^$1-END\$/p" | sed '1d;$d'; }

traces() { qmp query-gears-traces | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
wait_traces() { # N: until that many traces run
	local i
	for ((i = 0; i < 60; i++)); do
		[ "$(traces)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}

# ---- trace
echo 'echo probe >/tmp/gears-probe; echo SHPID=$$' >&3
guest_wait_for g 'SHPID=[0-9]' 60 || fail "the guest did not write its probe file"
shpid=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^SHPID=\([0-9]*\)$/\1/p' | tail -1)
"$SYM" ctl "$name" trace --syscalls openat >"$tmp/trace" 2>"$tmp/trace.err" &
tracer=$!
bg_pids+=("$tracer")
"$SYM" ctl "$name" trace --comm cat --syscalls all >"$tmp/trace-cat" 2>&1 &
bg_pids+=($!)
"$SYM" ctl "$name" trace --pid "$shpid" --syscalls openat,write >"$tmp/trace-pid" 2>&1 &
bg_pids+=($!)
wait_traces 3 || fail "the traces did not start: $(cat "$tmp/trace.err")"
echo 'cat /tmp/gears-probe >/dev/null; cat /gears-missing 2>/dev/null; echo pidprobe >/tmp/gears-pid; echo TRACE-"DONE"' >&3
guest_wait_for g TRACE-DONE 60 || fail "the traced commands did not finish"
for ((i = 0; i < 20; i++)); do grep -q 'gears-missing' "$tmp/trace" && break; sleep 0.5; done
grep -Eq '^[0-9]+ cat openat\(AT_FDCWD, "/tmp/gears-probe", O_RDONLY[A-Z_|]*\) = [0-9]+$' "$tmp/trace" ||
	fail "no openat of /tmp/gears-probe with its fd in the trace: $(head -20 "$tmp/trace")"
grep -Eq '^[0-9]+ cat openat\(AT_FDCWD, "/gears-missing", O_RDONLY[A-Z_|]*\) = -1 ENOENT \(No such file or directory\)$' "$tmp/trace" ||
	fail "no failed openat of /gears-missing in the trace: $(head -20 "$tmp/trace")"
grep -v '^[0-9]* [^ ]* openat(' "$tmp/trace" | grep -q . && fail "calls other than openat in an openat trace: $(grep -v openat "$tmp/trace" | head -3)"
grep -q ' cat write(2, "cat: can.t open .*/gears-missing' "$tmp/trace-cat" ||
	fail "the --comm cat trace lacks cat's error message: $(head -20 "$tmp/trace-cat")"
grep -v '^[0-9]* cat ' "$tmp/trace-cat" | grep -q . && fail "another command in a --comm cat trace: $(grep -v '^[0-9]* cat ' "$tmp/trace-cat" | head -3)"
grep -Eq "^$shpid sh openat\(AT_FDCWD, \"/tmp/gears-pid\", O_WRONLY\|O_CREAT\|O_TRUNC, 0666\) = [0-9]+$" "$tmp/trace-pid" ||
	fail "the --pid $shpid trace lacks the shell's openat of /tmp/gears-pid: $(head -20 "$tmp/trace-pid")"
grep -v "^$shpid " "$tmp/trace-pid" | grep -q . && fail "another process in a --pid trace: $(grep -v "^$shpid " "$tmp/trace-pid" | head -3)"
kill "$tracer"
wait_traces 2 || fail "the trace did not end with its client"
kill "${bg_pids[@]}" 2>/dev/null
wait_traces 0 || fail "the --comm trace did not end with its client"

# ---- deny
"$SYM" ctl "$name" events --json >"$tmp/events" 2>&1 &
bg_pids+=($!)
echo 'mkdir -p /secret; echo hidden >/secret/x; echo DENY-"PREP"' >&3
guest_wait_for g DENY-PREP 60 || fail "the guest did not write /secret/x"
rule=$("$SYM" ctl "$name" deny --syscall openat --path-prefix /secret --errno EACCES) || fail "deny: $rule"
rule=${rule#rule }
guest_run DENY 'cat /secret/x; cat /tmp/gears-probe'
out=$(guest_said DENY)
want=$(printf "cat: can't open '/secret/x': Permission denied\nprobe")
[ "$out" = "$want" ] || fail "the guest saw: [$out], want: [$want]"
"$SYM" ctl "$name" deny --list >"$tmp/denies" || fail "deny --list"
grep -Eq "^$rule +openat +/secret +EACCES +- +- +- +1$" "$tmp/denies" || fail "deny --list: $(cat "$tmp/denies")"
denied=$(grep '"event":"GEARS_DENIED"' "$tmp/events")
[ "$(grep -c . <<<"$denied")" = 1 ] && grep -q '"comm":"cat".*"syscall":"openat","path":"/secret/x","errno":"EACCES"' <<<"$denied" ||
	fail "want one GEARS_DENIED event for cat's /secret/x: [$denied]"
"$SYM" ctl "$name" deny --remove "$rule" || fail "deny --remove"
guest_run UNDENY 'cat /secret/x'
guest_said UNDENY | grep -q '^hidden$' || fail "the rule still applies after --remove"

# ---- inject-env
printf '%s\n' 'printf "%s\\n" "#!/bin/sh" "echo \"\$1 GEARS_VAR=[\$GEARS_VAR] HOME=[\$HOME]\"" >/tmp/show.sh' \
	'cp /tmp/show.sh /tmp/other.sh; chmod +x /tmp/show.sh /tmp/other.sh; echo ENV-"PREP"' >&3
guest_wait_for g ENV-PREP 60 || fail "the guest did not write its scripts"
"$SYM" ctl "$name" inject-env --path /tmp/show.sh GEARS_VAR=injected >/dev/null || fail "inject-env"
guest_run ENV '/tmp/show.sh a; GEARS_VAR=mine /tmp/show.sh b; /tmp/other.sh c; env | grep -c GEARS_VAR'
out=$(guest_said ENV)
home=$(grep -o '^a GEARS_VAR=.*' "$tmp/g.out" | tr -d '\r' | sed 's/.*HOME=//')
[ "$home" != "[]" ] || fail "HOME was lost from the injected environment"
want=$(printf "a GEARS_VAR=[injected] HOME=%s\nb GEARS_VAR=[injected] HOME=%s\nc GEARS_VAR=[] HOME=%s\n0" "$home" "$home" "$home")
[ "$out" = "$want" ] || fail "the scripts saw: [$out], want: [$want]"
"$SYM" ctl "$name" inject-env --clear || fail "inject-env --clear"
guest_run ENV2 '/tmp/show.sh d'
out=$(guest_said ENV2)
grep -q '^d GEARS_VAR=\[\]' <<<"$out" || fail "after --clear the script saw: [$out], want d GEARS_VAR=[]"
[ "$(grep -c '"event":"GEARS_ENV".*"path":"/tmp/show.sh","injected":true' "$tmp/events")" = 2 ] ||
	fail "want two GEARS_ENV events for /tmp/show.sh: $(grep GEARS_ENV "$tmp/events")"

# ---- cgroup filter: a trace and a rule about one cgroup (v2) see the calls of
# its processes and of those below it, and no other
echo 'mount | grep -q cgroup2 || mount -t cgroup2 none /sys/fs/cgroup; mkdir -p /sys/fs/cgroup/gtest/sub && echo cg >/tmp/gears-cg && echo CG-"PREP"' >&3
guest_wait_for g CG-PREP 60 || fail "the guest could not make a cgroup"
in_and_out='cat /tmp/gears-cg; sh -c "echo \$\$ >/sys/fs/cgroup/gtest/sub/cgroup.procs; cat /tmp/gears-cg"'
"$SYM" ctl "$name" trace --cgroup /gtest --syscalls openat >"$tmp/trace-cg" 2>&1 &
cgtracer=$!
bg_pids+=("$cgtracer")
wait_traces 1 || fail "the --cgroup trace did not start: $(cat "$tmp/trace-cg")"
guest_run CGT "$in_and_out"
for ((i = 0; i < 20; i++)); do grep -q 'gears-cg' "$tmp/trace-cg" && break; sleep 0.5; done
[ "$(grep -c . "$tmp/trace-cg")" = 1 ] &&
	grep -Eq '^[0-9]+ cat openat\(AT_FDCWD, "/tmp/gears-cg", O_RDONLY[A-Z_|]*\) = [0-9]+$' "$tmp/trace-cg" ||
	fail "want only the openat by the cat in /gtest/sub in the --cgroup trace: $(head -5 "$tmp/trace-cg")"
rule=$("$SYM" ctl "$name" deny --syscall openat --path-prefix /tmp/gears-cg --cgroup /gtest --errno EACCES) ||
	fail "deny --cgroup: $rule"
rule=${rule#rule }
guest_run CGD "$in_and_out"
out=$(guest_said CGD)
want=$(printf "cg\ncat: can't open '/tmp/gears-cg': Permission denied")
[ "$out" = "$want" ] || fail "with a rule on /gtest the guest saw: [$out], want: [$want]"
# the trace, still running, shows the refused call as the caller saw it
for ((i = 0; i < 20; i++)); do grep -q 'EACCES' "$tmp/trace-cg" && break; sleep 0.5; done
[ "$(grep -c . "$tmp/trace-cg")" = 2 ] &&
	tail -1 "$tmp/trace-cg" | grep -Eq '^[0-9]+ cat openat\(AT_FDCWD, "/tmp/gears-cg", O_RDONLY[A-Z_|]*\) = -1 EACCES \(Permission denied\)$' ||
	fail "the --cgroup trace does not show the refused openat: $(cat "$tmp/trace-cg")"
kill "$cgtracer"
wait_traces 0 || fail "the --cgroup trace did not end with its client"
"$SYM" ctl "$name" deny --list >"$tmp/denies" || fail "deny --list"
grep -Eq "^$rule +openat +/tmp/gears-cg +EACCES +- +- +/gtest +1$" "$tmp/denies" || fail "deny --list: $(cat "$tmp/denies")"
"$SYM" ctl "$name" deny --remove "$rule" || fail "deny --remove"

echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS"
