#!/usr/bin/env bash
# The symbiotic interfaces end to end (emu, default Debian guest with
# guest/kmod's symbiotic.ko loaded by its /init): the module found symbiont's
# CPUID leaves and shared its SymSpy pages; `ctl symspy` reads them with the
# VM running: the kernel release and KASLR base agree with what the guest and
# guest OS awareness say, the memory figures with the guest's /proc/meminfo
# within a few percent, and a vCPU's current task follows a busy loop the
# guest runs and moves on when it ends.  SymCall: the null call, the process
# list against the guest's /proc, a process's memory map against its
# /proc/PID/maps and one of its pages against /proc/PID/pagemap, calls while the guest counts in a loop,
# and a handler that never returns cut off with the guest carrying on.
# Monitoring (query-metrics' guest figures) and guest OS awareness (each
# vCPU's current task) take SymSpy's figures while the module shares them,
# guest OS awareness's own without it, each saying its source.
# SymMod: a module built by the test loaded into the running guest, its own
# SymCall answering, and unloaded.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init symb
ctl() { "$SYM" ctl "$name" "$@"; }

guest_start g "$SYM" run --engine emu --name "$name" --cpus 2 ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
cat >&3 <<'GUEST'
grep -q '^symbiotic ' /proc/modules && echo MODULE-LOADED
echo RELEASE $(uname -r)
cat /proc/meminfo | sed 's/^/MEMINFO /'; echo MEMINFO-END-$((1+1))
GUEST
guest_wait_for g MEMINFO-END-2 180 || fail "the guest never printed its meminfo"
# SymSpy's page is rewritten every 100 ms: read it right after the guest's
# own figures, while the shell waits for input and nothing else runs.
ctl symspy --json >"$tmp/spy1.json" || fail "symspy: $(cat "$tmp/spy1.json")"
out=$(tr -d '\r' <"$tmp/g.out")
grep -q '^MODULE-LOADED' <<<"$out" || fail "symbiotic.ko is not loaded in the guest"
release=$(sed -n 's/^RELEASE //p' <<<"$out" | tail -1)
sed -n 's/^MEMINFO //p' <<<"$out" >"$tmp/meminfo"
python3 - "$tmp/spy1.json" "$tmp/meminfo" "$release" <<'PY' || fail "symspy disagrees with the guest"
import json, sys
spy = json.load(open(sys.argv[1])); g = spy["global"]
mi = {}
for line in open(sys.argv[2]):
    k, v = line.split(":", 1)
    mi[k] = int(v.split()[0])
assert g["release"] == sys.argv[3], (g["release"], sys.argv[3])
assert g["source"] == "symspy"
assert g["mem_total_kb"] == mi["MemTotal"], (g["mem_total_kb"], mi["MemTotal"])
def near(a, b, what):
    # a few percent, or a few hundred KiB for small figures (they move
    # between the guest's read and ours)
    assert abs(a - b) <= max(0.03 * b, 512), f"{what}: symspy {a} KiB, /proc/meminfo {b} KiB"
near(g["mem_free_kb"], mi["MemFree"], "free")
near(g["mem_available_kb"], mi["MemAvailable"], "available")
near(g["page_cache_kb"], mi["Cached"], "page cache")
near(g["anon_kb"], mi["AnonPages"], "anon")
near(g["buffers_kb"], mi["Buffers"], "buffers")
assert g["nr_cpus"] == 2 and len(g["rq_len"]) == 2, g
assert g["nr_tasks"] > 10 and g["updates"] > 0, g
base = int(g["kaslr_base"], 16)
assert base >= 0xffffffff80000000 and base % 0x200000 == 0, g["kaslr_base"]
assert [c["cpu"] for c in spy["cpus"]] == [0, 1], spy["cpus"]
for c in spy["cpus"]:
    assert "error" not in c, c
PY
# Monitoring and guest OS awareness prefer SymSpy and say so: the metrics'
# guest figures and each vCPU's current task come from it.
qmp query-metrics >"$tmp/metrics.json" || fail "query-metrics: $(cat "$tmp/metrics.json")"
qmp query-current >"$tmp/current.json" || fail "query-current: $(cat "$tmp/current.json")"
python3 - "$tmp/metrics.json" "$tmp/current.json" "$tmp/meminfo" <<'PY' || fail "sources: $(cat "$tmp/current.json")"
import json, sys
g = json.load(open(sys.argv[1]))["guest"]
mi = {l.split(":")[0]: int(l.split(":")[1].split()[0]) for l in open(sys.argv[3])}
assert g["source"] == "symspy" and g["mem_total_kb"] == mi["MemTotal"], g
cur = json.load(open(sys.argv[2]))
assert [c["cpu"] for c in cur] == [0, 1] and all(c["source"] == "symspy" and c["comm"] for c in cur), cur
PY
ctl metrics | grep -q '^guest (symspy) *mem_total_kb' || fail "ctl metrics lacks the guest's figures"
ctl current | grep -q ' symspy$' || fail "ctl current does not say its source: $(ctl current)"

# The KASLR base against guest OS awareness's own finding (System.map + banner).
slide=$(qmp query-guest-os | python3 -c 'import json,sys; print(json.load(sys.stdin).get("kaslr_slide", ""))')
[ -n "$slide" ] || fail "guest OS awareness found no KASLR slide to compare with"
python3 - "$tmp/spy1.json" "$slide" <<'PY' || fail "symspy's KASLR base disagrees with guest OS awareness"
import json, sys
g = json.load(open(sys.argv[1]))["global"]
assert int(g["kaslr_base"], 16) - 0xffffffff81000000 == int(sys.argv[2], 0), (g["kaslr_base"], sys.argv[2])
PY

# A busy loop under a name of our own: it shows as some vCPU's current task.
probe=spin$$
cat >&3 <<GUEST
printf '#!/bin/sh\\nwhile :; do :; done\\n' >/tmp/$probe; chmod +x /tmp/$probe; /tmp/$probe &
echo SPIN=\$!
GUEST
guest_wait_for g 'SPIN=[0-9]' 180 || fail "the guest never started the loop"
spin=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^SPIN=\([0-9]*\)$/\1/p' | tail -1)
seen=
for ((i = 0; i < 120; i++)); do
	ctl symspy --json >"$tmp/spy2.json" || fail "symspy: $(cat "$tmp/spy2.json")"
	if python3 - "$tmp/spy2.json" "$spin" "$probe" <<'PY'; then seen=1; break; fi
import json, sys
cpus = json.load(open(sys.argv[1]))["cpus"]
sys.exit(0 if any(c.get("tgid") == int(sys.argv[2]) and c.get("comm") == sys.argv[3] for c in cpus) else 1)
PY
	sleep 0.5
done
[ -n "$seen" ] || fail "no vCPU's SymSpy page ever showed the loop (pid $spin): $(cat "$tmp/spy2.json")"
ctl symspy | grep -q "^[01] .* $probe " || fail "symspy table lacks the loop: $(ctl symspy)"
sw1=$(python3 -c 'import json,sys; print(sum(c["switches"] for c in json.load(open(sys.argv[1]))["cpus"]))' "$tmp/spy2.json")
echo "kill $spin; echo KILLED-\$((1+1))" >&3
guest_wait_for g KILLED-2 180 || fail "the guest never killed the loop"
gone=
for ((i = 0; i < 120; i++)); do
	sleep 0.5
	ctl symspy --json >"$tmp/spy3.json" || fail "symspy: $(cat "$tmp/spy3.json")"
	if python3 - "$tmp/spy3.json" "$spin" <<'PY'; then gone=1; break; fi
import json, sys
cpus = json.load(open(sys.argv[1]))["cpus"]
sys.exit(1 if any(c.get("tgid") == int(sys.argv[2]) for c in cpus) else 0)
PY
done
[ -n "$gone" ] || fail "a vCPU still shows the killed loop $spin"
sw2=$(python3 -c 'import json,sys; print(sum(c["switches"] for c in json.load(open(sys.argv[1]))["cpus"]))' "$tmp/spy3.json")
[ "$sw2" -gt "$sw1" ] || fail "context switch counts did not move ($sw1, $sw2)"
[ "$(ctl status)" = running ] || fail "the guest is not running after the reads"

# SymCall: the null call's result is computed by the guest's handler.
ctl symcall null --json >"$tmp/null.json" || fail "symcall null: $(cat "$tmp/null.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ret"] == 1 and r["round_trip_ns"] > 0, r' \
	"$tmp/null.json" || fail "symcall null: $(cat "$tmp/null.json")"
ctl symcall null | grep -q '^ret 1, round trip' || fail "symcall null table: $(ctl symcall null)"

# The process list against the guest's own /proc, listed without forking
# (read is a builtin), beside a process of a name of our own, while a busy
# loop keeps one vCPU out of idle (on an idle vCPU the guest's RCU is not
# watching, so the walk answers busy and the VMM tries again; an all-idle
# SMP guest can keep it busy past the retries).
sleeper=nap$$
cat >&3 <<GUEST
/tmp/$probe &
mkfifo /tmp/$sleeper.fifo; printf '#!/bin/sh\\nread x\\n' >/tmp/$sleeper; chmod +x /tmp/$sleeper
/tmp/$sleeper <>/tmp/$sleeper.fifo & nap=\$!
sleep 2; echo NAP=\$nap; for d in /proc/[0-9]*; do read -r c <\$d/comm && echo "P \${d#/proc/} \$c"; done; echo P-END-\$((1+1))
GUEST
guest_wait_for g P-END-2 180 || fail "the guest never listed its processes"
ctl symcall processes --json >"$tmp/procs.json" || fail "symcall processes: $(cat "$tmp/procs.json")"
out=$(tr -d '\r' <"$tmp/g.out")
nap=$(sed -n 's/^NAP=\([0-9]*\)$/\1/p' <<<"$out" | tail -1)
sed -n 's/^P \([0-9]*\) \(.*\)$/\1 \2/p' <<<"$out" >"$tmp/ps.guest"
python3 - "$tmp/procs.json" "$tmp/ps.guest" "$nap" "$sleeper" <<'PY' || fail "symcall's process list differs from the guest's"
import json, sys
r = json.load(open(sys.argv[1]))
vmm = {p["pid"]: p for p in r["processes"]}
guest = {}
for line in open(sys.argv[2]):
    pid, comm = line.rstrip("\n").split(" ", 1)
    guest[int(pid)] = comm
assert r["ret"] == len(r["processes"]) and not r["truncated"], r["ret"]
nap = int(sys.argv[3])
assert nap in vmm and vmm[nap]["comm"] == sys.argv[4], f"probe {nap} {sys.argv[4]} missing"
assert vmm[1]["comm"] == "init" and not vmm[1]["kernel_thread"]
# user processes: the same pids and names (/proc's comm of a kernel thread
# is longer: the kernel adds its workqueue); kernel workers may come and go
# between the two listings
for pid, p in vmm.items():
    if not p["kernel_thread"]:
        assert guest.get(pid) == p["comm"], (pid, p, guest.get(pid))
diff = set(vmm) ^ set(guest)
assert len(diff) <= 4, sorted(diff)
assert all(guest.get(pid, "").startswith("kworker") or vmm.get(pid, {}).get("kernel_thread") for pid in diff), sorted(diff)
assert len(guest) > 20
PY
ctl symcall processes | grep -q "^ *$nap .* $sleeper\$" || fail "symcall table lacks the probe: $(ctl symcall processes | tail -3)"

# The sleeper's memory map against its /proc/PID/maps, and one of its
# stack pages translated against /proc/PID/pagemap (the guest runs as
# root, so pagemap shows frame numbers).
echo "sed 's/^/MAP /' /proc/$nap/maps; echo MAPS-\$((2+2))" >&3
guest_wait_for g MAPS-4 60 || fail "the guest never printed the sleeper's maps"
ctl symcall vmas "$nap" --json >"$tmp/vmas.json" || fail "symcall vmas: $(cat "$tmp/vmas.json")"
tr -d '\r' <"$tmp/g.out" | sed -n 's/^MAP //p' >"$tmp/maps.guest"
python3 - "$tmp/vmas.json" "$tmp/maps.guest" >"$tmp/stack" <<'PY' || fail "symcall vmas differs from the guest's maps: $(cat "$tmp/vmas.json")"
import json, sys
vmas = json.load(open(sys.argv[1]))["vmas"]
guest = []
for line in open(sys.argv[2]):
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    guest.append((lo, hi, f[1], f[5] if len(f) > 5 else ""))
mine = [(v["start"], v["end"], v["perms"], v["path"]) for v in vmas]
# /proc adds the vsyscall page, which is no VMA; the rest are the same mappings
guest = [g for g in guest if g[3] != "[vsyscall]"]
# [vdso]/[vvar] are special mappings /proc names and a SymCall leaves unnamed
norm = lambda m: [(a, b, p, "" if n in ("[vdso]", "[vvar]") else n) for a, b, p, n in m]
assert norm(mine) == norm(guest), (mine, guest)
stack = [v for v in vmas if v["path"] == "[stack]"]
assert len(stack) == 1
print(stack[0]["end"] - 4096)
PY
stack=$(cat "$tmp/stack")
ctl symcall translate "$nap" "$stack" --json >"$tmp/tr.json" || fail "symcall translate: $(cat "$tmp/tr.json")"
echo "dd if=/proc/$nap/pagemap bs=8 skip=$((stack / 4096)) count=1 2>/dev/null | od -An -tx8 | sed 's/^ */PM /'; echo PM-\$((2+3))" >&3
guest_wait_for g PM-5 60 || fail "the guest never read the sleeper's pagemap"
pm=$(tr -d '\r' <"$tmp/g.out" | sed -n 's/^PM \([0-9a-f]*\)$/\1/p' | tail -1)
python3 - "$tmp/tr.json" "$pm" <<'PY' || fail "symcall translate: $(cat "$tmp/tr.json"), guest pagemap '$pm'"
import json, sys
gpa, pm = json.load(open(sys.argv[1]))["gpa"], int(sys.argv[2], 16)
assert pm >> 63 & 1, "the page is not present by the guest's own account"
assert gpa >> 12 == pm & ((1 << 55) - 1), (hex(gpa), hex(pm))
print(f"symcall translate: stack page at guest-physical {gpa:#x}, as the guest's pagemap says")
PY
ctl symcall translate "$nap" 0x1000 2>"$tmp/e4" && fail "an unmapped address translated"
[ "$(wc -l <"$tmp/e4")" = 1 ] || fail "translate of an unmapped address: $(cat "$tmp/e4")"
ctl symcall vmas 999999 2>"$tmp/e5" && fail "vmas of a missing pid succeeded"
grep -q "no such user process" "$tmp/e5" || fail "vmas of a missing pid: $(cat "$tmp/e5")"
echo "kill %1 %2; echo KILLED-\$((1+2))" >&3
guest_wait_for g KILLED-3 180 || fail "the guest never stopped the loop"

# While the guest counts in a shell loop, calls interrupt it (user mode,
# kernel, idle, whatever each vCPU was doing): the count comes out right.
echo 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo COUNT=$i' >&3
for ((k = 0; k < 40; k++)); do
	ctl symcall null --json >"$tmp/rt.json" || fail "symcall null during the loop: $(cat "$tmp/rt.json")"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["round_trip_ns"])' "$tmp/rt.json" >>"$tmp/rt.txt"
done
guest_wait_for g 'COUNT=[0-9]' 300 || fail "the counting loop never ended"
grep -q '^COUNT=30000' <(tr -d '\r' <"$tmp/g.out") || fail "the loop counted wrong: $(grep COUNT= "$tmp/g.out")"
python3 - "$tmp/rt.txt" <<'PY'
import sys
ts = sorted(int(l) for l in open(sys.argv[1]))
print(f"symcall null round trip (emu): median {ts[len(ts)//2]/1e3:.0f} us over {len(ts)} calls")
PY

# A handler that never returns is cut off; the guest carries on.
ctl symcall spin 2>"$tmp/e2" && fail "a spinning handler was reported as returning"
grep -q "did not return within" "$tmp/e2" || fail "spin: $(cat "$tmp/e2")"
echo 'echo ALIVE-$((6*7))' >&3
guest_wait_for g ALIVE-42 180 || fail "the guest did not carry on after a cut-off call"
ctl symcall null >/dev/null || fail "symcall null after a cut-off call failed"

# SymMod: the VMM loads the example module into the running guest; it
# registers SymCall 0x100, which the VMM did not have before and loses
# again when the module is unloaded; the guest's own module list agrees.
ko=build/guest/symmod_hello.ko
[ -e "$ko" ] || fail "$ko missing (make guest builds it)"
ctl symcall 256 21 2>"$tmp/e6" && fail "call 256 answered before its module was loaded"
ctl symmod load "$ko" --json >"$tmp/symmod.json" || fail "symmod load: $(cat "$tmp/symmod.json")"
grep -q '"name": *"symmod_hello"' "$tmp/symmod.json" || fail "symmod load: $(cat "$tmp/symmod.json")"
ctl symcall 256 21 --json >"$tmp/hello.json" || fail "the loaded module's call: $(cat "$tmp/hello.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["ret"] == 42 and r["data"] == "hello from symmod" else 1)' \
	"$tmp/hello.json" || fail "the loaded module's call: $(cat "$tmp/hello.json")"
ctl lsmod | grep -q '^symmod_hello ' || fail "guest OS awareness does not list symmod_hello: $(ctl lsmod)"
echo 'grep -c "^symmod_hello " /proc/modules | sed "s/^/MODS-/"' >&3
guest_wait_for g 'MODS-1' 60 || fail "the guest's /proc/modules lacks symmod_hello"
ctl symmod load "$ko" 2>"$tmp/e7" && fail "a second load of the same module succeeded"
[ "$(wc -l <"$tmp/e7")" = 1 ] || fail "second load: $(cat "$tmp/e7")"
ctl symmod unload symmod_hello || fail "symmod unload"
ctl symcall 256 21 2>"$tmp/e8" && fail "call 256 answered after its module was unloaded"
ctl lsmod | grep -q '^symmod_hello ' && fail "symmod_hello still listed after unload"
ctl symmod load /etc/hostname 2>"$tmp/e9" && fail "a file that is no module was loaded"
[ "$(wc -l <"$tmp/e9")" = 1 ] || fail "bad module file: $(cat "$tmp/e9")"

# Without the module (rmmod): symspy says so in one line; the guest carries on.
echo 'rmmod symbiotic && echo UNLOADED-$((1+1))' >&3
guest_wait_for g UNLOADED-2 180 || fail "rmmod symbiotic failed: $(tail -3 "$tmp/g.out")"
ctl symspy 2>"$tmp/e1" && fail "symspy answered after the module was unloaded"
[ "$(wc -l <"$tmp/e1")" = 1 ] || fail "symspy without pages: $(cat "$tmp/e1")"
ctl symcall null 2>"$tmp/e3" && fail "symcall answered after the module was unloaded"
[ "$(wc -l <"$tmp/e3")" = 1 ] || fail "symcall without a module: $(cat "$tmp/e3")"
# without SymSpy: the current tasks come from guest OS awareness, the
# metrics have no guest figures, each saying so
qmp query-current >"$tmp/current2.json" || fail "query-current: $(cat "$tmp/current2.json")"
qmp query-metrics >"$tmp/metrics2.json" || fail "query-metrics: $(cat "$tmp/metrics2.json")"
python3 - "$tmp/current2.json" "$tmp/metrics2.json" <<'PY' || fail "sources without the module: $(cat "$tmp/current2.json")"
import json, sys
cur = json.load(open(sys.argv[1]))
assert all(c.get("source") == "guestos" for c in cur), cur
assert json.load(open(sys.argv[2]))["guest"]["source"] == "none"
PY
echo 'insmod /lib/modules/$(uname -r)/extra/symbiotic.ko && echo RELOADED-$((1+1))' >&3
guest_wait_for g RELOADED-2 180 || fail "the module did not load again"
sleep 1
ctl symspy --json >"$tmp/spy4.json" || fail "symspy after reloading: $(cat "$tmp/spy4.json")"
ctl symcall null >/dev/null || fail "symcall after reloading failed"
echo 'poweroff -f' >&3
guest_finish g 120
echo "ok: symspy agrees with the guest; symcall null, processes and cut-off work"
