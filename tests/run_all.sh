#!/usr/bin/env bash
# make test: the tree's hygiene (tests/run_hygiene.sh: layers, format, function lengths), unit
# tests, then integration tests; the last line is the total:
#   N passed, N failed
set -u
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash tests/run_hygiene.sh | tee "$tmp/hyg"
bash tests/run_unit.sh "$BUILD" | tee "$tmp/unit"
bash tests/run_integration.sh | tee "$tmp/integ"
h=$(tail -1 "$tmp/hyg"); u=$(tail -1 "$tmp/unit"); i=$(tail -1 "$tmp/integ")
num() { sed -nE "s/.*: ([0-9]+) passed, ([0-9]+) failed.*/\\$1/p" <<<"$2"; }
hp=$(num 1 "$h"); hf=$(num 2 "$h")
up=$(num 1 "$u"); uf=$(num 2 "$u"); ip=$(num 1 "$i"); if_=$(num 2 "$i")
case "$hp$hf$up$uf$ip$if_" in *[!0-9]*|"") echo "test runner output unreadable"; echo "0 passed, 1 failed"; exit 1;; esac
[ -n "$hp" ] && [ -n "$hf" ] && [ -n "$up" ] && [ -n "$uf" ] && [ -n "$ip" ] && [ -n "$if_" ] || { echo "0 passed, 1 failed"; exit 1; }
echo "$((hp+up+ip)) passed, $((hf+uf+if_)) failed"
[ $((hf+uf+if_)) -eq 0 ]
