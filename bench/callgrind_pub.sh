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
. "$(dirname "$0")/bench_lib.sh" # callgrind_count
[ $# -eq 6 ] || { echo "usage: $0 RINGQD SYSTEM BATCH CONNS INFLIGHT OUT" >&2; exit 2; }
BIN=$1 SYS=$2 B=$3 C=$4 I=$5 OUT=$6
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/build/ringq-bench}
FSYNC=${FSYNC:-never}
DURATION_S=${DURATION_S:-4}
PY=/usr/bin/python3
WARMUP_S=1 # callgrind_count zeroes the counters just past it

callgrind_count "$BIN" "$OUT" 160 publish --system "$SYS" --threads 1 --size 100 \
    --warmup "$WARMUP_S" --duration "$DURATION_S" --quiet --batch "$B" --conns "$C" \
    --inflight "$I" || exit 1
echo "$BIN $SYS b$B Ir=$CG_IR msgs=$CG_TASKS Ir_per_msg=$((CG_IR / CG_TASKS))"
