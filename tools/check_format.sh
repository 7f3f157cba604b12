#!/usr/bin/env bash
# make format / make format-check: clang-format (.clang-format at the top) over the C files of
# the given directories (node_modules left out). Usage: tools/check_format.sh [--fix] DIR...
# Without --fix: lists each file whose formatting differs (`format: FILE differs`, then how to
# fix) and exits 1; otherwise prints `format: ok (N files)`. With --fix: rewrites them in place.
set -u
fix=0
if [ "${1:-}" = "--fix" ]; then fix=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--fix] DIR..." >&2; exit 2; }
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || {
    echo "format: $CLANG_FORMAT not found (Debian package clang-format: make deps)" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
files=()
for d in "$@"; do
    [ -d "$d" ] || { echo "format: no directory $d" >&2; exit 2; }
    # node_modules (tests/ui's npm packages) hold other projects' C: not ours to format.
    while IFS= read -r f; do files+=("$f"); done < <(find "$d" -name node_modules -prune -o \
        -name '*.[ch]' -print | sort)
done
[ ${#files[@]} -gt 0 ] || { echo "format: no C files in $*" >&2; exit 2; }
if [ $fix -eq 1 ]; then
    "$CLANG_FORMAT" --style="file:$top/.clang-format" -i "${files[@]}" || exit 1
    echo "format: rewrote ${#files[@]} files in $*"
    exit 0
fi
bad=0
for f in "${files[@]}"; do
    out=$("$CLANG_FORMAT" --style="file:$top/.clang-format" "$f") || { echo "format: $f: clang-format failed"; bad=1; continue; }
    if ! cmp -s "$f" <(printf '%s\n' "$out"); then echo "format: $f differs"; bad=1; fi
done
if [ $bad -ne 0 ]; then echo "format: run make format (or: $0 --fix $*)"; exit 1; fi
echo "format: ok (${#files[@]} files)"
