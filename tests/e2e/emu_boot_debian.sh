#!/usr/bin/env bash
# The stock Debian cloud kernel boots to the busybox shell on the emu engine:
# commands piped into stdin before the guest is up still reach the shell,
# `uname -r` prints the release recorded in build/guest/VERSION, the ACPI
# tables offer no S3 (suspend to RAM: symbiont has no firmware to resume
# through, so the guest must not try it; `mem` is suspend-to-idle only),
# and `poweroff` ends symbiont with status 0.
set -u
BUILD=${BUILD:-build}
G=build/guest
[ -f $G/VERSION ] || { echo "no guest image (make guest)"; exit 1; }
want=$(cat $G/VERSION)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

printf 'uname -r\necho "SLEEP-$(cat /sys/power/mem_sleep)-"\npoweroff\n' | timeout 600 "$BUILD/symbiont" run --engine emu >"$out" 2>&1
rc=$?
cat "$out"
grep -q "symbiont guest ready" "$out" || { echo "FAIL: guest never reached the shell"; exit 1; }
grep -qx "$want" <(tr -d '\r' <"$out") || { echo "FAIL: uname -r did not print $want"; exit 1; }
grep -q '^SLEEP-\[s2idle\]-' <(tr -d '\r' <"$out") ||
	{ echo "FAIL: /sys/power/mem_sleep offers more than s2idle (S3 advertised?)"; exit 1; }
grep -q "reboot: Power down" "$out" || { echo "FAIL: no kernel power-down message"; exit 1; }
[ $rc -eq 0 ] || { echo "FAIL: exit status $rc, want 0"; exit 1; }
echo "PASS: emu boots $want to a shell and powers off"
