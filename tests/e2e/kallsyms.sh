#!/usr/bin/env bash
# Symbols without System.map (emu, default Debian guest): run with
# --system-map none, so guest OS awareness decodes the kernel's kallsyms
# tables from guest memory.  `ctl sym` says so, and resolves kernel symbols
# to the addresses the guest's own /proc/kallsyms prints and to System.map's
# plus the KASLR slide; an address resolves back; `ps` (which starts from
# init_task and the per-CPU current_task), module symbols and prof's kernel
# frames still work.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init kallsyms
ctl() { "$SYM" ctl "$name" "$@"; }
syms="schedule init_task linux_banner jiffies do_sys_openat2 entry_SYSCALL_64"

guest_start g "$SYM" run --name "$name" --system-map none ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
pattern=$(printf ' %s$\\|' $syms)
cat >&3 <<GUEST
grep '${pattern% \\|}' /proc/kallsyms | sed 's/^/KSYM /'; echo DONE-"KSYMS"
GUEST
guest_wait_for g DONE-KSYMS 60 || fail "the guest never printed its kallsyms"
sleep 1
tr -d '\r' <"$tmp/g.out" | sed -n 's/^KSYM \([0-9a-f]*\) . \([A-Za-z0-9_]*\)$/\2 \1/p' | sort -u >"$tmp/guest.ksyms"
[ "$(wc -l <"$tmp/guest.ksyms")" -ge 5 ] || fail "the guest's /proc/kallsyms gave: $(cat "$tmp/guest.ksyms")"

ctl sym schedule >"$tmp/sym.txt" || fail "sym: $(cat "$tmp/sym.txt")"
grep -q "^(symbols from kallsyms in guest memory ([0-9]* symbols at 0x" "$tmp/sym.txt" ||
	fail "ctl sym does not say the symbols come from guest memory: $(cat "$tmp/sym.txt")"
qmp query-guest-os | grep -q '"symbols": "kallsyms in guest memory' || fail "query-guest-os: $(qmp query-guest-os)"
slide=$(qmp query-guest-os | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["kaslr_slide"], 0))')
for s in $syms; do
	got=$(ctl sym "$s" --json | python3 -c 'import json,sys; print("%x" % int(json.load(sys.stdin)["address"], 0))') ||
		fail "sym $s failed"
	want=$(awk -v s="$s" '$1 == s { print $2 }' "$tmp/guest.ksyms")
	[ -z "$want" ] || [ "$((16#$got))" = "$((16#$want))" ] ||
		fail "$s: ctl sym says $got, the guest's /proc/kallsyms $want"
	map=$(awk -v s="$s" '$3 == s { print $1; exit }' "$GUEST/System.map")
	[ "$((16#$got))" = "$(((16#$map + slide) & 0xffffffffffffffff))" ] ||
		fail "$s: ctl sym says $got, System.map $map plus the slide $slide"
	echo "$s 0x$got"
done
addr=$(ctl sym do_sys_openat2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
ctl sym "$(printf '0x%x' $((addr + 9)))" | grep -q " do_sys_openat2+9\$" || fail "do_sys_openat2+9 does not resolve back"
ctl ps --json | python3 -c 'import json,sys; ps = json.load(sys.stdin); assert any(p["pid"] == 1 for p in ps), ps' ||
	fail "ps without System.map"
mod=$(ctl lsmod --json | python3 -c 'import json,sys; m = json.load(sys.stdin); print(m[0]["name"] if m else "")')
if [ -n "$mod" ]; then
	ctl sym "$(ctl lsmod --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["base"])')" |
		grep -q "\[$mod\]" || fail "an address in module $mod does not resolve into it"
fi
# prof names kernel frames from the same symbols (its ORC bounds among them).
ctl prof --seconds 2 --out "$tmp/p.folded" >"$tmp/prof.txt" 2>&1 || fail "prof: $(cat "$tmp/prof.txt")"
grep -Eq '^\[idle\];[a-z_]|;\[kernel\];[a-z_]' "$tmp/p.folded" ||
	fail "prof named no kernel frame without System.map: $(head -5 "$tmp/p.folded")"
echo 'poweroff -f' >&3
guest_finish g 60
echo PASS
