#!/usr/bin/env bash
# Hooks on guest kernel code and single-stepping (emu, default Debian
# guest; src/services/probe over the event hub's CODE_HOOK and STEP): a
# hook on do_sys_openat2 counts the 200 opens a guest script named by the
# test makes, attributed to that script, and counts nothing once removed;
# `step` lists the next instructions of a busy vCPU; bad requests are one
# line and a non-zero exit.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init probe
prog=probe$$

guest_start g "$SYM" run --name "$name" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"

"$SYM" ctl "$name" hook do_sys_openat2 >"$tmp/hook" 2>&1 || fail "hook: $(cat "$tmp/hook")"
id=$(sed -n 's/^hook \([0-9]*\):.*/\1/p' "$tmp/hook")
[ -n "$id" ] || fail "hook printed no id: $(cat "$tmp/hook")"
printf 'printf '"'"'#!/bin/sh\\ni=0; while [ $i -lt 200 ]; do read x </etc/passwd; i=$((i+1)); done\\n'"'"' >/tmp/%s; chmod +x /tmp/%s; /tmp/%s; echo LOOP-"DONE"\n' \
	"$prog" "$prog" "$prog" >&3
guest_wait_for g LOOP-DONE 120 || fail "the guest loop did not finish"
"$SYM" ctl "$name" hooks --json >"$tmp/hooks.json" || fail "hooks: $(cat "$tmp/hooks.json")"
python3 - "$tmp/hooks.json" "$prog" <<'PY' || fail "hook counts: $(cat "$tmp/hooks.json")"
import json, sys
hooks, prog = json.load(open(sys.argv[1])), sys.argv[2]
assert len(hooks) == 1 and hooks[0]["where"] == "do_sys_openat2", hooks
mine = sum(b["hits"] for b in hooks[0]["by_process"] if b["comm"] == prog)
# 200 opens of /etc/passwd, and a few more the shell makes to start
assert 200 <= mine <= 215, f"{prog} ran the hooked code {mine} times, want 200 and a few"
assert hooks[0]["hits"] >= mine
print(f"hooked do_sys_openat2: {hooks[0]['hits']} hits, {mine} by {prog}")
PY
"$SYM" ctl "$name" unhook "$id" || fail "unhook $id"
"$SYM" ctl "$name" hooks --json | python3 -c 'import json,sys; sys.exit(len(json.load(sys.stdin)) != 0)' ||
	fail "the hook is still listed after unhook"

# A busy guest vCPU, stepped.
echo '(while :; do :; done) & echo SPIN=$!' >&3
guest_wait_for g 'SPIN=[0-9]' 60 || fail "no spinner"
"$SYM" ctl "$name" step 0 50 --json >"$tmp/step.json" || fail "step: $(cat "$tmp/step.json")"
python3 - "$tmp/step.json" <<'PY' || fail "step: $(cat "$tmp/step.json")"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["steps"]
assert not r["timed_out"] and len(s) == 50, (r["timed_out"], len(s))
assert all(x["rip"] for x in s)
assert len({x["rip"] for x in s}) > 1, "the vCPU did not move"
kern = [x for x in s if x["cpl"] == 0]
assert all(x["symbol"] for x in kern), "kernel steps without a symbol"
print(f"stepped 50: {len(kern)} in the kernel, {50 - len(kern)} in user mode")
PY

# Bad requests: one line, non-zero.
for bad in "hook no_such_symbol_$$" "unhook 999" "step 7 10" "step 0 0" "hook 0xzz"; do
	# shellcheck disable=SC2086
	if "$SYM" ctl "$name" $bad >"$tmp/bad" 2>&1; then fail "ctl $bad succeeded"; fi
	[ "$(wc -l <"$tmp/bad")" = 1 ] || fail "ctl $bad: $(cat "$tmp/bad")"
done
echo "kill %1; poweroff -f" >&3
guest_finish g 60
echo "PASS"
