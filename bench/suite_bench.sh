#!/usr/bin/env bash
# bench/suite_bench.sh: ringq against beanstalkd, Redis and NATS JetStream (task queue) and against
# Debian's C++ gRPC (unary RPC), all driven by one load generator, $BUILD/ringq-bench. `make bench`
# runs it; `make bench-quick` runs it with QUICK=1 (one short run per point, ~1-2 minutes).
#
# Each system runs in two configurations:
#   durable  ringqd --fsync always | beanstalkd -b DIR -f 0 | redis appendonly yes, appendfsync
#            always | JetStream: file storage in a store directory marked `chattr +S` (nats-server
#            2.9 has no fsync-per-write setting: its jetstream block rejects sync_interval, which
#            arrived in 2.10; with +S every file it creates there is written synchronously, so
#            the PubAck follows the data reaching the disk; n/a where the filesystem refuses +S)
#   fast     ringqd --fsync never | beanstalkd -b DIR -F (binlog, never fsync) | redis appendonly
#            yes, appendfsync no | JetStream file storage, 2.9 default (writes each message to the
#            OS at once, fsyncs on its own timer)
# Scenarios (x = concurrency; CxI = C connections with I requests in flight each):
#   e2e-b1      e2e closed loop, batch 1, at $E2E_POINTS, $E2E_WORKERS workers
#   e2e-batch   e2e closed loop, batch $BATCH, at $E2E_BATCH_POINTS
#   open        ringq only: e2e open loop at half of ringq's peak, at each payload size of
#               $OPEN_SIZES (groups open-s<N>; "p99 enqueue-to-start at half of peak load"). The
#               peak at $SIZE is ringq's best e2e-b1 in that column; at any other size a closed
#               loop at $OPEN_PEAK_POINTS with that payload measures it first (groups peak-s<N>).
#               Each run's /metrics (stage, loop-turn and fdatasync histograms) is saved beside
#               its JSON twice: when ringq-bench's warm-up ends (ID.metrics0) and after the run
#               (ID.metrics); the report splits each p99 and p99.9 over the window between them
#               (bench/report_tail.py: the generator, the server's stages, outside the server).
#   open-floor  at each open-s<N> row's offered rate (same generator, connections and in-flight
#               cap; groups floor-s<N>), requests that do nothing: ringqd's
#               grpc.health.v1.Health/Check (system ringq-health: no queue, no disk), Redis' PING
#               (redis-ping) and Redis' own e2e path (LPUSH, LMOVE, LREM) with N-byte payloads
#               (redis, that column's appendfsync). The p99 this machine gives a do-nothing request
#               at that rate (no workers, no payload, 2 messages where an e2e task has >= 4) is a
#               lower bound of what the machine costs the open loop: the report puts it beside
#               each open row, and says so when a floor run's --rate is not that row's.
#               Needs the open rates (the open group in this run or an earlier chunk).
#   stall       ringq only: one $STALL_S s open-loop run at half of peak ($SIZE) per column, then
#               the shard loop-turn histograms over its window (the same two scrapes): turns over
#               5 ms, the largest, and how many were on CPU or waiting for one
#   enqueue-b1  enqueue only, batch 1, at $ENQ_POINTS;  enqueue-batch: batch $BATCH at $ENQ_BATCH_POINTS
#   drain       $DRAIN_PRELOAD tasks preloaded, then drained by $DRAIN_WORKERS workers
#   rpc         ringqd --threads 1 vs bench/peers/greeter_server (--api sync and callback) at $RPC_POINTS
# System ringq-stream is ringqd with ringq-bench's producers on Queue.EnqueueStream (one task per
# message, no per-call HTTP/2 cost); it runs e2e-b1 only, beside ringq (the unary Enqueue path).
# Every run: a fresh server process with a fresh data directory under $BENCH_DIR (default /tmp,
# i.e. the disk of /tmp), on a free port, pinned to CPU $SERVER_CPU; it must answer its own
# protocol (bench/bench_ready.py polls it: /healthz, gRPC health, stats, PING, $JS.API.INFO) before
# ringq-bench starts, pinned to CPU $CLIENT_CPU with --threads 1. ringq-bench warms up for
# $WARMUP_S s and measures $DURATION_S s. $REPS runs per point; bench/report.py keeps the median by
# throughput (with that run's latencies), writes the tables, the issue's targets with MET / NOT
# MET, what limits each e2e-b1 throughput target (every point's CPU per task of the server and of
# ringq-bench, the pinned CPUs' load, ringqd's fdatasyncs from the /metrics saved after each
# e2e-b1 run: the ceiling of each side and which binds), and gnuplot SVGs.
#
# Output: bench/results/<YYYY-MM-DD>-<host>.md (QUICK: ...-quick.md) and a directory of the same
# name with raw/*.json (every run), runs.tsv, meta.tsv, the plots and their data. A full run (not
# QUICK) also points README.md's "Benchmarks" link at the new file (UPDATE_README=0 to skip).
#
# Peers: beanstalkd, redis-server, nats-server and gnuplot come from Debian; run as root the
# suite installs the missing ones (apt-get install -y), otherwise it says what to run and skips
# them. Run from the repository root after `make all` and ringq-bench are built:
#   bash bench/suite_bench.sh                 # the full suite (~40 min with the defaults)
#   QUICK=1 bash bench/suite_bench.sh         # smoke test
#   SYSTEMS="ringq redis" GROUPS_RUN="e2e-b1 open" bash bench/suite_bench.sh   # a subset
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

# Servers, runs and the shared prologue: bench/bench_lib.sh.
. bench/bench_lib.sh
# The exact command, with the settings given in the environment.
SETTINGS=(QUICK BUILD SERVER_CPU CLIENT_CPU BENCH_DIR REPS WARMUP_S DURATION_S SIZE SYSTEMS
    GROUPS_RUN E2E_POINTS E2E_BATCH_POINTS E2E_WORKERS BATCH ENQ_POINTS ENQ_BATCH_POINTS
    DRAIN_PRELOAD DRAIN_WORKERS RPC_POINTS OPEN_POINT OPEN_SIZES OPEN_PEAK_POINTS STALL_S CDF_X RINGQ_BENCH NAME RESULTS UPDATE_README
    COLUMNS KEEP_RESULTS)
bench_cmdline bench/suite_bench.sh "$@"

BUILD=${BUILD:-build}
PY=/usr/bin/python3
QUICK=${QUICK:-0}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
SIZE=${SIZE:-100}
BATCH=${BATCH:-64}
E2E_WORKERS=${E2E_WORKERS:-4}
DRAIN_WORKERS=${DRAIN_WORKERS:-4}
SYSTEMS=${SYSTEMS:-ringq ringq-stream beanstalkd redis jetstream}
COLUMNS=${COLUMNS:-durable fast}
# KEEP_RESULTS=1: add to NAME's runs instead of starting over (a long matrix in chunks of a few
# minutes, e.g. one COLUMNS and GROUPS_RUN at a time, each under `flock /work/bench.lock`); the
# report covers every run so far.
KEEP_RESULTS=${KEEP_RESULTS:-0}
if [ "$QUICK" = 1 ]; then
    GROUPS_RUN=${GROUPS_RUN:-e2e-b1 e2e-batch open open-floor stall enqueue-batch drain rpc}
    REPS=${REPS:-1}
    WARMUP_S=${WARMUP_S:-0.5}
    DURATION_S=${DURATION_S:-1}
    E2E_POINTS=${E2E_POINTS:-1x1 4x16}
    E2E_BATCH_POINTS=${E2E_BATCH_POINTS:-4x1}
    ENQ_POINTS=${ENQ_POINTS:-4x16}
    ENQ_BATCH_POINTS=${ENQ_BATCH_POINTS:-4x1}
    DRAIN_PRELOAD=${DRAIN_PRELOAD:-5000}
    RPC_POINTS=${RPC_POINTS:-4x16}
    STALL_S=${STALL_S:-5}
else
    GROUPS_RUN=${GROUPS_RUN:-e2e-b1 e2e-batch open open-floor stall enqueue-b1 enqueue-batch drain rpc}
    REPS=${REPS:-3}
    WARMUP_S=${WARMUP_S:-1}
    DURATION_S=${DURATION_S:-5}
    E2E_POINTS=${E2E_POINTS:-1x1 4x4 4x16 4x64}
    E2E_BATCH_POINTS=${E2E_BATCH_POINTS:-1x1 4x4}
    ENQ_POINTS=${ENQ_POINTS:-4x16}
    ENQ_BATCH_POINTS=${ENQ_BATCH_POINTS:-4x4}
    DRAIN_PRELOAD=${DRAIN_PRELOAD:-100000}
    RPC_POINTS=${RPC_POINTS:-1x1 4x16 16x32}
    STALL_S=${STALL_S:-60} # the issue's bound: no shard stall over 5 ms in a 60 s run
fi
OPEN_POINT=${OPEN_POINT:-8x64}   # open loop: connections x cap on requests in flight each
OPEN_SIZES=${OPEN_SIZES:-16 100 2048}     # open loop payload sizes, bytes (issue 19: 16 B, 100 B, 2 KiB)
OPEN_PEAK_POINTS=${OPEN_PEAK_POINTS:-4x64} # closed-loop points that find the peak at other sizes
CDF_X=${CDF_X:-}                 # e2e-b1 point whose latency CDFs are plotted (default: 4x16 or the last)
FSYNC_COUNT=${FSYNC_COUNT:-$([ "$QUICK" = 1 ] && echo 300 || echo 2000)}
START_TIMEOUT_S=30
NAME=${NAME:-$(date +%Y-%m-%d)-$(hostname -s)$([ "$QUICK" = 1 ] && echo -quick)}
RESULTS=${RESULTS:-bench/results}
OUT_MD=$RESULTS/$NAME.md
OUT_DIR=$RESULTS/$NAME
UPDATE_README=${UPDATE_README:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}

RINGQD=$BUILD/ringqd
RINGQ_BENCH=${RINGQ_BENCH:-$BUILD/ringq-bench}
GREETER=$BUILD/peers/greeter_server
QUEUE_BENCH=$BUILD/aux/bench/queue_bench   # its "fsync DIR N" mode measures raw fdatasync

log() { echo "suite_bench: $*" >&2; }

# --- prerequisites ------------------------------------------------------------------------------
bench_require

# Peers from Debian: installed here when root, else the command to run is printed and the
# missing systems are reported as not installed.
declare -A PKG_OF=([beanstalkd]=beanstalkd [redis-server]=redis-server [nats-server]=nats-server
    [gnuplot]=gnuplot-nox)
missing=()
for b in beanstalkd redis-server nats-server gnuplot; do
    command -v "$b" >/dev/null || missing+=("${PKG_OF[$b]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; } ||
            log "apt-get install failed; going on without ${missing[*]}"
    else
        log "not root: to compare with every peer run  sudo apt-get install -y ${missing[*]}"
        log "going on without them"
    fi
fi
GREETER_OK=no
if make -s -C bench/peers PEERS_OUT="$(realpath -m "$BUILD/peers")" >&2 && [ -x "$GREETER" ]; then
    GREETER_OK=yes
else
    log "cannot build bench/peers (libgrpc++-dev, protobuf-compiler-grpc: make deps): no C++ gRPC peer"
fi

# --- servers and runs: start_server, stop_server, bench_point, ... (bench/bench_lib.sh) ----------
bench_begin ringq-suite-bench

# The rpc group drives ringqd and the C++ peers with the same plain gRPC driver and method.
# The open floor: ringqd's Health/Check through the same driver; Redis' PING through its own.
driver_of() { case $1 in grpc-* | ringq-health) echo grpc ;; redis-ping) echo redis ;; *) echo "$1" ;; esac; }

# --- runs ----------------------------------------------------------------------------------------
NRUN=0
T_START=$(date +%s)

credits_for() { # credits_for C I B: enough credits that workers never starve producers
    local c=$(($1 * $2 * $3 * 2 / E2E_WORKERS))
    [ "$c" -lt 256 ] && c=256
    [ "$c" -gt 4096 ] && c=4096
    echo "$c"
}
wants() { [[ " $GROUPS_RUN " == *" $1 "* ]]; }
RUN_TMO=$((${WARMUP_S%.*} + ${DURATION_S%.*} + 120))

run_e2e() { # run_e2e GROUP SYSTEM COLUMN BATCH POINTS
    local p c i
    for p in $5; do
        c=$(conns_of "$p"); i=$(infl_of "$p")
        bench_point "$1" "$2" "$3" e2e $((c * i)) "$RUN_TMO" -- --batch "$4" --conns "$c" \
            --inflight "$i" --workers "$E2E_WORKERS" --credits "$(credits_for "$c" "$i" "$4")"
    done
}
run_enqueue() { # run_enqueue GROUP SYSTEM COLUMN BATCH POINTS
    local p c i
    for p in $5; do
        c=$(conns_of "$p"); i=$(infl_of "$p")
        bench_point "$1" "$2" "$3" enqueue $((c * i)) "$RUN_TMO" -- --batch "$4" --conns "$c" --inflight "$i"
    done
}
run_drain() {
    # The preload itself happens before the measured phase: give slow durable peers time for it.
    bench_point drain "$1" "$2" drain "$DRAIN_WORKERS" $((RUN_TMO + 600)) -- --preload "$DRAIN_PRELOAD" \
        --workers "$DRAIN_WORKERS" --credits 256 --batch "$BATCH" --conns 4 --inflight 4
}
# scrape_metrics FILE: the running ringqd's /metrics (ADDR) into FILE, through FILE.tmp renamed
# on success only: a failed or cut-short scrape leaves no FILE (the report then says "whole
# life" instead of reading an empty window start as one).
scrape_metrics() {
    local ok=0
    if have curl; then
        curl -sf --max-time 10 -o "$1.tmp" "http://$ADDR/metrics" || ok=1
    else
        "$PY" -c 'import sys, urllib.request
body = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10).read()
open(sys.argv[2], "wb").write(body)' "$ADDR" "$1.tmp" 2>/dev/null || ok=1
    fi
    if [ "$ok" = 0 ] && mv -f "$1.tmp" "$1"; then
        return 0
    fi
    rm -f "$1.tmp"
    return 1
}
# save_metrics ID (bench_point's AFTER_RUN): a ringq run's /metrics, beside its JSON.
save_metrics() {
    case $sys in ringq | ringq-stream | ringq-health) ;; *) return 0 ;; esac
    scrape_metrics "$OUT_DIR/raw/$1.metrics" || log "could not read /metrics of $1"
}
# window_metrics ID (bench_point's DURING_RUN): /metrics when ringq-bench's warm-up ends, the
# measured window's start (ID.metrics0): the report takes the window's stage, loop-turn and
# fdatasync histograms as ID.metrics minus this. Timed from ringq-bench's start, so the window it
# marks also holds ringq-bench's connect and setup time (milliseconds) and, at the end, its
# teardown.
window_metrics() {
    sleep "$WARMUP_S"
    scrape_metrics "$OUT_DIR/raw/$1.metrics0" ||
        log "could not read /metrics of $1 at the window's start"
}
open_peak() { # open_peak COLUMN SIZE: ringq's e2e batch-1 peak at that payload size (0: none)
    local p c i pk
    if [ "$2" = "$SIZE" ]; then # e2e-b1 of this run (or of an earlier chunk: KEEP_RESULTS)
        pk=$("$PY" bench/report.py peak "$OUT_DIR" e2e-b1 ringq "$1")
        [ "${pk:-0}" != 0 ] && { echo "$pk"; return; }
    fi
    for p in $OPEN_PEAK_POINTS; do
        c=$(conns_of "$p"); i=$(infl_of "$p")
        bench_point "peak-s$2" ringq "$1" e2e $((c * i)) "$RUN_TMO" -- --size "$2" --batch 1 \
            --conns "$c" --inflight "$i" --workers "$E2E_WORKERS" --credits "$(credits_for "$c" "$i" 1)" >&2
    done
    "$PY" bench/report.py peak "$OUT_DIR" "peak-s$2" ringq "$1"
}
run_open() { # run_open COLUMN: ringq only, half of ringq's peak in that column, at each size
    local peak rate c i n
    c=$(conns_of "$OPEN_POINT"); i=$(infl_of "$OPEN_POINT")
    for n in $OPEN_SIZES; do
        peak=$(open_peak "$1" "$n")
        meta "open.peak.$1.s$n" "$peak"
        if [ "${peak:-0}" = 0 ]; then
            log "open loop ($1, $n B): no e2e batch-1 peak for ringq; skipped"
            continue
        fi
        rate=$((peak / 2))
        meta "open.rate.$1.s$n" "$rate"
        AFTER_RUN=save_metrics DURING_RUN=window_metrics \
            bench_point "open-s$n" ringq "$1" e2e $((c * i)) "$RUN_TMO" -- \
            --size "$n" --rate "$rate" --batch 1 --conns "$c" --inflight "$i" --workers "$E2E_WORKERS" \
            --credits "$(credits_for "$c" "$i" 1)"
    done
}
run_floor() { # run_floor COLUMN: at each open-loop row's rate, requests that do nothing
    local rate c i n why
    c=$(conns_of "$OPEN_POINT"); i=$(infl_of "$OPEN_POINT")
    why=$(na_reason redis "$1")
    for n in $OPEN_SIZES; do
        rate=$(sed -n "s/^open.rate.$1.s$n\t//p" "$META" | tail -1)
        if [ "${rate:-0}" = 0 ]; then
            log "open floor ($1, $n B): no open-loop rate (run the open group first); skipped"
            continue
        fi
        meta "floor.rate.$1.s$n" "$rate"
        AFTER_RUN=save_metrics DURING_RUN=window_metrics \
            bench_point "floor-s$n" ringq-health "$1" rpc $((c * i)) "$RUN_TMO" -- \
            --rate "$rate" --conns "$c" --inflight "$i"
        if [ -n "$why" ]; then log "open floor ($1): redis $why"; continue; fi
        bench_point "floor-s$n" redis-ping "$1" rpc $((c * i)) "$RUN_TMO" -- \
            --rate "$rate" --conns "$c" --inflight "$i"
        bench_point "floor-s$n" redis "$1" e2e $((c * i)) "$RUN_TMO" -- --size "$n" \
            --rate "$rate" --batch 1 --conns "$c" --inflight "$i" --workers "$E2E_WORKERS" \
            --credits "$(credits_for "$c" "$i" 1)"
    done
}
run_stall() { # run_stall COLUMN: one STALL_S s open-loop run, /metrics saved (loop stalls)
    local rate c i
    rate=$(sed -n "s/^open.rate.$1.s$SIZE\t//p" "$META" | tail -1)
    [ -n "$rate" ] || rate=$(($(open_peak "$1" "$SIZE") / 2))
    if [ "${rate:-0}" = 0 ]; then
        log "stall run ($1): no e2e batch-1 peak for ringq; skipped"
        return
    fi
    meta "stall.rate.$1" "$rate"
    c=$(conns_of "$OPEN_POINT"); i=$(infl_of "$OPEN_POINT")
    REPS=1 DURATION_S=$STALL_S AFTER_RUN=save_metrics DURING_RUN=window_metrics \
        bench_point stall ringq "$1" e2e $((c * i)) $((RUN_TMO + STALL_S)) -- \
        --rate "$rate" --batch 1 --conns "$c" --inflight "$i" \
        --workers "$E2E_WORKERS" --credits "$(credits_for "$c" "$i" 1)"
}

# --- machine and versions ------------------------------------------------------------------------
# fsync_json: raw fdatasync latency in the data directories' filesystem (COUNT x a 4 KiB page
# appended + fdatasync), as one JSON line: queue_bench's figure, or the same loop in Python when
# queue_bench is not built.
fsync_json() {
    if [ -x "$QUEUE_BENCH" ]; then
        "$QUEUE_BENCH" fsync "$TMP" "$FSYNC_COUNT" 2>&1 | tail -1
        return
    fi
    "$PY" - "$TMP" "$FSYNC_COUNT" <<'PYEOF'
import os, sys, time
path = os.path.join(sys.argv[1], "suite_bench.fsync.%d" % os.getpid())
n = int(sys.argv[2])
fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
page = bytearray(4096)
t0 = time.monotonic()
lat = []
for i in range(n):
    page[0] = i & 255
    t1 = time.monotonic()
    os.pwrite(fd, page, i * 4096)
    os.fdatasync(fd)
    lat.append(time.monotonic() - t1)
dt = time.monotonic() - t0
os.close(fd)
os.unlink(path)
lat.sort()
q = lambda f: lat[min(n - 1, max(0, int(f * n + 0.999999) - 1))] * 1e6
print('{"bench":"fdatasync","tool":"python","count":%d,"per_s":%.0f,"us_each":%.1f,"p50_us":%.1f,'
      '"p99_us":%.1f,"p999_us":%.1f,"max_us":%.1f}'
      % (n, n / dt, dt / n * 1e6, q(0.5), q(0.99), q(0.999), q(1.0)))
PYEOF
}
FSYNC_TOOL="\`$QUEUE_BENCH fsync DIR $FSYNC_COUNT\`"
[ -x "$QUEUE_BENCH" ] || FSYNC_TOOL="the same loop as \`queue_bench fsync\` in Python ($QUEUE_BENCH not built), $FSYNC_COUNT times"
jnum() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }

bench_meta_machine
meta bench_dir "$BENCH_DIR"
meta server_cpu "$SERVER_CPU"
meta client_cpu "$CLIENT_CPU"
meta gnuplot "$(have gnuplot && echo yes || echo no)"
meta gcc "$(${CC:-gcc} --version | head -1); liburing $(dpkg-query -W -f '${Version}' liburing2 2>/dev/null || echo '?')"
meta version.ringq "$(git rev-parse --short HEAD 2>/dev/null)"
# The commit chains the ringqd that runs keeps in flight (Q_COMMIT_CHAINS_MAX: report_limits.py's
# fdatasync ceiling), from its debug information (struct q_log's chains[]): the binary's, not the
# checkout's header. Empty without gdb or debug information: the report says unknown.
commit_chains_of() {
    have gdb || return 0
    gdb -nx -batch -ex 'ptype struct q_log' "$1" 2>/dev/null |
        sed -n 's/.*[[:space:]]chains\[\([0-9]*\)\];.*/\1/p' | head -1
}
meta ringqd.commit_chains_max "$(commit_chains_of "$RINGQD")"
have beanstalkd && meta version.beanstalkd "$(beanstalkd -v 2>&1 | head -1 | awk '{print $NF}')"
meta version.grpc "$(dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' 'libgrpc++*' 2>/dev/null | awk '$3 ~ /^ii/ {printf "%s%s %s", sep, $1, $2; sep=", "}')"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log "raw fdatasync in $TMP ($FSYNC_COUNT x 4 KiB)"
FS_BEFORE=$(fsync_json)
meta fsync.before "$FS_BEFORE"
log "fdatasync: $FS_BEFORE"

for sys in ringq beanstalkd redis jetstream grpc-sync grpc-callback; do
    for col in durable fast -; do
        server_argv "$sys" "$col" PORT DIR || continue
        scmd=$(printf '%q ' "${SARGV[@]}")
        if [ "$sys" = ringq ] && [ "$col" = - ]; then label="rpc"; else label=$col; fi
        pre=
        [ "$sys/$col" = jetstream/durable ] && pre="chattr +S DIR/data && "
        meta "server.$sys.$col" "${pre}taskset -c $SERVER_CPU $scmd  # $sys, $label"
    done
done
meta conf.ringq.durable "\`--fsync always\`: Enqueue answered after fdatasync (group commit)"
meta conf.ringq.fast "\`--fsync never\`: log written, never fsynced"
meta conf.beanstalkd.durable "\`-b DIR -f 0\`: binlog, fsync after every write"
meta conf.beanstalkd.fast "\`-b DIR -F\`: binlog, never fsync"
meta conf.redis.durable "\`--appendonly yes --appendfsync always\` (no RDB snapshots)"
meta conf.redis.fast "\`--appendonly yes --appendfsync no\` (no RDB snapshots)"
meta conf.jetstream.durable "file storage in a \`chattr +S\` store directory: every write synchronous, PubAck after the data is on disk (2.9 has no sync_interval)"
meta conf.jetstream.fast "file storage, 2.9 defaults (each message written to the OS at once, fsync on its own timer); stream created by ringq-bench"
meta conf.rpc "RPC: \`ringqd --threads 1\` against \`bench/peers/greeter_server --api sync\` and \`--api callback\` (Debian libgrpc++, grpc.health.v1.Health/Check, answers SERVING), each pinned to CPU $SERVER_CPU."
meta coldesc.durable "fsync every write"
meta coldesc.fast "no fsync per write"
for sys in ringq beanstalkd redis jetstream grpc-sync grpc-callback; do
    for col in durable fast -; do
        why=$(na_reason "$sys" "$col")
        [ -n "$why" ] && meta "na.$sys.$col" "$why"
    done
done

E2E_CREDITS_TXT="credits per worker = max(256, 2 × tasks in flight ÷ workers), at most 4096"
meta intro "Load from \`ringq-bench\` (one C generator for every system; payload $SIZE bytes; warm-up ${WARMUP_S} s, then ${DURATION_S} s measured). Every run starts the system fresh, with an empty data directory, pinned to one CPU; the generator runs on another. Throughput counts tasks acknowledged by workers (e2e, drain), tasks confirmed to producers (enqueue) or answered calls (rpc) in the measured window."
meta desc.e2e-b1 "Closed loop: C producer connections, each keeping I single-task enqueues in flight; $E2E_WORKERS worker connections take tasks and ack each one ($E2E_CREDITS_TXT)."
meta xdesc.e2e-b1 "C × I producer requests in flight (points $E2E_POINTS)"
meta desc.e2e-batch "As above with $BATCH tasks per enqueue (one RPC for ringq; pipelined commands for the peers)."
meta xdesc.e2e-batch "C × I producer batches in flight (points $E2E_BATCH_POINTS)"
for n in $OPEN_SIZES; do
    if [ "$n" = "$SIZE" ]; then pk="the best e2e batch-1 throughput ringq reached in that column (above)"
    else pk="ringq's e2e batch-1 peak with $n-byte payloads in that column (closed loop at $OPEN_PEAK_POINTS, group peak-s$n)"; fi
    meta "desc.open-s$n" "Open loop on ringq alone, $n-byte payloads: tasks sent at a fixed rate of half of $pk, from $(conns_of "$OPEN_POINT") connections (at most $(infl_of "$OPEN_POINT") in flight each), $E2E_WORKERS workers. Latency from the scheduled send time, so a late sender counts against the server."
    meta "xdesc.open-s$n" "connections × in-flight cap"
    meta "desc.peak-s$n" "Closed loop, batch 1, $n-byte payloads: finds ringq's peak for the open loop at that size."
    meta "xdesc.peak-s$n" "C × I producer requests in flight (points $OPEN_PEAK_POINTS)"
    meta "desc.floor-s$n" "The floor under open-s$n: at that row's offered rate, from the same generator with the same $(conns_of "$OPEN_POINT") connections and in-flight cap, requests that do nothing: ringqd's grpc.health.v1.Health/Check (ringq-health: no queue, no disk; that column's ringqd), Redis' PING (redis-ping), and Redis' own end-to-end path (LPUSH, LMOVE, LREM; $n-byte payloads, $E2E_WORKERS workers, that column's appendfsync). Latency from the scheduled send time: call latency for the first two, enqueue-to-start for Redis. The do-nothing requests have no workers, no payload and 2 messages each where an e2e task has at least 4: a lower bound of what the machine costs (at least this much is the machine's)."
    meta "xdesc.floor-s$n" "connections × in-flight cap"
done
meta open_sizes "$OPEN_SIZES"
desc="One $STALL_S s open-loop run on ringq at half of its $SIZE-byte peak (the open-s$SIZE rate);"
desc+=" the shard's loop-stall histogram (\`ringq_loop_stall_seconds\`: wake-up to the next wait,"
desc+=" per loop iteration) and its split of the turns of 1 ms or more into time on CPU and time"
desc+=" waiting for one (\`ringq_loop_stall_oncpu_seconds\`,"
desc+=" \`ringq_loop_stall_preempted_seconds\`) are read over the window,"
desc+=" from /metrics scraped when the warm-up ends and after the run."
meta desc.stall "$desc"
meta xdesc.stall "connections × in-flight cap"
meta stall_s "$STALL_S"
meta desc.enqueue-b1 "Producers only: C connections × I single-task enqueues in flight; the backlog grows."
meta xdesc.enqueue-b1 "C × I requests in flight (points $ENQ_POINTS)"
meta desc.enqueue-batch "Producers only, $BATCH tasks per enqueue."
meta xdesc.enqueue-batch "C × I batches in flight (points $ENQ_BATCH_POINTS)"
meta desc.drain "$DRAIN_PRELOAD tasks preloaded (batches of $BATCH, checked with the system's own count) before the clock starts, then $DRAIN_WORKERS workers (256 credits each) take and ack them; throughput = preload ÷ time until the last ack is answered (no warm-up)."
meta xdesc.drain "workers"
meta desc.rpc "C connections × I unary calls in flight, empty HealthCheckRequest."
meta xdesc.rpc "C × I calls in flight (points $RPC_POINTS)"
if [ -z "$CDF_X" ]; then
    CDF_X=64
    [[ " $E2E_POINTS " == *" 4x16 "* ]] ||
        CDF_X=$(($(conns_of "${E2E_POINTS##* }") * $(infl_of "${E2E_POINTS##* }")))
fi
meta cdf_x "$CDF_X"

# --- the matrix ----------------------------------------------------------------------------------
log "results in $OUT_DIR; data directories under $TMP"
for col in $COLUMNS; do
    for sys in $SYSTEMS; do
        why=$(na_reason "$sys" "$col")
        if [ -n "$why" ]; then log "$sys ($col): $why"; continue; fi
        # /metrics after each e2e-b1 run: fdatasyncs and tasks per fdatasync for the limits;
        # ringqd's also when the warm-up ends (the fdatasyncs in flight in the window).
        dr=
        case $sys in ringq*) dr=window_metrics ;; esac
        wants e2e-b1 && AFTER_RUN=save_metrics DURING_RUN=$dr run_e2e e2e-b1 "$sys" "$col" 1 "$E2E_POINTS"
        [ "$sys" = ringq-stream ] && continue # one task per message: e2e-b1 only
        [ "$sys" = ringq ] && wants open && run_open "$col"
        [ "$sys" = ringq ] && wants open-floor && run_floor "$col"
        [ "$sys" = ringq ] && wants stall && run_stall "$col"
        wants e2e-batch && run_e2e e2e-batch "$sys" "$col" "$BATCH" "$E2E_BATCH_POINTS"
        wants enqueue-b1 && run_enqueue enqueue-b1 "$sys" "$col" 1 "$ENQ_POINTS"
        wants enqueue-batch && run_enqueue enqueue-batch "$sys" "$col" "$BATCH" "$ENQ_BATCH_POINTS"
        wants drain && run_drain "$sys" "$col"
    done
done
if wants rpc; then
    for sys in ringq grpc-sync grpc-callback; do
        why=$(na_reason "$sys" -)
        if [ -n "$why" ]; then log "$sys: $why"; continue; fi
        for p in $RPC_POINTS; do
            c=$(conns_of "$p"); i=$(infl_of "$p")
            bench_point rpc "$sys" - rpc $((c * i)) "$RUN_TMO" -- --conns "$c" --inflight "$i" \
                --method /grpc.health.v1.Health/Check
        done
    done
fi

FS_AFTER=$(fsync_json)
meta fsync.after "$FS_AFTER"
meta fsync.text "before the runs $(jnum "$FS_BEFORE" per_s)/s ($(jnum "$FS_BEFORE" us_each) µs each), after $(jnum "$FS_AFTER" per_s)/s ($(jnum "$FS_AFTER" us_each) µs each): $FSYNC_TOOL"
meta load "before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs; the machine may be shared)"
meta elapsed "$(($(date +%s) - T_START)) s, $NRUN runs"

"$PY" bench/report.py report "$OUT_DIR" "$OUT_MD" || { log "report.py failed"; exit 1; }
if [ "$UPDATE_README" = 1 ] && grep -q '<!-- bench-latest -->' README.md; then
    sed -i "s|^.*<!-- bench-latest -->.*\$|Latest full run: [$OUT_MD]($OUT_MD) <!-- bench-latest -->|" README.md
    log "README.md now links $OUT_MD"
fi
sed -n '/^## Issue targets/,/^## Systems/p' "$OUT_MD" | sed '$d'
log "wrote $OUT_MD and $OUT_DIR/ ($NRUN runs, $(($(date +%s) - T_START)) s)"
