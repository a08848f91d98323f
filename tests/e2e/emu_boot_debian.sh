#!/usr/bin/env bash
# The stock Debian cloud kernel boots to the busybox shell on the emu engine:
# commands piped into stdin before the guest is up still reach the shell,
# `uname -r` prints the release recorded in build/guest/VERSION, the ACPI
# tables offer no S3 (suspend to RAM: symbiont has no firmware to resume
# through, so the guest must not try it; `mem` is suspend-to-idle only),
# the kernel sees the CPU model's newer features (MOVBE, BMI1/2, XSAVE and
# XSAVEOPT, SMEP, SMAP, UMIP, PCID, INVPCID, RDPID, PKU/OSPKE, AVX, AVX2,
# FMA, F16C in /proc/cpuinfo, and x87+SSE+AVX+PKRU state through XSAVE in
# its log), and
# `poweroff` ends symbiont with status 0.
set -u
BUILD=${BUILD:-build}
G=build/guest
[ -f $G/VERSION ] || { echo "no guest image (make guest)"; exit 1; }
want=$(cat $G/VERSION)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

flags='movbe bmi1 bmi2 xsave xsaveopt smep smap umip pcid invpcid rdpid pku ospke avx avx2 fma f16c'
check_flags="for f in $flags; do grep -qw \$f /proc/cpuinfo || echo \"NOFLAG-\$f-\"; done; echo \"XSTATE-\$(dmesg | grep -c 'xstate features 0x207,')-\""
printf 'uname -r\necho "SLEEP-$(cat /sys/power/mem_sleep)-"\n%s\npoweroff\n' "$check_flags" | timeout 600 "$BUILD/symbiont" run --engine emu >"$out" 2>&1
rc=$?
cat "$out"
grep -q "symbiont guest ready" "$out" || { echo "FAIL: guest never reached the shell"; exit 1; }
grep -qx "$want" <(tr -d '\r' <"$out") || { echo "FAIL: uname -r did not print $want"; exit 1; }
grep -q '^SLEEP-\[s2idle\]-' <(tr -d '\r' <"$out") ||
	{ echo "FAIL: /sys/power/mem_sleep offers more than s2idle (S3 advertised?)"; exit 1; }
if grep -q 'NOFLAG-[a-z]' <(tr -d '\r' <"$out"); then
	echo "FAIL: /proc/cpuinfo lacks $(grep -o 'NOFLAG-[a-z0-9][a-z0-9]*' <(tr -d '\r' <"$out") | cut -c8- | tr '\n' ' ')"
	exit 1
fi
grep -q '^XSTATE-1-' <(tr -d '\r' <"$out") || { echo "FAIL: the kernel did not enable x87+SSE+AVX+PKRU state (0x207) through XSAVE"; exit 1; }
grep -q "reboot: Power down" "$out" || { echo "FAIL: no kernel power-down message"; exit 1; }
[ $rc -eq 0 ] || { echo "FAIL: exit status $rc, want 0"; exit 1; }
echo "PASS: emu boots $want to a shell and powers off"
