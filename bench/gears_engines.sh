#!/usr/bin/env bash
# Cost per intercepted syscall on each engine, with the test guest
# (tests/guests/syscalls.S: rounds of 1000 getppid calls timed by the
# guest's own TSC).  Each engine runs the guest and takes the median ns per
# call of ROUNDS rounds three ways:
#   none     nobody subscribes (no point armed on kvm)
#   counted  syscount counts every call (SYSCALL_ENTER and _EXIT, no
#            output): the interception itself
#   traced   `ctl trace --syscalls getppid`: on emu each call is also
#            decoded and streamed to the client as a line
# and prints the added cost per call and the kvm / emu ratio of the counted
# one.
#
# On kvm the caller must run in ring 3 for both of the engine's points
# (LSTAR and the kernel's SYSRETQ) to fire.  Where that KVM cannot run the
# guest's ring-3 SYSCALL (kvm_pvm), the guest runs with "ring0": its calls
# still enter through LSTAR and hit the entry point, but return without
# SYSRETQ, so the kvm figure is then the entry trap alone (an exit trap
# costs about as much again, and no trace line is sent); the script says
# which it measured.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
ROUNDS=${ROUNDS:-15}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
G=$BUILD/tests/guests/syscalls.elf
[ -e "$G" ] || make -s BUILD="$BUILD" "$G" >/dev/null || die "cannot build $G"
control_init bench-gse

rounds() { # out-file -> "round ticks" per line, decimal
	local r t
	tr -d '\r' <"$1" 2>/dev/null | sed -n 's/^round \([0-9a-f]*\) .* ticks\/call \([0-9a-f]*\)$/\1 \2/p' |
		while read -r r t; do echo "$((16#$r)) $((16#$t))"; done
}
last_round() { rounds "$1" | tail -n 1 | cut -d' ' -f1; }
after() { awk -v f="$2" -v c="$3" '$1 > f && n < c { n++; print $2 }' "$1"; }
wait_rounds() { # out-file from-round count -> ticks of the count rounds after from
	local i
	for ((i = 0; i < 600; i++)); do
		rounds "$1" >"$tmp/rounds"
		[ "$(after "$tmp/rounds" "$2" "$3" | wc -l)" -ge "$3" ] && break
		sleep 0.1
	done
	after "$tmp/rounds" "$2" "$3"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }

measure() { # engine append -> "none_ns counted_ns traced_ns"
	local eng=$1 app=$2 n=$name-$1 out=$tmp/$1.out khz r none cnt sel tpid gpid
	timeout 600 "$SYM" run --engine "$eng" --name "$n" --kernel "$G" ${app:+--append "$app"} >"$out" 2>"$tmp/$eng.err" &
	gpid=$!
	bg_pids+=("$gpid")
	for ((i = 0; i < 100; i++)); do
		[ -n "$(last_round "$out")" ] && break
		sleep 0.1
	done
	[ -n "$(last_round "$out")" ] || { kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null; return 1; }
	khz=$(tr -d '\r' <"$out" | sed -n 's/^tsc_khz \([0-9a-f]*\)$/\1/p')
	khz=$((16#$khz))
	r=$(last_round "$out")
	none=$(wait_rounds "$out" "$r" "$ROUNDS" | median)
	sock=$XDG_RUNTIME_DIR/symbiont/$n.sock
	qmp syscount-start >/dev/null || return 1
	sleep 0.5
	r=$(last_round "$out")
	cnt=$(wait_rounds "$out" "$r" "$ROUNDS" | median)
	qmp syscount-stop >/dev/null || return 1
	"$SYM" ctl "$n" trace --syscalls getppid >"$tmp/$eng.trace" 2>&1 &
	tpid=$!
	bg_pids+=("$tpid")
	sleep 1
	r=$(last_round "$out")
	sel=$(wait_rounds "$out" "$r" "$ROUNDS" | median)
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	"$SYM" ctl "$n" quit >/dev/null 2>&1
	wait "$gpid" 2>/dev/null
	[ -n "$none" ] && [ -n "$cnt" ] && [ -n "$sel" ] || return 1
	awk -v a="$none" -v c="$cnt" -v b="$sel" -v k="$khz" \
		'BEGIN { printf "%.0f %.0f %.0f\n", a * 1e6 / k, c * 1e6 / k, b * 1e6 / k }'
}

res=$(measure emu "") || die "emu: no rounds measured: $(tail -n 3 "$tmp/emu.out" "$tmp/emu.err")"
read -r emu_none emu_cnt emu_sel <<<"$res"
row() { printf '%-34s %8d %8d %8d %12d %12d\n' "$1" "$2" "$3" "$4" $(($3 - $2)) $(($4 - $2)); }
printf '%-34s %8s %8s %8s %12s %12s\n' "engine (caller), ns per call" none counted traced "+counted" "+traced"
row "emu (ring 3, entry+exit)" "$emu_none" "$emu_cnt" "$emu_sel"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	what="kvm (ring 3, entry+exit points)"
	if ! res=$(measure kvm ""); then
		what="kvm (ring 0, entry point only)"
		echo "kvm: this KVM cannot run the guest's ring-3 SYSCALL (kvm_pvm); measuring with ring0"
		res=$(measure kvm ring0) || die "kvm: no rounds measured: $(tail -n 3 "$tmp/kvm.out" "$tmp/kvm.err")"
	fi
	read -r kvm_none kvm_cnt kvm_sel <<<"$res"
	row "$what" "$kvm_none" "$kvm_cnt" "$kvm_sel"
	awk -v e=$((emu_cnt - emu_none)) -v k=$((kvm_cnt - kvm_none)) \
		'BEGIN { if (e > 0) printf "cost per intercepted call (counted), kvm / emu: %.1fx\n", k / e }'
else
	echo "kvm: skipped, /dev/kvm is not usable here"
fi
