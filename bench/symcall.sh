#!/usr/bin/env bash
# SymCall and SymSpy benchmark.
#
# 1. The default Debian guest on emu (1 vCPU, symbiotic.ko loaded): the
#    round trip of a null SymCall as the `symcall` command reports it: the
#    host time in the service from the request to the interrupted state
#    back (round_trip_ns: on emu the request crosses to the vCPU thread and
#    the answer back, two thread wake-ups) and, of it, the time the vCPU
#    spent on the call (vcpu_ns: on emu the call is made on the vCPU
#    thread, from entering the handler to leaving it; on kvm, with the VM
#    paused around both, from the first resume to the last pause); and the
#    cost of a SymSpy read, the service's own time (read_ns of
#    query-symspy) to copy the global and per-vCPU pages under their
#    seqcounts, check them and build the reply, with the guest running and
#    no exit.  Two ways: CALLS calls each made by its own `symbiont ctl`
#    process (a cold call: the host's caches full of that process start,
#    the vCPU thread asleep in an idle guest), and BURST calls back to back
#    over one control connection (warm), and BURST more made back to back
#    on the vCPU thread itself (`repeat`, emu only: the request made where
#    the call runs, no thread hand-off).  Medians.
# 2. The SymCall test guest (tests/guests/symcall.S) on emu and, where
#    /dev/kvm is usable, kvm (which cannot boot the Debian guest here): the
#    same null round trip, beside a port-I/O exit round trip measured in the
#    same guest in the same run (20000 INs of the doorbell port timed with
#    the TSC, whose rate the guest reads from symbiont's CPUID timing leaf).
# Prints each figure and the ratios.
cd "$(dirname "$0")/.."
. tests/e2e/lib/guest.bash
e2e_init
CALLS=${CALLS:-50}
BURST=${BURST:-2000}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$SYM" ] || die "$SYM missing (make BUILD=$BUILD)"
[ -e $GUEST/vmlinuz ] || die "no default guest in $GUEST (make guest)"
TG=$BUILD/tests/guests/symcall.elf
[ -e "$TG" ] || make -s BUILD="$BUILD" "$TG" >/dev/null || die "cannot build $TG"
control_init bench-symcall
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

guest_start g "$SYM" run --engine emu --name "$name" --cpus 1 || die "the guest never became ready"
: >"$tmp/rt"
: >"$tmp/vcpu"
: >"$tmp/spy"
for ((i = 0; i < CALLS; i++)); do
	"$SYM" ctl "$name" symcall null --json >"$tmp/one" || die "symcall null: $(cat "$tmp/one")"
	field "$tmp/one" round_trip_ns >>"$tmp/rt"
	field "$tmp/one" vcpu_ns >>"$tmp/vcpu"
	"$SYM" ctl "$name" symspy --json >"$tmp/one" || die "symspy: $(cat "$tmp/one")"
	field "$tmp/one" read_ns >>"$tmp/spy"
done
burst() { # SOCKET PREFIX: BURST null calls over one connection
	python3 - "$1" "$BURST" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
def ex(cmd, args=None):
    f.write(json.dumps({"execute": cmd, "arguments": args or {}}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
ex("qmp_capabilities")
with open(sys.argv[3] + ".rt", "w") as rt, open(sys.argv[3] + ".vcpu", "w") as vc:
    for i in range(int(sys.argv[2])):
        r = ex("symcall", {"call": "null"})
        if "error" in r:
            sys.exit("symcall null: " + r["error"]["desc"])
        print(r["return"]["round_trip_ns"], file=rt)
        print(r["return"]["vcpu_ns"], file=vc)
# the same number made back to back on the vCPU thread (emu only)
r = ex("symcall", {"call": "null", "repeat": int(sys.argv[2])})
if "return" in r:
    r = r["return"]
    with open(sys.argv[3] + ".here", "w") as h:
        print(r["round_trip_ns"], r["round_trip_min_ns"], r["vcpu_ns"], r["vcpu_min_ns"], r["repeat"], file=h)
PY
}
burst "$sock" "$tmp/burst" || die "burst of calls failed"
echo 'poweroff -f' >&3
guest_finish g 60

engines_here
for eng in $engines; do
	n=$name-tg-$eng
	timeout 300 "$SYM" run --engine "$eng" --name "$n" --kernel "$TG" >"$tmp/tg-$eng.out" 2>&1 &
	for ((i = 0; i < 100; i++)); do grep -q "entry registered" "$tmp/tg-$eng.out" && break; sleep 0.1; done
	grep -q "entry registered" "$tmp/tg-$eng.out" || die "$eng test guest: $(cat "$tmp/tg-$eng.out")"
	: >"$tmp/tg-$eng.rt"
	: >"$tmp/tg-$eng.vcpu"
	for ((i = 0; i < CALLS; i++)); do
		"$SYM" ctl "$n" symcall null --json >"$tmp/one" || die "$eng test guest: $(cat "$tmp/one")"
		field "$tmp/one" round_trip_ns >>"$tmp/tg-$eng.rt"
		field "$tmp/one" vcpu_ns >>"$tmp/tg-$eng.vcpu"
	done
	burst "$XDG_RUNTIME_DIR/symbiont/$n.sock" "$tmp/tg-$eng-burst" || die "$eng test guest: burst of calls failed"
	"$SYM" ctl "$n" symcall 256 >/dev/null
	wait
done
[ "$engines" = emu ] && echo "(no usable /dev/kvm: no kvm figures)"
python3 - "$tmp" <<'PY'
import os, re, sys
d = sys.argv[1]
def med(path):
    v = sorted(int(l) for l in open(path))
    return v[len(v) // 2], v[0], len(v)
rt, rt_min, n = med(f"{d}/rt")
spy, spy_min, _ = med(f"{d}/spy")
vc, vc_min, _ = med(f"{d}/vcpu")
print(f"Debian guest, emu: symcall null round trip median {rt/1e3:.1f} us (min {rt_min/1e3:.1f}, {n} calls"
      f" by one ctl process each); on the vCPU median {vc/1e3:.1f} us (min {vc_min/1e3:.1f})")
brt, brt_min, bn = med(f"{d}/burst.rt")
bvc, bvc_min, _ = med(f"{d}/burst.vcpu")
print(f"Debian guest, emu: symcall null round trip median {brt/1e3:.2f} us (min {brt_min/1e3:.2f}, {bn} calls"
      f" back to back on one connection); on the vCPU median {bvc/1e3:.2f} us (min {bvc_min/1e3:.2f})")
def here(prefix, what):
    if os.path.exists(prefix + ".here"):
        t, t_min, v, v_min, k = (int(x) for x in open(prefix + ".here").read().split())
        print(f"{what}: requested on the vCPU thread ({k} calls back to back): round trip median {t/1e3:.2f} us"
              f" (min {t_min/1e3:.2f}), on the vCPU median {v/1e3:.2f} us (min {v_min/1e3:.2f})")
here(f"{d}/burst", "Debian guest, emu")
print(f"Debian guest, emu: symspy read median {spy/1e3:.1f} us (min {spy_min/1e3:.1f}, {n} reads, no exit)")
print(f"ratio: one null SymCall costs {rt/spy:.0f} SymSpy reads")
for eng in ("emu", "kvm"):
    if not os.path.exists(f"{d}/tg-{eng}.rt"):
        continue
    t, t_min, k = med(f"{d}/tg-{eng}.rt")
    v, v_min, _ = med(f"{d}/tg-{eng}.vcpu")
    m = re.search(r"pio (\d+) reads: ticks ([0-9a-f]+) tsc_khz ([0-9a-f]+)", open(f"{d}/tg-{eng}.out").read())
    reads, ticks, khz = int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16)
    pio = ticks / (khz / 1e6) / reads
    bt, bt_min, bk = med(f"{d}/tg-{eng}-burst.rt")
    bv, bv_min, _ = med(f"{d}/tg-{eng}-burst.vcpu")
    print(f"test guest, {eng}: symcall null round trip median {t/1e3:.1f} us (min {t_min/1e3:.1f}, {k} calls"
          f" by one ctl process each), on the vCPU median {v/1e3:.1f} us (min {v_min/1e3:.1f});"
          f" port-I/O read {pio:.0f} ns; ratio {t/pio:.0f} (on the vCPU {v/pio:.0f}) port reads per SymCall")
    print(f"test guest, {eng}: back to back ({bk} calls on one connection): round trip median {bt/1e3:.2f} us"
          f" (min {bt_min/1e3:.2f}), on the vCPU median {bv/1e3:.2f} us (min {bv_min/1e3:.2f});"
          f" ratio {bt/pio:.0f} (on the vCPU {bv/pio:.0f}) port reads per SymCall")
    here(f"{d}/tg-{eng}-burst", f"test guest, {eng}")
PY
