#!/usr/bin/env bash
# bench/suite_rpc.sh: unary-RPC throughput and latency, and idle-connection memory.
#
# Part 1 (unary RPC): h2load posts one gRPC-framed HealthCheckRequest{service:""} to
# /grpc.health.v1.Health/Check on each server:
#   ringqd               build/ringqd --threads 1 --port P --data DIR   (row "not built" if absent)
#   grpc-c++ sync        build/peers/greeter_server --api sync          (bench/peers)
#   grpc-c++ callback    build/peers/greeter_server --api callback
# Servers are pinned to CPU $SERVER_CPU and h2load to CPU $CLIENT_CPU (taskset), one at a time.
# Throughput: -c 16 -m 32 for $DURATION_S s after $WARMUP_S s warm-up, $REPS runs, median kept.
# Latency:    -c 1 -m 1, same duration.
# Before measuring, each server must answer one h2load request with 2xx, and a grpcio client
# (Debian python3-grpcio) must get status SERVING: h2load cannot see grpc-status, which travels
# in trailers behind an HTTP 200.
#
# Part 2 (idle connections): on a fresh server, VmRSS before and after bench/peers/idle_conns.py
# opens $IDLE_CONNS HTTP/2 connections (preface + SETTINGS, then idle) on 127.0.0.1.
# Goal: ringqd holds 10,000 idle connections in < 200 MiB RSS.
#
# Writes bench/results/rpc-<date>-<host>.md (or $OUT). Run from the repository root:
#   bash bench/suite_rpc.sh                       # defaults below
#   DURATION_S=3 REPS=1 IDLE_CONNS=1000 bash bench/suite_rpc.sh   # quick look
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION_S=${DURATION_S:-10}
WARMUP_S=${WARMUP_S:-2}
REPS=${REPS:-3}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_RSS_GOAL_MIB=200
START_TIMEOUT_S=15
OUT=${OUT:-bench/results/rpc-$(date +%Y%m%d)-$(hostname -s).md}
PATH_RPC=/grpc.health.v1.Health/Check

RINGQD=$BUILD/ringqd
PEER=$BUILD/peers/greeter_server

TMP=$(mktemp -d /tmp/ringq-suite-rpc.XXXXXX)
SERVER_PID=
CLIENT_PID=
cleanup() {
    [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "suite_rpc: $*" >&2; }

# --- prerequisites ----------------------------------------------------------------------------
for tool in h2load taskset protoc "$PY"; do
    command -v "$tool" >/dev/null || { log "missing $tool (make deps)"; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
    log "needs 2 CPUs (server on $SERVER_CPU, client on $CLIENT_CPU); have $(nproc)"; exit 1
fi
make -s -C bench/peers PEERS_OUT="$(realpath -m "$BUILD/peers")" >&2 || { log "cannot build bench/peers"; exit 1; }

# Python message modules for the grpcio check; they join grpcio's "grpc" package (proto/README.md).
mkdir -p "$TMP/py"
protoc -Iproto --python_out="$TMP/py" grpc/health/v1/health.proto || exit 1

# The request: gRPC frame = 1-byte compressed flag, 4-byte big-endian length, protobuf bytes.
# HealthCheckRequest{service:""} encodes to zero bytes, so the frame is five zero bytes.
BODY=$TMP/check.grpc
printf '\000\000\000\000\000' > "$BODY"

# Idle connections need one descriptor each, in the server and in the client.
NOFILE_NEED=$((IDLE_CONNS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NOFILE_NEED" ]; then
    ulimit -n "$NOFILE_NEED" 2>/dev/null || log "cannot raise ulimit -n to $NOFILE_NEED (hard $(ulimit -Hn))"
fi

H2LOAD_HDRS=(-H 'content-type: application/grpc' -H 'te: trailers')

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: 0 once PORT accepts TCP connections, 1 if PID died or time ran out.
wait_port() {
    local i
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_server KIND PORT: starts one server pinned to SERVER_CPU; sets SERVER_PID.
# KIND: ringqd | sync | callback. Returns 1 if it does not come up (stderr in $TMP/KIND.log).
start_server() {
    local kind=$1 port=$2
    case $kind in
    ringqd)
        rm -rf "$TMP/ringqd-data" && mkdir -p "$TMP/ringqd-data"
        taskset -c "$SERVER_CPU" "$RINGQD" --threads 1 --port "$port" --data "$TMP/ringqd-data" \
            2>"$TMP/$kind.log" &
        ;;
    sync | callback)
        taskset -c "$SERVER_CPU" "$PEER" --api "$kind" --port "$port" 2>"$TMP/$kind.log" &
        ;;
    esac
    SERVER_PID=$!
    if ! wait_port "$port" "$SERVER_PID"; then
        log "$kind did not start; its stderr:"; tail -5 "$TMP/$kind.log" >&2
        stop_server
        return 1
    fi
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# h2load_run OUTFILE ARGS...: h2load pinned to CLIENT_CPU.
h2load_run() {
    local out=$1; shift
    taskset -c "$CLIENT_CPU" h2load "$@" >"$out" 2>&1
}

# parse_h2load FILE -> "rps mean_us max_us done succeeded failed errored status2xx"
parse_h2load() {
    "$PY" - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def us(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else float("nan")
rps = re.search(r"finished in \S+, ([\d.]+) req/s", t)
req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                r"(\d+) failed, (\d+) errored", t)
codes = re.search(r"status codes: (\d+) 2xx", t)
lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", t)
if not (rps and req and codes and lat):
    print("nan nan nan 0 0 0 0 0"); sys.exit(0)
print(rps.group(1), "%.1f" % us(lat.group(3)), "%.1f" % us(lat.group(2)),
      req.group(3), req.group(4), req.group(5), req.group(6), codes.group(1))
EOF
}

# grpc_check PORT: a real gRPC client must see OK + SERVING.
grpc_check() {
    "$PY" - "$TMP/py" "$1" <<'EOF'
import sys, grpc
grpc.__path__.append(sys.argv[1] + "/grpc")
from grpc.health.v1 import health_pb2 as h
ch = grpc.insecure_channel("127.0.0.1:" + sys.argv[2])
check = ch.unary_unary("/grpc.health.v1.Health/Check",
                       request_serializer=h.HealthCheckRequest.SerializeToString,
                       response_deserializer=h.HealthCheckResponse.FromString)
try:
    r = check(h.HealthCheckRequest(service=""), timeout=5)
except grpc.RpcError as e:
    print("grpc error %s: %s" % (e.code().name, e.details())); sys.exit(1)
name = h.HealthCheckResponse.ServingStatus.Name(r.status)
print(name); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)
EOF
}

# answer_check PORT: one request through h2load (2xx) and one through grpcio (SERVING).
answer_check() {
    local f
    h2load_run "$TMP/probe.txt" -n 1 -c 1 -m 1 -d "$BODY" "${H2LOAD_HDRS[@]}" \
        "http://127.0.0.1:$1$PATH_RPC"
    read -r _ _ _ _ ok _ _ s2xx <<<"$(parse_h2load "$TMP/probe.txt")"
    if [ "$ok" != 1 ] || [ "$s2xx" != 1 ]; then
        log "h2load probe failed:"; cat "$TMP/probe.txt" >&2; return 1
    fi
    f=$(grpc_check "$1") || { log "grpcio check: $f"; return 1; }
}

declare -A NAME=([ringqd]=ringqd [sync]="grpc C++ (greeter_server)" [callback]="grpc C++ (greeter_server)")
declare -A API=([ringqd]="io_uring, --threads 1" [sync]="sync (Health::Service)"
    [callback]="callback (CallbackService, ServerUnaryReactor)")
declare -A STATE TPUT LAT RSS_BEFORE RSS_AFTER IDLE_NOTE
KINDS=(ringqd sync callback)
TPUT_CMD="h2load -t 1 -c 16 -m 32 -D $DURATION_S --warm-up-time $WARMUP_S -d check.grpc"
TPUT_CMD+=" -H 'content-type: application/grpc' -H 'te: trailers' http://127.0.0.1:PORT$PATH_RPC"
LAT_CMD=${TPUT_CMD/-c 16 -m 32/-c 1 -m 1}

# --- part 1: unary RPC -------------------------------------------------------------------------
for kind in "${KINDS[@]}"; do
    bin=$PEER; [ "$kind" = ringqd ] && bin=$RINGQD
    if [ ! -x "$bin" ]; then
        STATE[$kind]="not built"; log "$kind: $bin not built"; continue
    fi
    port=$(free_port)
    if ! start_server "$kind" "$port"; then STATE[$kind]="did not start"; continue; fi
    if ! answer_check "$port"; then STATE[$kind]="does not answer"; stop_server; continue; fi
    STATE[$kind]=ok
    runs=()
    for ((r = 1; r <= REPS; r++)); do
        log "$kind: throughput run $r/$REPS"
        h2load_run "$TMP/$kind.tput.$r.txt" -t 1 -c 16 -m 32 -D "$DURATION_S" \
            --warm-up-time "$WARMUP_S" -d "$BODY" "${H2LOAD_HDRS[@]}" "http://127.0.0.1:$port$PATH_RPC"
        runs+=("$(parse_h2load "$TMP/$kind.tput.$r.txt") $r")
    done
    # Median run by req/s.
    TPUT[$kind]=$(printf '%s\n' "${runs[@]}" | sort -g -k1,1 | sed -n "$(((REPS + 1) / 2))p")
    TPUT[$kind]+=" $(printf '%s\n' "${runs[@]}" | awk '{printf "%s%.0f", (NR>1?"/":""), $1}')"
    log "$kind: latency run"
    h2load_run "$TMP/$kind.lat.txt" -t 1 -c 1 -m 1 -D "$DURATION_S" --warm-up-time "$WARMUP_S" \
        -d "$BODY" "${H2LOAD_HDRS[@]}" "http://127.0.0.1:$port$PATH_RPC"
    LAT[$kind]=$(parse_h2load "$TMP/$kind.lat.txt")
    # A server that failed or died mid-run must not be reported as healthy.
    if ! kill -0 "$SERVER_PID" 2>/dev/null || ! grpc_check "$port" >/dev/null; then
        STATE[$kind]="failed during run"
    fi
    stop_server
done

# --- part 2: idle connections ------------------------------------------------------------------
for kind in "${KINDS[@]}"; do
    [ "${STATE[$kind]}" = "not built" ] && continue
    port=$(free_port)
    if ! start_server "$kind" "$port"; then IDLE_NOTE[$kind]="did not start"; continue; fi
    if ! answer_check "$port"; then IDLE_NOTE[$kind]="does not answer"; stop_server; continue; fi
    sleep 1
    RSS_BEFORE[$kind]=$(rss_kib "$SERVER_PID")
    log "$kind: opening $IDLE_CONNS idle connections"
    taskset -c "$CLIENT_CPU" "$PY" bench/peers/idle_conns.py --port "$port" \
        --conns "$IDLE_CONNS" --timeout-s 120 --hold-s 600 >"$TMP/$kind.idle.txt" &
    CLIENT_PID=$!
    for ((i = 0; i < 1300; i++)); do
        grep -q '^ready' "$TMP/$kind.idle.txt" && break
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2    # let the server finish whatever it does per new connection
    RSS_AFTER[$kind]=$(rss_kib "$SERVER_PID" 2>/dev/null || echo nan)
    kill "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; CLIENT_PID=
    IDLE_NOTE[$kind]=$(grep -h '^ready\|^done' "$TMP/$kind.idle.txt" | tr '\n' ' ')
    stop_server
done

# --- report --------------------------------------------------------------------------------------
fmt_us() { awk -v u="$1" 'BEGIN { if (u != u+0) print "-"; else if (u >= 1000) printf "%.2f ms", u/1000; else printf "%.0f µs", u }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f×", a/b; else print "-" }'; }
rps_of() { [ "${STATE[$1]:-}" = ok ] && echo "${TPUT[$1]%% *}" || echo 0; }
SYNC_RPS=$(rps_of sync)
CB_RPS=$(rps_of callback)

mkdir -p "$(dirname "$OUT")"
{
    echo "# Unary RPC and idle connections — $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname -s)"
    echo
    echo "grpc.health.v1.Health/Check, request HealthCheckRequest{service:\"\"} (gRPC frame of 5 bytes)."
    echo "Servers pinned to CPU $SERVER_CPU, h2load to CPU $CLIENT_CPU, all on 127.0.0.1."
    echo
    echo "## Throughput: h2load -c 16 -m 32, ${DURATION_S} s after ${WARMUP_S} s warm-up, median of $REPS"
    echo
    echo "| server | API | req/s | mean latency | max latency | succeeded / failed | runs (req/s) | vs C++ sync | vs C++ callback |"
    echo "|---|---|---:|---:|---:|---:|---|---:|---:|"
    for kind in "${KINDS[@]}"; do
        if [ "${STATE[$kind]:-}" != ok ]; then
            st=${STATE[$kind]:-not run}; [ "$st" = "not built" ] && st="not built yet"
            echo "| ${NAME[$kind]} | ${API[$kind]} | $st | - | - | - | - | - | - |"
            continue
        fi
        read -r rps mean max _ ok fail err _ _ all <<<"${TPUT[$kind]}"
        printf '| %s | %s | %.0f | %s | %s | %s / %s | %s | %s | %s |\n' "${NAME[$kind]}" \
            "${API[$kind]}" "$rps" "$(fmt_us "$mean")" "$(fmt_us "$max")" "$ok" "$((fail + err))" \
            "$all" "$(ratio "$rps" "$SYNC_RPS")" "$(ratio "$rps" "$CB_RPS")"
    done
    echo
    echo "## Latency: h2load -c 1 -m 1, ${DURATION_S} s after ${WARMUP_S} s warm-up"
    echo
    echo "| server | API | req/s | mean latency | max latency | succeeded / failed |"
    echo "|---|---|---:|---:|---:|---:|"
    for kind in "${KINDS[@]}"; do
        if [ "${STATE[$kind]:-}" != ok ]; then
            st=${STATE[$kind]:-not run}; [ "$st" = "not built" ] && st="not built yet"
            echo "| ${NAME[$kind]} | ${API[$kind]} | $st | - | - | - |"
            continue
        fi
        read -r rps mean max _ ok fail err _ <<<"${LAT[$kind]}"
        printf '| %s | %s | %.0f | %s | %s | %s / %s |\n' "${NAME[$kind]}" "${API[$kind]}" "$rps" \
            "$(fmt_us "$mean")" "$(fmt_us "$max")" "$ok" "$((fail + err))"
    done
    echo
    echo "## Idle connections: $IDLE_CONNS HTTP/2 connections (preface + SETTINGS, then idle)"
    echo
    echo "| server | API | VmRSS before | VmRSS after | per connection | client says |"
    echo "|---|---|---:|---:|---:|---|"
    for kind in "${KINDS[@]}"; do
        b=${RSS_BEFORE[$kind]:-}; a=${RSS_AFTER[$kind]:-}
        if [ -z "$b" ] || [ -z "$a" ] || [ "$a" = nan ]; then
            st=${IDLE_NOTE[$kind]:-${STATE[$kind]:-not run}}; [ "$st" = "not built" ] && st="not built yet"
            echo "| ${NAME[$kind]} | ${API[$kind]} | $st | - | - | - |"
            continue
        fi
        awk -v n="${NAME[$kind]}" -v p="${API[$kind]}" -v b="$b" -v a="$a" -v c="$IDLE_CONNS" \
            -v note="${IDLE_NOTE[$kind]}" 'BEGIN { printf "| %s | %s | %.1f MiB | %.1f MiB | %.1f KiB | %s|\n", n, p, b/1024, a/1024, (a-b)/c, note }'
    done
    echo
    goal="not built yet"
    if [ -n "${RSS_AFTER[ringqd]:-}" ] && [ "${RSS_AFTER[ringqd]}" != nan ]; then
        if grep -q "settings=$IDLE_CONNS " <<<"${IDLE_NOTE[ringqd]}" &&
            [ "${RSS_AFTER[ringqd]}" -lt $((IDLE_RSS_GOAL_MIB * 1024)) ]; then goal=PASS; else goal=FAIL; fi
    elif [ "${STATE[ringqd]:-}" != "not built" ]; then goal="FAIL (${IDLE_NOTE[ringqd]:-not measured})"
    fi
    echo "Goal: ringqd holds 10,000 idle connections in < $IDLE_RSS_GOAL_MIB MiB RSS — **$goal**" \
        "(measured with $IDLE_CONNS)."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "printf '\\000\\000\\000\\000\\000' > check.grpc     # HealthCheckRequest{service:\"\"}, gRPC-framed"
    echo "taskset -c $SERVER_CPU $RINGQD --threads 1 --port PORT --data DIR"
    echo "taskset -c $SERVER_CPU $PEER --api sync --port PORT"
    echo "taskset -c $SERVER_CPU $PEER --api callback --port PORT"
    echo "taskset -c $CLIENT_CPU $TPUT_CMD"
    echo "taskset -c $CLIENT_CPU $LAT_CMD"
    echo "taskset -c $CLIENT_CPU $PY bench/peers/idle_conns.py --port PORT --conns $IDLE_CONNS   # VmRSS from /proc/PID/status"
    echo "DURATION_S=$DURATION_S WARMUP_S=$WARMUP_S REPS=$REPS IDLE_CONNS=$IDLE_CONNS bash bench/suite_rpc.sh"
    echo '```'
    echo
    echo "## Machine"
    echo
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs online"
    echo "- kernel: $(uname -r)"
    echo "- $(h2load --version 2>&1 | head -1)"
    dpkg-query -W -f '- ${Package} ${Version}\n' libgrpc++1.51 libgrpc++-dev python3-grpcio \
        libprotobuf32 2>/dev/null
    echo "- ulimit -n: $(ulimit -n)"
    echo "- ringq commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$OUT"
cat "$OUT"
log "wrote $OUT"
