#!/usr/bin/env bash
# The cost of symbols without System.map, on the default guest (emu): two
# VMs, one with the System.map beside the kernel and one run with
# --system-map none (the symbols then decoded from the kernel's kallsyms in
# guest memory); in each, the first `ctl sym schedule` (it describes the
# kernel: BTF, symbols, KASLR slide) and the median of RUNS later ones,
# timed on the host.  Prints both and the ratio of the first queries.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
RUNS=${RUNS:-5}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] && [ -e $GUEST/System.map ] || die "no default guest in $GUEST (make guest)"
export XDG_RUNTIME_DIR=$tmp/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Boots a VM with the run options "$@", prints "FIRST LATER" in seconds.
measure() {
	local name=bench-ksym-$$-$1 t0 first later=() i
	shift
	guest_start "$name" "$SYM" run --engine emu --name "$name" "$@" >/dev/null || die "the guest never became ready"
	t0=$EPOCHREALTIME
	"$SYM" ctl "$name" sym schedule >"$tmp/$name.sym" || die "sym: $(cat "$tmp/$name.sym")"
	first=$(echo "$EPOCHREALTIME - $t0" | bc)
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$SYM" ctl "$name" sym schedule >/dev/null || die "sym failed"
		later+=("$(echo "$EPOCHREALTIME - $t0" | bc)")
	done
	grep -q "^(symbols from" "$tmp/$name.sym" || die "no source line: $(cat "$tmp/$name.sym")"
	echo "# $(tail -1 "$tmp/$name.sym")" >&2
	echo 'poweroff -f' >&3
	guest_finish "$name" 60 >/dev/null 2>&1
	echo "$first $(printf '%s\n' "${later[@]}" | median)"
}

read -r map_first map_later < <(measure map)
read -r ks_first ks_later < <(measure ks --system-map none)
printf 'ctl sym, first query (describes the kernel): System.map %.3f s, kallsyms in guest memory %.3f s, ratio %.2fx\n' \
	"$map_first" "$ks_first" "$(echo "$ks_first / $map_first" | bc -l)"
printf 'ctl sym, later queries (median of %d): System.map %.3f s, kallsyms %.3f s\n' "$RUNS" "$map_later" "$ks_later"
