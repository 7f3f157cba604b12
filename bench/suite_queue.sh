#!/usr/bin/env bash
# bench/suite_queue.sh: end-to-end task queue — tasks/s and enqueue-to-lease latency through
# ringqd with our own load driver (bench/queue_bench.c, libringq).
#
# Matrix: --fsync {always, never} x producer batch {1, 64} x ringqd --threads {1, 2};
# $REPS runs each on a fresh data directory and a fresh server, the median run (by tasks/s)
# kept. Each run: $PRODUCERS producer threads (own client each) enqueue 100-byte payloads in
# batches of B; $WORKERS worker threads (own client each) take tasks from the Work stream
# ($CREDITS credits each) and ack every task on the stream; $WARMUP_S s warm-up, $DURATION_S s
# measured, then drain; the queues must end empty (ListQueues: ready/delayed/leased/dead 0,
# acked_total = enqueued_total), else the run is marked FAIL.
#
# CPUs (the machine has 2): --threads 1: ringqd on CPU $SERVER_CPU, the driver on CPU
# $CLIENT_CPU. --threads 2: ringqd on CPUs 0-1 and the driver unpinned, so the driver shares
# both CPUs with the server's two shards.
#
# Context measured in the same run: raw fdatasync rate (4 KiB pwrite appended + fdatasync) in
# the directory that holds the data directories, before and after the matrix.
#
# Writes bench/results/queue-<date>-<host>.md (or $OUT). Run from the repository root:
#   bash bench/suite_queue.sh                            # defaults below
#   DURATION_S=3 REPS=1 bash bench/suite_queue.sh        # quick look
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION_S=${DURATION_S:-8}
WARMUP_S=${WARMUP_S:-2}
REPS=${REPS:-3}
PRODUCERS=${PRODUCERS:-8}
WORKERS=${WORKERS:-2}
CREDITS=${CREDITS:-256}
PAYLOAD=100
FSYNC_COUNT=${FSYNC_COUNT:-2000}
FSYNCS=(always never)
BATCHES=(1 64)
THREADS=(1 2)
START_TIMEOUT_S=15
OUT=${OUT:-bench/results/queue-$(date +%Y%m%d)-$(hostname -s).md}

RINGQD=$BUILD/ringqd
DRIVER=$BUILD/aux/bench/queue_bench

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ringq-suite-queue.XXXXXX")
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "suite_queue: $*" >&2; }

for bin in "$RINGQD" "$DRIVER"; do
    [ -x "$bin" ] || { log "missing $bin (make BUILD=$BUILD $bin)"; exit 1; }
done
command -v taskset >/dev/null || { log "missing taskset"; exit 1; }
if [ "$(nproc)" -lt 2 ]; then log "needs 2 CPUs; have $(nproc)"; exit 1; fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)

# start_server THREADS FSYNC: fresh data dir, port 0 + --port-file; sets SERVER_PID, PORT.
start_server() {
    local threads=$1 fsync=$2 cpus
    if [ "$threads" = 1 ]; then cpus=$SERVER_CPU; else cpus=0-1; fi
    rm -rf "$TMP/data" "$TMP/port"
    mkdir -p "$TMP/data"
    taskset -c "$cpus" "$RINGQD" --threads "$threads" --port 0 --port-file "$TMP/port" \
        --data "$TMP/data" --fsync "$fsync" --log-level warn 2>>"$TMP/server.log" &
    SERVER_PID=$!
    for ((i = 0; i < START_TIMEOUT_S * 20; i++)); do
        [ -s "$TMP/port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    PORT=$(cat "$TMP/port" 2>/dev/null)
    if [ -z "$PORT" ]; then
        log "ringqd did not start; its stderr:"; tail -5 "$TMP/server.log" >&2
        stop_server; return 1
    fi
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

# driver_cmd THREADS BATCH: the driver command line (PORT, PID filled in later).
driver_args() {
    echo "--producers $PRODUCERS --workers $WORKERS --batch $2 --payload $PAYLOAD --credits $CREDITS" \
        "--duration $DURATION_S --warmup $WARMUP_S"
}
driver_pin() { if [ "$1" = 1 ]; then echo "taskset -c $CLIENT_CPU"; else echo ""; fi; }

jget() { # jget JSON KEY
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}

fsync_rate() {
    "$DRIVER" fsync "$TMP" "$FSYNC_COUNT" 2>&1
}

log "raw fdatasync in $TMP ($FSYNC_COUNT x 4 KiB)"
FSYNC_BEFORE=$(fsync_rate)

declare -A MED RUNS NPASS
for fs in "${FSYNCS[@]}"; do
    for b in "${BATCHES[@]}"; do
        for t in "${THREADS[@]}"; do
            key="$fs/$b/$t"
            lines=()
            NPASS[$key]=0
            for ((r = 1; r <= REPS; r++)); do
                log "fsync=$fs batch=$b threads=$t run $r/$REPS"
                if ! start_server "$t" "$fs"; then continue; fi
                # shellcheck disable=SC2046
                line=$($(driver_pin "$t") "$DRIVER" --addr "127.0.0.1:$PORT" --server-pid "$SERVER_PID" \
                    $(driver_args "$t" "$b") 2>>"$TMP/driver.log" | tail -1)
                alive=yes; kill -0 "$SERVER_PID" 2>/dev/null || alive=no
                stop_server
                [ -n "$line" ] || line='{"tasks_per_s":0,"pass":false}'
                [ "$alive" = yes ] || line=${line/\"pass\":true/\"pass\":false}
                echo "$key run=$r $line" >>"$TMP/raw.txt"
                [ "$(jget "$line" pass)" = true ] && NPASS[$key]=$((NPASS[$key] + 1))
                lines+=("$(jget "$line" tasks_per_s) $r $line")
            done
            [ ${#lines[@]} -gt 0 ] || continue
            MED[$key]=$(printf '%s\n' "${lines[@]}" | sort -g -k1,1 | sed -n "$(((${#lines[@]} + 1) / 2))p" | cut -d' ' -f3-)
            RUNS[$key]=$(printf '%s\n' "${lines[@]}" | awk '{printf "%s%.0f", (NR>1?"/":""), $1}')
        done
    done
done

FSYNC_AFTER=$(fsync_rate)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T_START))

# --- report --------------------------------------------------------------------------------------
fmt_lat() { awk -v u="$1" 'BEGIN { if (u == "" || u != u+0) print "-"; else if (u >= 1000) printf "%.2f ms", u/1000; else printf "%.0f µs", u }'; }
# bound THREADS DRIVER_CPU SERVER_CPU: which side ran out of CPU (>= 90 % of what it had).
bound() {
    awk -v t="$1" -v d="$2" -v s="$3" 'BEGIN {
        if (t == 1) { r = ""; if (d >= 0.9) r = "driver (its 1 CPU)"; if (s >= 0.9) r = r (r ? ", " : "") "ringqd (its 1 CPU)"; print (r ? r : "no") }
        else print (d + s >= 1.8 ? "both CPUs busy" : "no") }'
}
fmt_n() { awk -v n="$1" 'BEGIN { if (n == "" || n != n+0) print "-"; else printf "%.0f", n }'; }
FS_B_RATE=$(jget "$FSYNC_BEFORE" per_s); FS_B_US=$(jget "$FSYNC_BEFORE" us_each)
FS_A_RATE=$(jget "$FSYNC_AFTER" per_s); FS_A_US=$(jget "$FSYNC_AFTER" us_each)
DISK=$(df -T "$TMP" | awk 'NR==2 {print $1 " (" $2 ")"}')
DIRTY=$(git status --short -- client server queue proto_wire core worker bench/queue_bench.c 2>/dev/null | tr '\n' ';' | sed 's/;$//; s/;/; /g')

mkdir -p "$(dirname "$OUT")"
{
    echo "# Task queue end to end — $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname -s)"
    echo
    echo "ringq.v1 over gRPC through ringqd, driven by bench/queue_bench.c (libringq): $PRODUCERS producer"
    echo "threads and $WORKERS worker threads, each with its own client and connection; $PAYLOAD-byte payloads,"
    echo "2 queues (one per partition parity, so with 2 threads each shard owns one). Workers use the"
    echo "Work stream ($CREDITS credits each) and ack every task on the stream, one ack per task (a credit"
    echo "goes back per answered ack, granted in lumps of $((CREDITS / 4))). tasks/s = acks answered OK in"
    echo "the ${DURATION_S} s window after ${WARMUP_S} s warm-up. Latency = worker receives the task −"
    echo "producer's clock just before its Enqueue call (same process, CLOCK_MONOTONIC): Enqueue RPC"
    echo "with its group commit, queueing, push on the stream. Producers pause while more than"
    echo "max(2 × producers × batch, 1024) tasks are enqueued but not yet received (until half of that),"
    echo "so the latency is not just an ever-growing queue. Median of $REPS runs by tasks/s, each on a fresh server and data"
    echo "directory; p50/p99 are those of the median run."
    echo
    echo "CPUs: the machine has $(nproc). \`--threads 1\`: ringqd pinned to CPU $SERVER_CPU, the driver to CPU"
    echo "$CLIENT_CPU. \`--threads 2\`: ringqd on CPUs 0-1 and the driver unpinned — **the driver's 10 threads"
    echo "share both CPUs with the two shards**, so the 2-thread rows measure server + client on 2"
    echo "cores, not server scaling. CPU columns: cores used during the window (driver: getrusage;"
    echo "ringqd: /proc/PID/stat); \"CPU-bound?\" flags a side that used >= 90 % of the CPUs it had, i.e."
    echo "the figure may say more about the 2-core box than about ringqd. Rows that are not CPU-bound are"
    echo "bound by the round trips in flight (8 producers x 1 batch each, credits) and by fsync."
    echo
    echo "| fsync | batch | ringqd threads | tasks/s | p50 latency | p99 latency | p99.9 | max | runs (tasks/s) | driver / server CPU | CPU-bound? | queues empty at end |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"
    for fs in "${FSYNCS[@]}"; do
        for b in "${BATCHES[@]}"; do
            for t in "${THREADS[@]}"; do
                key="$fs/$b/$t"
                m=${MED[$key]:-}
                if [ -z "$m" ]; then
                    echo "| $fs | $b | $t | not run | - | - | - | - | - | - | - | - |"
                    continue
                fi
                printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s/%s runs |\n' \
                    "$fs" "$b" "$t" "$(fmt_n "$(jget "$m" tasks_per_s)")" \
                    "$(fmt_lat "$(jget "$m" lat_p50_us)")" "$(fmt_lat "$(jget "$m" lat_p99_us)")" \
                    "$(fmt_lat "$(jget "$m" lat_p999_us)")" "$(fmt_lat "$(jget "$m" lat_max_us)")" \
                    "${RUNS[$key]}" "$(jget "$m" driver_cpu)" "$(jget "$m" server_cpu)" \
                    "$(bound "$t" "$(jget "$m" driver_cpu)" "$(jget "$m" server_cpu)")" \
                    "${NPASS[$key]}" "$REPS"
            done
        done
    done
    echo
    echo "\"Queues empty\": after the drain, Admin.ListQueues figures of both queues: ready 0, delayed 0,"
    echo "leased 0, dead 0, acked_total = enqueued_total = the driver's successful enqueues, and no"
    echo "enqueue, ack or stream error (every run's figures are in the raw lines below)."
    echo
    late=$(grep -c '"lat_max_us":[0-9]\{6,\}' "$TMP/raw.txt" 2>/dev/null)
    worst=$(grep -o '"lat_max_us":[0-9.]*' "$TMP/raw.txt" 2>/dev/null | cut -d: -f2 | sort -g | tail -1)
    echo "Runs in which some task reached its worker more than 100 ms after its Enqueue began: ${late:-0}"
    echo "of $(wc -l <"$TMP/raw.txt" 2>/dev/null || echo 0) (worst: $(fmt_lat "$worst"))."
    echo
    echo "Raw fdatasync (4 KiB pwrite appended + fdatasync, $FSYNC_COUNT times, in the directory holding the"
    echo "data directories, on $DISK): before the matrix **$FS_B_RATE /s ($FS_B_US µs each)**, after"
    echo "**$FS_A_RATE /s ($FS_A_US µs each)**."
    echo
    echo "Load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER (2 CPUs, shared with other"
    echo "work). Suite wall time: ${ELAPSED} s."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "DURATION_S=$DURATION_S WARMUP_S=$WARMUP_S REPS=$REPS PRODUCERS=$PRODUCERS WORKERS=$WORKERS CREDITS=$CREDITS BUILD=$BUILD bash bench/suite_queue.sh"
    echo "$DRIVER fsync DIR $FSYNC_COUNT"
    echo "# per run, fresh DIR; FS in always|never, B in 1|64:"
    echo "taskset -c $SERVER_CPU $RINGQD --threads 1 --port 0 --port-file F --data DIR --fsync FS --log-level warn"
    echo "taskset -c $CLIENT_CPU $DRIVER --addr 127.0.0.1:PORT --server-pid PID $(driver_args 1 B)"
    echo "taskset -c 0-1 $RINGQD --threads 2 --port 0 --port-file F --data DIR --fsync FS --log-level warn"
    echo "$DRIVER --addr 127.0.0.1:PORT --server-pid PID $(driver_args 2 B)"
    echo '```'
    echo
    echo "## Machine and versions"
    echo
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs online; $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -r); data on $DISK"
    echo "- $(${CC:-gcc} --version | head -1); liburing $(dpkg-query -W -f '${Version}' liburing2 2>/dev/null || echo '?')"
    echo "- ringq commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)${DIRTY:+ with uncommitted changes in the tree: $DIRTY}"
    echo
    echo "## Raw lines (fsync/batch/threads run=N, driver JSON)"
    echo
    echo '```'
    echo "$FSYNC_BEFORE"
    cat "$TMP/raw.txt" 2>/dev/null
    echo "$FSYNC_AFTER"
    echo '```'
    if [ -s "$TMP/server.log" ]; then
        echo
        echo "ringqd warnings/errors (--log-level warn), first 10 of $(wc -l <"$TMP/server.log"):"
        echo
        echo '```'
        head -10 "$TMP/server.log"
        echo '```'
    fi
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
