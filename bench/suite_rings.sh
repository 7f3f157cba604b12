#!/usr/bin/env bash
# Ring and mailbox benchmarks (worker/): SPSC and MPMC throughput, mailbox request/reply round
# trip, each next to a pthread mutex+condvar queue and an eventfd wake-up measured in the same
# run. Appends one section per run to bench/results/rings-<date>.md with the exact command,
# the machine and its load (the machine is shared: compare ratios within one run).
#   bash bench/suite_rings.sh [--quick]     (BUILD=dir to use another build directory)
set -eu
BUILD=${BUILD:-build}
BIN="$BUILD/aux/bench/ring_bench"
[ -x "$BIN" ] || make BUILD="$BUILD" "$BIN" >/dev/null
out="bench/results/rings-$(date -u +%Y-%m-%d).md"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
table=$("$BIN" "$@")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ ! -e "$out" ]; then
    {
        echo "# Rings and mailbox benchmarks"
        echo
        echo "Produced by \`bench/suite_rings.sh\` (source: bench/ring_bench.c). Throughput figures are"
        echo "medians of 5 runs, threads pinned to CPUs 0 and 1; round trips are p50 / p99 over"
        echo "20000 sequential request/reply pairs. Ratios compare figures from the same run."
        echo "Goals (issue): SPSC >= 20x the mutex queue; mailbox round trip p50 < 5 us on an idle"
        echo "machine."
    } > "$out"
fi
{
    echo
    echo "## Run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- command: \`BUILD=$BUILD bash bench/suite_rings.sh $*\` (runs \`$BIN $*\`) at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), Linux $(uname -r)"
    echo "- load average (1/5/15 min) before: $load_before; after: $load_after"
    echo
    echo "$table"
} >> "$out"
echo "$table"
echo "appended to $out"
