#!/usr/bin/env bash
# The event hub end to end (emu, default Debian guest), through the
# example service of docs/services.md (src/services/syscount): while it
# counts, 300 opens the guest makes of an existing file and 40 of a
# missing one are seen at entry and at exit (openat, nr 257: 300 results >= 0
# and the 40 failures), every exit matched to its entry; once it stops counting,
# the counts stay still while the guest goes on.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init events

guest_start g "$SYM" run --name "$name" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"

count_openat() { python3 -c 'import json,sys; d=json.load(sys.stdin); c=[x for x in d["calls"] if x["nr"]==257]; print(c[0]["count"] if c else 0, c[0]["errors"] if c else 0)'; }

qmp syscount-start >/dev/null || fail "syscount-start"
echo 'i=0; while [ $i -lt 300 ]; do read x </etc/passwd; i=$((i+1)); done; j=0; while [ $j -lt 40 ]; do read x </nope 2>/dev/null; j=$((j+1)); done; echo LOOP-"DONE"' >&3
guest_wait_for g LOOP-DONE 120 || fail "the guest loop did not finish"
qmp query-syscount >"$tmp/c1" || fail "query-syscount"
read -r n err <<<"$(count_openat <"$tmp/c1")"
[ "$n" -ge 340 ] || fail "openat seen $n times, want >= 340: $(cat "$tmp/c1")"
[ "$err" -ge 40 ] && [ "$err" -lt 60 ] || fail "openat failures seen $err, want the 40 of the missing file (and few others)"
[ $((n - err)) -ge 300 ] || fail "openat successes $((n - err)), want >= 300"
qmp syscount-stop >/dev/null || fail "syscount-stop"
echo 'i=0; while [ $i -lt 100 ]; do read x </etc/passwd; i=$((i+1)); done; echo LOOP2-"DONE"' >&3
guest_wait_for g LOOP2-DONE 120 || fail "the second loop did not finish"
qmp query-syscount >"$tmp/c2"
read -r n2 _ <<<"$(count_openat <"$tmp/c2")"
[ "$n2" = "$n" ] || fail "counts moved after syscount-stop ($n -> $n2)"
echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS (openat $n, failed $err)"
