#!/usr/bin/env bash
# Monitoring end to end (emu, default Debian guest with a virtio disk):
# `ctl metrics` block counters match a known guest dd to the byte (O_DIRECT
# reads of 4 MiB and writes of 2 MiB, so no page cache in between), vCPU
# instruction counters grow, guest user time grows by most of a 3 s
# busy loop in a guest process and halted time by most of 3 idle seconds,
# and the Prometheus endpoint of --metrics
# serves the same figures at /metrics (404 elsewhere).
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo python3
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
control_init metrics
port=$(free_port)
truncate -s 64M "$tmp/disk.img"

guest_start g "$SYM" run --name "$name" --disk "$tmp/disk.img" --metrics "tcp:127.0.0.1:$port" ||
	fail "guest never became ready: $(tail -3 "$tmp/g.err")"
metric() { # metric DEVICE-OR-vcpuN KEY
	"$SYM" ctl "$name" metrics --json | python3 -c '
import json, sys
d = json.load(sys.stdin); who, key = sys.argv[1], sys.argv[2]
if who.startswith("vcpu"): print(d["vcpus"][who[4:]][key])
elif who == "vm": print(d["vm"][key])
else: print(d["devices"][who][key])' "$1" "$2"
}

r0=$(metric virtio-blk read_bytes) w0=$(metric virtio-blk write_bytes) n0=$(metric virtio-blk reads)
i0=$(metric vcpu0 instructions)
echo 'dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; dd if=/dev/zero of=/dev/vda bs=64k count=32 oflag=direct 2>/dev/null; echo DD-"DONE"' >&3
guest_wait_for g DD-DONE 120 || fail "the guest's dd did not finish"
sleep 1
r1=$(metric virtio-blk read_bytes) w1=$(metric virtio-blk write_bytes) n1=$(metric virtio-blk reads)
i1=$(metric vcpu0 instructions)
[ $((r1 - r0)) = $((4 << 20)) ] || fail "read_bytes grew by $((r1 - r0)), want $((4 << 20))"
[ $((w1 - w0)) = $((2 << 20)) ] || fail "write_bytes grew by $((w1 - w0)), want $((2 << 20))"
[ $((n1 - n0)) -ge 64 ] || fail "reads grew by $((n1 - n0)), want >= 64 requests"
[ "$i1" -gt "$i0" ] || fail "vCPU 0's instruction count did not grow ($i0 -> $i1)"
"$SYM" ctl "$name" metrics | grep -q '^virtio-blk *latency_le_' || fail "ctl metrics lacks the latency buckets"

# Guest time by privilege: a user-mode loop for 3 s, then 3 s idle.
u0=$(metric vcpu0 user_ns) h0=$(metric vcpu0 halted_ns)
echo 'spin() { while :; do :; done; }; spin & s=$!; sleep 3; kill $s; echo SPUN-"DONE"' >&3
guest_wait_for g SPUN-DONE 60 || fail "the guest's spin did not end"
u1=$(metric vcpu0 user_ns)
sleep 3
h1=$(metric vcpu0 halted_ns) k1=$(metric vcpu0 kernel_ns)
python3 -c "import sys; sys.exit(0 if ($u1 - $u0) / 1e9 >= 1.5 else 1)" ||
	fail "user_ns grew by $(((u1 - u0) / 1000000)) ms over a 3 s user-mode loop, want most of it"
python3 -c "import sys; sys.exit(0 if ($h1 - $h0) / 1e9 >= 1.5 else 1)" ||
	fail "halted_ns grew by $(((h1 - h0) / 1000000)) ms over 3 idle seconds (and the loop's end), want most of them"
[ "$k1" -gt 0 ] || fail "kernel_ns is $k1"

python3 - "$port" "$r1" <<'PY' || fail "Prometheus endpoint"
import sys, urllib.request, urllib.error, re
port, want = sys.argv[1], int(sys.argv[2])
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
m = re.search(r'^symbiont_device_virtio_blk_read_bytes\{vm="[^"]*",device="virtio-blk"\} (\d+)$', body, re.M)
assert m and int(m.group(1)) >= want, body[:500]
assert re.search(r'^symbiont_vcpu_instructions\{vm="[^"]*",cpu="0"\} \d+$', body, re.M)
for line in body.splitlines():
    assert line.startswith("#") or re.match(r'^[a-zA-Z_][a-zA-Z0-9_]*\{[^}]*\} \d+$', line), line
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
    sys.exit("no 404")
except urllib.error.HTTPError as e:
    assert e.code == 404
PY
echo 'poweroff -f' >&3
guest_finish g 60
echo PASS
