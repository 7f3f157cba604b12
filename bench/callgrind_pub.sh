#!/usr/bin/env bash
# bench/callgrind_pub.sh RINGQD SYSTEM BATCH CONNS INFLIGHT OUT: user-space instructions per
# published message of a ringqd binary, independent of the machine's load (the publish sibling
# of bench/callgrind_e2e.sh). RINGQD runs under callgrind with `--threads 1 --fsync $FSYNC`
# (default never) on a fresh data directory; `ringq-bench publish --system SYSTEM` (ringq: one
# PublishStream request per batch; ringq-unary: one unary Publish call), 100-byte payloads,
# --batch BATCH --conns CONNS --inflight INFLIGHT, 1 s warm-up, $DURATION_S (default 4) s
# measured, drives it; the counters are zeroed (callgrind_control -z) 1.1 s after the bench
# starts, as its warm-up ends, and dumped (-d) when it ends. Prints one line:
#   RINGQD SYSTEM bBATCH Ir=<instructions> msgs=<confirmed in the window> Ir_per_msg=<Ir / msgs>
# and leaves OUT.json (the bench's result), OUT.bench.log and OUT.cg.1 (the dump, for
# callgrind_annotate; with INCLUSIVE=1 also OUT.inclusive.txt, the top 160 lines of the
# inclusive listing). Kernel time is not counted. BENCH (default: this tree's
# build/ringq-bench) is the generator, the same one for every ringqd compared:
#   bash bench/callgrind_pub.sh build/ringqd ringq 1 4 16 /tmp/cg-pub-b1
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
[ $# -eq 6 ] || { echo "usage: $0 RINGQD SYSTEM BATCH CONNS INFLIGHT OUT" >&2; exit 2; }
BIN=$1 SYS=$2 B=$3 C=$4 I=$5 OUT=$6
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/build/ringq-bench}
FSYNC=${FSYNC:-never}
DURATION_S=${DURATION_S:-4}
PY=/usr/bin/python3
START_TRIES=300 # x 0.1 s: 30 s for ringqd to start under callgrind
WARMUP_S=1
ZERO_AFTER_S=1.1 # just past the warm-up: the counted window is the measured one

d=$(mktemp -d /tmp/callgrind-pub.XXXXXX)
ringqd_start "$d" "$START_TRIES" valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" "$BIN" \
    --threads 1 --log-level warn --fsync "$FSYNC" || exit 1
pid=$RINGQD_PID
"$BENCH" publish --system "$SYS" --threads 1 --size 100 --warmup "$WARMUP_S" \
    --duration "$DURATION_S" --quiet --batch "$B" --conns "$C" --inflight "$I" \
    --addr "127.0.0.1:$RINGQD_PORT" --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep "$ZERO_AFTER_S"
callgrind_control -z "$pid" >/dev/null
wait "$bp"
callgrind_control -d "$pid" >/dev/null
ringqd_stop
rm -rf "$d"
rm -f "$OUT.cg"
if [ "${INCLUSIVE:-0}" = 1 ]; then
    callgrind_annotate --inclusive=yes --threshold=100 "$OUT.cg.1" 2>/dev/null | head -160 >"$OUT.inclusive.txt"
fi
ir=$(callgrind_annotate "$OUT.cg.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
msgs=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['tasks'])" "$OUT.json")
[ "${msgs:-0}" -gt 0 ] && [ -n "$ir" ] || { echo "no result: see $OUT.bench.log" >&2; exit 1; }
echo "$BIN $SYS b$B Ir=$ir msgs=$msgs Ir_per_msg=$((ir / msgs))"
