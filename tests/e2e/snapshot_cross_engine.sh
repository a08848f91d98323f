#!/usr/bin/env bash
# A snapshot taken on one engine restores on the other: the count guest
# (tests/guests/count.S) is snapshotted with --stop in mid-run, its VMM
# killed -9, and restored in a new process; the output of the two
# processes together and the restored one's exit status must be those of
# a straight run.  Legs: emu -> emu always; emu -> kvm, kvm -> emu and
# kvm -> kvm where /dev/kvm runs the test guests (skipped with the reason
# printed elsewhere).  kvm -> emu needs the portable CPU model on kvm
# (--cpu-model portable); with the host's model the restore on emu is
# refused (exit 2, the missing features named) unless --force.
set -u
. "$(dirname "$0")/lib/count_legs.bash"
count_init
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

# leg FROM TO [MODEL [RESTORE-OPTION]]: snapshot on FROM (with --cpu-model
# MODEL) after "count 10", restore on TO.
leg() {
	local from=$1 to=$2 model=${3:-} ropt=${4:-} d=$tmp/$1-$2${3:+-$3}${4:+-force} i rc
	mkdir "$d"
	"$SYM" run --engine "$from" ${model:+--cpu-model "$model"} --mem 64M --kernel "$GUEST" --api "$d/api" \
		</dev/null >"$d/a.out" 2>"$d/a.err" &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^count 10$' "$d/a.out" && break
		sleep 0.1
	done
	if ! "$SYM" ctl "$d/api" snapshot "$d/snap" --stop >"$d/ctl.out" 2>&1; then
		echo "FAIL $from -> $to: snapshot: $(cat "$d/ctl.out")"
		fails=$((fails + 1))
		return
	fi
	kill -9 $pid
	wait $pid 2>/dev/null
	pid=
	if grep -q '^done$' "$d/a.out"; then
		echo "FAIL $from -> $to: the guest had finished before the snapshot"
		fails=$((fails + 1))
		return
	fi
	timeout 120 "$SYM" run --restore "$d/snap" --engine "$to" $ropt </dev/null >"$d/b.out" 2>"$d/b.err"
	rc=$?
	if [ $rc = 2 ] && [ -z "$ropt" ] && grep -q "features the $to engine lacks.*--force" "$d/b.err"; then
		refused=$(grep -m1 "lacks" "$d/b.err" | head -c 200)
		echo "ok   $from${model:+ ($model)} -> $to: refused: $refused"
		return
	fi
	halves_match "$from -> $to" "$d" $rc || return
	echo "ok   $from${model:+ ($model)} -> $to${ropt:+ $ropt}: snapshot at $(tail -1 "$d/a.out"), $(cat "$d/ctl.out" | sed 's/.*: //'); same output, exit $rc"
}

leg emu emu
if kvm_runs_guests; then
	# emu's model is the portable one; a kvm that lacks some of it (kvm_pvm
	# offers no SSE3 to SSE4.2) refuses it, and --force runs the test guest,
	# which uses none of them.
	refused=
	leg emu kvm
	[ -n "$refused" ] && leg emu kvm "" --force
	leg kvm emu portable
	leg kvm kvm
	# The host's model: refused on emu, or (a host whose kvm offers
	# nothing emu lacks) restored as it is.
	refused=
	leg kvm emu host
	if [ -n "$refused" ]; then
		leg kvm emu host --force
		grep -q 'note: .*features the emu engine lacks' "$tmp/kvm-emu-host-force/b.err" ||
			{ echo "FAIL kvm (host) -> emu --force: no note naming the features"; fails=$((fails + 1)); }
	fi
fi
[ $fails -eq 0 ] || exit 1
echo "PASS: snapshots restore with the same output and exit status ($want_rc)"
