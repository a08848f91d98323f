#!/usr/bin/env bash
# Live migration between engines: the count guest (tests/guests/count.S)
# is migrated in mid-run from one symbiont process to another over a unix
# socket, with --verify (the destination checks a CRC of all guest RAM);
# the output of the two processes together and the destination's exit
# status must be those of a straight run.  Legs: emu -> emu always; emu ->
# kvm, kvm -> emu and kvm -> kvm where /dev/kvm runs the test guests
# (skipped with the reason printed otherwise).  kvm -> * exercises the
# kernel's dirty log (KVM_GET_DIRTY_LOG), emu -> * the emu engine's own.
set -u
. "$(dirname "$0")/lib/count_legs.bash"
count_init
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT

# leg FROM TO [MODEL [INCOMING-OPTION]]: migrate after "count 10", the
# source with --cpu-model MODEL.  kvm -> emu takes the portable model (the
# host's is refused: snapshot_cross_engine.sh); emu -> kvm takes --force,
# as a kvm may lack part of the portable model (kvm_pvm: SSE3 to SSE4.2)
# which the test guest does not use.
leg() {
	local from=$1 to=$2 model=${3:-} iopt=${4:-} d=$tmp/$1-$2 i rc a b
	mkdir "$d"
	"$SYM" run --incoming "unix:$d/mig.sock" --engine "$to" $iopt </dev/null >"$d/b.out" 2>"$d/b.err" &
	b=$!
	"$SYM" run --engine "$from" ${model:+--cpu-model "$model"} --mem 64M --kernel "$GUEST" --api "$d/api" \
		</dev/null >"$d/a.out" 2>"$d/a.err" &
	a=$!
	pids+=($a $b)
	for ((i = 0; i < 300; i++)); do
		grep -q '^count 10$' "$d/a.out" && [ -S "$d/mig.sock" ] && break
		sleep 0.1
	done
	if ! "$SYM" ctl "$d/api" migrate "unix:$d/mig.sock" --verify >"$d/ctl.out" 2>&1; then
		echo "FAIL $from -> $to: migrate: $(cat "$d/ctl.out")"
		fails=$((fails + 1))
		return
	fi
	wait $a
	timeout 120 tail --pid=$b -f /dev/null
	wait $b
	rc=$?
	if grep -q '^done$' "$d/a.out"; then
		echo "FAIL $from -> $to: the guest had finished at the source"
		fails=$((fails + 1))
		return
	fi
	halves_match "$from -> $to" "$d" $rc || return
	echo "ok   $from -> $to: migrated at $(tail -1 "$d/a.out"), $(sed 's/^[^:]*: //' "$d/ctl.out"); same output, exit $rc"
}

leg emu emu
if kvm_runs_guests; then
	leg emu kvm "" --force
	leg kvm emu portable
	leg kvm kvm
fi
[ $fails -eq 0 ] || exit 1
echo "PASS: migrated guests go on with the same output and exit status ($want_rc)"
