# Shared by the end-to-end scripts that drive the default guest through its
# serial console (source it; it is not a test itself).
#
#   e2e_init                 BUILD, SYM, GUEST, READY_TIMEOUT, a private $tmp
#                            removed at exit (KEEP=1 keeps it), guests and
#                            helpers in $pid / $bg_pids killed at exit
#   skip MSG / fail MSG      exit 77 / exit 1 with the message
#   require_tools T...       skip unless every tool is installed
#   require_guest            skip unless build/guest holds the default guest
#   free_port                an unused TCP port on 127.0.0.1
#   guest_start NAME CMD...  runs CMD with its console on a fifo (fd 3), output
#                            in $tmp/NAME.out, stderr in $tmp/NAME.err; waits
#                            for "symbiont guest ready"; 2 if it never comes
#   guest_wait_for NAME PATTERN SECONDS
#   guest_finish NAME [SECONDS]  waits for the guest to power off (commands
#                            typed before must end in poweroff), then reaps it
#   control_init PREFIX      for tests of named VMs: a private socket directory
#                            (never the user's own VMs), name=PREFIX-PID and
#                            sock, its control socket
#   engines_here             engines="emu" or "emu kvm" (where /dev/kvm is usable)
#   qmp COMMAND [ARGS-JSON]  one QMP command on $sock: its "return" as JSON on
#                            stdout, non-zero (and the error) if it failed
#
# Commands are typed only after the ready line: a UART may drop bytes that
# arrive before its driver starts (QEMU's does; symbiont's keeps them).

e2e_init() {
	set -u
	BUILD=${BUILD:-build}
	SYM=$BUILD/symbiont
	GUEST=build/guest
	READY_TIMEOUT=${READY_TIMEOUT:-600}
	tmp=$(mktemp -d /tmp/symbiont-e2e.XXXXXX)
	[ -n "${KEEP:-}" ] && echo "outputs kept in $tmp"
	pid=
	bg_pids=()
	trap e2e_cleanup EXIT
}

e2e_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}

skip() { echo "$1"; exit 77; }
# A failure also shows how each guest's VMM ended: a crash or a sanitizer
# report there is usually the reason a control command saw a closed socket.
fail() {
	local f
	echo "FAIL: $*"
	for f in "${tmp:-/nonexistent}"/*.err; do
		[ -s "$f" ] || continue
		echo "--- last lines of $(basename "$f"):"
		tail -n 15 "$f"
	done
	exit 1
}

require_tools() {
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "$t not installed (scripts/deps.sh)"
	done
}

require_guest() {
	[ -e $GUEST/vmlinuz ] && [ -e $GUEST/initramfs.cpio.gz ] || skip "no default guest in $GUEST (make guest)"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

guest_start() {
	local name=$1 i
	shift
	mkfifo "$tmp/$name.in"
	"$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	exec 3>"$tmp/$name.in"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		grep -q "symbiont guest ready" "$tmp/$name.out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if ! grep -q "symbiont guest ready" "$tmp/$name.out"; then
		exec 3>&-
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
		tail -n 5 "$tmp/$name.out" "$tmp/$name.err"
		return 2
	fi
	sleep 2 # let the shell start
}

guest_wait_for() {
	local i
	for ((i = 0; i < $3; i++)); do
		grep -q "$2" "$tmp/$1.out" && return 0
		# $pid is guest_start's guest; scripts that start several keep their own
		[ -z "${pid:-}" ] || kill -0 "$pid" 2>/dev/null || return 1
		sleep 1
	done
	return 1
}

guest_finish() {
	local i
	for ((i = 0; i < ${2:-120}; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	exec 3>&-
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# Sets engines to "emu", or "emu kvm" where /dev/kvm is usable (saying
# SKIP for kvm where it is not).
engines_here() {
	engines=emu
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		engines="emu kvm"
	else
		echo "SKIP kvm: /dev/kvm is not usable here"
	fi
}

control_init() {
	export XDG_RUNTIME_DIR=$tmp/run
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	name=$1-$$
	sock=$XDG_RUNTIME_DIR/symbiont/$name.sock
}

qmp() {
	python3 - "$sock" "$1" "${2:-{\}}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd, args in (("qmp_capabilities", {}), (sys.argv[2], json.loads(sys.argv[3]))):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
if "error" in r:
    sys.exit("error: " + r["error"]["desc"])
print(json.dumps(r["return"]))
PY
}

# replay_exact I STATUS: replay I (its console in $tmp/playI.out, stderr in
# $tmp/playI.err) exited STATUS; it must end at the recorded count and
# state hash ($rp, "COUNT HASH") and print the recording's console output
# ($tmp/rec.out) byte for byte.
replay_exact() {
	local i=$1 s=$2 pp
	pp=$(sed -n -E 's/^replay: ok: ([0-9]+) instructions.*state hash ([0-9a-f]+)$/\1 \2/p' "$tmp/play$i.err")
	[ "$s" = 0 ] || fail "replay $i: status $s: $(tail -n 1 "$tmp/play$i.err")"
	[ "$pp" = "$rp" ] || fail "replay $i ended at '$pp', recorded '$rp'"
	cmp -s "$tmp/rec.out" "$tmp/play$i.out" || {
		diff "$tmp/rec.out" "$tmp/play$i.out" | head -10
		fail "replay $i: console output differs"
	}
}
