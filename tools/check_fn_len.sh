#!/usr/bin/env bash
# Function lengths in the C files of the given directories (STYLE.md: "functions that fit on a
# screen"). Usage: tools/check_fn_len.sh [-m MAX_LINES] DIR...
# A function's length is its body in lines, from the `{` to the `}`, both at column 0 as the
# tree writes them (one-line functions `T f(void) { ... }` count 1 and are never long). Prints
# each function over MAX_LINES (default 80) as `file:line: name N lines (max M)` and exits 1;
# otherwise one line `fn-len: ok ...` and exits 0. make test runs it over client/ and server/
# (docs/architecture.md "Hygiene").
set -u
max=80
if [ "${1:-}" = "-m" ]; then max=${2:?-m needs a number}; shift 2; fi
[ $# -gt 0 ] || { echo "usage: $0 [-m MAX_LINES] DIR..." >&2; exit 2; }
files=()
for d in "$@"; do
    [ -d "$d" ] || { echo "fn-len: no directory $d" >&2; exit 2; }
    while IFS= read -r f; do files+=("$f"); done < <(find "$d" -maxdepth 1 -name '*.c' | sort)
done
[ ${#files[@]} -gt 0 ] || { echo "fn-len: no C files in $*" >&2; exit 2; }
awk -v max="$max" '
    FNR == 1 { sig = ""; infn = 0 }
    # A declaration starts at column 0 with an identifier; its lines run until `{` or `;`.
    !infn && /^[A-Za-z_]/ { sig = $0; next }
    !infn && /^\{/ {
        infn = 1; start = FNR; name = "?"
        if (match(sig, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/))
            name = substr(sig, RSTART, RLENGTH - 1)
        sub(/[ \t]+$/, "", name)
        next
    }
    !infn && sig != "" { sig = sig " " $0; if ($0 ~ /;[ \t]*$/) sig = ""; next }
    infn && /^\}/ {
        infn = 0; sig = ""; n = FNR - start + 1; count++
        if (n > longest) { longest = n; lname = FILENAME ":" start ": " name }
        if (n > max) { printf "%s:%d: %s %d lines (max %d)\n", FILENAME, start, name, n, max; bad++ }
    }
    END {
        if (bad) { printf "fn-len: %d function(s) over %d lines\n", bad, max; exit 1 }
        printf "fn-len: ok (%d functions, longest %d lines: %s)\n", count, longest, lname
    }
' "${files[@]}"
