#!/usr/bin/env bash
# bench/e2e_fast_ab.sh: the fast e2e target of issue #19 ("fast e2e at every x >= 16: >= 2x Redis
# `appendfsync no`") for two ringq builds and Redis side by side, runs interleaved (for each rep
# and point: ringq before, ringq after, ringq-stream before, ringq-stream after, redis) so a
# noisy machine hits every system alike. Each run is the suite's e2e-b1 point (bench/
# suite_bench.sh): a fresh server pinned to SERVER_CPU (`ringqd --threads 1 --fsync never`, or
# `redis-server --appendonly yes --appendfsync no`), ringq-bench e2e pinned to CLIENT_CPU with
# --threads 1, 100-byte payloads, batch 1, 4 workers, credits max(256, 2 x in flight / workers).
# ringq-bench reads the server's and its own utime + stime over the measured window
# (--server-pid), so each line says which side saturates: server util near 1.0 = the server's
# CPU is the limit; client util near 1.0 = the generator's.
#
#   BEFORE=dir AFTER=dir (each holding ringqd and ringq-bench; default AFTER=build)
#   [POINTS="4x4 4x16 4x64"] [SYSTEMS="ringq ringq-stream redis"] [REPS=1] [DURATION_S=3]
#   [WARMUP_S=1] [SERVER_CPU=0] [CLIENT_CPU=1] [OUT=dir to keep the JSON in]
#   flock /work/bench.lock bash bench/e2e_fast_ab.sh
# Redis runs with AFTER's ringq-bench. Prints one line per run and, per point, the medians with
# each ringq figure's ratio to Redis in the same run. Needs 2 CPUs and redis-server.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
PY=/usr/bin/python3
BEFORE=${BEFORE:?BEFORE=dir with ringqd and ringq-bench}
AFTER=${AFTER:-build}
POINTS=${POINTS:-4x4 4x16 4x64}
SYSTEMS=${SYSTEMS:-ringq ringq-stream redis}
REPS=${REPS:-1}
DURATION_S=${DURATION_S:-3}
WARMUP_S=${WARMUP_S:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
START_TIMEOUT_S=30
E2E_WORKERS=4
RUN_TMO=$((${WARMUP_S%.*} + ${DURATION_S%.*} + 60))
log() { echo "e2e_fast_ab: $*" >&2; }
. bench/bench_lib.sh # start_server, stop_server, conns_of, infl_of
KEEP=${OUT:-}
OUT_DIR=${OUT:-$(mktemp -d /tmp/e2e-fast-ab.XXXXXX)}
mkdir -p "$OUT_DIR"
TMP=$(mktemp -d "$BENCH_DIR/e2e-fast-ab.XXXXXX")
SERVER_PID=
cleanup() {
    stop_server
    rm -rf "$TMP"
    [ -n "$KEEP" ] || rm -rf "$OUT_DIR"
}
trap cleanup EXIT
for v in "$BEFORE" "$AFTER"; do
    for b in ringqd ringq-bench; do
        [ -x "$v/$b" ] || { log "missing $v/$b"; exit 1; }
    done
done
credits_for() { # as suite_bench.sh: enough credits that workers never starve producers
    local c=$(($1 * $2 * 2 / E2E_WORKERS))
    [ "$c" -lt 256 ] && c=256
    [ "$c" -gt 4096 ] && c=4096
    echo "$c"
}

# run_one SYSTEM VERSION POINT REP: one run; prints its line.
run_one() {
    local sys=$1 ver=$2 pt=$3 rep=$4 dir c i json rc
    dir=$([ "$ver" = before ] && echo "$BEFORE" || echo "$AFTER")
    RINGQD=$dir/ringqd
    c=$(conns_of "$pt")
    i=$(infl_of "$pt")
    json=$OUT_DIR/$sys.$ver.x$((c * i)).r$rep.json
    start_server "$sys" fast || { echo "$sys $ver x=$((c * i)) r$rep: no server"; return; }
    timeout -k 5 "$RUN_TMO" taskset -c "$CLIENT_CPU" "$dir/ringq-bench" e2e \
        --system "$sys" --label "$ver" --threads 1 --size 100 --warmup "$WARMUP_S" \
        --duration "$DURATION_S" --quiet --batch 1 --conns "$c" --inflight "$i" \
        --workers "$E2E_WORKERS" --credits "$(credits_for "$c" "$i")" --addr "$ADDR" \
        --server-pid "$SERVER_PID" --json "$json" >"$OUT_DIR/bench.log" 2>&1
    rc=$?
    stop_server
    echo "$sys $ver x=$((c * i)) r$rep rc=$rc $("$PY" -c 'import json, sys
r = json.load(open(sys.argv[1])); l = r.get("latency_us") or {}
print("%.0f tasks/s p50 %.0f p99 %.0f us | server %.2f us/task util %.2f | client %.2f us/task util %.2f%s" % (
      r.get("tasks_per_s", 0), l.get("p50", 0), l.get("p99", 0),
      r.get("server_cpu_us_per_task", 0), r.get("server_cpu_s", 0) / max(r.get("duration_s", 1), 1e-9),
      r.get("client_cpu_us_per_task", 0), r.get("client_cpu_util", 0),
      ", " + r["error"] if r.get("error") else ""))' "$json" 2>&1)"
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# before=$BEFORE after=$AFTER points=$POINTS systems=$SYSTEMS reps=$REPS duration=${DURATION_S}s"
for rep in $(seq "$REPS"); do
    for pt in $POINTS; do
        for sys in $SYSTEMS; do
            if [ "$sys" = redis ]; then
                run_one redis after "$pt" "$rep"
            else
                run_one "$sys" before "$pt" "$rep"
                run_one "$sys" after "$pt" "$rep"
            fi
        done
    done
done
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$OUT_DIR" <<'PY'
import glob, json, os, re, statistics as st, sys
runs = {}
for f in glob.glob(os.path.join(sys.argv[1], "*.json")):
    m = re.match(r"(.+)\.(before|after)\.x(\d+)\.r\d+\.json$", os.path.basename(f))
    try:
        r = json.load(open(f))
    except Exception:
        continue
    if m and not r.get("error"):
        runs.setdefault((m.group(1), m.group(2), int(m.group(3))), []).append(r)
def med(rs, k):
    v = [r.get(k) for r in rs if r.get(k) is not None]
    return st.median(v) if v else 0.0
print("\n| x | system | build | tasks/s | ÷ redis | server µs/task | server util | client µs/task | client util |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
for x in sorted({k[2] for k in runs}):
    red = med(runs.get(("redis", "after", x), []), "tasks_per_s")
    for (s, v, xx), rs in sorted(runs.items(), key=lambda kv: (kv[0][0] == "redis", kv[0])):
        if xx != x:
            continue
        t = med(rs, "tasks_per_s")
        su = st.median([r.get("server_cpu_s", 0) / r["duration_s"] for r in rs if r.get("duration_s")] or [0])
        print("| %d | %s | %s | %.0f | %s | %.2f | %.2f | %.2f | %.2f |" % (
            x, s, v if s != "redis" else "-", t, "%.2f×" % (t / red) if red and s != "redis" else "",
            med(rs, "server_cpu_us_per_task"), su, med(rs, "client_cpu_us_per_task"),
            med(rs, "client_cpu_util")))
PY
