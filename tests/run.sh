#!/usr/bin/env bash
# Runs every test program and end-to-end script and prints one summary line.
#   cmocka programs: $BUILD/tests/**/test_*   (each test case counts; a case
#                    that calls skip() counts as skipped, and so does each
#                    line "skip: WHAT: WHY" it prints, for parts of a case
#                    the host cannot run, such as a form needing a CPUID
#                    feature the host CPU lacks)
#   end-to-end:      tests/e2e/*.sh           (exit 0 pass, 77 skip, else fail)
# Logs of failures are printed in full; passes print one line each, and
# every skip says why.
set -u
BUILD=${BUILD:-build}
export BUILD
pass=0 fail=0 skip=0
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in $(find "$BUILD/tests" -type f -name 'test_*' ! -name '*.d' ! -name '*.o' -perm -u+x 2>/dev/null | sort); do
	if "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	s=$((s + $(grep -c '^skip: ' "$log")))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed before its summary
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$f" -ne 0 ]; then
		failed+=("$t"); echo "FAIL $t"; cat "$log"
	else
		if [ "$s" -ne 0 ]; then
			echo "ok   $t ($p passed, $s skipped)"
			grep -E '^skip: |not tested: ' "$log" | sort -u | sed 's/^/       /'
		else
			echo "ok   $t ($p)"
		fi
	fi
done

for t in tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	if timeout 900 bash "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	case $rc in
	0) pass=$((pass + 1)); echo "ok   $t" ;;
	77) skip=$((skip + 1)); echo "skip $t: $(tail -1 "$log")" ;;
	*) fail=$((fail + 1)); failed+=("$t"); echo "FAIL $t (exit $rc)"; tail -40 "$log" ;;
	esac
done

[ ${#failed[@]} -eq 0 ] || printf 'failed: %s\n' "${failed[@]}"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ $((pass + skip)) -gt 0 ]
