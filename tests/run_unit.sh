#!/usr/bin/env bash
# Runs every Check unit-test binary in $1/tests and prints one summary line:
#   unit: N passed, N failed
set -u
BUILD=${1:-build}
pass=0; fail=0; bad=()
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$(CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120} "$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
    if [ -z "$line" ]; then
        if [ $rc -eq 77 ]; then echo "SKIP $(basename "$t")"; continue; fi
        printf '%s\n' "$out" | tail -20; fail=$((fail+1)); bad+=("$(basename "$t")"); continue
    fi
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    nf=$((f+e)); pass=$((pass+n-nf)); fail=$((fail+nf))
    if [ $nf -ne 0 ] || [ $rc -ne 0 ]; then
        printf '%s\n' "$out" | grep -vE ':P:' | tail -30; bad+=("$(basename "$t")")
        [ $nf -eq 0 ] && fail=$((fail+1))
    fi
    echo "$(basename "$t"): $line"
done
[ ${#bad[@]} -gt 0 ] && echo "failing unit binaries: ${bad[*]}"
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
