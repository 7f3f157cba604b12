#!/usr/bin/env bash
# callgrind, instructions per message of ringqd: base (main 1355544) and new, unary Publish
# (ringq-unary) at b1 and b64, one generator (main's ringq-bench).
cd /work/wt/pubfast || exit 1
for v in base new; do
    bin=/tmp/pubfast/ab/$v/ringqd
    BENCH=/tmp/pubfast-base-ringq-bench bash bench/callgrind_pub.sh $bin ringq-unary 1 4 16 /tmp/pubfast/cg/u-$v-b1 2>/dev/null | grep Ir
    BENCH=/tmp/pubfast-base-ringq-bench bash bench/callgrind_pub.sh $bin ringq-unary 64 4 4 /tmp/pubfast/cg/u-$v-b64 2>/dev/null | grep Ir
done
