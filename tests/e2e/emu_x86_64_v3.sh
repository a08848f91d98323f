#!/usr/bin/env bash
# x86-64-v3 on emu: a static program built with -march=x86-64-v3
# (tests/e2e/v3_checksum.c: AVX2/FMA loops, gathers, permutes, F16C, and the
# C library's AVX2 string and FMA math functions, which it picks from CPUID)
# prints the same checksums in the default Debian guest on emu as on the
# host, and the guest kernel lists avx avx2 fma f16c in /proc/cpuinfo and
# enables the AVX state (XCR0 0x207) through XSAVE.  The program is appended
# to the initramfs as /bin/v3_checksum.  Skipped where the host cannot run
# the program (no AVX2/FMA/F16C/BMI2) or cannot build a static one.
. "$(dirname "$0")/lib/guest.bash"
e2e_init
require_tools timeout mkfifo cpio gzip
require_guest
[ -x "$SYM" ] || fail "$SYM missing (make BUILD=$BUILD)"
prog=$BUILD/tests/e2e/v3_checksum
[ -x "$prog" ] || skip "skip: $prog missing (make $prog: needs a static C library)"
for f in avx avx2 fma f16c bmi2 movbe; do
	grep -qw $f /proc/cpuinfo || skip "skip: the host lacks $f: no x86-64-v3 reference output"
done
want=$("$prog") || fail "the program failed on the host"

mkdir -p "$tmp/root/bin"
cp "$prog" "$tmp/root/bin/v3_checksum"
(cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip) >"$tmp/extra.cpio.gz"
cat "$GUEST/initramfs.cpio.gz" "$tmp/extra.cpio.gz" >"$tmp/initrd"

guest_start g "$SYM" run --engine emu --kernel "$GUEST/vmlinuz" --initrd "$tmp/initrd" \
	--append "console=ttyS0 quiet" || fail "guest never became ready: $(tail -3 "$tmp/g.err")"
echo 'for f in avx avx2 fma f16c; do grep -qw $f /proc/cpuinfo || echo "NOFLAG-$f-"; done' >&3
echo 'echo "XSTATE-$(dmesg | grep -c "xstate features 0x207,")-"' >&3
echo 'echo V3-BEGIN; v3_checksum; echo "V3-END-$?"' >&3
guest_wait_for g 'V3-END-[0-9]' 900 || fail "the program did not finish in the guest: $(tail -5 "$tmp/g.out")"
echo poweroff >&3
guest_finish g 120

out=$(tr -d '\r' <"$tmp/g.out")
if grep -q 'NOFLAG-[a-z]' <<<"$out"; then
	fail "/proc/cpuinfo in the guest lacks $(grep -o 'NOFLAG-[a-z0-9]*' <<<"$out" | cut -c8- | tr '\n' ' ')"
fi
grep -q '^XSTATE-1-' <<<"$out" || fail "the guest kernel did not enable x87+SSE+AVX+PKRU state (0x207)"
grep -q '^V3-END-0' <<<"$out" || fail "the program failed in the guest: $(grep -A3 V3-BEGIN <<<"$out")"
got=$(sed -n '/^V3-BEGIN/,/^V3-END-/p' <<<"$out" | sed '1d;$d')
if [ "$got" != "$want" ]; then
	diff <(echo "$want") <(echo "$got") | sed 's/^/  /'
	fail "the program's output in the guest differs from the host's (< host, > guest)"
fi
echo "$got" | sed 's/^/  /'
echo "PASS: a -march=x86-64-v3 program prints the host's $(wc -l <<<"$want") checksums in the emu guest; avx avx2 fma f16c listed"
