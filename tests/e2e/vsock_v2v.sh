#!/usr/bin/env bash
# VM-to-VM vsock end to end (docs/vsock.md): two default guests in one
# group, "web" (CID 3) and "db" (CID 4), under a policy that lets db connect
# to web and nothing else.  The guest side is tests/e2e/vsock_echo.c (plain
# AF_VSOCK calls), added to the initramfs.
#   - db -> web: a message and its echo (both directions of one stream),
#     then 1 MiB through web's echo server, compared byte for byte;
#   - web -> db: refused by the policy in web's VMM: the guest's connect
#     fails and web's control socket reports a VSOCK_DENIED event;
#   - start-up refusals, exit 2 with one line: a CID taken in the group, a
#     label in conflict with a running VM's, a group directory others may
#     write, a policy file with a bad line (its number named);
#   - web's VMM killed -9 with a connection open: db's guest sees the
#     connection end (RST: EOF then EPIPE with the stock driver), its VMM
#     holds no fd more than before,
#     and the group still refuses a connection to the dead CID cleanly.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools python3 timeout mkfifo cpio gzip gcc
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"

export XDG_RUNTIME_DIR=$tmp/run # labels/ and named groups stay in the test's own directory
mkdir -m 700 "$XDG_RUNTIME_DIR"

why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/vsock_echo.c) ||
	skip "cannot build a static guest program: $why"

grp=$tmp/group
mkdir -m 700 "$grp"
cat >"$tmp/policy" <<'POL'
# db may open connections to web; web to nobody.
allow db web
conflict web evil   # web and evil never run on one host together
POL

# vm_start NAME CID LABEL: boots a guest in the group; its console input on
# the fifo $tmp/NAME.in (opened as fd 3 for web, 4 for db), pid in pid_NAME.
vm_start() {
	local name=$1 cid=$2 label=$3
	mkfifo "$tmp/$name.in"
	"$SYM" run --mem 256M --serial stdio --kernel $GUEST/vmlinuz --initrd "$tmp/initrd" \
		--append "console=ttyS0 quiet" --vsock "$cid,group=$grp" --label "$label" --policy "$tmp/policy" \
		--api "$tmp/$name.api" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	eval "pid_$name=$!"
	bg_pids+=($!)
}
wait_ready() {
	local name=$1 p i
	eval "p=\$pid_$name"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		grep -q "symbiont guest ready" "$tmp/$name.out" && return 0
		kill -0 "$p" 2>/dev/null || break
		sleep 1
	done
	return 1
}

vm_start web 3 web
exec 3>"$tmp/web.in"
vm_start db 4 db
exec 4>"$tmp/db.in"
wait_ready web || fail "web never got ready: $(tail -3 "$tmp/web.out" "$tmp/web.err")"
wait_ready db || fail "db never got ready: $(tail -3 "$tmp/db.out" "$tmp/db.err")"
sleep 2 # let the shells start

"$SYM" ctl "$tmp/web.api" events --json >"$tmp/web.events" 2>&1 &
bg_pids+=($!)

# ---- start-up refusals (each exits 2 before building anything)
refuse() { # WANT-IN-MESSAGE ARGS...
	local want=$1 rc
	shift
	"$SYM" run --mem 64M "$@" >"$tmp/refuse.out" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "$* exited $rc, want 2: $(cat "$tmp/refuse.out")"
	[ "$(wc -l <"$tmp/refuse.out")" = 1 ] || fail "$*: want one line: $(cat "$tmp/refuse.out")"
	grep -q -- "$want" "$tmp/refuse.out" || fail "$*: want '$want' in: $(cat "$tmp/refuse.out")"
}
refuse "CID 3 is already taken in the group" --vsock "3,group=$grp"
refuse "conflicts with the running VM labelled web" --vsock "5,group=$grp" --label evil --policy "$tmp/policy"
mkdir -m 755 "$tmp/open-group"
refuse "is not the user's own private directory" --vsock "5,group=$tmp/open-group"
printf 'allow a b\n# fine\nallow a\n' >"$tmp/bad-policy"
refuse "bad-policy:3: expected 'allow FROM TO'" --vsock "5,group=$grp" --label a --policy "$tmp/bad-policy"
refuse "--label: only with --vsock CID,group=NAME" --label web

# ---- db -> web: allowed; both directions of one stream, then 1 MiB
echo 'vsock_echo listen 1234 & vsock_echo listen 1235 & vsock_echo listen 1236 & vsock_echo listen 2000 &' >&3
guest_wait_for web LISTENING-1236 120 || fail "web's echo servers did not start"
guest_wait_for web LISTENING-2000 60 || fail "web's echo servers did not start"
token="v2v-$$-$RANDOM"
echo "vsock_echo connect 3 1234 hello-$token" >&4
guest_wait_for db "REPLY: hello-$token" 120 || fail "db -> web echo: $(tail -5 "$tmp/db.out")"
echo "vsock_echo bulk 3 1235 1048576" >&4
guest_wait_for db "BULK-" 600 || fail "db -> web bulk did not finish: $(tail -5 "$tmp/db.out")"
grep -q "BULK-SAME 1048576" "$tmp/db.out" || fail "db -> web bulk: $(grep BULK- "$tmp/db.out")"
guest_wait_for web "ECHOED-1048576" 60 || fail "web's echo server did not see the bulk stream end"

# ---- web -> db: denied by the policy
echo 'vsock_echo listen 1300 &' >&4
guest_wait_for db LISTENING-1300 60 || fail "db's listener did not start"
echo "vsock_echo connect 4 1300 denied-$token; echo DENY-'DONE'" >&3
guest_wait_for web DENY-DONE 120 || fail "web's denied connect did not return"
grep -q "REPLY: denied-$token" "$tmp/web.out" && fail "web reached db against the policy"
denied_msg=$(tr -d '\r' <"$tmp/web.out" | grep "vsock connect:")
case $denied_msg in
*"Connection reset by peer"* | *"Connection refused"*) ;;
*) fail "web's denied connect: '$denied_msg'" ;;
esac
for ((i = 0; i < 20; i++)); do grep -q VSOCK_DENIED "$tmp/web.events" && break; sleep 1; done
grep '"event":"VSOCK_DENIED"' "$tmp/web.events" | grep '"direction":"out"' | grep '"from_label":"web"' |
	grep '"to_cid":4' | grep '"to_label":"db"' | grep -q '"port":1300' ||
	fail "no VSOCK_DENIED audit event for web -> db:1300: $(cat "$tmp/web.events")"

# ---- web killed -9 with a connection open
fds_before=$(ls /proc/$pid_db/fd | wc -l)
echo "vsock_echo hold 3 1236 hold-$token" >&4
guest_wait_for db "HELD: hold-$token" 120 || fail "db's held connection: $(tail -5 "$tmp/db.out")"
kill -9 "$pid_web"
wait "$pid_web" 2>/dev/null
guest_wait_for db "WRITE-AFTER:" 60 || fail "db's guest did not see web go: $(tail -5 "$tmp/db.out")"
read_end=$(tr -d '\r' <"$tmp/db.out" | grep "READ-END:")
write_after=$(tr -d '\r' <"$tmp/db.out" | grep "WRITE-AFTER:")
# The stock driver takes a RST on an open connection as the peer closing:
# read() ends (EOF), and a write after it fails (EPIPE).
case $read_end in
"READ-END: EOF" | "READ-END: Connection reset by peer") ;;
*) fail "db's read after web's kill -9: '$read_end'" ;;
esac
case $write_after in
"WRITE-AFTER: Broken pipe" | "WRITE-AFTER: Connection reset by peer") ;;
*) fail "db's write after web's kill -9: '$write_after'" ;;
esac
echo "after kill -9 of web: db's guest saw '$read_end', then '$write_after'"
for ((i = 0; i < 20; i++)); do
	fds_after=$(ls /proc/$pid_db/fd | wc -l)
	[ "$fds_after" -le "$fds_before" ] && break
	sleep 1
done
[ "$fds_after" -le "$fds_before" ] || fail "db's VMM holds $fds_after fds, $fds_before before the connection"
# The dead member's CID: a connection to it is refused, quickly.
echo "vsock_echo connect 3 1234 late; echo LATE-'DONE'" >&4
guest_wait_for db LATE-DONE 60 || fail "a connection to the dead CID hung"
[ "$(tr -d '\r' <"$tmp/db.out" | grep -c "vsock connect:")" -ge 1 ] || fail "connect to the dead CID did not fail"
# ... and its CID is free again: a new member passes the checks and joins
# (then fails on its missing kernel, leaving the group as it found it).
"$SYM" run --mem 64M --kernel "$tmp/no-kernel" --vsock "3,group=$grp" >"$tmp/rejoin.out" 2>&1
grep -q "already taken" "$tmp/rejoin.out" && fail "CID 3 still taken after its VMM died: $(cat "$tmp/rejoin.out")"

echo poweroff >&4
for ((i = 0; i < 120; i++)); do kill -0 "$pid_db" 2>/dev/null || break; sleep 1; done
wait "$pid_db"
rc=$?
[ $rc = 0 ] || fail "db exited $rc"
leftover=$(ls "$grp")
[ -z "$leftover" ] || fail "the group directory still holds: $leftover"
echo "vsock v2v e2e ok"
