#!/usr/bin/env bash
# bench/suite_log.sh: the durable log (queue/q_log) against its limits.
#
#   append 4 KiB and 100 B    q_log_append vs memcpy of the same payloads into a fresh
#                             preallocated MAP_SHARED file (the limit); goal for 4 KiB: >= 70%
#   raw fdatasync             4 KiB pwrite + fdatasync in a loop (the disk's limit)
#   durable appends/s         1, 16, 256 appenders in flight on io_uring (append, commit_async,
#                             append again on the ack); goal: 256 appenders >= 100x raw fdatasync
#   recovery scan             open of a 1 GiB log verifying every checksum, warm page cache and
#                             cold (our files dropped with fadvise); goal: < 1 s
#
# Each figure is the median of $REPS runs. Files go to $LOG_BENCH_DIR (default /tmp: the disk
# under test, not tmpfs). Writes bench/results/log-<date>-<host>.md (or $OUT). From the repo root:
#   bash bench/suite_log.sh              REPS=1 bash bench/suite_log.sh   # quick look
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
REPS=${REPS:-3}
APPEND_MIB=${APPEND_MIB:-512}
RECOVER_MIB=${RECOVER_MIB:-1024}
BASE=${LOG_BENCH_DIR:-/tmp}/ringq-log-bench-$$
OUT=${OUT:-bench/results/log-$(date +%Y%m%d)-$(hostname -s).md}
BIN=$BUILD/aux/bench/log_bench
[ -x "$BIN" ] || make -s BUILD="$BUILD" "$BIN" || { echo "suite_log: cannot build $BIN"; exit 1; }
mkdir -p "$BASE"
trap 'rm -rf "$BASE"' EXIT

# field LINE KEY -> value of KEY=... in a "k=v k=v" line
field() { sed -E "s/.*(^| )$2=([^ ]*).*/\2/" <<<"$1"; }
# median LINES KEY -> the line whose KEY is the median
median() {
    local key=$2
    printf '%s\n' "$1" | awk -v k="$key" '{for(i=1;i<=NF;i++){split($i,a,"=");if(a[1]==k)print a[2]"\t"$0}}' \
        | sort -g | awk '{l[NR]=$0} END{print l[int((NR+1)/2)]}' | cut -f2-
}
run() { # run KEY ARGS... -> median line over REPS
    local key=$1; shift
    local lines="" i
    for ((i = 0; i < REPS; i++)); do
        lines+="$("$BIN" "$@")"$'\n'
        rm -rf "$BASE"/*
    done
    median "${lines%$'\n'}" "$key"
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a >= b)}'; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "suite_log: append 4 KiB"; A4=$(run ratio append "$BASE/a" 4096 "$APPEND_MIB")
echo "suite_log: append 100 B"; A1=$(run ratio append "$BASE/a" 100 "$APPEND_MIB")
echo "suite_log: raw fdatasync"; FS=$(run fsync_per_s fsync "$BASE/f" 2000)
echo "suite_log: durable 1";   D1=$(run durable_per_s durable "$BASE/d" 1 5000)
echo "suite_log: durable 16";  D16=$(run durable_per_s durable "$BASE/d" 16 50000)
echo "suite_log: durable 256"; D256=$(run durable_per_s durable "$BASE/d" 256 500000)
echo "suite_log: recovery";    RC=$(run cold_s recover "$BASE/r" "$RECOVER_MIB")

raw=$(field "$FS" fsync_per_s)
x() { awk -v a="$1" -v b="$raw" 'BEGIN{printf "%.1f", a/b}'; }
yes_no() { if "$@"; then echo "**met**"; else echo "**not met**"; fi; }
r4=$(field "$A4" ratio); d256=$(field "$D256" durable_per_s)
warm=$(field "$RC" warm_s); cold=$(field "$RC" cold_s)

mkdir -p "$(dirname "$OUT")"
{
echo "# Durable log (queue/q_log) — $(date -u '+%Y-%m-%d %H:%M') UTC on $(hostname -s)"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
echo "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)."
echo "Log directory on: $(df -T "${LOG_BENCH_DIR:-/tmp}" | awk 'NR==2{print $1" ("$2")"}'). Median of $REPS runs each."
echo "Load average before/after the suite: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews"
echo "the fsync figures most)."
echo
echo "| figure | measured | limit beside it | ratio | goal |"
echo "|---|---:|---:|---:|---|"
echo "| append, 4 KiB records | $(field "$A4" MiB_per_s) MiB/s ($(field "$A4" rec_per_s) rec/s) | memcpy into the same kind of mapping: $(field "$A4" memcpy_MiB_per_s) MiB/s | $r4 | >= 0.70: $(yes_no ge "$r4" 0.70) |"
echo "| append, 100 B records | $(field "$A1" MiB_per_s) MiB/s ($(field "$A1" rec_per_s) rec/s) | memcpy: $(field "$A1" memcpy_MiB_per_s) MiB/s | $(field "$A1" ratio) | - |"
echo "| raw fdatasync (4 KiB pwrite + fdatasync) | $raw /s ($(field "$FS" us_each) µs each) | - | 1.0 | - |"
echo "| durable appends, 1 in flight | $(field "$D1" durable_per_s) /s ($(field "$D1" appends_per_fsync) per fsync) | raw fdatasync: $raw /s | $(x "$(field "$D1" durable_per_s)")x | - |"
echo "| durable appends, 16 in flight | $(field "$D16" durable_per_s) /s ($(field "$D16" appends_per_fsync) per fsync) | raw fdatasync: $raw /s | $(x "$(field "$D16" durable_per_s)")x | - |"
echo "| durable appends, 256 in flight | $d256 /s ($(field "$D256" appends_per_fsync) per fsync) | raw fdatasync: $raw /s | $(x "$d256")x | >= 100x: $(yes_no ge "$(x "$d256")" 100) |"
echo "| recovery: open verifying every checksum, $(awk -v b="$(field "$RC" bytes)" 'BEGIN{printf "%.2f GiB", b/1073741824}'), warm cache | $warm s ($(field "$RC" warm_GiB_per_s) GiB/s) | - | - | < 1 s: $(yes_no ge 1 "$warm") |"
echo "| recovery, cold cache (fadvise DONTNEED) | $cold s ($(field "$RC" cold_GiB_per_s) GiB/s) | - | - | < 1 s: $(yes_no ge 1 "$cold") |"
echo
echo "Notes: the append figures include page faults on fresh mappings, segment rolls (creation"
echo "and fallocate of 64 MiB files) and no fsync (rolls wait for none); memcpy pays the same"
echo "faults. Durable appends carry 100-byte payloads; each ack means the covering fdatasync"
echo "completed (policy always, at most one fsync in flight)."
echo
echo "## Commands"
echo
echo '```'
echo "bash bench/suite_log.sh   # REPS=$REPS APPEND_MIB=$APPEND_MIB RECOVER_MIB=$RECOVER_MIB"
echo "$BIN append DIR 4096 $APPEND_MIB"
echo "$BIN append DIR 100 $APPEND_MIB"
echo "$BIN fsync DIR 2000"
echo "$BIN durable DIR 1 5000"
echo "$BIN durable DIR 16 50000"
echo "$BIN durable DIR 256 500000"
echo "$BIN recover DIR $RECOVER_MIB"
echo '```'
echo
echo "## Raw lines"
echo
echo '```'
printf '%s\n' "$A4" "$A1" "$FS" "$D1" "$D16" "$D256" "$RC"
echo '```'
} > "$OUT"
echo "suite_log: wrote $OUT"
cat "$OUT"
