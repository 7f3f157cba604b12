#!/bin/bash
# bench/report.py split: regenerate committed suite reports from their raw results (a copy of each
# results directory under OUT, since the report writes its plot data beside the runs) and keep
# the Markdown, gnuplot scripts and plot data for a diff before/after.
# Usage (repository root): regen_reports.sh OUT
set -eu
OUT=$1; mkdir -p "$OUT"
for src in bench/results/session11-2026-12-07/final/final-suite \
           bench/results/report-2026-12-08-s12/floor-suite \
           bench/results/report-2026-12-08-s12/floor-rep2 \
           bench/results/commit2-2026-12-08-s12/suite/s1-main; do
    [ -d "$src" ] || continue
    n=$(echo "$src" | tr / _)
    rm -rf "$OUT/$n"; cp -a "$src" "$OUT/$n"
    /usr/bin/python3 bench/report.py report "$OUT/$n" "$OUT/$n.md"
    /usr/bin/python3 bench/report.py peak "$OUT/$n" e2e-b1 ringq durable > "$OUT/$n.peak"
    rm -f "$OUT/$n"/*.svg  # gnuplot's SVGs: not report.py's output
done
# bench/streams_report.py imports report.py (median, formats, verdict): one streams report too.
src=bench/results/session11-2026-12-07/final/final-streams
n=$(echo "$src" | tr / _)
rm -rf "$OUT/$n"; cp -a "$src" "$OUT/$n"
/usr/bin/python3 bench/streams_report.py report "$OUT/$n" "$OUT/$n.md"
rm -f "$OUT/$n"/*.svg
