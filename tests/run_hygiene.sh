#!/usr/bin/env bash
# make test, first part: the tree's hygiene (docs/architecture.md "Hygiene"). Each check prints
# `hygiene: NAME: ok` or `hygiene: NAME: FAIL` after its own output; the last line is
#   hygiene: N passed, N failed
# Checks: the layering (tools/check_layers.sh), the formatting of FORMAT_DIRS (make
# format-check), function lengths of FN_LEN_DIRS (tools/check_fn_len.sh), that removed dead code
# stays removed; and each checker is shown a bad input first, so a checker that passes
# everything fails here.
set -u
cd "$(dirname "$0")/.." || exit 1
# The directories, as the Makefile's format-check and check-fn-len name them.
FORMAT_DIRS=$(sed -n 's/^FORMAT_DIRS *= *//p' Makefile)
FN_LEN_DIRS=$(sed -n 's/^FN_LEN_DIRS *= *//p' Makefile)
pass=0; fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check NAME COMMAND...: passes when COMMAND exits 0
    local name=$1; shift
    if "$@"; then echo "hygiene: $name: ok"; pass=$((pass + 1))
    else echo "hygiene: $name: FAIL"; fail=$((fail + 1)); fi
}
refuses() { # refuses COMMAND...: the command must exit 1 (found the problem), not 0 or 2
    local rc
    "$@" >"$tmp/out" 2>&1 </dev/null; rc=$?
    [ $rc -eq 1 ] || { echo "expected exit 1, got $rc:"; cat "$tmp/out"; return 1; }
}

# A function of n body lines (the braces count), for the length checker.
fn_of() {
    printf 'static int f%s(int x)\n{\n' "$1"
    for ((i = 0; i < $1 - 2; i++)); do printf '    x += %d;\n' "$i"; done
    printf '}\n'
}
fn_len_selftest() {
    mkdir -p "$tmp/len80" "$tmp/len81"
    fn_of 80 > "$tmp/len80/a.c"; fn_of 81 > "$tmp/len81/a.c"
    bash tools/check_fn_len.sh "$tmp/len80" >/dev/null || { echo "an 80-line function was refused"; return 1; }
    refuses bash tools/check_fn_len.sh "$tmp/len81" || return 1
    grep -q 'f81 81 lines' "$tmp/out" || { echo "the 81-line function was not named"; cat "$tmp/out"; return 1; }
}

format_selftest() {
    mkdir -p "$tmp/fmt_bad" "$tmp/fmt_good"
    printf 'int f(int x) {\n  if (x)\n  return 1;\n  return 0;\n}\n' > "$tmp/fmt_bad/a.c"
    printf 'int f(int x)\n{\n    if (x) return 1;\n    return x * 2 + 1;\n}\n' > "$tmp/fmt_good/a.c"
    bash tools/check_format.sh "$tmp/fmt_good" >/dev/null || { echo "a formatted file was refused"; return 1; }
    refuses bash tools/check_format.sh "$tmp/fmt_bad" || return 1
    grep -q 'fmt_bad/a.c differs' "$tmp/out" || { echo "the file was not named"; cat "$tmp/out"; return 1; }
}

layers_selftest() { # a copy of the checker in a scratch tree where core/ includes server/
    mkdir -p "$tmp/lay/core" "$tmp/lay/tools"
    cp tools/check_layers.sh "$tmp/lay/tools/"
    printf '#include "server/srv_conn.h"\n' > "$tmp/lay/core/x.c"
    (cd "$tmp/lay" && git init -q . && git add -A) || return 1
    (cd "$tmp/lay" && refuses bash tools/check_layers.sh) || return 1
    grep -q 'core/x.c includes server/' "$tmp/out" || { echo "the include was not named"; cat "$tmp/out"; return 1; }
}

# Removed in issue 13 (no caller); a new caller would bring one back with its reason.
DEAD_SYMBOLS='ev_close srv_shard_user srv_shard_set_user srv_runtime_shard pw_grpc_conn_user
q_dedup_next_expiry wk_pool_get_stats'
dead_code_gone() {
    local s hits ok=0
    [ ! -e proto_wire/pw_h2_query.c ] || { echo "proto_wire/pw_h2_query.c is back"; ok=1; }
    for s in $DEAD_SYMBOLS; do
        hits=$(grep -rnw --include='*.[ch]' "$s" core proto_wire queue worker server client tools bench tests)
        [ -z "$hits" ] || { echo "$s is back:"; echo "$hits"; ok=1; }
    done
    return $ok
}

[ -n "$FORMAT_DIRS" ] && [ -n "$FN_LEN_DIRS" ] || { echo "hygiene: cannot read FORMAT_DIRS/FN_LEN_DIRS from the Makefile"; echo "hygiene: 0 passed, 1 failed"; exit 1; }
check layers-selftest layers_selftest
check layers bash tools/check_layers.sh
check fn-len-selftest fn_len_selftest
# shellcheck disable=SC2086 # one word per directory
check fn-len bash tools/check_fn_len.sh $FN_LEN_DIRS
check format-selftest format_selftest
# shellcheck disable=SC2086
check format bash tools/check_format.sh $FORMAT_DIRS
check dead-code dead_code_gone
echo "hygiene: $pass passed, $fail failed"
[ $fail -eq 0 ]
