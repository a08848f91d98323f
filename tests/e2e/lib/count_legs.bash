# shellcheck shell=bash
# What the count-guest leg tests share (snapshot_cross_engine.sh,
# migrate_cross_engine.sh): the count guest (tests/guests/count.S) run
# straight on emu as the reference, whether kvm runs the test guests here,
# and the check that a leg's two halves together are that straight run.
# The sourcing script sets its own EXIT trap for what it starts, and
# counts failures in $fails.
BUILD=${BUILD:-build}
SYM=$BUILD/symbiont
GUEST=$BUILD/tests/guests/count.elf
fails=0

# Makes $tmp and the reference: $tmp/straight and its exit status $want_rc.
count_init() {
	[ -x "$SYM" ] && [ -e "$GUEST" ] || { echo "FAIL: $SYM or $GUEST missing (make)"; exit 1; }
	tmp=$(mktemp -d)
	timeout 120 "$SYM" run --engine emu --mem 64M --kernel "$GUEST" </dev/null >"$tmp/straight" \
		2>"$tmp/straight.err"
	want_rc=$?
	grep -q '^done$' "$tmp/straight" ||
		{ echo "FAIL: the straight run did not finish: $(cat "$tmp/straight.err")"; exit 1; }
}

# 0 when the kvm engine runs the test guests here; else prints why not.
kvm_runs_guests() {
	if [ ! -e /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "skip: emu <-> kvm: /dev/kvm is missing or not accessible to $(id -un)"
		return 1
	fi
	if ! timeout 60 "$SYM" run --engine kvm --mem 64M --kernel "$BUILD/tests/guests/hello.elf" </dev/null \
		>/dev/null 2>"$tmp/probe.err" && grep -q '^symbiont:' "$tmp/probe.err"; then
		echo "skip: emu <-> kvm: the kvm engine cannot run here: $(head -1 "$tmp/probe.err")"
		return 1
	fi
}

# halves_match LABEL DIR RC: DIR/a.out then DIR/b.out must be the straight
# run's output, and RC its status; else one FAIL line (and the diff) and
# $fails counts it.
halves_match() {
	local label=$1 d=$2 rc=$3
	cat "$d/a.out" "$d/b.out" >"$d/both"
	if ! cmp -s "$d/both" "$tmp/straight" || [ "$rc" -ne "$want_rc" ]; then
		echo "FAIL $label: exit $rc (want $want_rc); $(head -c 300 "$d/b.err")"
		diff "$tmp/straight" "$d/both" | head -10
		fails=$((fails + 1))
		return 1
	fi
}
