#!/usr/bin/env bash
# Guest OS awareness end to end (emu, default Debian guest, nothing added to
# the guest): a process the test starts under a name of its choosing shows
# in `ctl ps` with the pid, parent and command line the guest reports; its
# open files match the guest's own /proc/PID/fd; a read of its memory
# matches the bytes the guest reads from the same executable; the module
# list matches /proc/modules; a kernel symbol resolves both ways.  On a
# multiboot test kernel the same verbs say in one line that the guest is
# not a Linux they understand, and the VM keeps answering.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init intro
probe=probe$$
ctl() { "$SYM" ctl "$name" "$@"; }

guest_start g "$SYM" run --name "$name" --cpus 2 || fail "guest never became ready: $(tail -3 "$tmp/g.err")"
# The probe: a script of a name of our own (a script's comm is its file
# name), holding two files open, under busybox sh.
cat >&3 <<GUEST
echo hello >/tmp/held.txt; printf '#!/bin/sh\\nexec 7</tmp/held.txt 8>>/tmp/log.p\\nwhile :; do sleep 1; done\\n' >/tmp/$probe
chmod +x /tmp/$probe; /tmp/$probe arg1 &
echo PROBE=\$! PPID=\$\$
sleep 1; for f in /proc/\$!/fd/*; do echo "FD \${f##*/} \$(readlink \$f)"; done
echo MODS \$(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')
hexdump -v -e '16/1 "%02x" "\n"' -n 64 /bin/busybox | tr -d '\n'; echo ' =ELF'
echo DONE-"LISTING"
GUEST
guest_wait_for g DONE-LISTING 60 || fail "the guest never listed the probe"
sleep 1
out=$(tr -d '\r' <"$tmp/g.out")
ppid_guest=$(sed -n 's/^PROBE=[0-9]* PPID=\([0-9]*\)$/\1/p' <<<"$out" | tail -1)
probe_pid=$(sed -n 's/^PROBE=\([0-9]*\) PPID=.*/\1/p' <<<"$out" | tail -1)
[ -n "$probe_pid" ] || fail "no probe pid from the guest"

ctl ps --json >"$tmp/ps.json" || fail "ps: $(cat "$tmp/ps.json")"
python3 - "$tmp/ps.json" "$probe_pid" "$ppid_guest" "$probe" <<'PY' || fail "ps does not show the probe as the guest does"
import json, sys
ps = json.load(open(sys.argv[1])); pid, ppid, probe = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
p = [x for x in ps if x["pid"] == pid]
assert p, f"pid {pid} missing from {len(ps)} processes"
p = p[0]
assert p["comm"] == probe, p
assert p["cmdline"] == f"/bin/sh /tmp/{probe} arg1", p
assert p["ppid"] == ppid and p["uid"] == 0 and p["state"] == "S", p
for k in ("pid", "ppid", "uid", "state", "comm", "cmdline"):
    assert all(k in x for x in ps), k
assert any(x["pid"] == 1 and x["comm"] == "init" for x in ps)
PY
ctl ps | grep -q "^ *$probe_pid .*/bin/sh /tmp/$probe arg1\$" || fail "ps table lacks the probe: $(ctl ps | tail -3)"

ctl files "$probe_pid" --json >"$tmp/files.json" || fail "files: $(cat "$tmp/files.json")"
grep '^FD ' <<<"$out" | sed 's/^FD //' | sort >"$tmp/fd.guest"
python3 -c 'import json,sys; [print(f["fd"], f["path"]) for f in json.load(open(sys.argv[1]))]' "$tmp/files.json" |
	sort >"$tmp/fd.vmm"
diff "$tmp/fd.guest" "$tmp/fd.vmm" >"$tmp/fd.diff" || fail "open files differ (guest < > vmm): $(cat "$tmp/fd.diff")"
grep -q "^7 /tmp/held.txt\$" "$tmp/fd.vmm" || fail "fd 7 is not /tmp/held.txt"

# Memory: the probe's ELF header, where its static busybox is mapped.
want=$(sed -n 's/^\([0-9a-f]*\) =ELF$/\1/p' <<<"$out" | tail -1)
got=$(ctl read --pid "$probe_pid" 0x400000 64 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')
[ -n "$want" ] && [ "$got" = "$want" ] || fail "process memory: vmm $got, guest $want"

mods_guest=$(sed -n 's/^MODS //p' <<<"$out" | tail -1 | xargs)
mods_vmm=$(ctl lsmod --json | python3 -c 'import json,sys; print(" ".join(sorted(m["name"] for m in json.load(sys.stdin))))')
[ "$mods_guest" = "$mods_vmm" ] || fail "modules: guest '$mods_guest', vmm '$mods_vmm'"

addr=$(ctl sym schedule --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')
ctl sym "$(printf '0x%x' $((addr + 5)))" | grep -q " schedule+5\$" || fail "schedule+5 does not resolve back from $addr"
ctl sym no_such_symbol_here 2>"$tmp/e1" && fail "an unknown symbol resolved"
[ "$(wc -l <"$tmp/e1")" = 1 ] || fail "unknown symbol: $(cat "$tmp/e1")"
ctl files 999999 2>"$tmp/e2" && fail "files of a missing pid succeeded"
[ "$(wc -l <"$tmp/e2")" = 1 ] || fail "missing pid: $(cat "$tmp/e2")"
[ "$(ctl status)" = running ] || fail "the guest is not running after the queries"
echo 'poweroff -f' >&3
guest_finish g 60

# A guest that is not Linux: one line, and the VM keeps answering.
"$SYM" run --engine emu --kernel "$BUILD/tests/guests/spin.elf" --api "$tmp/mb.sock" </dev/null >"$tmp/mb.out" 2>&1 &
bg_pids+=($!)
for ((i = 0; i < 100; i++)); do grep -q spinning "$tmp/mb.out" 2>/dev/null && break; sleep 0.1; done
grep -q spinning "$tmp/mb.out" || fail "the spin guest did not start: $(cat "$tmp/mb.out")"
"$SYM" ctl "$tmp/mb.sock" ps 2>"$tmp/e3" && fail "ps on a multiboot guest succeeded"
[ "$(wc -l <"$tmp/e3")" = 1 ] && grep -q "guestos: .*not a Linux" "$tmp/e3" || fail "multiboot ps: $(cat "$tmp/e3")"
[ "$("$SYM" ctl "$tmp/mb.sock" status)" = running ] || fail "the spin guest stopped answering"
"$SYM" ctl "$tmp/mb.sock" quit || fail "quit failed"
echo PASS
