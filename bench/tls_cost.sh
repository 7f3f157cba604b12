#!/usr/bin/env bash
# bench/tls_cost.sh: what TLS costs ringqd — plaintext and TLS runs interleaved in the same
# session (plain, tls, plain, ...) so a noisy machine hits both alike. Each run: a fresh
# `ringqd --threads 1 --fsync never` pinned to CPU 0 (with --tls-cert/--tls-key for "tls"), the
# client pinned to CPU 1. Points:
#   rpc      h2load -c 16 -m 32 -D DURATION_S, gRPC Health/Check (http:// or https://, ALPN h2):
#            unary req/s
#   e2e-b1   ringq-bench e2e --batch 1 --conns 4 --inflight 16, 100-byte payloads: tasks/s
#   e2e-b64  ringq-bench e2e --batch 64 --conns 4 --inflight 1: tasks/s
#   drain4k  ringq-bench drain, 4096-byte payloads, 20000 preloaded: delivery tasks/s (the
#            one-copy path plus, over TLS, the seal's copy)
# The TLS runs use libringq's TLS (ringq-bench --tls --ca) and a P-256 certificate made here.
# Modes (MODES, default "plain tls"): plain; tls (ringqd's default: kTLS where the kernel offers
# it, else user space); tls-user (--ktls off: OpenSSL's record layer in user space).
#   [BIN=build/ringqd] [BENCH=build/ringq-bench] [REPS=3] [DURATION_S=5] [MODES="plain tls"]
#   bash bench/tls_cost.sh
# Prints one line per run and a median table (markdown). Needs 2 CPUs, h2load, openssl.
# tests/vm/ktls.sh runs it in a VM with kTLS: MODES="plain tls-user tls".
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
BIN=${BIN:-build/ringqd}
BENCH=${BENCH:-build/ringq-bench}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-5}
POINTS=${POINTS:-rpc e2e-b1 e2e-b64 drain4k}
MODES=${MODES:-plain tls}
OUT=$(mktemp -d /tmp/tls-cost.XXXXXX)
cleanup() {
    ringqd_stop
    rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A CA and a server certificate for 127.0.0.1.
(cd "$OUT" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -subj /CN=bench-ca -days 2 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
        -subj /CN=bench 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext &&
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile srv.ext -out srv.pem 2>/dev/null) || { echo "tls_cost: openssl failed" >&2; exit 1; }
printf '\000\000\000\000\000' >"$OUT/check.grpc" # HealthCheckRequest{} in a gRPC frame

start() { # start plain|tls
    local d=$OUT/run extra=()
    rm -rf "$d"
    [ "$1" != plain ] && extra=(--tls-cert "$OUT/srv.pem" --tls-key "$OUT/srv.key")
    [ "$1" = tls-user ] && extra+=(--ktls off)
    ringqd_start "$d" 100 taskset -c 0 "$BIN" --threads 1 --log-level warn --fsync never \
        "${extra[@]}" || exit 1
    PORT=$RINGQD_PORT
}

stop() { ringqd_stop; }

run_point() { # run_point plain|tls POINT -> prints the figure
    local mode=$1 pt=$2 tls=() scheme=http json=$OUT/r.json
    [ "$mode" != plain ] && tls=(--tls --ca "$OUT/ca.pem") && scheme=https
    local common=(--system ringq --threads 1 --quiet --addr "127.0.0.1:$PORT" --json "$json")
    if [ "$pt" = rpc ]; then
        taskset -c 1 h2load -c 16 -m 32 -D "$DURATION_S" --warm-up-time 1 \
            -H 'content-type: application/grpc' -H 'te: trailers' -d "$OUT/check.grpc" \
            "$scheme://127.0.0.1:$PORT/grpc.health.v1.Health/Check" 2>&1 |
            awk '/^finished in/ {for (i = 1; i <= NF; i++) if ($(i+1) == "req/s,") printf "%.0f\n", $i}'
        return
    fi
    case $pt in
    e2e-b1) taskset -c 1 "$BENCH" e2e "${common[@]}" "${tls[@]}" --size 100 --batch 1 --conns 4 \
        --inflight 16 --workers 4 --credits 256 --warmup 1 --duration "$DURATION_S" ;;
    e2e-b64) taskset -c 1 "$BENCH" e2e "${common[@]}" "${tls[@]}" --size 100 --batch 64 \
        --conns 4 --inflight 1 --workers 4 --credits 256 --warmup 1 --duration "$DURATION_S" ;;
    drain4k) taskset -c 1 "$BENCH" drain "${common[@]}" "${tls[@]}" --size 4096 --preload 20000 \
        --workers 2 --credits 256 ;;
    esac >"$OUT/bench.log" 2>&1
    # The JSON's "tasks_per_s" (sed: the VM of tests/vm/ktls.sh has no Python).
    local v
    v=$(sed -n 's/.*"tasks_per_s": *\([0-9.]*\).*/\1/p' "$json" 2>/dev/null | head -1)
    if [ -n "$v" ]; then printf '%.0f\n' "$v"; else echo "failed: $(tail -1 "$OUT/bench.log")"; fi
}

declare -A ALL
for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        for pt in $POINTS; do
            start "$mode"
            v=$(run_point "$mode" "$pt")
            stop
            echo "$mode $pt r$rep $v"
            ALL[$mode.$pt]="${ALL[$mode.$pt]:-} $v"
        done
    done
done

median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }
echo
hdr="| point |" sep="|---|"
for mode in $MODES; do hdr="$hdr $mode (per run) |" sep="$sep---|"; done
echo "$hdr medians | each / plain |"
echo "$sep---|---|"
for pt in $POINTS; do
    p=$(echo "${ALL[plain.$pt]:-}" | median)
    row="| $pt |" meds="" ratios=""
    for mode in $MODES; do
        m=$(echo "${ALL[$mode.$pt]:-}" | median)
        row="$row${ALL[$mode.$pt]:-} |"
        meds="$meds${meds:+ / }$m"
        [ "$mode" = plain ] && continue
        ratios="$ratios${ratios:+ / }$(awk -v p="$p" -v t="$m" 'BEGIN {if (p > 0 && t > 0) printf "%.2f", t / p; else print "-"}')"
    done
    echo "$row $meds | $ratios |"
done
