#!/usr/bin/env bash
# bench/streams.sh: the streams benchmark of issue #15 item 6 — durable publish (batch 1 and
# $BATCH) and fan-out (1 publisher; 1 and 4 consumer groups, each acking) on ringq's Streams
# service, Redis Streams (XADD / XREADGROUP / XACK) and NATS JetStream (durable pull consumers),
# side by side in one run, all driven by $BUILD/ringq-bench (its publish and fanout scenarios).
# `make bench` runs it after bench/suite_bench.sh.
#
# Each system runs in two columns (bench/bench_lib.sh server_argv, the same command lines as
# bench/suite_bench.sh):
#   durable  ringqd --fsync always | redis appendonly yes, appendfsync always | JetStream file
#            storage in a `chattr +S` store directory (nats-server 2.9 has no fsync-per-write
#            setting: its jetstream block rejects sync_interval, which came in 2.10; with +S every
#            file it creates there is written synchronously, so the PubAck follows the data
#            reaching the disk; n/a where the filesystem refuses +S)
#   fast     ringqd --fsync never | redis appendonly yes, appendfsync no | JetStream file storage,
#            2.9 defaults (each message written to the OS before the PubAck, fsync every 2 min)
# Systems: ringq (its producers on PublishStream, rq_pub_stream), ringq-unary (the same server,
# each publish one unary Publish call: rq_publish_async), redis, jetstream.
# Groups (x = producer connections x operations in flight each):
#   publish-b1   publish only, batch 1, $PUB_POINT
#   publish-b64  publish only, batch $BATCH, $PUB_BATCH_POINT
#   fanout-g1    1 publisher connection ($FANOUT_INFLIGHT batch-1 publishes in flight), 1 consumer
#                group of $FANOUT_WORKERS consumer connection(s), every message acked
#   fanout-g4    the same with 4 groups: every message is delivered to and acked by each group
#   open         fan-out to 1 group, open loop at half of that system's fanout-g1 throughput in
#                that column: publish-to-deliver latency from the scheduled send time
# The ringq columns run when the server answers ringq.v1.Streams/Publish with anything but
# UNIMPLEMENTED and ringq-bench has its ringq streams driver (the hook: rb_drv_ringq_streams in
# bench/rb_driver.h); otherwise they say "not yet run" and why.
#
# Output: bench/results/streams-<YYYY-MM-DD>.md (NAME= to change) and a directory of the same
# name with raw/*.json, runs.tsv and meta.tsv; bench/streams_report.py writes the tables, the
# ratios ringq ÷ peer and the issue's targets.
#   bash bench/streams.sh                         # ~10 min with the defaults
#   QUICK=1 bash bench/streams.sh                 # one 1 s run per point
#   SYSTEMS="redis jetstream" GROUPS_RUN="fanout-g1 open" bash bench/streams.sh
# Knobs: QUICK, REPS (3), WARMUP_S (1), DURATION_S (5), SIZE (100), BATCH (64), PUB_POINT (4x16),
# PUB_BATCH_POINT (4x4), FANOUT_INFLIGHT (64), FANOUT_WORKERS (1), CREDITS (256), SYSTEMS,
# GROUPS_RUN, COLUMNS (durable fast), SERVER_CPU (0), CLIENT_CPU (1), BENCH_DIR, RESULTS, NAME,
# NOTE (a sentence for the report's header).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

# Servers, runs and the shared prologue: bench/bench_lib.sh.
. bench/bench_lib.sh
SETTINGS=(QUICK BUILD SERVER_CPU CLIENT_CPU BENCH_DIR REPS WARMUP_S DURATION_S SIZE BATCH PUB_POINT
    PUB_BATCH_POINT FANOUT_INFLIGHT FANOUT_WORKERS CREDITS SYSTEMS GROUPS_RUN COLUMNS RINGQ_BENCH
    NAME RESULTS NOTE)
bench_cmdline bench/streams.sh "$@"

BUILD=${BUILD:-build}
PY=/usr/bin/python3
QUICK=${QUICK:-0}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
SIZE=${SIZE:-100}
BATCH=${BATCH:-64}
PUB_POINT=${PUB_POINT:-4x16}
PUB_BATCH_POINT=${PUB_BATCH_POINT:-4x4}
FANOUT_INFLIGHT=${FANOUT_INFLIGHT:-64}
FANOUT_WORKERS=${FANOUT_WORKERS:-1}
CREDITS=${CREDITS:-256}
SYSTEMS=${SYSTEMS:-ringq ringq-unary redis jetstream}
GROUPS_RUN=${GROUPS_RUN:-publish-b1 publish-b64 fanout-g1 fanout-g4 open}
COLUMNS=${COLUMNS:-durable fast}
if [ "$QUICK" = 1 ]; then
    REPS=${REPS:-1}
    WARMUP_S=${WARMUP_S:-0.5}
    DURATION_S=${DURATION_S:-1}
else
    REPS=${REPS:-3}
    WARMUP_S=${WARMUP_S:-1}
    DURATION_S=${DURATION_S:-5}
fi
START_TIMEOUT_S=30
NAME=${NAME:-streams-$(date +%Y-%m-%d)$([ "$QUICK" = 1 ] && echo -quick)}
RESULTS=${RESULTS:-bench/results}
OUT_MD=$RESULTS/$NAME.md
OUT_DIR=$RESULTS/$NAME
RINGQD=$BUILD/ringqd
RINGQ_BENCH=${RINGQ_BENCH:-$BUILD/ringq-bench}
GREETER=
GREETER_OK=no

log() { echo "streams: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# --- prerequisites: every binary of a system asked for, or a clear failure ---------------------
bench_require
need_peer() { # need_peer BINARY PACKAGE SYSTEM WHAT
    command -v "$1" >/dev/null && return 0
    die "missing $1 ($4): run \`make deps\` (or sudo apt-get install -y $2), or leave $3" \
        "out of SYSTEMS"
}
for sys in $SYSTEMS; do
    case $sys in
    ringq | ringq-unary) ;;
    redis) need_peer redis-server redis-server redis "the Redis Streams peer" ;;
    jetstream) need_peer nats-server nats-server jetstream "the NATS JetStream peer" ;;
    *) die "unknown system '$sys' in SYSTEMS (ringq, ringq-unary, redis, jetstream)" ;;
    esac
done

bench_begin ringq-streams

driver_of() { echo "$1"; }
NRUN=0
T_START=$(date +%s)
RUN_TMO=$((${WARMUP_S%.*} + ${DURATION_S%.*} + 120))
wants() { [[ " $GROUPS_RUN " == *" $1 "* ]]; }

# --- the ringq side: present only when the server has Streams and ringq-bench its driver --------
# ringq_na: why the ringq columns cannot run ("" when they can).
ringq_na() {
    local out
    out=$("$RINGQ_BENCH" publish --system ringq --addr 127.0.0.1:1 --warmup 0 --duration 0.001 \
        --quiet 2>/dev/null)
    if grep -q '"driver not built' <<<"$out"; then
        echo "not yet run: ringq-bench has no ringq streams driver yet (bench/rb_drv_ringq_streams.c, the hook in bench/rb_driver.h)"
        return
    fi
    start_server ringq fast || {
        echo "not yet run: ringqd did not start"
        return
    }
    out=$("$PY" - "$ADDR" <<'PYEOF'
import sys
import grpc  # Debian python3-grpcio
with grpc.insecure_channel(sys.argv[1]) as ch:
    publish = ch.unary_unary("/ringq.v1.Streams/Publish", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    try:
        publish(b"", timeout=5)
        print("present")
    except grpc.RpcError as e:
        print("absent" if e.code() == grpc.StatusCode.UNIMPLEMENTED else "present")
PYEOF
    )
    stop_server
    [ "$out" = present ] || echo "not yet run: ringqd answers ringq.v1.Streams/Publish with UNIMPLEMENTED (the Streams service is not in this build)"
}

# --- runs ------------------------------------------------------------------------------------------
run_publish() { # run_publish GROUP SYSTEM COLUMN BATCH POINT
    local c i
    c=$(conns_of "$5"); i=$(infl_of "$5")
    bench_point "$1" "$2" "$3" publish $((c * i)) "$RUN_TMO" -- --batch "$4" --conns "$c" \
        --inflight "$i"
}
run_fanout() { # run_fanout GROUP SYSTEM COLUMN NGROUPS [extra ringq-bench args]
    local group=$1 sys=$2 col=$3 g=$4
    shift 4
    bench_point "$group" "$sys" "$col" fanout "$g" "$RUN_TMO" -- --batch 1 --conns 1 \
        --inflight "$FANOUT_INFLIGHT" --groups "$g" --workers "$FANOUT_WORKERS" \
        --credits "$CREDITS" "$@"
}
run_open() { # run_open SYSTEM COLUMN: half of that system's fanout-g1 peak in that column
    local peak rate
    peak=$("$PY" bench/streams_report.py peak "$OUT_DIR" fanout-g1 "$1" "$2")
    meta "open.peak.$1.$2" "$peak"
    if [ "${peak:-0}" = 0 ]; then
        log "open loop ($1, $2): no fanout-g1 result; skipped"
        return
    fi
    rate=$((peak / 2))
    meta "open.rate.$1.$2" "$rate"
    run_fanout open "$1" "$2" 1 --rate "$rate"
}

# --- machine and versions ------------------------------------------------------------------------
bench_meta_machine
[ -n "${NOTE:-}" ] && meta note "$NOTE"
meta params "payload $SIZE bytes; warm-up $WARMUP_S s, $DURATION_S s measured, $REPS run(s) per point (median by throughput); publish-b1 at $PUB_POINT, publish-b$BATCH at $PUB_BATCH_POINT (connections x in flight); fan-out: 1 publisher connection with $FANOUT_INFLIGHT batch-1 publishes in flight, $FANOUT_WORKERS consumer connection(s) per group with $CREDITS credits each"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for sys in ringq ringq-unary redis jetstream; do
    for col in durable fast; do
        server_argv "$sys" "$col" PORT DIR || continue
        pre=
        [ "$sys/$col" = jetstream/durable ] && pre="chattr +S DIR/data && "
        meta "server.$sys.$col" "${pre}taskset -c $SERVER_CPU $(printf '%q ' "${SARGV[@]}")"
    done
done

RINGQ_NA=
[[ " $SYSTEMS " == *" ringq"* ]] && RINGQ_NA=$(ringq_na)
[ -n "$RINGQ_NA" ] && log "ringq: $RINGQ_NA"

# --- the matrix ----------------------------------------------------------------------------------
log "results in $OUT_DIR; data directories under $TMP"
for col in $COLUMNS; do
    for sys in $SYSTEMS; do
        why=$(na_reason "$sys" "$col")
        [[ $sys == ringq* ]] && [ -n "$RINGQ_NA" ] && why=$RINGQ_NA
        if [ -n "$why" ]; then
            meta "na.$sys.$col" "$why"
            log "$sys ($col): $why"
            continue
        fi
        wants publish-b1 && run_publish publish-b1 "$sys" "$col" 1 "$PUB_POINT"
        wants publish-b64 && run_publish publish-b64 "$sys" "$col" "$BATCH" "$PUB_BATCH_POINT"
        wants fanout-g1 && run_fanout fanout-g1 "$sys" "$col" 1
        wants fanout-g4 && run_fanout fanout-g4 "$sys" "$col" 4
        wants open && run_open "$sys" "$col"
    done
done

meta load "before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; the machine may be shared)"
meta elapsed "$(($(date +%s) - T_START)) s, $NRUN runs"
"$PY" bench/streams_report.py report "$OUT_DIR" "$OUT_MD" || die "streams_report.py failed"
log "wrote $OUT_MD and $OUT_DIR/ ($NRUN runs, $(($(date +%s) - T_START)) s)"
