# bench/bench_lib.sh: what the suites that start every system fresh for each point share
# (bench/suite_bench.sh, bench/streams.sh); sourced, not run.
# The caller sets: ROOT (cwd), PY (/usr/bin/python3), RINGQD, RINGQ_BENCH, GREETER and GREETER_OK,
# OUT_DIR (results; failed-start logs go there too), SERVER_CPU, CLIENT_CPU, BENCH_DIR,
# START_TIMEOUT_S, REPS, SIZE, WARMUP_S, DURATION_S, NRUN=0, T_START, and defines log() and
# driver_of SYSTEM (the ringq-bench --system of a system); it calls bench_begin NAME first (TMP,
# RUNS, META, the EXIT trap). Functions: bench_cmdline (before the defaults), bench_require,
# bench_begin, bench_meta_machine, have, ringqd_start, ringqd_stop, callgrind_count, free_port, server_argv, na_reason, sync_dir_ok,
# probe_kind, start_server (sets SERVER_PID and ADDR), stop_server, cpu_sample, bench_point, json_brief,
# conns_of, infl_of.

# bench_cmdline SCRIPT [ARGS...]: sets CMDLINE, the exact command: every variable named in the
# caller's SETTINGS array that the environment set, then `bash SCRIPT ARGS`. Call it before the
# script assigns its defaults.
bench_cmdline() {
    local v script=$1
    shift
    CMDLINE=""
    for v in "${SETTINGS[@]}"; do
        [ -n "${!v+x}" ] && CMDLINE+="$v=$(printf '%q' "${!v}") "
    done
    CMDLINE+="bash $script${*:+ $*}"
}

# bench_require: RINGQD and RINGQ_BENCH built, taskset, timeout and PY present, and two CPUs
# (the server on SERVER_CPU, ringq-bench on CLIENT_CPU); else it logs what is missing, exits 1.
bench_require() {
    local bin tool
    for bin in "$RINGQD" "$RINGQ_BENCH"; do
        [ -x "$bin" ] || { log "missing $bin (make BUILD=$BUILD all $BUILD/ringq-bench)"; exit 1; }
    done
    for tool in taskset timeout "$PY"; do
        command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
    done
    if [ "$(nproc)" -lt 2 ] || [ "$SERVER_CPU" = "$CLIENT_CPU" ]; then
        log "needs two CPUs (server on SERVER_CPU=$SERVER_CPU, generator on" \
            "CLIENT_CPU=$CLIENT_CPU); have $(nproc)"
        exit 1
    fi
}

have() { command -v "$1" >/dev/null; }

# ringqd_start DIR TRIES CMD...: the A/B scripts' ringqd (cpu_per_task.sh, ab_e2e_durable.sh,
# estream_e2e_durable.sh, zc_threshold.sh, callgrind_e2e.sh). Runs CMD (a ringqd command line,
# behind taskset or valgrind as the caller wants) with --port 0 --port-file DIR/port --data
# DIR/data appended and its output in DIR/log, then polls for the port file every 0.1 s, TRIES
# times at most. Sets RINGQD_PID and RINGQD_PORT; returns 1 with DIR/log's tail on stderr (the
# process stopped) when no port came.
ringqd_start() {
    local dir=$1 tries=$2 i
    shift 2
    mkdir -p "$dir/data"
    "$@" --port 0 --port-file "$dir/port" --data "$dir/data" >"$dir/log" 2>&1 &
    RINGQD_PID=$!
    for ((i = 0; i < tries; i++)); do
        [ -s "$dir/port" ] && break
        kill -0 "$RINGQD_PID" 2>/dev/null || break
        sleep 0.1
    done
    RINGQD_PORT=$(cat "$dir/port" 2>/dev/null)
    [ -n "$RINGQD_PORT" ] && return 0
    echo "ringqd did not start ($*): $(tail -3 "$dir/log")" >&2
    ringqd_stop
    return 1
}

# ringqd_stop: SIGTERM to RINGQD_PID (ringqd_start's) and wait for it.
ringqd_stop() {
    [ -n "${RINGQD_PID:-}" ] || return 0
    kill "$RINGQD_PID" 2>/dev/null
    wait "$RINGQD_PID" 2>/dev/null
    RINGQD_PID=
}

# callgrind_count RINGQD OUT INCLUSIVE_LINES BENCH_ARGS...: what callgrind_e2e.sh and
# callgrind_pub.sh share. Runs RINGQD under callgrind (`--threads 1 --fsync $FSYNC`, default
# never) on a fresh data directory, started within CG_START_TRIES x 0.1 s, and drives it with
# `$BENCH BENCH_ARGS... --addr ... --json OUT.json` (its output in OUT.bench.log); the counters
# are zeroed (callgrind_control -z) CG_ZERO_AFTER_S after the bench starts, as its 1 s warm-up
# ends, and dumped (-d) when it ends: OUT.cg.1 (with INCLUSIVE=1 also OUT.inclusive.txt, the
# first INCLUSIVE_LINES lines of the inclusive listing). Sets CG_IR (the program's total
# instructions) and CG_TASKS (the result's "tasks"); returns 1, with a line on stderr, when
# either is missing.
CG_START_TRIES=300  # x 0.1 s: 30 s for ringqd to start under callgrind
CG_ZERO_AFTER_S=1.1 # just past the bench's 1 s warm-up: the counted window is the measured one
callgrind_count() {
    local bin=$1 out=$2 incl=$3 d pid bp
    shift 3
    d=$(mktemp -d /tmp/callgrind.XXXXXX)
    ringqd_start "$d" "$CG_START_TRIES" valgrind --tool=callgrind --callgrind-out-file="$out.cg" \
        "$bin" --threads 1 --log-level warn --fsync "${FSYNC:-never}" || return 1
    pid=$RINGQD_PID
    "$BENCH" "$@" --addr "127.0.0.1:$RINGQD_PORT" --json "$out.json" >"$out.bench.log" 2>&1 &
    bp=$!
    sleep "$CG_ZERO_AFTER_S"
    callgrind_control -z "$pid" >/dev/null
    wait "$bp"
    callgrind_control -d "$pid" >/dev/null
    ringqd_stop
    rm -rf "$d"
    rm -f "$out.cg"
    if [ "${INCLUSIVE:-0}" = 1 ]; then
        callgrind_annotate --inclusive=yes --threshold=100 "$out.cg.1" 2>/dev/null |
            head -"$incl" >"$out.inclusive.txt"
    fi
    CG_IR=$(callgrind_annotate "$out.cg.1" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    CG_TASKS=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['tasks'])" \
        "$out.json")
    [ "${CG_TASKS:-0}" -gt 0 ] && [ -n "$CG_IR" ] && return 0
    echo "no result: see $out.bench.log" >&2
    return 1
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# server_argv SYSTEM COLUMN PORT DIR: sets SARGV to the server's argv; returns 1 if that system
# has no such configuration.
server_argv() {
    local sys=$1 col=$2 port=$3 dir=$4
    local redis=(redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/data" --save ''
        --appendonly yes --protected-mode no --loglevel warning)
    local ringqd=("$RINGQD" --threads 1 --port 0 --port-file "$dir/port" --data "$dir/data"
        --log-level warn)
    case $sys/$col in
    ringq/durable | ringq/- | ringq-stream/durable | ringq-unary/durable)
        SARGV=("${ringqd[@]}" --fsync always) ;;
    ringq/fast | ringq-stream/fast | ringq-unary/fast) SARGV=("${ringqd[@]}" --fsync never) ;;
    beanstalkd/durable) SARGV=(beanstalkd -l 127.0.0.1 -p "$port" -b "$dir/data" -f 0 -z 1048576) ;;
    beanstalkd/fast) SARGV=(beanstalkd -l 127.0.0.1 -p "$port" -b "$dir/data" -F -z 1048576) ;;
    redis/durable) SARGV=("${redis[@]}" --appendfsync always) ;;
    redis/fast) SARGV=("${redis[@]}" --appendfsync no) ;;
    jetstream/fast) SARGV=(nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/data") ;;
    jetstream/durable)
        [ "$dir" = DIR ] || chattr +S "$dir/data" 2>/dev/null || { SARGV=(); return 1; }
        SARGV=(nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/data") ;;
    grpc-sync/-) SARGV=("$GREETER" --api sync --port 0) ;;
    grpc-callback/-) SARGV=("$GREETER" --api callback --port 0) ;;
    *) SARGV=(); return 1 ;;
    esac
}

# na_reason SYSTEM COLUMN: why a system/column is not run ("" if it is).
na_reason() {
    case $1/$2 in
    jetstream/durable)
        if ! sync_dir_ok; then
            echo "nats-server 2.9 cannot fsync every write (no sync_interval before 2.10) and the filesystem of $BENCH_DIR refuses chattr +S"
            return
        fi ;;
    esac
    case $1 in
    beanstalkd) have beanstalkd || echo "not installed (apt-get install -y beanstalkd)" ;;
    redis) have redis-server || echo "not installed (apt-get install -y redis-server)" ;;
    jetstream) have nats-server || echo "not installed (apt-get install -y nats-server)" ;;
    grpc-*) [ "$GREETER_OK" = yes ] || echo "bench/peers/greeter_server not built (make deps; make -C bench/peers)" ;;
    esac
}

# sync_dir_ok: the filesystem of $BENCH_DIR accepts chattr +S (synchronous writes).
sync_dir_ok() {
    local d
    d=$(mktemp -d "$BENCH_DIR/ringq-syncprobe.XXXXXX") || return 1
    chattr +S "$d" 2>/dev/null
    local rc=$?
    rm -rf "$d"
    return $rc
}

probe_kind() { case $1 in grpc-*) echo grpc ;; ringq-*) echo ringq ;; *) echo "$1" ;; esac; }
# server_of SYSTEM: the server a system label runs (suite_bench.sh's open-floor group drives
# ringqd's grpc.health.v1.Health/Check as ringq-health and Redis' PING as redis-ping).
server_of() { case $1 in ringq-health) echo ringq ;; redis-ping) echo redis ;; *) echo "$1" ;; esac; }

# start_server SYSTEM COLUMN: fresh data dir, free port, pinned; waits until it answers.
# Sets SERVER_PID and ADDR; returns 1 (stderr tail logged) if it does not come up.
start_server() {
    local sys col=$2 attempt port dir=$TMP/run i
    sys=$(server_of "$1")
    for attempt in 1 2 3; do
        rm -rf "$dir"
        mkdir -p "$dir/data"
        port=$(free_port)
        server_argv "$sys" "$col" "$port" "$dir" || return 1
        taskset -c "$SERVER_CPU" "${SARGV[@]}" >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        case $sys in
        ringq | ringq-stream | ringq-unary)
            for ((i = 0; i < START_TIMEOUT_S * 50; i++)); do
                [ -s "$dir/port" ] && break
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.02
            done
            port=$(cat "$dir/port" 2>/dev/null)
            ;;
        grpc-*)
            for ((i = 0; i < START_TIMEOUT_S * 50; i++)); do
                grep -q 'port=[1-9]' "$dir/server.log" 2>/dev/null && break
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.02
            done
            port=$(sed -n 's/.*greeter_server.* port=\([0-9]*\).*/\1/p' "$dir/server.log" | head -1)
            ;;
        esac
        ADDR=127.0.0.1:$port
        if [ -n "$port" ] && "$PY" bench/bench_ready.py "$(probe_kind "$sys")" "$ADDR" "$SERVER_PID" \
            "$START_TIMEOUT_S" 2>>"$dir/server.log"; then
            return 0
        fi
        log "$sys ($col) did not come up (attempt $attempt):"
        tail -5 "$dir/server.log" | sed 's/^/    /' >&2
        stop_server
        # Another process may have taken the free port between the probe and the bind: retry.
        grep -qi 'address already in use\|bind' "$dir/server.log" || break
    done
    cp "$dir/server.log" "$OUT_DIR/failed-start-$sys-$col.log" 2>/dev/null
    return 1
}

stop_server() {
    local i
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null
    for ((i = 0; i < 400; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}


# cpu_sample PID: one line of what the two pinned CPUs and the server did so far, for
# bench/report.py's limits ("sched" file): `EPOCH_S|cpuS|cpuC|TID:COMM:RUN_NS:WAIT_NS ...`, where
# cpuS and cpuC are the /proc/stat lines (USER_HZ ticks: user nice system idle iowait irq softirq
# steal) of SERVER_CPU and CLIENT_CPU (every process on them: the other engineers' too), and each
# of the server's threads has its time on a CPU and waiting on a run queue so far
# (/proc/PID/task/TID/schedstat; io_uring's io-wq workers are threads of the process, named
# iou-wrk-*). Reads files only: no fork.
cpu_sample() {
    local l s='' c='' th='' a b f comm
    while read -r l; do
        case $l in
        "cpu$SERVER_CPU "*) s=${l#* } ;;
        "cpu$CLIENT_CPU "*) c=${l#* } ;;
        esac
    done </proc/stat
    for f in /proc/"$1"/task/*; do
        read -r a b _ 2>/dev/null <"$f/schedstat" || continue
        read -r comm 2>/dev/null <"$f/comm" || comm='?'
        th+="${th:+ }${f##*/}:${comm//[ :]/_}:$a:$b"
    done
    echo "$EPOCHREALTIME|$s|$c|$th"
}

# bench_point GROUP SYSTEM COLUMN SCENARIO X TIMEOUT_S -- RINGQ_BENCH_ARGS...: $REPS runs, each on
# a fresh server; appends to runs.tsv. Each run's JSON has the server's CPU over the measured
# window (--server-pid: server_cpu_s, server_cpu_us_per_task) beside the generator's; raw/ID.sched
# has two cpu_sample lines, taken just before ringq-bench starts and just after it exits (the
# pinned CPUs' load from every process, and the server's run-queue wait, over ringq-bench's whole
# life: connect, warm-up, window, teardown). With AFTER_RUN set to a function name, it is called
# as `$AFTER_RUN ID` after each run, while that run's server still runs (ADDR, SERVER_PID): e.g.
# to save its /metrics. With DURING_RUN set, `$DURING_RUN ID` runs in the background beside
# ringq-bench (started with it, waited for after it): e.g. to scrape /metrics when the warm-up ends.
bench_point() {
    local group=$1 sys=$2 col=$3 scen=$4 x=$5 tmo=$6 r id json rc alive cmd tput drv
    shift 7
    for ((r = 1; r <= REPS; r++)); do
        NRUN=$((NRUN + 1))
        id=$group.$sys.$col.x$x.r$r
        id=${id//.-./.any.}
        json=raw/$id.json
        drv=$(driver_of "$sys")
        [ "$group" = rpc ] && drv=grpc
        cmd=(taskset -c "$CLIENT_CPU" "$RINGQ_BENCH" "$scen" --system "$drv"
            --label "$col" --threads 1 --size "$SIZE" --warmup "$WARMUP_S" --duration "$DURATION_S"
            --quiet "$@")
        if ! start_server "$sys" "$col"; then
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$sys" "$col" "$scen" "$x" \
                "$r" "$json" start no "${cmd[*]}" >>"$RUNS"
            continue
        fi
        cmd+=(--addr "$ADDR" --server-pid "$SERVER_PID" --json "$OUT_DIR/$json")
        cpu_sample "$SERVER_PID" >"$OUT_DIR/raw/$id.sched"
        timeout -k 5 "$tmo" "${cmd[@]}" >>"$TMP/bench.log" 2>&1 &
        BENCH_PID=$!
        DURING_PID=
        if [ -n "${DURING_RUN:-}" ]; then
            "$DURING_RUN" "$id" &
            DURING_PID=$!
        fi
        wait "$BENCH_PID"
        rc=$?
        [ -n "$DURING_PID" ] && wait "$DURING_PID"
        DURING_PID=
        cpu_sample "$SERVER_PID" >>"$OUT_DIR/raw/$id.sched"
        BENCH_PID=
        alive=yes
        kill -0 "$SERVER_PID" 2>/dev/null || alive=no
        [ "$alive" = yes ] && [ -n "${AFTER_RUN:-}" ] && "$AFTER_RUN" "$id"
        stop_server
        [ "$alive" = no ] && cp "$TMP/run/server.log" "$OUT_DIR/died-$id.log" 2>/dev/null
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$sys" "$col" "$scen" "$x" "$r" \
            "$json" "$rc" "$alive" "${cmd[*]}" >>"$RUNS"
        tput=$(json_brief "$OUT_DIR/$json")
        log "[$NRUN, $(($(date +%s) - T_START)) s] $group $sys $col x=$x run $r/$REPS: exit $rc${tput:+, $tput}$([ "$alive" = no ] && echo ", SERVER DIED")"
        [ "$rc" = 0 ] || tail -3 "$TMP/bench.log" | sed 's/^/    /' >&2
    done
}

json_brief() { # json_brief FILE: "N tasks/s, p99 X us" from a ringq-bench result
    "$PY" -c 'import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print("%.0f tasks/s, %.0f ops/s, p99 %.0f us%s" % (r.get("tasks_per_s", 0), r.get("ops_per_s", 0),
          (r.get("latency_us") or {}).get("p99", 0), ", " + r["error"] if r.get("error") else ""))
except Exception as e:
    print("no result (%s)" % e)' "$1"
}
conns_of() { echo "${1%x*}"; }
infl_of() { echo "${1#*x}"; }

# bench_meta_machine: the meta lines every suite writes about the run, the machine and the build
# (after bench_begin: the disk is TMP's): date, host, quick, reps, command, cpu, nproc, mem,
# kernel, disk, commit (and how many source files were uncommitted), the Redis and NATS
# versions, the pinning.
bench_meta_machine() {
    local dirty
    meta date "$(date +%Y-%m-%d)"
    meta host "$(hostname -s)"
    meta quick "$QUICK"
    meta reps "$REPS"
    meta command "$CMDLINE"
    meta cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs online"
    meta nproc "$(nproc)"
    meta mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    meta kernel "$(uname -srm)"
    meta disk "$(df -T "$TMP" | awk 'NR==2 {printf "%s (%s), mounted on %s", $1, $2, $7}') — $TMP's disk"
    dirty=$(git status --porcelain -- client server queue proto_wire core worker bench/rb_*.c bench/rb_*.h 2>/dev/null | wc -l)
    meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown) ($(git log -1 --format=%cd --date=short 2>/dev/null))$([ "$dirty" -gt 0 ] && echo ", with $dirty uncommitted source files")"
    have redis-server && meta version.redis "$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
    have nats-server && meta version.jetstream "$(nats-server --version 2>&1 | awk '{print $NF}')"
    meta pinning "servers on CPU $SERVER_CPU (taskset; ringqd --threads 1), ringq-bench on CPU $CLIENT_CPU (taskset, --threads 1)"
}

# bench_begin NAME: the run's setup - TMP (a fresh $BENCH_DIR/NAME.XXXXXX), the EXIT trap that
# stops the server and any ringq-bench and removes TMP, a fresh OUT_DIR/raw, empty RUNS
# (runs.tsv) and META (meta.tsv), and meta KEY VALUE (one line of META). Needs BENCH_DIR and
# OUT_DIR; sets SERVER_PID= and BENCH_PID=. With KEEP_RESULTS=1 an existing OUT_DIR, RUNS and META
# are kept and added to (a run in chunks).
bench_begin() {
    mkdir -p "$BENCH_DIR"
    TMP=$(mktemp -d "$BENCH_DIR/$1.XXXXXX") || exit 1
    SERVER_PID=
    BENCH_PID=
    DURING_PID=
    cleanup() {
        [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null && wait "$BENCH_PID" 2>/dev/null
        [ -n "${DURING_PID:-}" ] && kill "$DURING_PID" 2>/dev/null && wait "$DURING_PID" 2>/dev/null
        stop_server
        rm -rf "$TMP"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    [ "${KEEP_RESULTS:-0}" = 1 ] || rm -rf "$OUT_DIR"
    mkdir -p "$OUT_DIR/raw"
    RUNS=$OUT_DIR/runs.tsv
    META=$OUT_DIR/meta.tsv
    if [ "${KEEP_RESULTS:-0}" != 1 ]; then
        : >"$RUNS"
        : >"$META"
    fi
    meta() { printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')" >>"$META"; }
}
