#!/usr/bin/env bash
# make test: unit tests, then integration tests; the last line is the total:
#   N passed, N failed
set -u
BUILD=${BUILD:-build}
u=$(bash tests/run_unit.sh "$BUILD" | tee /dev/stderr | tail -1)
i=$(bash tests/run_integration.sh | tee /dev/stderr | tail -1)
up=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$u"); uf=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$u")
ip=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$i"); if_=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$i")
case "$up$uf$ip$if_" in *[!0-9]*|"") echo "test runner output unreadable"; echo "0 passed, 1 failed"; exit 1;; esac
echo "$((up+ip)) passed, $((uf+if_)) failed"
[ $((uf+if_)) -eq 0 ]
