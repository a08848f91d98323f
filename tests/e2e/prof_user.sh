#!/usr/bin/env bash
# User symbols in prof (emu, default Debian guest plus one program): a static
# program with symbols (tests/e2e/prof_spin.c, appended to the initramfs as
# /bin/prof_spin by scripts/initrd-plus.sh, whose host copy of the added files
# is the guest root) spins in prof_spin_inner.  `ctl prof --guest-root DIR`
# names that function in most of the program's user samples
# (prof_spin;[user];prof_spin_inner); without --guest-root the same samples
# stay prof_spin;[user].
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3 gcc cpio
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
why=$(GUEST=$GUEST scripts/initrd-plus.sh "$tmp" tests/e2e/prof_spin.c) || skip "cannot build a static guest program: $why"
control_init profuser
ctl() { "$SYM" ctl "$name" "$@"; }

guest_start g "$SYM" run --name "$name" --kernel "$GUEST/vmlinuz" --initrd "$tmp/initrd" --append "console=ttyS0 quiet" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
echo 'prof_spin &' >&3
guest_wait_for g PROF-SPIN-RUNNING 60 || fail "prof_spin did not start"
sleep 1

# share: the fraction of prof_spin's user samples under stack $2
share() {
	python3 - "$1" "$2" <<'PY'
import sys
total = named = 0
for line in open(sys.argv[1]):
    stack, count = line.rsplit(" ", 1)
    frames = stack.split(";")
    if frames[0] == "prof_spin" and len(frames) > 1 and frames[1] == "[user]":
        total += int(count)
        if stack == sys.argv[2]:
            named += int(count)
print(f"{named} {total}")
PY
}
ctl prof --seconds 4 --guest-root "$tmp/root" --out "$tmp/with.folded" >"$tmp/with.txt" 2>&1 ||
	fail "prof --guest-root: $(cat "$tmp/with.txt")"
read -r named total < <(share "$tmp/with.folded" "prof_spin;[user];prof_spin_inner")
echo "with --guest-root: $named of $total user samples of prof_spin in prof_spin_inner"
[ "$total" -ge 50 ] || fail "only $total user samples of prof_spin: $(sort -k2 -n "$tmp/with.folded" | tail -5)"
[ $((named * 10)) -ge $((total * 8)) ] || fail "prof_spin_inner named in $named of $total: $(grep prof_spin "$tmp/with.folded")"
grep -q "prof_spin_inner" "$tmp/with.folded.svg" || fail "the flame graph does not name prof_spin_inner"

ctl prof --seconds 2 --out "$tmp/without.folded" >"$tmp/without.txt" 2>&1 || fail "prof: $(cat "$tmp/without.txt")"
read -r named total < <(share "$tmp/without.folded" "prof_spin;[user]")
echo "without: $named of $total user samples of prof_spin unnamed"
[ "$total" -ge 20 ] && [ "$named" = "$total" ] || fail "without --guest-root: $(grep prof_spin "$tmp/without.folded")"

ctl prof --seconds 1 --guest-root /no/such/dir 2>"$tmp/e1" && fail "a missing --guest-root was accepted"
[ "$(wc -l <"$tmp/e1")" = 1 ] || fail "missing --guest-root: $(cat "$tmp/e1")"
echo 'poweroff -f' >&3
guest_finish g 60
echo PASS
