#!/bin/bash
# issue 19 item 4: the target columns in chunks, each under the shared bench lock
cd /work/wt/tail
export NAME=tail-targets-2026-12-07 RESULTS=bench/results UPDATE_README=0 KEEP_RESULTS=1 REPS=3 \
    WARMUP_S=1 DURATION_S=5 E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=60
run() { echo "== chunk $* $(date -u +%T) load $(cat /proc/loadavg)"; env "$@" flock /work/bench.lock bash bench/suite_bench.sh; echo "== done rc $? $(date -u +%T)"; }
KEEP_RESULTS=0 run COLUMNS=durable GROUPS_RUN=e2e-b1 SYSTEMS="ringq ringq-stream redis"
run COLUMNS=durable GROUPS_RUN="open stall" SYSTEMS=ringq
run COLUMNS=fast GROUPS_RUN=e2e-b1 SYSTEMS="ringq ringq-stream redis"
run COLUMNS=fast GROUPS_RUN="open stall" SYSTEMS=ringq
