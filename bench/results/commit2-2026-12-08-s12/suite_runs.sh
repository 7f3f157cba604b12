#!/usr/bin/env bash
# suite_runs.sh: main's durable e2e suite rows (ringq, ringq-stream; x = 16, 64, 256) for main
# and this branch, interleaved main, new, new, main, each run its own hold of the bench lock.
set -u
cd "$(dirname "$0")/../../.."
R=bench/results/commit2-2026-12-08-s12
i=${START:-0}
for v in ${ORDER:-main new new main}; do
    i=$((i + 1))
    echo "# run $i $v $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    flock /work/bench.lock env BUILD=../../../tmp/commit2-s12/b$v SYSTEMS="ringq ringq-stream" \
        GROUPS_RUN=e2e-b1 COLUMNS=durable E2E_POINTS="4x4 4x16 4x64" REPS=1 UPDATE_README=0 \
        RESULTS=/tmp/commit2-s12/suite NAME=s$i-$v bash bench/suite_bench.sh > /tmp/commit2-s12/suite-s$i-$v.log 2>&1
    echo "# rc=$? $(date -u +%FT%TZ)"
done
