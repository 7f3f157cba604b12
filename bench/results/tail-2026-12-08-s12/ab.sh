#!/usr/bin/env bash
# Session 12 (s12-tail): open-loop points under --fsync never, ringqd binaries interleaved in one
# locked run (order reversed in even rounds), fixed offered rates (session 11's final suite: half
# of its peaks), the suite's shape (8 conns x 64 in flight, 4 workers x 256 credits, 1 s warm-up
# + DUR s). Each run: ringqd on CPU 0 with the turn trace at 2 ms, ringq-bench on CPU 1, and
# `perf record -e sched:sched_switch -e sched:sched_wakeup -a` (who holds the server's CPU; cheap, no stacks) into
# /tmp (PERF=0: none). Keeps JSON, /metrics, the log. Run under `flock /work/bench.lock`.
#   ab.sh OUTDIR "A=/path/ringqd B=/path/ringqd" "SIZE:RATE[:fanout] ..."  (fanout: the streams
#   open point of bench/streams.sh instead of the queue's e2e)
set -u
cd "$(dirname "$0")/../../.."
OUT=$1 BINS=$2 POINTS=$3
BENCH=${BENCH:-/tmp/s12tail/ringq-bench}
DUR=${DUR:-5} PERF=${PERF:-1} PDIR=${PDIR:-/tmp/s12tail/perf}
mkdir -p "$OUT" "$PDIR"
run() { # run TAG BIN SIZE RATE
    local tag=$1 bin=$2 size=$3 rate=$4 T PID ADDR PP=
    T=$(mktemp -d /tmp/s12tail-ab.XXXXXX); mkdir -p "$T/d"
    echo "$tag start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
    RINGQ_TURN_TRACE_MS=2 taskset -c 0 "$bin" --threads 1 --port 0 --port-file "$T/port" \
        --data "$T/d" --fsync never --log-level warn >"$OUT/$tag.log" 2>&1 &
    PID=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    ADDR=127.0.0.1:$(cat "$T/port")
    /usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || { kill "$PID"; return; }
    if [ "$PERF" = 1 ]; then
        perf record -q -e sched:sched_switch -e sched:sched_wakeup -a -o "$PDIR/$tag.data" -- sleep $((DUR + 1)) >/dev/null 2>&1 &
        PP=$!
    fi
    case "$tag" in *-moved-*) if [ -n "${MOVE_SYNC_CPU:-}" ]; then
        # Experiment: rt_bg's threads (ringq-bg, ringq-bg-sync) moved to MOVE_SYNC_CPU as soon as
        # both exist (each starts with its lane's first job); the poller itself runs on CPU 1,
        # every 50 ms, for at most 3 s.
        taskset -c 1 bash -c 'for _ in $(seq 60); do
              n=0
              for c in /proc/'"$PID"'/task/*/comm; do
                  case "$(cat "$c" 2>/dev/null)" in ringq-bg*)
                      t=${c%/comm}; taskset -p -c '"$MOVE_SYNC_CPU"' "${t##*/}" >/dev/null 2>&1 && n=$((n + 1)) ;;
                  esac
              done
              [ "$n" -ge 2 ] && break
              sleep 0.05
          done' &
    fi ;; esac
    if [ "${kind:-e2e}" = fanout ]; then # bench/streams.sh's open point: 1 publisher x 64, 1 consumer x 256
        taskset -c 1 "$BENCH" fanout --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" \
            --quiet --size "$size" --batch 1 --conns 1 --inflight 64 --groups 1 --workers 1 \
            --credits 256 --rate "$rate" --server-pid "$PID" --json "$OUT/$tag.json" >/dev/null 2>>"$OUT/errors.txt"
    else
    taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" \
        --quiet --size "$size" --batch 1 --workers 4 --credits 256 --rate "$rate" --conns 8 \
        --inflight 64 --server-pid "$PID" --json "$OUT/$tag.json" >/dev/null 2>>"$OUT/errors.txt"
    fi
    curl -s "http://$ADDR/metrics" >"$OUT/$tag.metrics"
    [ -n "$PP" ] && wait "$PP"
    kill "$PID"; wait "$PID" 2>/dev/null
    rm -rf "$T"
}
for r in ${ROUNDS:-1 2}; do
    order=$BINS
    [ $((r % 2)) = 0 ] && order=$(echo "$BINS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for p in $POINTS; do
        IFS=: read -r size rate kind <<<"$p"
        for b in $order; do
            run "${kind:+$kind-}s$size-${b%%=*}-r$r" "${b#*=}" "$size" "$rate"
        done
    done
done
echo "end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
