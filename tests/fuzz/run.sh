#!/usr/bin/env bash
# make fuzz: builds every tests/fuzz/fuzz_*.c with clang libFuzzer (+ASan+UBSan) and runs each
# for FUZZ_SECONDS (default 30). Seeds: tests/fuzz/seeds/<name>/ if present. Findings land in
# build-fuzz/findings/<name>/ and fail the run.
#   FUZZ_ONLY=fuzz_pw_hpack make fuzz FUZZ_SECONDS=300   # one target, 5 minutes
set -eu
SECS=${FUZZ_SECONDS:-30}
B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
make -s BUILD=$B CC=clang OPT=-O1 SAN="$SAN" $B/libcore.a $B/libproto_wire.a $B/libqueue.a $B/libworker.a $B/libserver.a >/dev/null
LIBS="$B/libserver.a $B/libqueue.a $B/libworker.a $B/libproto_wire.a $B/libcore.a"
fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    [ -n "${FUZZ_ONLY:-}" ] && [ "$FUZZ_ONLY" != "$name" ] && continue
    extra=""
    # fuzz_ko_*: ringq-operator's parsing (k8s/operator) on top of libyaml and jansson.
    case $name in fuzz_ko_*) extra="k8s/operator/ko_config.c k8s/operator/ko_yaml.c -ljansson -lyaml";; esac
    # shellcheck disable=SC2086 # extra: words
    clang -std=c17 -D_GNU_SOURCE -g -O1 -I. -I$B/gen -fsanitize=fuzzer,address,undefined \
        -o $B/$name "$src" $extra $LIBS -luring -lxxhash -lz -lssl -lcrypto -lm -pthread
    corpus=$B/corpus/$name; mkdir -p "$corpus" $B/findings/$name
    seeds=""; [ -d tests/fuzz/seeds/$name ] && seeds=tests/fuzz/seeds/$name
    echo "fuzz: $name for ${SECS}s"
    if ! $B/$name -max_total_time="$SECS" -rss_limit_mb=2048 -artifact_prefix=$B/findings/$name/ \
            -print_final_stats=1 "$corpus" $seeds > $B/$name.log 2>&1; then
        echo "fuzz: $name FOUND A CRASH, see $B/$name.log and $B/findings/$name/"; tail -30 $B/$name.log; fail=1
    else
        grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $B/$name.log | tr '\n' ' '; echo
    fi
done
exit $fail
