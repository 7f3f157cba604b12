#!/usr/bin/env bash
# bench/zc_threshold.sh: where zero-copy sends start to pay (ringqd --send-zc-min-bytes). For
# each payload size, a fresh `ringqd --threads 1 --fsync never` pinned to CPU 0 is preloaded and
# drained by ringq-bench (Work streams, CPU 1; its preload sends 64 tasks per Enqueue, hence
# the 16 MiB message limit), once with zero-copy sends forced on
# (--send-zc-min-bytes 0) and once off (4294967295), runs interleaved.
#   [RINGQD=build/ringqd] [BENCH=build/ringq-bench] [SIZES="1024 4096 16384 65536"]
#   [REPS=3] [TOTAL_MB=128] bash bench/zc_threshold.sh
# Prints: size, zc on/off, tasks/s and payload MB/s of the drain. Needs 2 CPUs.
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
RINGQD=${RINGQD:-build/ringqd}
BENCH=${BENCH:-build/ringq-bench}
SIZES=${SIZES:-"1024 4096 16384 65536"}
REPS=${REPS:-3}
TOTAL_MB=${TOTAL_MB:-128}
OUT=$(mktemp -d /tmp/zc-threshold.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for rep in $(seq "$REPS"); do
    for size in $SIZES; do
        n=$((TOTAL_MB * 1048576 / size))
        [ "$n" -gt 100000 ] && n=100000
        for zc in on off; do
            [ "$zc" = on ] && min=0 || min=4294967295
            d=$OUT/run
            ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn \
                --fsync never --send-zc-min-bytes "$min" --max-message-bytes 16777216 || exit 1
            json=$OUT/$size.$zc.r$rep.json
            taskset -c 1 "$BENCH" drain --system ringq --size "$size" --preload "$n" \
                --workers 2 --credits 256 --quiet --addr "127.0.0.1:$RINGQD_PORT" \
                --json "$json" >"$OUT/bench.log" 2>&1
            rc=$?
            echo "size $size zc $zc r$rep rc=$rc $(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); t = r.get("tasks_per_s", 0)
print("%.0f tasks/s %.1f MB/s" % (t, t * int(sys.argv[2]) / 1e6))' "$json" "$size" 2>&1)"
            ringqd_stop
            rm -rf "$d"
        done
    done
done
