#!/bin/bash
# Review item 6: the commit tests built against queue/q_commit.c compiled with another
# Q_COMMIT_PIPE_PCT (q_log_int.h allows -D overrides). LIB=value for q_commit.c, TESTS=value for
# the tests, SRC=dir holding the test sources (default tests/unit; an old copy to show the old
# tests' failure). Links the object before libqueue.a, so the archive's q_commit.o is not used.
# Run from the repository root after `make -j2 all build/libunit_fx.a`.
set -u
LIB=${LIB:?} TESTS=${TESTS:?} SRC=${SRC:-tests/unit}
O=/tmp/hyg-pct/lib$LIB-tests$TESTS-$(basename "$SRC"); mkdir -p "$O"
CF="-std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -g -O2 -pthread -I. -Ibuild/gen -Itests/unit"
LIBS="build/libunit_fx.a build/libclient.a build/libserver.a build/libqueue.a build/libworker.a build/libproto_wire.a build/libcore.a -lcheck_pic -lrt -lm -lsubunit -luring -lxxhash -lz -lssl -lcrypto -lm -pthread"
cc $CF -DQ_COMMIT_PIPE_PCT=${LIB}u -c queue/q_commit.c -o "$O/q_commit.o" || exit 2
rc=0
for t in test_q_commit test_q_commit_hold test_q_commit_kick; do
    cc $CF -DQ_COMMIT_PIPE_PCT=${TESTS}u -c "$SRC/$t.c" -o "$O/$t.o" || exit 2
    cc $CF -o "$O/$t" "$O/$t.o" "$O/q_commit.o" $LIBS || exit 2
    echo "== $t (q_commit.c PCT=$LIB, tests PCT=$TESTS, $SRC)"
    "$O/$t" 2>&1 | grep -v "level=error" | tail -4
    r=${PIPESTATUS[0]}; echo "rc=$r"; [ "$r" = 0 ] || rc=1
done
exit $rc
