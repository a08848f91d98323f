#!/usr/bin/env bash
# SymMod's bootstrap end to end (emu, the default guest booted with
# "symbiotic=off", so its /init leaves symbiotic.ko out): the guest has no
# symbiotic module and SymSpy and SymCall say so in one line; `ctl symmod
# bootstrap` pushes the module into the guest and runs the guest's insmod
# (finit_module) through GEARS, with no agent there; then the module is in
# the guest's /proc/modules, a null SymCall answers, the process list
# holds the guest's init and SymSpy's pages are shared.  A second bootstrap
# is refused (the module is there), and one with a file that is no module
# fails in the guest's insmod with one line, leaving the guest running.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
[ -e "$GUEST/symbiotic.ko" ] || fail "$GUEST/symbiotic.ko missing (make guest)"
control_init symboot
ctl() { "$SYM" ctl "$name" "$@"; }

guest_start g "$SYM" run --engine emu --name "$name" --cpus 2 --append symbiotic=off ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
# GEARS needs a process that makes system calls to take over.
echo '(while :; do sleep 0.2; done) & grep -c "^symbiotic " /proc/modules | sed "s/^/SYMMODS-/"' >&3
guest_wait_for g 'SYMMODS-[0-9]' 120 || fail "the guest never counted its modules"
grep -q '^SYMMODS-0' <(tr -d '\r' <"$tmp/g.out") || fail "symbiotic.ko was loaded despite symbiotic=off"
ctl symcall null 2>"$tmp/e1" && fail "a SymCall answered in a guest without the module"
[ "$(wc -l <"$tmp/e1")" = 1 ] || fail "symcall without a module: $(cat "$tmp/e1")"
ctl symspy 2>"$tmp/e2" && fail "SymSpy answered in a guest without the module"

# A file that is no module: the guest's insmod fails, in one line of ours.
head -c 4096 /dev/urandom >"$tmp/bad.ko"
ctl symmod bootstrap "$tmp/bad.ko" >"$tmp/o3" 2>"$tmp/e3" && fail "bootstrap with a file that is no module succeeded"
grep -q "insmod failed" "$tmp/e3" || fail "bootstrap with a bad module: $(cat "$tmp/e3")"

start=$(date +%s%N)
ctl symmod bootstrap >"$tmp/boot.out" 2>"$tmp/boot.err" ||
	fail "bootstrap: $(cat "$tmp/boot.out" "$tmp/boot.err")"
ms=$((($(date +%s%N) - start) / 1000000))
grep -q '^symbiotic module loaded through GEARS' "$tmp/boot.out" || fail "bootstrap said: $(cat "$tmp/boot.out")"
ctl symcall null --json >"$tmp/null.json" || fail "symcall null after bootstrap: $(cat "$tmp/null.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ret"] == 1, r' "$tmp/null.json" ||
	fail "symcall null after bootstrap: $(cat "$tmp/null.json")"
ctl symcall processes --json >"$tmp/ps.json" || fail "symcall processes after bootstrap: $(cat "$tmp/ps.json")"
python3 -c 'import json,sys; p={x["pid"]: x["comm"] for x in json.load(open(sys.argv[1]))["processes"]}; assert p.get(1) == "init", p' \
	"$tmp/ps.json" || fail "the process list lacks init: $(head -c 400 "$tmp/ps.json")"
ok=
for ((i = 0; i < 20; i++)); do
	ctl symspy --json >"$tmp/spy.json" 2>&1 && ok=1 && break
	sleep 0.5
done
[ -n "$ok" ] || fail "symspy after bootstrap: $(cat "$tmp/spy.json")"
echo 'grep -c "^symbiotic " /proc/modules | sed "s/^/AFTER-/"; ls /tmp/.symbiont-symbiotic.ko 2>&1 | grep -c "No such" | sed "s/^/GONE-/"' >&3
guest_wait_for g 'GONE-[0-9]' 120 || fail "the guest never counted its modules again"
grep -q '^AFTER-1' <(tr -d '\r' <"$tmp/g.out") || fail "the guest's /proc/modules lacks symbiotic after bootstrap"
grep -q '^GONE-1' <(tr -d '\r' <"$tmp/g.out") || fail "the pushed module file was left in the guest's /tmp"
ctl symmod bootstrap 2>"$tmp/e4" && fail "a second bootstrap succeeded"
grep -q "already answers" "$tmp/e4" || fail "second bootstrap: $(cat "$tmp/e4")"
[ "$(ctl status)" = running ] || fail "the guest is not running"
echo 'poweroff -f' >&3
guest_finish g 60
echo "PASS (bootstrap through GEARS in $ms ms: the module in /proc/modules, SymCall and SymSpy answering;" \
	"a bad module and a second bootstrap refused)"
